"""DARTS against random cells from the same space, on a setting where architectures differ.

Setting: MNIST-1D (:func:`minnas.data.load_mnist1d`) with 1000 training, 1000 validation and
1000 test signals. With the full 3000 training signals nearly every cell of the space scores
within a point of the others; with 1000, random cells spread over several points, so the
search has something to find.

For each seed, DARTS (:func:`minnas.nas.darts.search`) searches on the training split
(weights) and the validation split (``alpha``); the derived genotype is then trained from
scratch on the training split (:func:`minnas.train.fit`, ``RETRAIN_EPOCHS`` epochs) and scored
once on the test split. Random cells (:func:`minnas.nas.darts.random_genotype`) get exactly the
same retraining. Variants:

- ``first-order``: equation (6) at xi = 0, with ``WARMUP`` epochs of weight training first;
- ``second-order``: equations (7)-(8), same warm-up;
- ``first-order, no warm-up``: the paper's schedule, which lets parameter-free operations take
  the reduction cell early (the skip/pooling collapse);
- ``long``: one first-order search of ``--long-epochs`` epochs (no warm-up), to show how the share
  of parameter-free operations in the derived cells grows as the search runs on.

Reported: test accuracy of each derived cell and its median over seeds, the random cells'
quartiles and spread, the 75th percentile the derived cells must reach, the search cost in
seconds (total and per epoch) and the retraining time. Everything runs on one torch thread.

Usage (from the repository root)::

    python benchmarks/darts.py  # full run (~40 min); updates RESULTS.md
    python benchmarks/darts.py --seeds 0 --random 3 --variants first-order --long-epochs 0 --out ""
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, quartiles, versions, write_section

from minnas.data import Splits, load_mnist1d
from minnas.nas import darts
from minnas.train import evaluate, fit

SECTION = "## DARTS vs random cells"
N_TRAIN = 1000
SEARCH_EPOCHS = 10
WARMUP = 3
RETRAIN_EPOCHS = 10
VARIANTS = {
    "first-order": dict(second_order=False, warmup_epochs=WARMUP),
    "second-order": dict(second_order=True, warmup_epochs=WARMUP),
    "first-order, no warm-up": dict(second_order=False, warmup_epochs=0),
}


def retrain(data: Splits, genotype: darts.Genotype, seed: int) -> tuple[float, float]:
    """Train ``genotype`` from scratch; return its test accuracy and the seconds it took."""
    torch.manual_seed(seed)
    net = darts.DiscreteNetwork(genotype, data.in_channels, data.n_classes, dim=data.dim)
    history = fit(net, data.loader("train", 64, seed=seed), epochs=RETRAIN_EPOCHS, seed=seed)
    return evaluate(net, data.tensors("test")), history.seconds


def cells(genotype: darts.Genotype) -> str:
    def short(genes):
        return " ".join(f"{op}<-{i}" for op, i in genes)

    return f"normal: {short(genotype.normal)}; reduce: {short(genotype.reduce)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--random", type=int, default=10, help="random cells to retrain")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--long-epochs", type=int, default=30, help="0 skips the long search")
    parser.add_argument("--out", default="benchmarks/RESULTS.md", help='"" prints only')
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    data = load_mnist1d(n_train=N_TRAIN, seed=0)
    print(data, flush=True)

    random_acc = []
    for i in range(args.random):
        acc, _ = retrain(data, darts.random_genotype(seed=100 + i), seed=i)
        random_acc.append(acc)
        print(f"random cell {i}: {acc:.4f}", flush=True)
    r_med, r_q25, r_q75 = quartiles(np.array(random_acc))

    rows, details = [], []
    for name in args.variants:
        accs, search_s, per_epoch, retrain_s, free = [], [], [], [], []
        for seed in args.seeds:
            result = darts.search(data, epochs=SEARCH_EPOCHS, seed=seed, **VARIANTS[name])
            acc, seconds = retrain(data, result.genotype, seed)
            accs.append(acc)
            search_s.append(result.seconds)
            per_epoch.append(result.seconds / SEARCH_EPOCHS)
            retrain_s.append(seconds)
            free.append(darts.skip_share(result.genotype, "reduce"))
            moved = float(np.mean(result.alpha_normal[-1].max(axis=1)))
            details.append(f"- {name}, seed {seed}: test {acc:.4f}; mean max softmax(alpha) per "
                           f"normal edge {moved:.3f} (uniform {1 / len(darts.PRIMITIVES):.3f}); "
                           f"{cells(result.genotype)}")
            print(details[-1], f"search {result.seconds:.0f} s", flush=True)
        rows.append(
            f"| {name} | {' / '.join(f'{a:.3f}' for a in accs)} | {np.median(accs):.3f} | "
            f"{'yes' if np.median(accs) >= r_q75 else 'no'} | {np.median(search_s):.0f} | "
            f"{np.median(per_epoch):.1f} | {np.median(retrain_s):.1f} | "
            f"{np.median(search_s) + np.median(retrain_s):.0f} | {np.mean(free):.2f} |"
        )

    long_lines = []
    if args.long_epochs:
        result = darts.search(data, epochs=args.long_epochs, seed=args.seeds[0])
        acc, _ = retrain(data, result.genotype, args.seeds[0])
        marks = sorted({1, 5, 10, 20, args.long_epochs} & set(range(1, args.long_epochs + 1)))
        long_lines = [
            f"Long search ({args.long_epochs} epochs, first order, no warm-up, seed "
            f"{args.seeds[0]}, {result.seconds:.0f} s): share of parameter-free operations "
            "(skip, pooling) in the derived cells after epoch "
            + ", ".join(
                f"{e}: normal {darts.skip_share(result.genotypes[e - 1]):.2f} / reduce "
                f"{darts.skip_share(result.genotypes[e - 1], 'reduce'):.2f}" for e in marks
            )
            + f". Retrained test accuracy of the final cell: {acc:.4f}. {cells(result.genotype)}.",
        ]
        print(long_lines[0], flush=True)

    wall = (time.perf_counter() - start) / 60
    body = "\n".join([
        "Command: `" + shlex.join(["python", "benchmarks/darts.py", *sys.argv[1:]]) + "`",
        "",
        f"Date: {datetime.date.today()}; wall time {wall:.1f} min; machine: {machine()}; load "
        f"average {load:.2f} at the start; one torch thread.",
        "",
        f"Versions: {versions(['numpy', 'torch', 'mnist1d'])}.",
        "",
        f"Setting: {data!r}; search space {len(darts.PRIMITIVES)} operations "
        f"({', '.join(darts.PRIMITIVES)}), 4 nodes, 3 cells (normal, reduce, reduce), C = 8; "
        f"search {SEARCH_EPOCHS} epochs, batch 64, SGD 0.05 cosine on w, Adam 3e-2 on alpha; "
        f"retraining {RETRAIN_EPOCHS} epochs, SGD 0.05 cosine, batch 64; seeds {args.seeds}.",
        "",
        f"Random cells ({args.random}, same retraining): test accuracy min {min(random_acc):.3f}, "
        f"q25 {r_q25:.3f}, median {r_med:.3f}, q75 {r_q75:.3f}, max {max(random_acc):.3f}; "
        f"spread {100 * (max(random_acc) - min(random_acc)):.1f} points.",
        "",
        "| variant | test accuracy per seed | median | >= random q75 | search s | s/epoch | "
        "retrain s | search + retrain s | parameter-free share (reduce) |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        *long_lines,
        "",
        "Derived cells:",
        "",
        *details,
    ])
    print(body)
    if args.out:
        write_section(Path(args.out), SECTION, body)


if __name__ == "__main__":
    main()
