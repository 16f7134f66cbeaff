"""Once-for-All on this CPU: supernet cost, subnets vs scratch, the predictor, evolution vs random.

Setting: MNIST-1D (:func:`minnas.data.load_mnist1d`, the lesson's split: 3000 training, 1000
validation, 1000 test signals, seed 0) and the default :class:`minnas.nas.ofa.OFASpace` (stem, 3
units of up to 3 MBConv blocks, kernel {3, 5}, expansion {2, 3, 4}, depth {1, 2, 3}). Everything
runs on one torch thread and is measured in this process; no figure is fixed in advance. The
shipped checkpoint (:mod:`minnas.nas.pretrained`) is *not* loaded: the supernet is trained here,
seeded, so that its cost is part of the run.

1. **Cost of the supernet.** :func:`minnas.nas.ofa.train_supernet` with ``--epochs`` epochs for
   the phases largest, kernel, depth, expand (default ``(10, 4, 4, 4)``, the function's
   defaults; ``--epochs 10 3 3 3`` is the shipped checkpoint's recipe), seed 0, every other
   setting at its default. Reported: seconds per phase and in total, seconds per epoch, the
   validation accuracy of the largest and the smallest subnet (BN recalibrated) at the end of
   every phase, and what training the subnets of part 2 from scratch cost next to it.

2. **Subnets from the supernet vs the same architectures trained from scratch.** ``--subnets``
   architectures: the largest, the smallest, and distinct random ones
   (:meth:`OFASpace.sample` with seeds 1000, 1001, ...). From the supernet:
   :func:`~minnas.nas.ofa.subnet_accuracy` on the test split, with BN recalibration on 1000
   training inputs and no retraining (and, for reference, without recalibration). From scratch:
   ``space.build(arch)`` trained by :func:`minnas.train.fit` with the optimiser of the supernet's
   first phase (SGD 0.05, momentum 0.9, weight decay 1e-4, cosine, gradient clipping 5, batch
   64; seed = the subnet's index) and scored once on the test split. **Same per-network
   budget**, two definitions, both run: *supernet total* = as many epochs as the whole supernet
   trained, ``sum(epochs)`` (every scratch network sees the training set as often as the
   supernet did in all; the acceptance uses this one, the more generous to scratch training),
   and *phase 0* = ``epochs[0]``, what the largest network got on its own before shrinking.
   Reported per subnet and as the median difference supernet - scratch in points, with
   quartiles.

3. **Accuracy predictor.** ``N_FIT + N_HELD`` distinct random subnets (seeded, 100 + 50 by
   default) scored by their validation accuracy after BN recalibration;
   :class:`~minnas.nas.ofa_search.AccuracyPredictor` (its defaults, seed 0) fit on the first
   ``N_FIT`` and tested on the ``N_HELD`` others: Kendall tau, Spearman, the signed and absolute
   error, and the Kendall tau of the FLOPs proxy (:func:`~minnas.nas.ofa_search.flops`) for
   comparison. Its *optimism*: the accuracy it predicts for the subnet that predictor-guided
   evolution picks (part 4) minus that subnet's measured validation accuracy, next to its mean
   signed error on the held-out random subnets.

4. **Evolutionary search vs random feasible subnets under a latency budget.** A lookup table
   of this CPU (:meth:`OFASpace.latency_table`, batch 1, one thread, interleaved rounds; the
   settings are in ``FULL`` and ``QUICK``); budgets ``T = lo + f (hi - lo)`` with ``lo``, ``hi``
   the predicted latencies of the smallest and the largest subnet, ``f`` in ``--budgets``
   (default 0.2 and 0.5, the lesson's). **The settings of predictor-guided evolution are
   chosen on a tuning split and reported on a disjoint test split** (the protocol of
   ``benchmarks/README.md``): every setting of the grid (``SEARCH_GRID``: population, generations,
   mutate_prob, parents; ``--population`` etc. replace it) runs on the seeds of
   ``--tuning-seeds`` (default 100-109) at every budget, against
   :func:`~minnas.nas.ofa_search.random_search` scored by the same predictor with the same seed
   and as many scored subnets; the setting with the largest median paired difference in
   *validation* accuracy of the chosen subnets (evolution - random), at the worse of the budgets,
   is chosen (ties: fewer subnets scored, then the grid's order). The test split never enters
   the choice. Then for every seed of ``--seeds`` (default 200-209) and every budget:
   :func:`~minnas.nas.ofa_search.evolutionary_search` scored by the predictor (the chosen
   setting) and scored by the measured validation accuracy (``direct_search``: population 16,
   8 generations, mutation probability 0.15, parents 0.25), each against
   :func:`~minnas.nas.ofa_search.random_search` with the same seed and the same number of scored
   subnets (``n_scored`` of that evolution run; the same seed makes random search's first draws
   the evolution's initial population). Selection uses the validation split only (the predictor
   is fit on validation accuracies); every chosen subnet is then scored on the test split after
   BN recalibration. Reported: the tuning table; medians over seeds of the chosen subnet's
   validation and test accuracy, per seed test accuracies, subnets scored and search seconds;
   the predicted latency of the chosen subnets, and their end-to-end latency measured at the end
   of the run (:func:`minnas.nas.latency.measure_networks`, with the subnets of part 2, for the
   table's fidelity). The acceptance compares each evolution with random search at the same
   number of scored subnets and the same score (test accuracy, median over the test seeds).
   ``--parts search`` skips part 2 and writes its own section (``SEARCH_SECTION``).

Usage (from the repository root)::

    python benchmarks/ofa.py                   # full run (~25 min on 1 core); updates RESULTS.md
    python benchmarks/ofa.py --parts search    # supernet, predictor, tuning and searches only
    python benchmarks/ofa.py --quick --out ""  # smoke test (~1-2 min), prints only
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import inspect
import itertools
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, quartiles, settings, versions, write_section

from minnas.data import Splits, load_mnist1d
from minnas.nas import latency, ofa, ofa_search
from minnas.train import evaluate, fit

SECTION = "## Once-for-All"
BATCH = 64
SCRATCH = dict(lr=0.05, momentum=0.9, weight_decay=1e-4)  # the supernet's phase-0 optimiser
N_CALIB = 1000  # training inputs for BN recalibration (subnet_accuracy's default)
TOLERANCE = 2.0  # points: subnets from the supernet may lose at most this much, in median
PARTS = ("scratch", "search")
#: Where a run without part 2 writes (``--parts search``), so that the full section is not
#: replaced by a part of it.
SEARCH_SECTION = "## Once-for-All: search settings, tuning and test seeds"
#: The settings of predictor-guided evolution tried on the tuning seeds (benchmarks/README.md).
SEARCH_GRID = dict(population=[20, 50], generations=[10, 20], mutate_prob=[0.1, 0.3],
                   parents=[0.25, 0.5])
#: Settings of the full run; ``--quick`` replaces them by ``QUICK``.
FULL = dict(
    n_train=None, epochs=(10, 4, 4, 4), subnets=8, n_fit=100, n_held=50,
    table=dict(batch_size=1, threads=1, warmup=5, repeats=20, rounds=10),
    nets=dict(batch_size=1, threads=1, warmup=5, repeats=20, rounds=10),
    grid=SEARCH_GRID, tuning_seeds=list(range(100, 110)),
    direct_search=dict(population=16, generations=8, mutate_prob=0.15, parents=0.25),
    seeds=list(range(200, 210)), budgets=[0.2, 0.5],
)
QUICK = dict(
    n_train=500, epochs=(1, 1, 1, 1), subnets=5, n_fit=20, n_held=10,
    table=dict(batch_size=1, threads=1, warmup=2, repeats=5, rounds=2),
    nets=dict(batch_size=1, threads=1, warmup=2, repeats=5, rounds=2),
    grid=dict(population=[10, 20], generations=[5], mutate_prob=[0.1], parents=[0.25]),
    tuning_seeds=[100],
    direct_search=dict(population=6, generations=2, mutate_prob=0.15, parents=0.25),
    seeds=[200, 201], budgets=[0.2, 0.5],
)


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def key(space: ofa.OFASpace, arch: ofa.Arch) -> bytes:
    """Equal subnets (equal encodings) share a key; genes beyond a unit's depth do not count."""
    return space.encode(arch).tobytes()


