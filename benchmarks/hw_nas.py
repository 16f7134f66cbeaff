"""Hardware-aware NAS on this CPU: latency-table fidelity, FBNet at 3 targets, MnasNet vs random.

Setting: the scikit-learn digits (:func:`minnas.data.load_digits`, 8x8 images), latency at batch
size 1 on one torch thread, in microseconds, everything measured in this process.

1. **Lookup-table fidelity.** The default :class:`minnas.nas.fbnet.FBNetSpace` (stem, 5 searchable
   layers, MBConv k3/k5 x e1/e3/e6 and skip, head). Its table (:meth:`FBNetSpace.latency_table`: 10
   interleaved rounds of 5 warm-up and 20 timed passes per entry; the settings of a run are in
   ``FULL`` and ``QUICK``) predicts a network's latency as the sum of its blocks plus the stem and
   head. ``--archs`` distinct random architectures (:meth:`FBNetSpace.sample`) are measured end to
   end in interleaved rounds (:func:`minnas.nas.latency.measure_networks`, same settings), together
   with the FBNet networks of part 2, in one call after the searches. Reported:
   :func:`minnas.nas.latency.fidelity` (Spearman, Kendall, mean and max relative error, median
   ratio measured / predicted), the Spearman correlation of the FLOPs and parameter proxies
   (:func:`minnas.nas.latency.proxies`) with the measured latency, the table itself and its spread
   (interquartile range relative to the median, per entry).

2. **FBNet at several latency targets.** Targets are placed between the fastest and the slowest
   architecture the table predicts (``lo``, ``hi``): ``T = lo + f (hi - lo)`` for the fractions
   ``f`` in ``TARGETS`` (tight 0.4, medium 0.6, loose 0.9), searched with our hinge loss
   (``loss="target"``, lambda ``LAM``); the paper's multiplicative loss (``loss="paper"``, alpha
   0.2, beta 0.6) is one more row. Each search (:func:`minnas.nas.fbnet.search`, its defaults: 10
   epochs, 1 warm-up epoch, soft Gumbel-softmax masks, weights on the train split, theta on the
   validation split) runs once per seed in ``--seeds``. The derived network is retrained from
   scratch (:func:`minnas.train.fit`, 10 epochs, SGD 0.05 cosine, batch 64, seed = search seed) and
   scored once on the test split; every random architecture of part 1 gets the same retraining
   (seed = its index). Per search: the architecture, its test accuracy, predicted and measured
   latency; per target the medians over seeds, and the random architectures whose measured latency
   lies within +-15% of the target's median measured latency (the ``K_NEAREST`` nearest ones when
   fewer than 3 do): how many, their median and best test accuracy.

3. **MnasNet controller vs random search.** The default :class:`minnas.nas.mnasnet.MnasSpace` (3
   blocks; per block op, kernel, expansion, layers, skip). Accuracy proxy: one shared
   :class:`minnas.nas.mnasnet.Evaluator` (300 training samples, 3 epochs, seeded, validation
   accuracy; latency measured once per architecture) whose cache serves both methods, so an
   architecture costs its training once. With the full 1077 training samples every network scores
   0.96-0.98 and latency alone decides the reward; with ~300 and 3 epochs accuracies spread from
   about 0.4 to 0.9, so accuracy and latency both count. The soft reward (w = -0.07) with T = the
   median measured latency of 20 random architectures. :func:`~minnas.nas.mnasnet.search`
   (REINFORCE, its defaults but the Adam rate) and :func:`~minnas.nas.mnasnet.random_search` draw
   ``--steps`` architectures each. **The controller's rate is chosen on a tuning split and
   reported on a disjoint test split** (the protocol of ``benchmarks/README.md``): every rate of
   ``--controller-lr`` (default ``LR_GRID``) runs on the seeds of ``--tuning-seeds`` (default
   100-109), with random search on the same seeds for reference; the rate with the highest median
   best reward there is chosen (ties: the first listed); only that rate then runs, against random
   search, on the seeds of ``--mnas-seeds`` (default 200-209), which no choice has seen. One rate
   given: no tuning. Reported for both splits: the best reward (median [q25, q75] over seeds,
   and per seed), the mean reward of the second half of the samples, the final entropy, the
   unique architectures per run, the seeds where the controller is ahead of random search and
   the median paired difference; for the test split also the median best-so-far after a few
   numbers of samples, a one-sided Wilcoxon signed-rank test of the paired differences, the best
   architecture's accuracy and latency, and the cache misses each method caused.
   ``--parts mnasnet`` runs this part alone and writes it to its own section (``MNAS_SECTION``).

Everything runs on one torch thread (latency and training alike). No figure is fixed in
advance: every number printed is measured in the run.

Usage (from the repository root)::

    python benchmarks/hw_nas.py                   # full run (~35 min on 1 core); updates RESULTS.md
    python benchmarks/hw_nas.py --parts mnasnet   # part 3 alone, tuning and test seeds
    python benchmarks/hw_nas.py --quick --out ""  # smoke test (~1 min), prints only
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import inspect
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, quartiles, settings, versions, write_section

from minnas.data import Splits, load_digits
from minnas.nas import fbnet, latency, mnasnet
from minnas.train import evaluate, fit

SECTION = "## Hardware-aware NAS: latency tables, FBNet, MnasNet"
TARGETS = {"tight": 0.4, "medium": 0.6, "loose": 0.9}  # fraction of the way from lo to hi
LAM = 1.0  # weight of the hinge (T)
PAPER = dict(alpha=0.2, beta=0.6)
SIMILAR = 0.15  # random architectures within +-15% of a measured latency are "similar"
K_NEAREST = 5  # ... or the K nearest, when fewer than 3 are within the window
BATCH = 64
#: The controller's Adam rates tried on the tuning seeds (protocol of benchmarks/README.md).
LR_GRID = (0.05, 0.1, 0.2, 0.4)
PARTS = ("fbnet", "mnasnet")
#: Where a run of the MnasNet part alone writes (``--parts mnasnet``), so that the full section,
#: FBNet included, is not replaced by a part of it.
MNAS_SECTION = "## Hardware-aware NAS: MnasNet controller rate, tuning and test seeds"
#: Settings of the full run; ``--quick`` replaces them by ``QUICK``.
FULL = dict(
    table=dict(batch_size=1, threads=1, warmup=5, repeats=20, rounds=10),
    nets=dict(batch_size=1, threads=1, warmup=5, repeats=20, rounds=10),
    search_epochs=10, retrain_epochs=10,
    mnas_train=300, mnas_epochs=3, mnas_t_archs=20,
    mnas_measure=dict(warmup=10, repeats=30),
    archs=30, seeds=[0, 1, 2], steps=40, mnas_seeds=list(range(200, 210)),
    tuning_seeds=list(range(100, 110)), controller_lr=list(LR_GRID),
)
QUICK = dict(
    table=dict(batch_size=1, threads=1, warmup=2, repeats=5, rounds=2),
    nets=dict(batch_size=1, threads=1, warmup=2, repeats=5, rounds=2),
    search_epochs=2, retrain_epochs=1,
    mnas_train=100, mnas_epochs=1, mnas_t_archs=5,
    mnas_measure=dict(warmup=2, repeats=5),
    archs=6, seeds=[0], steps=5, mnas_seeds=[200, 201],
    tuning_seeds=[100, 101], controller_lr=[0.05, 0.4],
)


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def distinct_archs(space: fbnet.FBNetSpace, n: int) -> list[tuple[str, ...]]:
    """``n`` distinct architectures ``space.sample(0)``, ``space.sample(1)``, ... (repeats
    skipped)."""
    archs: list[tuple[str, ...]] = []
    seed = 0
    while len(archs) < n:
        arch = space.sample(seed)
        seed += 1
        if arch not in archs:
            archs.append(arch)
        if seed > 1000 * n:
            raise RuntimeError(f"could not draw {n} distinct architectures")
    return archs


def retrain(space: fbnet.FBNetSpace, data: Splits, arch: tuple[str, ...], seed: int,
            epochs: int) -> float:
    """Train ``arch`` from scratch on the train split; its test accuracy."""
    torch.manual_seed(seed)
    net = space.build(arch)
    fit(net, data.loader("train", BATCH, seed=seed), epochs=epochs, seed=seed)
    return evaluate(net, data.tensors("test"))


def short(arch: tuple[str, ...]) -> str:
    return " ".join(arch)


def mnas_short(arch: mnasnet.Arch) -> str:
    return " / ".join(str(block) for block in arch)


def spearman(a, b) -> float:
    return float(stats.spearmanr(a, b).statistic)


def med_iqr(values) -> str:
    """``median [q25, q75]``."""
    m, q25, q75 = quartiles(np.asarray(values, dtype=float))
    return f"{m:.3f} [{q25:.3f}, {q75:.3f}]"


def similar(latency_us: float, random_lat: np.ndarray) -> np.ndarray:
    """Indices of the random architectures whose measured latency is within +-SIMILAR of
    ``latency_us``, or the K_NEAREST nearest when fewer than 3 are."""
    inside = np.flatnonzero(np.abs(random_lat / latency_us - 1) <= SIMILAR)
    if len(inside) >= 3:
        return inside
    return np.argsort(np.abs(random_lat - latency_us))[:K_NEAREST]


# ----------------------------------------------------------------------------------------------
# Part 1 and 2: the latency table and FBNet
# ----------------------------------------------------------------------------------------------
def fbnet_part(cfg: dict, seconds: dict[str, float]) -> tuple[str, list[str], list[str]]:
    """Parts 1 and 2; returns the setting sentence, the report's lines and acceptance lines."""
    # ------------------------------------------------------------------ 1. the table
    tic = time.perf_counter()
    space = fbnet.FBNetSpace()
    data = load_digits(seed=0)
    print(data, flush=True)
    table = space.latency_table(**cfg["table"])
    lo = table.overhead_us + sum(min(table.entries[str(layer)].values())
                                 for layer in range(space.n_layers))
    hi = table.overhead_us + sum(max(table.entries[str(layer)].values())
                                 for layer in range(space.n_layers))
    fastest = tuple(min(table.entries[str(layer)], key=table.entries[str(layer)].get)
                    for layer in range(space.n_layers))
    slowest = tuple(max(table.entries[str(layer)], key=table.entries[str(layer)].get)
                    for layer in range(space.n_layers))
    print(f"table: overhead {table.overhead_us:.1f} us; predicted range {lo:.0f}-{hi:.0f} us",
          flush=True)
    seconds["table"] = time.perf_counter() - tic

    random_archs = distinct_archs(space, cfg["archs"])
    random_pred = np.array([table.predict(a) for a in random_archs])
    tic = time.perf_counter()
    random_acc = []
    for i, arch in enumerate(random_archs):
        random_acc.append(retrain(space, data, arch, i, cfg["retrain_epochs"]))
        print(f"random {i}: {short(arch)}: predicted {random_pred[i]:.0f} us, "
              f"test {random_acc[-1]:.4f}", flush=True)
    random_acc = np.array(random_acc)
    seconds["random retraining"] = time.perf_counter() - tic

    # ------------------------------------------------------------------ 2. FBNet
    tic = time.perf_counter()
    configs: dict[str, dict] = {
        name: dict(loss="target", target_us=lo + f * (hi - lo), lam=LAM)
        for name, f in TARGETS.items()
    }
    configs["paper"] = dict(loss="paper", **PAPER)
    runs: dict[str, list[dict]] = {name: [] for name in configs}
    retrained: dict[tuple, float] = {}
    for name, kwargs in configs.items():
        for seed in cfg["seeds"]:
            result = fbnet.search(data, space, table, epochs=cfg["search_epochs"], seed=seed,
                                  **kwargs)
            key = (result.arch, seed)
            if key not in retrained:
                retrained[key] = retrain(space, data, result.arch, seed, cfg["retrain_epochs"])
            runs[name].append(dict(seed=seed, arch=result.arch, acc=retrained[key],
                                   predicted=result.predicted_latency, search_s=result.seconds,
                                   expected=result.expected_latency[-1]))
            print(f"FBNet {name} seed {seed}: {short(result.arch)}: predicted "
                  f"{result.predicted_latency:.0f} us, test {retrained[key]:.4f}, search "
                  f"{result.seconds:.0f} s", flush=True)
    seconds["FBNet search + retraining"] = time.perf_counter() - tic

    # ------------------------------------------------------------------ measure every network
    tic = time.perf_counter()
    unique = list(dict.fromkeys(random_archs + [r["arch"] for rs in runs.values() for r in rs]))
    torch.manual_seed(0)
    nets = [space.build(a) for a in unique]
    timings = dict(zip(unique, latency.measure_networks(nets, space.in_shape, **cfg["nets"])))
    seconds["measuring networks"] = time.perf_counter() - tic
    random_lat = np.array([timings[a].median_us for a in random_archs])
    random_rel_iqr = np.array([timings[a].iqr_us / timings[a].median_us for a in random_archs])
    fid = latency.fidelity(random_pred, random_lat)
    proxy = [latency.proxies(space.build(a), space.in_shape) for a in random_archs]
    flops_rho = spearman([p["flops"] for p in proxy], random_lat)
    params_rho = spearman([p["params"] for p in proxy], random_lat)
    flops_pred_rho = spearman([p["flops"] for p in proxy], random_pred)
    for rs in runs.values():
        for r in rs:
            r["measured"] = timings[r["arch"]].median_us

    blocks = list(space.blocks)
    table_rows = [
        f"| {layer} {space.input_shape(layer)} -> {space.layers[layer]} | " + " | ".join(
            f"{table.entries[str(layer)][b]:.1f} ({table.spread[str(layer)][b]:.1f})"
            if b in table.entries[str(layer)] else "-" for b in blocks) + " |"
        for layer in range(space.n_layers)
    ]
    mb_keys = [(str(layer), b) for layer in range(space.n_layers) for b in table.entries[str(layer)]
               if b != "skip"]
    mb_lat = np.array([table.entries[layer][b] for layer, b in mb_keys])
    mb_rel = np.array([table.spread[layer][b] / table.entries[layer][b] for layer, b in mb_keys])
    skip_lat = [table.entries[str(layer)]["skip"] for layer in range(space.n_layers)
                if "skip" in table.entries[str(layer)]]

    fb_rows, fb_details, medians = [], [], {}
    for name, rs in runs.items():
        accs = np.array([r["acc"] for r in rs])
        pred = np.array([r["predicted"] for r in rs])
        meas = np.array([r["measured"] for r in rs])
        m_meas = float(np.median(meas))
        medians[name] = m_meas
        near = similar(m_meas, random_lat)
        target = (f"{configs[name]['target_us']:.0f} ({TARGETS[name]:.0%})" if name in TARGETS
                  else f"- (alpha {PAPER['alpha']}, beta {PAPER['beta']})")
        fb_rows.append(
            f"| {name} | {target} | {' / '.join(f'{a:.3f}' for a in accs)} | "
            f"{np.median(accs):.3f} | {np.median(pred):.0f} | {m_meas:.0f} | "
            f"{np.median(meas / pred):.2f} | {len(near)} | {np.median(random_acc[near]):.3f} | "
            f"{random_acc[near].max():.3f} | "
            f"{'yes' if np.median(accs) >= np.median(random_acc[near]) else 'no'} |"
        )
        for r in rs:
            fb_details.append(
                f"- {name}, seed {r['seed']}: `{short(r['arch'])}`; test {r['acc']:.4f}; "
                f"predicted {r['predicted']:.0f} us (expected under P_theta {r['expected']:.0f}), "
                f"measured {r['measured']:.0f} us (IQR {timings[r['arch']].iqr_us:.0f}); "
                f"search {r['search_s']:.0f} s")
    tight, loose = min(TARGETS, key=TARGETS.get), max(TARGETS, key=TARGETS.get)
    gap = medians[loose] - medians[tight]
    # "Measurably": the tight networks' timed passes are stochastically smaller than the loose
    # ones' (one-sided Mann-Whitney U on the pooled samples), and the medians say the same.
    pooled = {name: np.concatenate([timings[r["arch"]].samples_us for r in runs[name]])
              for name in (tight, loose)}
    p_value = float(stats.mannwhitneyu(pooled[tight], pooled[loose], alternative="less").pvalue)
    faster = gap > 0 and p_value < 0.01

    setting = (
        f"{data!r}. FBNet space: stem {space.stem_channels} channels, layers "
        f"(C_out, stride) {list(space.layers)}, blocks {blocks} (skip only where the shape is "
        f"kept). Latency at batch size 1, one thread: table {cfg['table']}; networks "
        f"{cfg['nets']}, all {len(unique)} distinct networks ({len(random_archs)} random + the "
        f"FBNet results) in one interleaved `measure_networks` call after the searches. "
        f"FBNet search {cfg['search_epochs']} epochs (1 warm-up, soft masks, tau 5.0 x "
        f"exp(-0.045) per epoch), seeds {cfg['seeds']}; targets T = lo + f (hi - lo) with lo, hi "
        f"the fastest and slowest predicted architectures; hinge lambda {LAM}. Retraining "
        f"{cfg['retrain_epochs']} epochs, SGD 0.05 cosine, batch {BATCH}, test split.")
    lines = [
        "### 1. Lookup-table fidelity",
        "",
        f"Table on {table.device}, torch {table.torch_version}: median latency (IQR) in us per "
        f"(layer, block); stem + head overhead {table.overhead_us:.1f} us. Predicted range "
        f"{lo:.0f} us (`{short(fastest)}`) to {hi:.0f} us (`{short(slowest)}`).",
        "",
        "| layer (input) -> (C_out, stride) | " + " | ".join(blocks) + " |",
        "|---|" + "---|" * len(blocks),
        *table_rows,
        "",
        f"Spread of the table: MBConv entries {mb_lat.min():.0f}-{mb_lat.max():.0f} us, IQR / "
        f"median per entry median {100 * np.median(mb_rel):.1f}%, max {100 * mb_rel.max():.1f}%; "
        f"skip {min(skip_lat):.1f}-{max(skip_lat):.1f} us. Whole networks: IQR / median "
        f"median {100 * np.median(random_rel_iqr):.1f}%, max {100 * random_rel_iqr.max():.1f}%.",
        "",
        "| architectures | Spearman | Kendall | mean rel. error | max rel. error | "
        "median measured / predicted | FLOPs Spearman (measured) | params Spearman (measured) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {fid['n']} random | {fid['spearman']:.3f} | {fid['kendall']:.3f} | "
        f"{fid['mean_rel_error']:.3f} | {fid['max_rel_error']:.3f} | {fid['ratio']:.3f} | "
        f"{flops_rho:.3f} | {params_rho:.3f} |",
        "",
        f"Random architectures: predicted {random_pred.min():.0f}-{random_pred.max():.0f} us "
        f"(median {np.median(random_pred):.0f}), measured {random_lat.min():.0f}-"
        f"{random_lat.max():.0f} us (median {np.median(random_lat):.0f}); FLOPs vs predicted "
        f"Spearman {flops_pred_rho:.3f}. Test accuracy after retraining: min "
        f"{random_acc.min():.3f}, median {np.median(random_acc):.3f}, max {random_acc.max():.3f}.",
        "",
        "### 2. FBNet at several latency targets",
        "",
        f"Accuracy = test accuracy after retraining from scratch; latencies in us, medians over "
        f"seeds. Similar random = the random architectures of part 1 within +-{SIMILAR:.0%} of "
        f"the row's median measured latency (the {K_NEAREST} nearest when fewer than 3), with "
        f"the same retraining.",
        "",
        "| search | T us (f) | accuracy per seed | median | predicted | measured | "
        "measured / predicted | similar random n | their median | their best | "
        ">= their median |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *fb_rows,
        "",
        f"Tightest vs loosest target ({tight} vs {loose}): median measured latency "
        f"{medians[tight]:.0f} vs {medians[loose]:.0f} us (ratio "
        f"{medians[tight] / medians[loose]:.2f}); one-sided Mann-Whitney U on the pooled timed "
        f"passes of their networks ({len(pooled[tight])} vs {len(pooled[loose])}), p = "
        f"{p_value:.2g}: {'measurably faster' if faster else 'not measurably faster'} "
        "(criterion: lower median and p < 0.01).",
        "",
        *fb_details,
        "",
    ]
    accept = [
        f"- Spearman(predicted, measured) over {fid['n']} random architectures >= 0.9: "
        f"{fid['spearman']:.3f}, {'met' if fid['spearman'] >= 0.9 else 'missed'}.",
        f"- FBNet at the tightest target measurably faster than at the loosest (median "
        f"measured): {medians[tight]:.0f} vs {medians[loose]:.0f} us, p = {p_value:.2g}, "
        f"{'met' if faster else 'missed'}.",
    ]
    return setting, lines, accept


