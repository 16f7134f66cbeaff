"""Warm-starting on the course's meta-dataset: held-out tasks, 50 evaluations by table lookup.

Each task of :func:`minnas.hpo.metadataset.load_metadataset` in turn is the *held-out* task:
a method may use other tasks' meta-features and errors, and evaluates configurations of the
held-out task by looking up their stored cross-validated error. Reported, per method:

- the normalised regret after 1, 5, 10, 25 and 50 evaluations,

      regret_t = (best error among the first t evaluations - min error of the task)
                 / (max error of the task - min error of the task),

  as the median and quartiles over all (task, seed) runs, and its mean;
- the share of runs that *reach the optimum* within the budget, and the median number of
  evaluations to reach it, where a configuration reaches the optimum when its mean CV error is
  within one standard error of the task's best (the standard error of the best configuration's
  five fold errors, ``MetaDataset.near_optimal``); a run that never reaches it counts as
  +inf (printed "> 50"), so a median is finite only if more than half of the runs reach it.

A task whose errors are all equal (max == min) has no regret to measure; it is left out.

Splits and defaults (the protocol of benchmarks/README.md)
----------------------------------------------------------
The tasks are split once into a *tuning* and a *test* split (:func:`split_tasks`: by family,
seeded, half and half). The library defaults of kNN (``k``, ``n_configs``) and PMF
(``n_latent``, ``lam``) were chosen with ``--tune`` on the tuning split only: each tuning task
held out in turn, the methods seeing the *other tuning tasks* only, over the grids
:data:`KNN_GRID` and :data:`PMF_GRID`, by the criterion of :func:`select` (fixed before any
number was seen). The test split is reported with those defaults: each test task held out, the
methods seeing all other tasks. No test task's errors influenced a choice.

Methods
-------
- ``random``: the configurations in a random order (seeded), without repeats.
- ``cold-bo``: :class:`minnas.hpo.bayesopt.BayesianOptimizer` with ``candidates`` = the
  meta-dataset's configurations and its defaults; it uses nothing from the other tasks.
- ``best-avg``: the configurations in the order of their mean rank over the other tasks
  (:func:`minnas.hpo.warmstart.best_on_average`); deterministic.
- ``knn-bo``: the initial design of :func:`minnas.hpo.warmstart.knn_warm_start` (library
  defaults), then the same BO as ``cold-bo`` told those points.
- ``pmf-ei``: :class:`minnas.hpo.warmstart.PMF` (library defaults) fitted on the other tasks'
  errors, then :class:`minnas.hpo.warmstart.PMFOptimizer` (EI over the configurations).

Seeds make ``random`` and ``cold-bo`` differ from run to run; ``knn-bo`` (GP restarts) and
``pmf-ei`` (the initial factors) also take the seed. Every library runs single-threaded.

Usage (from the repository root)::

    python benchmarks/warmstart.py --tune          # grid on the tuning split, then both splits
    python benchmarks/warmstart.py                 # both splits with the library defaults
    python benchmarks/warmstart.py --splits all    # the old protocol: every task, all others seen
    python benchmarks/warmstart.py --seeds 0 --tasks 8 --out ""  # quick look, prints only
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import hashlib
import inspect
import sys
import time
import warnings
from itertools import product
from pathlib import Path

import numpy as np

from _report import machine, quartiles, versions, write_section
from minnas.hpo import bayesopt
from minnas.hpo.bayesopt import BayesianOptimizer
from minnas.hpo.metadataset import MetaDataset, load_metadataset
from minnas.hpo.warmstart import (PMF, PMFOptimizer, best_on_average,
                                  knn_warm_start)

METHODS = ["random", "cold-bo", "best-avg", "knn-bo", "pmf-ei"]
WARM = ["best-avg", "knn-bo", "pmf-ei"]
DETERMINISTIC = {"best-avg"}
CHECKPOINTS = [1, 5, 10, 25, 50]
SECTION = "## Warm-starting"

#: The candidate settings of ``--tune`` (fixed before any number was computed).
KNN_GRID = {"k": [1, 3, 5, 10], "n_configs": [3, 5, 10]}
PMF_GRID = {"n_latent": [2, 3, 5, 8, 12], "lam": [0.1, 1.0, 10.0, 100.0]}
SPLIT_SEED = 0


# ----------------------------------------------------------------------------- the splits
def family(name: str) -> str:
    """``"sklearn"`` for the scikit-learn tasks, else the generator: ``"synth:moons"``, ..."""
    return "sklearn" if name.startswith("sklearn:") else name.split("_")[0]


def split_tasks(names: list[str], seed: int = SPLIT_SEED) -> tuple[list[int], list[int]]:
    """The tuning and the test split: within each family (in order of first appearance), a
    seeded permutation puts ``floor(n / 2)`` tasks into tuning and the rest into test."""
    rng = np.random.default_rng(seed)
    tuning, test = [], []
    for fam in dict.fromkeys(family(n) for n in names):
        members = [t for t, n in enumerate(names) if family(n) == fam]
        order = [members[i] for i in rng.permutation(len(members))]
        tuning += order[:len(members) // 2]
        test += order[len(members) // 2:]
    return sorted(tuning), sorted(test)


# --------------------------------------------------------------------------- the methods
# Each takes the meta-dataset, the held-out task, the training tasks, a seed, a budget and its
# settings, and returns the configuration indices it evaluated, in order. Only ``lookup``
# touches the held-out task's errors, one evaluation at a time.
def _key(x: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in x.items()))


def run_random(meta, task, train, seed, n, lookup):
    order = np.random.default_rng(seed).permutation(meta.n_configs)[:n].tolist()
    for c in order:
        lookup(c)
    return order


def _bo(meta: MetaDataset, seed: int, n: int, lookup, design: list[int] | None) -> list[int]:
    index = {_key(x): i for i, x in enumerate(meta.configs)}
    kwargs = {} if design is None else dict(
        initial_points=[meta.configs[i] for i in design], n_initial=len(design))
    opt = BayesianOptimizer(meta.space, candidates=meta.configs, seed=seed, **kwargs)
    asked = []
    for _ in range(n):
        x = opt.ask()
        c = index[_key(x)]
        asked.append(c)
        opt.tell(x, lookup(c))
    return asked


def run_cold_bo(meta, task, train, seed, n, lookup):
    return _bo(meta, seed, n, lookup, design=None)


def run_knn_bo(meta, task, train, seed, n, lookup, **settings):
    design = knn_warm_start(meta, meta.metafeatures[task], train, **settings)
    return _bo(meta, seed, n, lookup, design=design)


def run_best_avg(meta, task, train, seed, n, lookup):
    order = best_on_average(meta.errors[train], n)
    for c in order:
        lookup(c)
    return order


def run_pmf_ei(meta, task, train, seed, n, lookup, **settings):
    pmf = PMF(seed=seed, **settings).fit(meta.errors[train])
    opt = PMFOptimizer(pmf, seed=seed)
    for _ in range(n):
        c = opt.ask()
        opt.tell(c, lookup(c))
    return opt.indices


RUNNERS = {"random": run_random, "cold-bo": run_cold_bo, "best-avg": run_best_avg,
           "knn-bo": run_knn_bo, "pmf-ei": run_pmf_ei}


class _Enough(Exception):
    """Raised by a lookup once a run has shown all that is measured (``--tune`` only)."""


def run_one(meta: MetaDataset, near: np.ndarray, method: str, task: int, train: list[int],
            seed: int, n: int, settings: dict | None = None,
            stop_early: bool = False) -> tuple[list[int], float]:
    """One run: the evaluated indices (all ``n``, or fewer with ``stop_early``) and seconds.

    ``stop_early`` ends a run once it has reached the optimum and made 10 evaluations:
    evaluations to the optimum and the regret @10 are then known (what ``--tune`` needs)."""
    asked: list[int] = []

    def lookup(c: int) -> float:
        asked.append(c)
        if stop_early and len(asked) >= 10 and near[task, asked].any():
            raise _Enough
        return float(meta.errors[task, c])

    start = time.perf_counter()
    try:
        returned = RUNNERS[method](meta, task, train, seed, n, lookup, **(settings or {}))
    except _Enough:
        returned = asked
    seconds = time.perf_counter() - start
    if returned != asked or len(set(asked)) != len(asked) or \
            (not stop_early and len(asked) != n):
        raise RuntimeError(f"{method} on task {task}: {len(asked)} evaluations looked up, "
                           f"{len(set(asked))} distinct, {len(returned)} returned")
    return asked, seconds


def evaluate(meta, near, method, tasks, train_of, seeds, n, settings=None, stop_early=False):
    """All runs of a method: regret curves (NaN after an early stop), evaluations to the
    optimum (inf if never), seconds in total."""
    lo, hi = meta.errors.min(axis=1), meta.errors.max(axis=1)
    curves, reach, seconds = [], [], 0.0
    for t in tasks:
        for seed in (seeds[:1] if method in DETERMINISTIC else seeds):
            asked, s = run_one(meta, near, method, t, train_of(t), seed, n, settings, stop_early)
            seconds += s
            curve = np.full(n, np.nan)
            curve[:len(asked)] = (np.minimum.accumulate(meta.errors[t, asked]) - lo[t]) \
                / (hi[t] - lo[t])
            curves.append(curve)
            hits = np.flatnonzero(near[t, asked])
            reach.append(float(hits[0] + 1) if hits.size else np.inf)
    return np.array(curves), np.array(reach), seconds


# ------------------------------------------------------------------------------ reporting
def fmt(x: float) -> str:
    """Three significant digits: regrets of 0.016 and 0.0168 must not look equal."""
    return "0" if x == 0 else (f"{x:.2e}" if abs(x) < 1e-3 else f"{x:.3g}")


def quantile_inf(x: np.ndarray, q: float) -> float:
    """Linear-interpolation quantile where +inf means "never": inf as soon as it touches one."""
    x = np.sort(np.asarray(x, dtype=float))
    pos = q * (len(x) - 1)
    a, b = x[int(np.floor(pos))], x[int(np.ceil(pos))]
    return float(b) if np.isinf(b) else float(a + (pos - np.floor(pos)) * (b - a))


def fmt_evals(x: float, n: int) -> str:
    return f"> {n}" if np.isinf(x) else f"{x:g}"


def regret_table(regrets: dict[str, np.ndarray], cps: list[int]) -> str:
    head = ("| method | " + " | ".join(f"@{c}: median [q25, q75]" for c in cps)
            + " | mean @10 | mean @50 | solved @10 |")
    lines = [head, "|" + "---|" * (len(cps) + 4)]
    for m, R in regrets.items():  # R: (runs, n), normalised regret after each evaluation
        cells = []
        for c in cps:
            med, lo, hi = quartiles(R[:, c - 1])
            cells.append(f"{fmt(med)} [{fmt(lo)}, {fmt(hi)}]")
        n10, n50 = min(10, R.shape[1]), R.shape[1]
        lines.append(f"| {m} | " + " | ".join(cells)
                     + f" | {fmt(R[:, n10 - 1].mean())} | {fmt(R[:, n50 - 1].mean())}"
                     + f" | {np.mean(R[:, n10 - 1] == 0):.0%} |")
    return "\n".join(lines)


def reach_table(reach: dict[str, np.ndarray], n: int) -> str:
    cps = [c for c in (5, 10, 25) if c < n] + [n]
    lines = ["| method | " + " | ".join(f"reached @{c}" for c in cps)
             + " | evaluations to reach: median [q25, q75] |", "|---" * (len(cps) + 2) + "|"]
    for m, r in reach.items():
        shares = " | ".join(f"{np.mean(r <= c):.0%}" for c in cps)
        med, q25, q75 = (quantile_inf(r, q) for q in (0.5, 0.25, 0.75))
        lines.append(f"| {m} | {shares} | {fmt_evals(med, n)} "
                     f"[{fmt_evals(q25, n)}, {fmt_evals(q75, n)}] |")
    return "\n".join(lines)


def acceptance(regrets: dict[str, np.ndarray], reach: dict[str, np.ndarray], n: int) -> str:
    """The two warm-starting targets, stated with their numbers."""
    if not {"cold-bo", "best-avg"} <= set(regrets):
        return "(acceptance needs cold-bo and best-avg in --methods)"
    cold = quantile_inf(reach["cold-bo"], 0.5)
    bound = (n if np.isinf(cold) else cold) / 5
    warm = {m: quantile_inf(reach[m], 0.5) for m in WARM if m in reach}
    best = min(warm, key=lambda m: (warm[m], np.mean(np.minimum(reach[m], n + 1))))
    lines = [f"- Target 1: the best warm-start method needs at most a fifth of cold-bo's median "
             f"evaluations to reach the optimum (cold-bo: {fmt_evals(cold, n)}, a fifth: "
             f"{bound:g}{' or more' if np.isinf(cold) else ''}).",
             "  - " + "; ".join(f"{m} {fmt_evals(v, n)}" for m, v in warm.items())
             + f": best {best} with {fmt_evals(warm[best], n)}: "
             + ("met" if warm[best] <= bound else "missed") + "."]
    k10 = min(10, n) - 1
    avg_med = float(np.median(regrets["best-avg"][:, k10]))
    avg_mean = float(np.mean(regrets["best-avg"][:, k10]))
    lines.append(f"- Target 2: beat best-avg @10 in median and mean (best-avg: median "
                 f"{fmt(avg_med)}, mean {fmt(avg_mean)}).")
    for m in ("knn-bo", "pmf-ei"):
        if m in regrets:
            med = float(np.median(regrets[m][:, k10]))
            mean = float(np.mean(regrets[m][:, k10]))
            ok = med < avg_med and mean < avg_mean
            lines.append(f"  - {m}: median {fmt(med)}, mean {fmt(mean)} @10: "
                         f"{'met' if ok else 'missed'}"
                         + (" (equal medians)" if med == avg_med else "") + ".")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ tuning
def select(rows: list[dict]) -> dict:
    """The criterion of ``--tune``, fixed before any number was seen: the lowest median
    number of evaluations to the optimum; ties: the lowest mean regret @10; then grid order."""
    return min(rows, key=lambda r: (r["median_reach"], r["mean10"], r["order"]))


def tune(meta, near, held_out, train_of, seeds, n) -> tuple[str, dict[str, dict]]:
    """Both grids, each ``held_out`` task seeing ``train_of(task)``; the tables, the choices."""
    text, chosen = [], {}
    for method, grid in (("knn-bo", KNN_GRID), ("pmf-ei", PMF_GRID)):
        names = list(grid)
        rows = []
        for order, values in enumerate(product(*grid.values())):
            settings = dict(zip(names, values))
            R, r, sec = evaluate(meta, near, method, held_out, train_of, seeds, n, settings,
                                 stop_early=True)
            rows.append(dict(settings=settings, order=order, median_reach=quantile_inf(r, 0.5),
                             q25=quantile_inf(r, 0.25), q75=quantile_inf(r, 0.75),
                             reached=np.mean(np.isfinite(r)), r10=np.mean(r <= 10),
                             mean10=float(np.mean(R[:, 9])), median10=float(np.median(R[:, 9]))))
            print(f"tune {method} {settings}: median reach {rows[-1]['median_reach']}, mean "
                  f"regret@10 {rows[-1]['mean10']:.4f} ({sec:.0f} s)", file=sys.stderr,
                  flush=True)
        best = select(rows)
        chosen[method] = best["settings"]
        lines = [f"| {' | '.join(names)} | evaluations to reach: median [q25, q75] | reached "
                 f"@10 | reached @{n} | regret @10: median | mean |",
                 "|" + "---|" * (len(names) + 5)]
        for row in rows:
            mark = " **(chosen)**" if row is best else ""
            lines.append("| " + " | ".join(f"{v:g}" for v in row["settings"].values())
                         + f" | {fmt_evals(row['median_reach'], n)} [{fmt_evals(row['q25'], n)}"
                         f", {fmt_evals(row['q75'], n)}]{mark} | {row['r10']:.0%} | "
                         f"{row['reached']:.0%} | {fmt(row['median10'])} | {fmt(row['mean10'])} |")
        text += [f"Grid for {method}:", "", "\n".join(lines), ""]
    return "\n".join(text), chosen


def library_defaults() -> dict[str, dict]:
    def defaults(f, names):
        params = inspect.signature(f).parameters
        return {k: params[k].default for k in names}
    return {"knn-bo": defaults(knn_warm_start, KNN_GRID), "pmf-ei": defaults(PMF, PMF_GRID)}


# ------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="seeds of the stochastic methods (best-avg runs once per task)")
    parser.add_argument("--n-evals", type=int, default=50)
    parser.add_argument("--splits", nargs="+", default=["tuning", "test"],
                        choices=["tuning", "test", "all"],
                        help="tuning: its tasks held out, the other tuning tasks seen; test: "
                             "its tasks held out, all other tasks seen; all: every task held "
                             "out, all others seen (the protocol before the split)")
    parser.add_argument("--tune", action="store_true",
                        help="first run the grids KNN_GRID and PMF_GRID on the tuning split "
                             "and report the selection")
    parser.add_argument("--tasks", type=int, default=None,
                        help="use only the first TASKS held-out tasks of each split (a quick "
                             "look); default all")
    parser.add_argument("--metadataset", default=None,
                        help="another meta-dataset file in the same format (default: the "
                             "shipped one)")
    parser.add_argument("--out", default="benchmarks/RESULTS.md",
                        help='markdown file whose "Warm-starting" section is replaced; '
                             '"" prints only')
    args = parser.parse_args(argv)
    command = "python benchmarks/warmstart.py " + " ".join(sys.argv[1:] if argv is None else argv)
    warnings.filterwarnings("ignore")

    meta = load_metadataset(args.metadataset)
    T, C = meta.errors.shape
    n = min(args.n_evals, C)
    cps = [c for c in CHECKPOINTS if c < n] + [n]
    near = meta.near_optimal(1.0)
    flat = [t for t in range(T) if meta.errors[t].max() == meta.errors[t].min()]
    tuning, test = split_tasks(meta.task_names)
    usable = {"tuning": [t for t in tuning if t not in flat],
              "test": [t for t in test if t not in flat],
              "all": [t for t in range(T) if t not in flat]}
    if args.tasks is not None:
        usable = {k: v[:args.tasks] for k, v in usable.items()}
    seen_by = {"tuning": lambda t: [s for s in tuning if s != t],
               "test": lambda t: [s for s in range(T) if s != t],
               "all": lambda t: [s for s in range(T) if s != t]}

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    defaults = library_defaults()
    report = []
    if args.tune:
        grid_text, chosen = tune(meta, near, usable["tuning"], seen_by["tuning"], args.seeds, n)
        same = chosen == defaults
        report += ["### Choosing the defaults on the tuning split", "", grid_text,
                   f"Selected: {chosen}. Library defaults: {defaults}: "
                   + ("the same." if same else "**they differ**: change the library defaults "
                      "(minnas/hpo/warmstart.py) to the selection."), ""]
    verdict = ""
    runs, secs = {}, {}
    for split in args.splits:
        regrets, reach = {}, {}
        for m in args.methods:
            R, r, sec = evaluate(meta, near, m, usable[split], seen_by[split], args.seeds, n)
            regrets[m], reach[m] = R, r
            runs[(split, m)], secs[(split, m)] = len(r), sec / len(r)
            print(f"{split:6s} {m:9s} done ({sec:.1f} s)", file=sys.stderr, flush=True)
        title = {"tuning": f"Tuning split ({len(usable['tuning'])} tasks held out in turn, "
                           "each seeing the other tuning tasks only)",
                 "test": f"Test split ({len(usable['test'])} tasks held out in turn, each "
                         f"seeing all other {T - 1} tasks)",
                 "all": f"Every task ({len(usable['all'])} held out in turn, each seeing all "
                        "others; no split)"}[split]
        report += [f"### {title}", "", regret_table(regrets, cps), "",
                   reach_table(reach, n), ""]
        if split == "test":
            verdict = acceptance(regrets, reach, n)
            report += ["Acceptance (test split):", "", verdict, ""]
    wall = time.perf_counter() - started
    print("\n".join(report))
    if not args.out:
        return

    bo_digest = hashlib.sha256(Path(bayesopt.__file__).read_bytes()).hexdigest()[:12]
    run_text = "; ".join(f"{s}/{m} {runs[(s, m)]} runs, {secs[(s, m)]:.2f} s per run"
                         for s, m in runs)
    se = meta.best_standard_error()
    sizes = meta.fold_sizes.sum(axis=1)
    notes = [
        f"Command: `{command.strip()}`",
        "",
        f"Date: {datetime.date.today().isoformat()}; wall time {wall / 60:.1f} min; "
        f"machine: {machine()}; load average {load:.2f} at the start (the machine was shared); "
        "one thread (OMP/BLAS).",
        "",
        f"Versions: {versions(['numpy', 'scipy', 'scikit-learn'])}; minnas/hpo/bayesopt.py "
        f"sha256 {bo_digest}... (cold-bo and knn-bo depend on it).",
        "",
        f"Meta-dataset: `load_metadataset()`, {T} tasks x {C} configurations (SVC; 5-fold CV "
        "error and its 5 fold errors). Splits (`split_tasks`, by family, seed "
        f"{SPLIT_SEED}): tuning = {len(tuning)} tasks, test = {len(test)} tasks; "
        + (f"left out, all errors equal: {', '.join(meta.task_names[t] for t in flat)}. "
           if flat else "no task has all errors equal, so none is left out. ")
        + f"Seeds {', '.join(map(str, args.seeds))} for the stochastic methods. Normalised "
        "regret = (best error so far - min error of the task) / (max - min); quartiles over "
        "the (task, seed) runs; solved = share of runs with regret 0. Reached = the share of "
        "runs that have evaluated a configuration within one standard error of the task's "
        "best (`near_optimal`); the standard error of the best configuration's fold errors "
        f"has median {np.median(se):.4f} over the tasks ({np.median(se * sizes):.2f} "
        "samples of a task), and a median of "
        f"{np.median(near.sum(axis=1)):g} of the {C} configurations count as optimal per "
        f"task. Runs: {run_text}.",
        "",
        "Methods: random = random order of the configurations; cold-bo = `BayesianOptimizer("
        "space, candidates=configs, seed=s)` with its defaults; best-avg = "
        "`best_on_average(errors[train])` (mean rank); knn-bo = `knn_warm_start` with its "
        f"defaults ({defaults['knn-bo']}) as `initial_points` of the same BO; pmf-ei = "
        f"`PMF(seed=s)` with its defaults ({defaults['pmf-ei']}) fitted on the seen tasks, "
        "then `PMFOptimizer` (first the lowest prior mean, then EI). The kNN and PMF "
        "defaults were chosen on the tuning split (protocol in benchmarks/README.md).",
        "",
        *report,
    ]
    write_section(Path(args.out), SECTION, "\n".join(notes))
    print(f"\nwrote {args.out} ({wall / 60:.1f} min)", file=sys.stderr)


if __name__ == "__main__":
    main()
