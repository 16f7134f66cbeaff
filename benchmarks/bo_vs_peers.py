"""Bayesian optimisation in minnas against scikit-optimize, Optuna and random search.

For each problem and seed, every method gets the same budget of evaluations. Reported per
method: the regret (best value found minus the known minimum) after 10, 25 and ``n_calls``
evaluations, as the median and quartiles over the seeds, and the median wall-clock seconds per
iteration (optimiser overhead plus the evaluation), and the overhead alone.

Methods
-------
- ``minnas-bo``: :func:`minnas.hpo.bayesopt.minimize` with its defaults.
- ``skopt-gp``: ``skopt.gp_minimize`` with its defaults and ``n_initial_points=10``.
- ``optuna-tpe``: Optuna's ``TPESampler(seed=seed)`` (defaults: 10 startup trials).
- ``optuna-gp``: Optuna's ``GPSampler(seed=seed)`` (defaults: 10 startup trials; torch, 1 thread).
- ``minnas-random``: :func:`minnas.hpo.search.random_search`.

Problems: ``branin`` (2-D), ``hartmann6`` (6-D) and ``svm_digits`` (the course's real tuning
task, 2-D on log scales). svm_digits has no known minimum, so its regret is measured against
the best value that any method found in any seed of the same run.

Usage (from the repository root, after ``python -m pip install -e ".[dev,bench]"``)::

    python benchmarks/bo_vs_peers.py                                  # the full run
    python benchmarks/bo_vs_peers.py --problems branin --seeds 0 1 2 --out ""   # quick look
"""

from __future__ import annotations

import os

# One thread for every numerical library, set before they are imported: the peers and minnas
# then compete on equal terms, and a shared machine is not oversubscribed.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from _report import machine, quartiles, versions, write_section
from minnas.hpo import testfunctions
from minnas.hpo.bayesopt import minimize
from minnas.hpo.search import random_search
from minnas.hpo.space import Categorical, Integer, Real

PROBLEMS = {"branin": testfunctions.branin, "hartmann6": testfunctions.hartmann6,
            "svm_digits": testfunctions.svm_digits}
METHODS = ["minnas-bo", "skopt-gp", "optuna-tpe", "optuna-gp", "minnas-random"]
SECTION = "## Bayesian optimisation vs peers"
PEERS = ["numpy", "scipy", "scikit-learn", "scikit-optimize", "optuna", "torch"]


class Timed:
    """Wraps an objective, recording every value and the seconds spent inside it."""

    def __init__(self, objective):
        self.objective = objective
        self.values: list[float] = []
        self.eval_seconds = 0.0

    def __call__(self, params: dict) -> float:
        start = time.perf_counter()
        value = self.objective(params)
        self.eval_seconds += time.perf_counter() - start
        self.values.append(value)
        return value


# --------------------------------------------------------------------------- the methods
def run_minnas_bo(f: Timed, space, seed: int, n_calls: int) -> None:
    minimize(f, space, n_calls=n_calls, n_initial=10, seed=seed)


def run_minnas_random(f: Timed, space, seed: int, n_calls: int) -> None:
    random_search(f, space, n_calls=n_calls, seed=seed)


def run_skopt(f: Timed, space, seed: int, n_calls: int) -> None:
    import skopt
    from skopt.space import Categorical as SkCat
    from skopt.space import Integer as SkInt
    from skopt.space import Real as SkReal

    dims = []
    for name, d in space.dimensions.items():
        prior = "log-uniform" if getattr(d, "log", False) else "uniform"
        if isinstance(d, Real):
            dims.append(SkReal(d.low, d.high, prior=prior, name=name))
        elif isinstance(d, Integer):
            dims.append(SkInt(d.low, d.high, prior=prior, name=name))
        else:
            dims.append(SkCat(d.choices, name=name))
    skopt.gp_minimize(lambda v: f(dict(zip(space.names, v))), dims, n_calls=n_calls,
                      n_initial_points=10, random_state=seed)