# ----------------------------------------------------------------------------------------------
# Part 3: MnasNet, its controller rate chosen on tuning seeds, reported on test seeds
# ----------------------------------------------------------------------------------------------
CONTROLLER = "controller (REINFORCE)"
RANDOM = "random search"


def mnasnet_part(cfg: dict, seconds: dict[str, float]) -> tuple[str, list[str], list[str]]:
    """Part 3; returns the setting sentence, the report's lines and acceptance lines.

    With several rates in ``cfg["controller_lr"]``, each runs on the tuning seeds, the rate with
    the highest median best reward is chosen (ties: the first in the list), and only the chosen
    rate runs on the test seeds. With one rate there is no tuning."""
    tic = time.perf_counter()
    mspace = mnasnet.MnasSpace()
    mdata = load_digits(n_train=cfg["mnas_train"], seed=0)
    rng = np.random.default_rng(12345)
    t_archs = [mspace.sample(rng) for _ in range(cfg["mnas_t_archs"])]
    torch.manual_seed(0)
    t_timings = latency.measure_networks([mspace.build(a) for a in t_archs], mspace.in_shape,
                                         **cfg["nets"])
    target_us = float(np.median([t.median_us for t in t_timings]))
    print(f"MnasNet: T = {target_us:.0f} us (median of {len(t_archs)} random architectures)",
          flush=True)
    evaluator = mnasnet.Evaluator(mspace, mdata, epochs=cfg["mnas_epochs"], seed=0,
                                  measure_kwargs=cfg["mnas_measure"])
    misses: dict[str, int] = {}

    def run(name: str, seed: int, lr: float | None) -> dict:
        before = evaluator.misses
        common = dict(steps=cfg["steps"], target_us=target_us, seed=seed)
        res = (mnasnet.random_search(mspace, evaluator, **common) if lr is None
               else mnasnet.search(mspace, evaluator, lr=lr, **common))
        misses[name] = misses.get(name, 0) + evaluator.misses - before
        k = int(np.argmax(res.rewards))
        half = cfg["steps"] // 2
        print(f"MnasNet {name} seed {seed}: best reward {res.best_reward:.4f} "
              f"(acc {res.accuracies[k]:.3f}, {res.latencies[k]:.0f} us), "
              f"{len(set(res.archs))} unique, {res.seconds:.0f} s", flush=True)
        return dict(seed=seed, best=res.best_reward, curve=res.best_so_far, arch=res.best_arch,
                    acc=res.accuracies[k], lat=res.latencies[k], unique=len(set(res.archs)),
                    entropy=res.entropies, seconds=res.seconds,
                    late=float(np.mean(res.rewards[half:])))

    # the tuning split: every rate of the grid, and random search, on the tuning seeds
    lrs, tuning = cfg["controller_lr"], {}
    if len(lrs) > 1:
        for seed in cfg["tuning_seeds"]:
            for lr in lrs:
                tuning.setdefault(lr, []).append(run(f"tuning, lr {lr}", seed, lr))
            tuning.setdefault(None, []).append(run("tuning, random", seed, None))
        medians = {lr: float(np.median([r["best"] for r in tuning[lr]])) for lr in lrs}
        chosen = max(lrs, key=lambda lr: (medians[lr], -lrs.index(lr)))  # ties: the first
        print(f"MnasNet: controller rate chosen on the tuning seeds: {chosen}", flush=True)
    else:
        chosen = lrs[0]
    seconds["MnasNet tuning"] = time.perf_counter() - tic

    # the test split: the chosen rate against random search, seeds no choice has seen
    tic = time.perf_counter()
    mruns: dict[str, list[dict]] = {CONTROLLER: [], RANDOM: []}
    for seed in cfg["mnas_seeds"]:
        mruns[CONTROLLER].append(run(CONTROLLER, seed, chosen))
        mruns[RANDOM].append(run(RANDOM, seed, None))
    seconds["MnasNet test"] = time.perf_counter() - tic
    all_acc = np.array([acc for acc, _ in evaluator.cache.values()])
    all_lat = np.array([lat for _, lat in evaluator.cache.values()])

    default_lr = inspect.signature(mnasnet.search).parameters["lr"].default
    setting = (
        f"MnasNet: {mdata!r}, Evaluator {cfg['mnas_epochs']} epochs, batch 32, lr 0.05, seed 0, "
        f"latency {cfg['mnas_measure']}; {cfg['steps']} samples per run; controller Adam, "
        f"baseline decay 0.9; tuning seeds {cfg['tuning_seeds'] if tuning else '(none)'}, "
        f"rates {lrs}; test seeds {cfg['mnas_seeds']}, rate {chosen} (`mnasnet.search`'s "
        f"default when this ran: {default_lr}).")

    def table_row(name: str, rs: list[dict], versus: list[dict] | None = None) -> str:
        best = np.array([r["best"] for r in rs])
        paired = "-" if versus is None else (
            f"{int(np.sum(best > [r['best'] for r in versus]))} / "
            f"{np.median(best - [r['best'] for r in versus]):+.4f}")
        ent = (f"{np.median([r['entropy'][-1] for r in rs]):.2f}" if rs[0]["entropy"] else "-")
        return (f"| {name} | {med_iqr(best)} | {' / '.join(f'{b:.4f}' for b in best)} | "
                f"{np.median([r['late'] for r in rs]):.3f} | {ent} | "
                f"{np.median([r['unique'] for r in rs]):.0f} | {paired} |")

    header = ["| method | best reward: median [q25, q75] | per seed | mean reward, 2nd half "
              "(median) | entropy at the end (median, nats) | unique archs (median) | "
              "seeds ahead of random / median paired difference |",
              "|---|---|---|---|---|---|---|"]
    lines = ["### 3. MnasNet controller vs random search", "",
             f"Soft reward ACC x (LAT / T)^-0.07 with T = {target_us:.0f} us (median measured "
             f"latency of {len(t_archs)} random architectures). One Evaluator for the whole part "
             f"(tuning and test runs share its cache): all {evaluator.misses} architectures it "
             f"trained: accuracy {all_acc.min():.3f}-{all_acc.max():.3f} (median "
             f"{np.median(all_acc):.3f}), latency {all_lat.min():.0f}-{all_lat.max():.0f} us "
             f"(median {np.median(all_lat):.0f}); cache hits {evaluator.hits}. The controller's "
             "entropy starts at 12.83 nats (uniform).", ""]
    if tuning:
        lines += [
            f"**Tuning split** (seeds {cfg['tuning_seeds']}): every rate of the grid and random "
            f"search, {cfg['steps']} samples each. Criterion, fixed before the run: the highest "
            "median best reward over the tuning seeds (ties: the first rate listed); the test "
            "seeds run only the chosen rate.", "",
            *header,
            *[table_row(f"controller, lr {lr}" + (" (chosen)" if lr == chosen else ""),
                        tuning[lr], tuning[None]) for lr in lrs],
            table_row(RANDOM, tuning[None]), ""]
    ctrl, rand = mruns[CONTROLLER], mruns[RANDOM]
    diff = np.array([c["best"] - r["best"] for c, r in zip(ctrl, rand)])
    wilcoxon = (float(stats.wilcoxon(diff, alternative="greater").pvalue)
                if len(diff) > 1 and np.any(diff != 0) else float("nan"))
    checkpoints = sorted({c for c in (5, 10, 20, cfg["steps"]) if c <= cfg["steps"]})
    lines += [
        f"**Test split** (seeds {cfg['mnas_seeds']}, which no choice has seen): the controller "
        f"with rate {chosen} against random search, {cfg['steps']} samples each; per seed the "
        "controller runs first, so random search's cache misses count only architectures the "
        "controller had not already trained.", "",
        *header, table_row(CONTROLLER + f", lr {chosen}", ctrl, rand), table_row(RANDOM, rand),
        "",
        f"Paired over the test seeds: controller ahead in {int(np.sum(diff > 0))} of {len(diff)}, "
        f"median difference {np.median(diff):+.4f}, one-sided Wilcoxon signed-rank p = "
        f"{wilcoxon:.2g}. Best reward so far, median [q25, q75] over the test seeds, after n "
        "samples:", "",
        "| method | " + " | ".join(f"n = {c}" for c in checkpoints) + " |",
        "|---|" + "---|" * len(checkpoints),
        *[f"| {name} | " + " | ".join(med_iqr([r["curve"][c - 1] for r in rs])
                                      for c in checkpoints) + " |" for name, rs in mruns.items()],
        "",
        "Accuracy and latency of the best architecture (medians): "
        + "; ".join(f"{name} {np.median([r['acc'] for r in rs]):.3f}, "
                    f"{np.median([r['lat'] for r in rs]):.0f} us, cache misses caused "
                    f"{misses[name]}, {np.median([r['seconds'] for r in rs]):.0f} s per run"
                    for name, rs in mruns.items())
        + ". Controller policy entropy (nats), first -> last step: "
        + ", ".join(f"{r['entropy'][0]:.2f} -> {r['entropy'][-1]:.2f}" for r in ctrl) + ".",
        "",
        *[f"- {name}, seed {r['seed']}: best reward {r['best']:.4f}: `{mnas_short(r['arch'])}`, "
          f"accuracy {r['acc']:.3f}, {r['lat']:.0f} us; {r['unique']} unique architectures"
          for name, rs in mruns.items() for r in rs],
        ""]
    ctrl_best = float(np.median([r["best"] for r in ctrl]))
    rand_best = float(np.median([r["best"] for r in rand]))
    verdict = "met" if ctrl_best > rand_best else "missed"
    how = "chosen on the tuning seeds" if tuning else "given, not tuned"
    accept = [f"- MnasNet controller (rate {chosen}, {how}) median best reward above random "
              f"search's at {cfg['steps']} samples over the {len(ctrl)} test seeds: "
              f"{ctrl_best:.4f} vs {rand_best:.4f}, {verdict}."]
    return setting, lines, accept


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="fbnet = parts 1 and 2, mnasnet = part 3 (default both); the "
                             "MnasNet part alone writes its own section")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="FBNet search seeds (default 0 1 2)")
    parser.add_argument("--archs", type=int, default=None,
                        help="random FBNet architectures, measured and retrained (default 30)")
    parser.add_argument("--steps", type=int, default=None,
                        help="architectures each MnasNet run samples (default 40)")
    parser.add_argument("--mnas-seeds", nargs="+", type=int, default=None,
                        help="MnasNet test seeds, for both methods (default 200-209)")
    parser.add_argument("--tuning-seeds", nargs="+", type=int, default=None,
                        help="MnasNet tuning seeds, where the rate is chosen (default 100-109)")
    parser.add_argument("--controller-lr", nargs="+", type=float, default=None,
                        help="Adam rates of the MnasNet controller; several: the one with the "
                             "highest median best reward on the tuning seeds is chosen (default "
                             + " ".join(map(str, LR_GRID)) + "); one: no tuning")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings for a smoke test (flags given still apply)")
    parser.add_argument("--out", default="benchmarks/RESULTS.md", help='"" prints only')
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    cfg = settings(args, FULL, QUICK, ("seeds", "archs", "steps", "mnas_seeds", "tuning_seeds",
                                       "controller_lr"))
    if cfg["archs"] < 3:
        parser.error("--archs must be at least 3 (fidelity needs 3 architectures)")
    if cfg["steps"] < 1:
        parser.error("--steps must be at least 1")
    if any(not lr > 0 for lr in cfg["controller_lr"]):
        parser.error("--controller-lr must be positive")
    if len(cfg["controller_lr"]) > 1 and set(cfg["tuning_seeds"]) & set(cfg["mnas_seeds"]):
        parser.error("--tuning-seeds and --mnas-seeds must be disjoint")

    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    parts = [part for part in PARTS if part in args.parts]
    run_part = {"fbnet": fbnet_part, "mnasnet": mnasnet_part}
    results = [run_part[part](cfg, seconds) for part in parts]
    wall = (time.perf_counter() - start) / 60
    load_end = os.getloadavg()[0]

    body = "\n".join([
        "Command: `python benchmarks/hw_nas.py" + (" " + shlex.join(argv) if argv else "") + "`",
        "",
        f"Date: {datetime.date.today()}; wall time {wall:.1f} min ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
        + f"); machine: {machine()}; load average {load:.2f} at the start, {load_end:.2f} at the "
        "end; one torch thread for training and latency.",
        "",
        f"Versions: {versions(['numpy', 'scipy', 'torch', 'scikit-learn'])}.",
        "",
        "Setting: " + " ".join(setting for setting, _, _ in results),
        "",
        *[line for _, lines, _ in results for line in lines],
        "### Acceptance",
        "",
        *[line for _, _, accept in results for line in accept],
    ])
    print(body)
    if args.out:
        section = SECTION if "fbnet" in parts else MNAS_SECTION
        write_section(Path(args.out), section, body)


if __name__ == "__main__":
    main()