def distinct_archs(space: ofa.OFASpace, n: int, first_seed: int,
                   exclude: list[ofa.Arch] = ()) -> list[ofa.Arch]:
    """``n`` distinct subnets ``space.sample(first_seed)``, ``space.sample(first_seed + 1)``, ...
    (repeats, and subnets equal to one of ``exclude``, skipped)."""
    seen = {key(space, a) for a in exclude}
    archs: list[ofa.Arch] = []
    seed = first_seed
    while len(archs) < n:
        arch = space.sample(seed)
        seed += 1
        if key(space, arch) not in seen:
            seen.add(key(space, arch))
            archs.append(arch)
        if seed - first_seed > 1000 * n:
            raise RuntimeError(f"could not draw {n} distinct subnets")
    return archs


def short(arch: ofa.Arch) -> str:
    """``k5e4 k3e2 / k3e3 / ...``: the blocks that run, unit by unit."""
    return " / ".join(" ".join(f"k{arch.kernels[u][i]}e{arch.expands[u][i]}" for i in range(d))
                      for u, d in enumerate(arch.depths))


def scratch(space: ofa.OFASpace, data: Splits, arch: ofa.Arch, seed: int,
            epochs: int) -> tuple[float, float]:
    """Train ``arch`` from scratch on the train split; its test accuracy and seconds."""
    torch.manual_seed(seed)
    net = space.build(arch)
    history = fit(net, data.loader("train", BATCH, seed=seed), epochs=epochs, seed=seed,
                  **SCRATCH)
    return evaluate(net, data.tensors("test")), history.seconds