def _optuna_objective(f: Timed, space):
    def objective(trial) -> float:
        params = {}
        for name, d in space.dimensions.items():
            if isinstance(d, Real):
                params[name] = trial.suggest_float(name, d.low, d.high, log=d.log)
            elif isinstance(d, Integer):
                params[name] = trial.suggest_int(name, d.low, d.high, log=d.log)
            else:
                assert isinstance(d, Categorical)
                params[name] = trial.suggest_categorical(name, d.choices)
        return f(params)
    return objective


def _run_optuna(sampler, f: Timed, space, n_calls: int) -> None:
    import optuna

    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(_optuna_objective(f, space), n_trials=n_calls)


def run_optuna_tpe(f: Timed, space, seed: int, n_calls: int) -> None:
    from optuna.samplers import TPESampler
    _run_optuna(TPESampler(seed=seed), f, space, n_calls)


def run_optuna_gp(f: Timed, space, seed: int, n_calls: int) -> None:
    from optuna.samplers import GPSampler
    _run_optuna(GPSampler(seed=seed), f, space, n_calls)


RUNNERS = {"minnas-bo": run_minnas_bo, "skopt-gp": run_skopt, "optuna-tpe": run_optuna_tpe,
           "optuna-gp": run_optuna_gp, "minnas-random": run_minnas_random}


def quiet_peers() -> None:
    """Silence the peers' warnings and logs (Optuna's experimental GPSampler, skopt's notes)."""
    warnings.filterwarnings("ignore")
    try:
        import optuna
        optuna.logging.set_verbosity(optuna.logging.ERROR)
    except ImportError:
        pass
    logging.getLogger("optuna").setLevel(logging.ERROR)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass


# ------------------------------------------------------------------------------ reporting
def checkpoints(n_calls: int) -> list[int]:
    return sorted({c for c in (10, 25) if c < n_calls} | {n_calls})




def fmt(x: float) -> str:
    return "0" if x == 0 else (f"{x:.2e}" if abs(x) < 1e-2 or abs(x) >= 1e3 else f"{x:.3f}")


def table(runs: dict, problems: list[str], methods: list[str], n_calls: int,
          references: dict[str, float]) -> str:
    cps = checkpoints(n_calls)
    head = ("| problem | method | " + " | ".join(f"regret @{c}: median [q25, q75]" for c in cps)
            + " | s/iter (median) | overhead s/iter |")
    lines = [head, "|" + "---|" * (len(cps) + 4)]
    for p in problems:
        for m in methods:
            rs = runs[p][m]
            curves = np.array([np.minimum.accumulate(r["values"]) for r in rs]) - references[p]
            cells = []
            for c in cps:
                med, lo, hi = quartiles(curves[:, c - 1])
                cells.append(f"{fmt(med)} [{fmt(lo)}, {fmt(hi)}]")
            per_iter = np.median([r["seconds"] / n_calls for r in rs])
            overhead = np.median([(r["seconds"] - r["eval_seconds"]) / n_calls for r in rs])
            lines.append(f"| {p} | {m} | " + " | ".join(cells)
                         + f" | {per_iter:.3g} | {overhead:.3g} |")
    return "\n".join(lines)


def ratios(runs: dict, problems: list[str], methods: list[str], n_calls: int,
           references: dict[str, float], ours: str = "minnas-bo") -> str:
    """One line per problem: our median final regret and s/iter as multiples of each peer's."""
    if ours not in methods:
        return ""

    def medians(p: str, m: str) -> tuple[float, float]:
        final = [np.min(r["values"]) - references[p] for r in runs[p][m]]
        return float(np.median(final)), float(np.median([r["seconds"] / n_calls
                                                         for r in runs[p][m]]))

    lines = []
    for p in problems:
        regret, seconds = medians(p, ours)
        parts = []
        for m in methods:
            if m == ours:
                continue
            r, s = medians(p, m)
            rr = "n/a (both 0)" if r == 0 and regret == 0 else \
                ("inf" if r == 0 else f"{regret / r:.3g}x")
            parts.append(f"{m}: regret {rr}, s/iter {seconds / s:.3g}x")
        lines.append(f"- {p}: {ours} median regret @{n_calls} = {fmt(regret)}; relative to "
                     + "; ".join(parts))
    return "\n".join(lines)