def med_iqr(values, scale: float = 1.0, fmt: str = ".3f") -> str:
    """``median [q25, q75]`` of ``values * scale``."""
    m, q25, q75 = quartiles(scale * np.asarray(values, dtype=float))
    return f"{m:{fmt}} [{q25:{fmt}}, {q75:{fmt}}]"


def plural_epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def per_seed(values, fmt: str = ".3f") -> str:
    return " / ".join(f"{v:{fmt}}" for v in values)


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", nargs=4, type=int, default=None,
                        help="supernet epochs of the phases largest, kernel, depth, expand "
                             "(default 10 4 4 4)")
    parser.add_argument("--subnets", type=int, default=None,
                        help="subnets compared with scratch training (default 8, at least 5 "
                             "for the acceptance)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="scratch = part 2, search = part 4 (default both; the supernet and "
                             "the predictor always run); without part 2 the run writes its own "
                             "section")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="test seeds of the searches (default 200-209)")
    parser.add_argument("--tuning-seeds", nargs="+", type=int, default=None,
                        help="seeds where the settings of predictor-guided evolution are chosen "
                             "(default 100-109)")
    for name, values in SEARCH_GRID.items():
        kind = int if name in ("population", "generations") else float
        parser.add_argument(f"--{name.replace('_', '-')}", nargs="+", type=kind, default=None,
                            help=f"{name} of predictor-guided evolution: the grid tried on the "
                                 f"tuning seeds (default {' '.join(map(str, values))}); one value "
                                 "each: no tuning")
    parser.add_argument("--budgets", nargs="+", type=float, default=None,
                        help="latency budgets as fractions f of the range lo..hi (default 0.2 0.5)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings for a smoke test (flags given still apply)")
    parser.add_argument("--out", default="benchmarks/RESULTS.md", help='"" prints only')
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    cfg = settings(args, FULL, QUICK, ("epochs", "subnets", "seeds", "budgets", "tuning_seeds"))
    cfg["epochs"] = tuple(cfg["epochs"])
    cfg["grid"] = {name: getattr(args, name) or values for name, values in cfg["grid"].items()}
    grid = [dict(zip(cfg["grid"], values)) for values in itertools.product(*cfg["grid"].values())]
    if len(grid) > 1 and set(cfg["tuning_seeds"]) & set(cfg["seeds"]):
        parser.error("--tuning-seeds and --seeds must be disjoint")
    if cfg["subnets"] < 2:
        parser.error("--subnets must be at least 2 (the largest and the smallest)")
    if cfg["epochs"][0] < 1 or min(cfg["epochs"]) < 0:
        parser.error("--epochs: phase 0 needs at least 1 epoch, the others at least 0")
    if any(not 0 < f <= 1 for f in cfg["budgets"]):
        parser.error("--budgets must lie in (0, 1]")

    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    space = ofa.OFASpace()
    data = load_mnist1d(n_train=cfg["n_train"], seed=0)
    print(data, flush=True)

    # ------------------------------------------------------------------ 1. the supernet
    tic = time.perf_counter()
    history = ofa.train_supernet(space, data, epochs=cfg["epochs"], seed=0)
    supernet = history.model
    seconds["supernet"] = time.perf_counter() - tic
    phase_rows = []
    for phase, n_epochs in zip(ofa.PHASES, cfg["epochs"]):
        if n_epochs == 0:
            continue
        last = max(i for i, p in enumerate(history.phase) if p == phase)
        s = history.seconds[phase]
        phase_rows.append(f"| {phase} | {n_epochs} | {s:.1f} | {s / n_epochs:.2f} | "
                          f"{history.val_largest[last]:.3f} | {history.val_smallest[last]:.3f} |")
        print(f"supernet phase {phase}: {n_epochs} epochs, {s:.1f} s; val largest "
              f"{history.val_largest[last]:.3f}, smallest {history.val_smallest[last]:.3f}",
              flush=True)
    supernet_s = sum(history.seconds.values())

    # ------------------------------------------------------------------ 2. subnets vs scratch
    tic = time.perf_counter()
    fixed = [space.largest(), space.smallest()]
    with_scratch = "scratch" in args.parts
    chosen = (fixed + distinct_archs(space, cfg["subnets"] - 2, 1000, exclude=fixed)
              if with_scratch else [])
    labels = ["largest", "smallest"] + [f"random {i}" for i in range(cfg["subnets"] - 2)]
    budgets_ep = {"supernet total": sum(cfg["epochs"]), "phase 0": cfg["epochs"][0]}
    sub = []
    for i, (label, arch) in enumerate(zip(labels, chosen)):
        row = dict(label=label, arch=arch,
                   ofa=ofa.subnet_accuracy(supernet, arch, data, split="test", n_calib=N_CALIB),
                   raw=ofa.subnet_accuracy(supernet, arch, data, split="test",
                                           recalibrate=False),
                   flops=ofa_search.flops(space, arch))
        for name, e in budgets_ep.items():
            row[name], row[name + " s"] = scratch(space, data, arch, seed=i, epochs=e)
        sub.append(row)
        print(f"subnet {label}: {short(arch)}: supernet {row['ofa']:.4f} (no recalibration "
              f"{row['raw']:.4f}); scratch " + ", ".join(
                  f"{e} epochs {row[n]:.4f} ({row[n + ' s']:.0f} s)"
                  for n, e in budgets_ep.items()), flush=True)
    if with_scratch:
        seconds["subnets vs scratch"] = time.perf_counter() - tic
    diffs = {name: 100 * np.array([r["ofa"] - r[name] for r in sub]) for name in budgets_ep}
    scratch_s = {name: np.array([r[name + " s"] for r in sub]) for name in budgets_ep}

    # ------------------------------------------------------------------ 3. the predictor
    tic = time.perf_counter()
    pool = distinct_archs(space, cfg["n_fit"] + cfg["n_held"], 2000)
    val_of: dict[bytes, float] = {}

    def measured_val(arch: ofa.Arch) -> float:
        """Validation accuracy after BN recalibration (memo for reporting only; the searches
        call ``ofa.subnet_accuracy`` themselves, so their seconds are their own)."""
        k = key(space, arch)
        if k not in val_of:
            val_of[k] = ofa.subnet_accuracy(supernet, arch, data, split="val", n_calib=N_CALIB)
        return val_of[k]

    t_measure = time.perf_counter()
    pool_acc = np.array([measured_val(a) for a in pool])
    t_measure = time.perf_counter() - t_measure
    fit_archs, held_archs = pool[:cfg["n_fit"]], pool[cfg["n_fit"]:]
    fit_acc, held_acc = pool_acc[:cfg["n_fit"]], pool_acc[cfg["n_fit"]:]
    t_fit = time.perf_counter()
    predictor = ofa_search.AccuracyPredictor(space).fit(fit_archs, fit_acc, seed=0)
    t_fit = time.perf_counter() - t_fit
    held_pred = predictor.predict(held_archs)
    tau = predictor.kendall_tau(held_archs, held_acc)
    rho = float(stats.spearmanr(held_pred, held_acc).statistic)
    tau_flops = float(stats.kendalltau([ofa_search.flops(space, a) for a in held_archs],
                                       held_acc).statistic)
    held_err = 100 * (held_pred - held_acc)
    top = int(np.argmax(held_pred))
    print(f"predictor: {cfg['n_fit']} fit, {cfg['n_held']} held out: Kendall tau {tau:.3f} "
          f"(FLOPs {tau_flops:.3f}); measuring {t_measure:.1f} s, fit {t_fit:.1f} s", flush=True)
    seconds["predictor"] = time.perf_counter() - tic

    def predicted(arch: ofa.Arch) -> float:
        return float(predictor.predict([arch])[0])

    def direct(arch: ofa.Arch) -> float:
        return ofa.subnet_accuracy(supernet, arch, data, split="val", n_calib=N_CALIB)

    # ------------------------------------------------------------------ 4. search
    tic = time.perf_counter()
    table = space.latency_table(**cfg["table"])
    lo = ofa_search.predict_latency(space.smallest(), table)
    hi = ofa_search.predict_latency(space.largest(), table)
    pool_lat = np.array([ofa_search.predict_latency(a, table) for a in pool])
    seconds["table"] = time.perf_counter() - tic
    print(f"table: overhead {table.overhead_us:.1f} us; predicted range {lo:.0f}-{hi:.0f} us",
          flush=True)

    # the tuning split: every setting of the grid on the tuning seeds, judged on validation
    # accuracy only; criterion: the largest median (over the seeds) of evolution's chosen subnet's
    # validation accuracy minus random search's, at the worse of the budgets; ties go to the
    # cheaper setting (fewer subnets scored), then to the first in the grid
    tic = time.perf_counter()
    tuned: list[dict] = []
    for setting in grid if len(grid) > 1 else []:
        row = dict(setting=setting, n=[], evo={}, rnd={}, diff={})
        for f in cfg["budgets"]:
            constraint = dict(constraint={"latency_us": lo + f * (hi - lo)}, latency_table=table)
            evo_val, rnd_val = [], []
            for seed in cfg["tuning_seeds"]:
                evo = ofa_search.evolutionary_search(space, predicted, seed=seed, **setting,
                                                     **constraint)
                rnd = ofa_search.random_search(space, predicted, seed=seed,
                                               n_samples=evo.n_scored, **constraint)
                evo_val.append(measured_val(evo.arch))
                rnd_val.append(measured_val(rnd.arch))
                row["n"].append(evo.n_scored)
            row["evo"][f], row["rnd"][f] = np.median(evo_val), np.median(rnd_val)
            row["diff"][f] = 100 * float(np.median(np.subtract(evo_val, rnd_val)))
        row["criterion"] = min(row["diff"].values())
        tuned.append(row)
        print(f"tuning {setting}: val - random val (points) " + ", ".join(
            f"f = {f}: {d:+.2f}" for f, d in row["diff"].items()), flush=True)
    if tuned:
        pred_search = max(tuned, key=lambda r: (r["criterion"], -np.median(r["n"]),
                                                -tuned.index(r)))["setting"]
        seconds["tuning"] = time.perf_counter() - tic
        print(f"chosen on the tuning seeds: {pred_search}", flush=True)
    else:
        pred_search = grid[0]

    tic = time.perf_counter()
    test_of: dict[bytes, float] = {}

    def measured_test(arch: ofa.Arch) -> float:
        k = key(space, arch)
        if k not in test_of:
            test_of[k] = ofa.subnet_accuracy(supernet, arch, data, split="test", n_calib=N_CALIB)
        return test_of[k]

    methods = ("evolution, predictor", "random, predictor", "evolution, measured val",
               "random, measured val")
    runs: dict[float, dict[str, list[dict]]] = {}
    for f in cfg["budgets"]:
        T = lo + f * (hi - lo)
        constraint = dict(constraint={"latency_us": T}, latency_table=table)
        runs[f] = {m: [] for m in methods}
        for seed in cfg["seeds"]:
            results = {}
            results[methods[0]] = ofa_search.evolutionary_search(
                space, predicted, seed=seed, **pred_search, **constraint)
            results[methods[1]] = ofa_search.random_search(
                space, predicted, seed=seed, n_samples=results[methods[0]].n_scored, **constraint)
            results[methods[2]] = ofa_search.evolutionary_search(
                space, direct, seed=seed, **cfg["direct_search"], **constraint)
            results[methods[3]] = ofa_search.random_search(
                space, direct, seed=seed, n_samples=results[methods[2]].n_scored, **constraint)
            for m, res in results.items():
                if m.endswith("measured val"):  # its score is the validation accuracy
                    val_of.setdefault(key(space, res.arch), res.score)
                r = dict(seed=seed, arch=res.arch, score=res.score, n=res.n_scored,
                         s=res.seconds, lat=res.cost["latency_us"],
                         val=measured_val(res.arch), test=measured_test(res.arch))
                runs[f][m].append(r)
                print(f"f = {f} (T {T:.0f} us), seed {seed}, {m}: {short(res.arch)}: "
                      f"{r['lat']:.0f} us, score {r['score']:.4f}, val {r['val']:.4f}, test "
                      f"{r['test']:.4f}; {r['n']} scored in {r['s']:.1f} s", flush=True)
    seconds["searches"] = time.perf_counter() - tic

    # ------------------------------------------------------------------ end-to-end latency
    tic = time.perf_counter()
    timed = list({key(space, a): a for a in chosen + [r["arch"] for by in runs.values()
                                                      for rs in by.values() for r in rs]}
                 .values())
    torch.manual_seed(0)
    timings = latency.measure_networks([space.build(a) for a in timed], space.in_shape,
                                       **cfg["nets"])
    lat_meas = {key(space, a): t.median_us for a, t in zip(timed, timings)}
    timed_pred = np.array([ofa_search.predict_latency(a, table) for a in timed])
    timed_meas = np.array([lat_meas[key(space, a)] for a in timed])
    fid = latency.fidelity(timed_pred, timed_meas) if len(timed) >= 3 else None
    seconds["measuring networks"] = time.perf_counter() - tic

    # ------------------------------------------------------------------ the report
    wall = (time.perf_counter() - start) / 60
    load_end = os.getloadavg()[0]

    sub_rows = [
        f"| {r['label']} | `{short(r['arch'])}` | "
        f"{ofa_search.predict_latency(r['arch'], table):.0f} | "
        f"{lat_meas[key(space, r['arch'])]:.0f} | {r['flops'] / 1e3:.0f} | {r['raw']:.3f} | "
        f"{r['ofa']:.3f} | "
        + " | ".join(f"{r[n]:.3f} | {100 * (r['ofa'] - r[n]):+.1f}" for n in budgets_ep) + " |"
        for r in sub
    ]
    diff_lines = [
        f"- scratch budget *{name}* ({plural_epochs(e)}, {np.sum(scratch_s[name]):.0f} s for the "
        f"{len(sub)} networks, median {np.median(scratch_s[name]):.0f} s each): supernet - "
        f"scratch median {med_iqr(diffs[name], fmt='+.2f')} points, range "
        f"{diffs[name].min():+.1f} to {diffs[name].max():+.1f}; supernet better or equal for "
        f"{int(np.sum(diffs[name] >= 0))} of {len(sub)}."
        for name, e in budgets_ep.items() if sub
    ]
    raw = 100 * np.array([r["ofa"] - r["raw"] for r in sub])

    search_rows, details, optimism, accept_search = [], [], [], []
    for f, by in runs.items():
        T = lo + f * (hi - lo)
        for m, rs in by.items():
            meas = [lat_meas[key(space, r["arch"])] for r in rs]
            search_rows.append(
                f"| {f} ({T:.0f}) | {m} | {np.median([r['n'] for r in rs]):.0f} | "
                f"{np.median([r['s'] for r in rs]):.2f} | "
                f"{np.median([r['val'] for r in rs]):.4f} | {per_seed([r['test'] for r in rs])} | "
                f"{np.median([r['test'] for r in rs]):.4f} | "
                f"{np.median([r['lat'] for r in rs]):.0f} | {np.median(meas):.0f} |")
            details += [f"- f = {f}, {m}, seed {r['seed']}: `{short(r['arch'])}`, "
                        f"{r['lat']:.0f} us predicted, score {r['score']:.4f}, val "
                        f"{r['val']:.4f}, test {r['test']:.4f}" for r in rs]
        evo = [r["test"] for r in by["evolution, predictor"]]
        rnd = [r["test"] for r in by["random, predictor"]]
        ahead = int(np.sum(np.greater_equal(evo, rnd)))
        evo, rnd = float(np.median(evo)), float(np.median(rnd))
        evo_v = float(np.median([r["val"] for r in by["evolution, predictor"]]))
        rnd_v = float(np.median([r["val"] for r in by["random, predictor"]]))
        n_eq = int(np.median([r["n"] for r in by["random, predictor"]]))
        accept_search.append(
            "- Predictor-guided evolution (settings "
            + ("chosen on the tuning seeds, validation only" if tuned else "given, not tuned")
            + ") at or above the best, by the same predictor, of an equal number of random "
            f"feasible subnets, budget f = {f} (T = {T:.0f} us), median test accuracy over "
            f"{len(cfg['seeds'])} test seeds: {evo:.4f} vs {rnd:.4f} (validation {evo_v:.4f} vs "
            f"{rnd_v:.4f}; at or above in {ahead} of {len(cfg['seeds'])} seeds; {n_eq} subnets "
            f"scored per run, median), {'met' if evo >= rnd else 'missed'}.")
        rs = by["evolution, predictor"]
        opt = 100 * np.array([r["score"] - r["val"] for r in rs])
        optimism.append(
            f"| {f} | {per_seed([r['score'] for r in rs])} | {per_seed([r['val'] for r in rs])} "
            f"| {per_seed([r['test'] for r in rs])} | {med_iqr(opt, fmt='+.2f')} |")
        evo = float(np.median([r["test"] for r in by["evolution, measured val"]]))
        rnd = float(np.median([r["test"] for r in by["random, measured val"]]))
        evo_v = float(np.median([r["val"] for r in by["evolution, measured val"]]))
        rnd_v = float(np.median([r["val"] for r in by["random, measured val"]]))
        n_eq = int(np.median([r["n"] for r in by["random, measured val"]]))
        accept_search.append(
            f"- Evolution (measured validation accuracy) at least as accurate as the best of an "
            f"equal number of random feasible subnets, budget f = {f} (T = {T:.0f} us), median "
            f"test accuracy over {len(cfg['seeds'])} seeds: {evo:.4f} vs {rnd:.4f} (validation "
            f"{evo_v:.4f} vs {rnd_v:.4f}; {n_eq} subnets scored per run, median), "
            f"{'met' if evo >= rnd else 'missed'}.")

    feasible = {f: np.mean(pool_lat <= lo + f * (hi - lo)) for f in cfg["budgets"]}
    primary = "supernet total"
    med_primary = float(np.median(diffs[primary])) if sub else float("nan")
    defaults = {name: inspect.signature(ofa_search.evolutionary_search).parameters[name].default
                for name in cfg["grid"]}
    tuning_lines = [] if not tuned else [
        f"**Tuning split** (seeds {cfg['tuning_seeds']}, validation accuracy only): "
        "predictor-guided evolution with every setting of the grid against random search scored "
        "by the same predictor, with the same seed and as many scored subnets. Per budget: the "
        "median validation accuracy of the subnet each chose, and the median over seeds of the "
        "paired difference evolution - random in points. Criterion, fixed before the run: the "
        "largest paired difference at the worse of the budgets (ties: fewer subnets scored, then "
        "the grid's order); the test seeds run only the chosen setting.",
        "",
        "| population | generations | mutate_prob | parents | scored (median) | "
        + " | ".join(f"f = {f}: evolution val | random val | diff" for f in cfg["budgets"])
        + " | criterion |",
        "|---|---|---|---|---|" + "---|---|---|" * len(cfg["budgets"]) + "---|",
        *[f"| {r['setting']['population']} | {r['setting']['generations']} | "
          f"{r['setting']['mutate_prob']} | {r['setting']['parents']} | "
          f"{np.median(r['n']):.0f} | "
          + " | ".join(f"{r['evo'][f]:.4f} | {r['rnd'][f]:.4f} | {r['diff'][f]:+.2f}"
                       for f in cfg["budgets"])
          + f" | {r['criterion']:+.2f}" + (" (chosen)" if r["setting"] == pred_search else "")
          + " |" for r in tuned],
        "",
        "**Test split** (seeds no choice has seen):",
        ""]
    search_cost = {m: float(np.median([r["s"] for by in runs.values() for r in by[m]]))
                   for m in methods}

    body = "\n".join([
        "Command: `" + shlex.join(["python", "benchmarks/ofa.py", *argv]) + "`",
        "",
        f"Date: {datetime.date.today()}; wall time {wall:.1f} min ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
        + f"); machine: {machine()}; load average {load:.2f} at the start, {load_end:.2f} at the "
        "end; one torch thread for training, search and latency.",
        "",
        f"Versions: {versions(['numpy', 'scipy', 'torch', 'mnist1d'])}.",
        "",
        f"Setting: {data!r}. Space: {space.n_units} units (C_out, stride) {list(space.units)}, "
        f"stem {space.stem_channels} channels, up to {space.max_depth} MBConv blocks per unit, "
        f"kernel {space.kernels}, expansion {space.expands}, depth {space.depths}. Supernet: "
        f"`train_supernet(epochs={cfg['epochs']}, seed=0)`, its other defaults (SGD 0.05 in "
        "phase 0 and 0.02 after, cosine per phase, distillation weight 1 from the largest "
        "network, batch 64). BN recalibration on the first "
        f"{N_CALIB} training inputs. Scratch training: `space.build(arch)` + `fit`, SGD "
        f"{SCRATCH['lr']}, momentum {SCRATCH['momentum']}, weight decay "
        f"{SCRATCH['weight_decay']}, cosine, batch {BATCH}, seed = subnet index. Predictor: "
        f"`AccuracyPredictor` defaults (MLP 64-64, 400 Adam steps), {cfg['n_fit']} fit / "
        f"{cfg['n_held']} held out, validation accuracies. Latency at batch size 1, one thread: "
        f"table {cfg['table']}, networks {cfg['nets']}. Searches: predictor-scored evolution "
        f"{pred_search}" + (f" (chosen on the tuning seeds {cfg['tuning_seeds']} from the grid "
                             f"{cfg['grid']})" if tuned else "")
        + f" (`evolutionary_search`'s defaults when this ran: {defaults}), measured-scored "
        f"evolution {cfg['direct_search']} (mutation ratio 0.5), random search with the same seed "
        f"and the same number of scored subnets; test seeds {cfg['seeds']}; budgets "
        f"T = lo + f (hi - lo) for f in {cfg['budgets']}.",
        "",
        "### 1. Cost of training the supernet",
        "",
        "Seconds include the validation of the largest and the smallest subnet after every "
        "epoch that `train_supernet` does; their accuracies (BN recalibrated) at the end of each "
        "phase.",
        "",
        "| phase | epochs | seconds | s / epoch | val largest | val smallest |",
        "|---|---|---|---|---|---|",
        *phase_rows,
        f"| total | {sum(cfg['epochs'])} | {supernet_s:.1f} | "
        f"{supernet_s / sum(cfg['epochs']):.2f} | | |",
        "",
        (f"Training the {len(sub)} subnets of part 2 from scratch took "
         + " and ".join(f"{np.sum(scratch_s[n]):.0f} s ({plural_epochs(e)} each)"
                        for n, e in budgets_ep.items())
         + f", against {supernet_s:.0f} s for the supernet that contains all of them; one "
         if sub else f"The supernet took {supernet_s:.0f} s; one ")
        + f"subnet taken from it costs an extraction, a BN recalibration and one pass over the "
        f"validation split: {t_measure / len(pool):.2f} s on average (part 3).",
        "",
        *([] if not sub else [
        "### 2. Subnets from the supernet vs the same architectures trained from scratch",
        "",
        "Test accuracy. Latency in us (table prediction, and measured end to end at the end of "
        "the run); kFLOPs = thousands of multiply-accumulates per sample. Supernet = extracted "
        "subnet, no retraining, with the supernet's BN statistics (no recal.) or recalibrated; "
        "diff = supernet (recalibrated) - scratch, in points.",
        "",
        "| subnet | blocks per unit | predicted us | measured us | kFLOPs | supernet, no recal. "
        "| supernet, recal. | "
        + " | ".join(f"scratch, {n} ({e} ep) | diff" for n, e in budgets_ep.items()) + " |",
        "|---|---|---|---|---|---|---|" + "---|---|" * len(budgets_ep),
        *sub_rows,
        "",
        *diff_lines,
        f"- BN recalibration: +{np.median(raw):.1f} points in median (range {raw.min():+.1f} "
        f"to {raw.max():+.1f}) over the supernet's own statistics.",
        ""]),
        "### 3. Accuracy predictor",
        "",
        f"{len(pool)} distinct random subnets (seeds 2000, ...), validation accuracy "
        f"{pool_acc.min():.3f}-{pool_acc.max():.3f} (median {np.median(pool_acc):.3f}); held "
        f"out: {held_acc.min():.3f}-{held_acc.max():.3f}. Measuring them took "
        f"{t_measure:.1f} s, fitting the predictor {t_fit:.1f} s.",
        "",
        "| fit / held out | Kendall tau | Spearman | FLOPs Kendall tau | mean signed error "
        "(pred - meas, points) | mean abs. error (points) |",
        "|---|---|---|---|---|---|",
        f"| {cfg['n_fit']} / {cfg['n_held']} | {tau:.3f} | {rho:.3f} | {tau_flops:.3f} | "
        f"{held_err.mean():+.2f} | {np.abs(held_err).mean():.2f} |",
        "",
        f"The held-out subnet the predictor ranks first: predicted {held_pred[top]:.4f}, "
        f"measured {held_acc[top]:.4f} (best held out {held_acc.max():.4f}).",
        "",
        "Optimism on the searched subnet (predictor-guided evolution of part 4): the accuracy the "
        "predictor promises, the subnet's measured validation and test accuracy, per seed, and "
        "the median [q25, q75] of predicted - measured validation in points; on random held-out "
        f"subnets the mean signed error is {held_err.mean():+.2f} points.",
        "",
        "| budget f | predicted | measured val | measured test | predicted - val (points) |",
        "|---|---|---|---|---|",
        *optimism,
        "",
        "### 4. Evolutionary search vs random feasible subnets under a latency budget",
        "",
        f"Table on {table.device}, torch {table.torch_version}: predicted range lo = {lo:.0f} us "
        f"(smallest) to hi = {hi:.0f} us (largest), overhead {table.overhead_us:.0f} us. "
        "Feasible share of the part-3 random subnets: "
        + ", ".join(f"f = {f}: {100 * v:.0f}%" for f, v in feasible.items()) + ". "
        + (f"Table vs end-to-end latency over the {fid['n']} timed subnets: Spearman "
           f"{fid['spearman']:.3f}, median measured / predicted {fid['ratio']:.2f}, mean "
           f"relative error {fid['mean_rel_error']:.2f}." if fid else ""),
        "",
        *tuning_lines,
        "Chosen subnet = the best by the search's score; its validation and test accuracy after "
        "BN recalibration (medians over seeds; test also per seed). Latency of the chosen "
        "subnets in us, medians: predicted by the table (what the constraint uses) and measured "
        "end to end (on a scale the table misses by the ratio above).",
        "",
        "| f (T us) | method | scored | search s | val | test per seed | test | predicted us | "
        "measured us |",
        "|---|---|---|---|---|---|---|---|---|",
        *search_rows,
        "",
        "Search cost, median s per run: "
        + ", ".join(f"{m} {s:.2f}" for m, s in search_cost.items())
        + f"; the predictor's data cost {t_measure:.0f} s once, for every budget.",
        "",
        *details,
        "",
        "### Acceptance",
        "",
        *([] if not sub else [
            f"- Subnets from the supernet within {TOLERANCE:.0f} points of the same "
            f"architectures trained from scratch, in median over {len(sub)} subnets (criterion: "
            f"median of supernet - scratch >= -{TOLERANCE:.0f} points, scratch budget "
            f"*{primary}*, {plural_epochs(budgets_ep[primary])}): {med_primary:+.2f} points, "
            f"{'met' if med_primary >= -TOLERANCE else 'missed'}"
            + (f" (at least 5 subnets: only {len(sub)})" if len(sub) < 5 else "")
            + f"; with the *phase 0* budget ({plural_epochs(budgets_ep['phase 0'])}) "
            f"{np.median(diffs['phase 0']):+.2f} points."]),
        *accept_search,
        f"- Predictor Kendall tau on {cfg['n_held']} held-out subnets: {tau:.3f} (reported, no "
        "threshold).",
    ])
    print(body)
    if args.out:
        write_section(Path(args.out), SECTION if sub else SEARCH_SECTION, body)


if __name__ == "__main__":
    main()