def reference_note(problem: str, reference: float) -> str:
    if PROBLEMS[problem]().minimum is not None:
        return f"known minimum {reference:.6g}"
    return f"best value found by any method in any seed of this run, {reference:.6g}"








# ------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--n-calls", type=int, default=50)
    parser.add_argument("--out", default="benchmarks/RESULTS.md",
                        help='markdown file whose "Bayesian optimisation vs peers" section is '
                             'replaced by the results; "" prints only')
    args = parser.parse_args(argv)
    command = "python benchmarks/bo_vs_peers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    quiet_peers()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    runs: dict = {}
    references: dict[str, float] = {}
    for p in args.problems:
        objective = PROBLEMS[p]()
        runs[p] = {m: [] for m in args.methods}
        for m in args.methods:
            for seed in args.seeds:
                f = Timed(objective)
                start = time.perf_counter()
                RUNNERS[m](f, objective.space, seed, args.n_calls)
                seconds = time.perf_counter() - start
                values = np.asarray(f.values[:args.n_calls], dtype=float)
                runs[p][m].append({"values": values, "seconds": seconds,
                                   "eval_seconds": f.eval_seconds})
                print(f"{p:10s} {m:14s} seed {seed}: best {values.min():.6g} "
                      f"({seconds:.1f} s)", file=sys.stderr, flush=True)
        # A real task has no known minimum: measure against the best value seen in this run.
        references[p] = (objective.minimum if objective.minimum is not None else
                         min(r["values"].min() for rs in runs[p].values() for r in rs))
    wall = time.perf_counter() - started

    result = table(runs, args.problems, args.methods, args.n_calls, references)
    summary = ratios(runs, args.problems, args.methods, args.n_calls, references)
    print(result + "\n\n" + summary)
    if not args.out:
        return
    notes = [
        f"Command: `{command.strip()}`",
        "",
        f"Date: {datetime.date.today().isoformat()}; wall time {wall / 60:.1f} min; "
        f"machine: {machine()}; load average {load:.2f} at the start; one thread per library "
        "(OMP/BLAS, torch).",
        "",
        f"Versions: {versions(PEERS)}"
        + ("; BoTorch is not installed here, so it is not compared."
           if "botorch not installed" in versions(["botorch"]) else "."),
        "",
        f"{len(args.seeds)} seeds ({', '.join(map(str, args.seeds))}), {args.n_calls} "
        "evaluations per run, 10 of them initial design for every model-based method. "
        "Regret = best value found so far minus the minimum: "
        + "; ".join(f"{p}: {reference_note(p, references[p])}" for p in args.problems) + ". "
        "Seconds per iteration include the evaluation; overhead is the optimiser alone.",
        "",
        "Methods: minnas-bo = `minnas.hpo.bayesopt.minimize` with its defaults (ARD Matern-5/2, "
        "prior mean max(y), log-EI); skopt-gp = `skopt.gp_minimize` defaults with "
        "`n_initial_points=10`; optuna-tpe = `TPESampler(seed=s)`; "
        "optuna-gp = `GPSampler(seed=s)`; minnas-random = `minnas.hpo.search.random_search`.",
        "",
        result,
        "",
        "Ratios (median over seeds; below 1 means minnas-bo is better or faster):",
        "",
        summary,
    ]
    write_section(Path(args.out), SECTION, "\n".join(notes))
    print(f"\nwrote {args.out} ({wall / 60:.1f} min)", file=sys.stderr)


if __name__ == "__main__":
    main()
