"""Bayesian optimisation in minnas against BoTorch, Optuna, scikit-optimize and random search.

For each problem and seed, every method gets the same budget of evaluations. Reported per
method: the regret (best value found minus the known minimum) after 10, 25 and ``n_calls``
evaluations, as the median and quartiles over the seeds, and the median wall-clock seconds per
iteration (optimiser overhead plus the evaluation), and the overhead alone; then, per problem,
whether minnas's median regret at the end is at or below every peer's.

Methods
-------
- ``minnas-bo``: :func:`minnas.hpo.bayesopt.minimize` with its defaults.
- ``botorch``: BoTorch's standard loop, ``SingleTaskGP`` + ``LogExpectedImprovement`` +
  ``optimize_acqf`` (:func:`run_botorch`).
- ``optuna-gp``: Optuna's ``GPSampler(seed=seed)`` (defaults: 10 startup trials; torch, 1 thread).
- ``skopt-gp``: ``skopt.gp_minimize`` with its defaults and ``n_initial_points=10``.
- ``optuna-tpe``: Optuna's ``TPESampler(seed=seed)`` (defaults: 10 startup trials).
- ``minnas-random``: :func:`minnas.hpo.search.random_search`.
- ``minnas-bo:key=value,...``: minnas with other options, e.g. ``minnas-bo:prior_mean=mean`` or
  ``minnas-bo:y_transform=None`` (the default before the second test split); how the tuning
  split compares candidate defaults.

Problems, in two splits (the protocol is in ``benchmarks/README.md``):

- tuning: the problems that were looked at while minnas's BO was developed and its defaults
  chosen: Branin, Hartmann-6, ``svm_digits``, the six-hump camel, Rosenbrock-2, Ackley-2;
- test: problems no choice has seen: Hartmann-3, Levy-4, Styblinski-Tang-4, Michalewicz-5,
  Dixon-Price-4, Griewank-4, Levy-2 observed with N(0, 0.3^2) noise, and ``svm_digits_mixed``
  (a categorical kernel, an integer degree, two log-scaled reals);
- test2: for a default chosen on the tuning split after the test split had run: Shekel-5,
  Goldstein-Price, Colville, Powell-4, Zakharov-5, Rastrigin-3, Beale with N(0, 0.3^2) noise,
  and ``svm_cancer_mixed``.

The regret of a noisy problem is measured on the noise-free values of the points evaluated. The
SVM tasks have no known minimum; their regret is measured against the best value that any
method found in any seed of the same run.

Usage (from the repository root, after ``python -m pip install -e ".[dev,bench]"``)::

    python benchmarks/bo_vs_peers.py --split test --jobs 2      # the acceptance run
    python benchmarks/bo_vs_peers.py --split tuning --methods minnas-bo minnas-bo:prior_mean=mean
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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from _report import machine, quartiles, versions, write_section
from minnas.hpo import testfunctions
from minnas.hpo.bayesopt import minimize
from minnas.hpo.search import random_search
from minnas.hpo.space import Categorical, Integer, Real

# The tuning split: every problem that was looked at while minnas's BO was developed and its
# defaults chosen. The test split: problems no choice has seen (benchmarks/README.md).
TUNING = {"branin": testfunctions.branin, "hartmann6": testfunctions.hartmann6,
          "svm_digits": testfunctions.svm_digits, "camel": testfunctions.camel,
          "rosenbrock2": lambda: testfunctions.rosenbrock(2),
          "ackley2": lambda: testfunctions.ackley(2)}
TEST = {"hartmann3": testfunctions.hartmann3, "levy4": lambda: testfunctions.levy(4),
        "styblinski_tang4": lambda: testfunctions.styblinski_tang(4),
        "michalewicz5": lambda: testfunctions.michalewicz(5),
        "dixon_price4": lambda: testfunctions.dixon_price(4),
        "griewank4": lambda: testfunctions.griewank(4),
        "levy2_noisy": lambda: testfunctions.levy(2),
        "svm_digits_mixed": testfunctions.svm_digits_mixed}
# A second test split, for a default chosen on the tuning split after the first test split had
# run (rule 4 of the protocol): standard functions of families unused before, fixed before
# any optimiser ran on them.
TEST2 = {"shekel5": testfunctions.shekel5, "goldstein_price": testfunctions.goldstein_price,
         "colville": testfunctions.colville, "powell4": lambda: testfunctions.powell(4),
         "zakharov5": lambda: testfunctions.zakharov(5),
         "rastrigin3": lambda: testfunctions.rastrigin(3),
         "beale_noisy": testfunctions.beale, "svm_cancer_mixed": testfunctions.svm_cancer_mixed}
PROBLEMS = {**TUNING, **TEST, **TEST2}
SPLITS = {"tuning": list(TUNING), "test": list(TEST), "test2": list(TEST2),
          "all": list(PROBLEMS)}
# observed with N(0, sd^2) noise; judged on the noise-free value
NOISE_SD = {"levy2_noisy": 0.3, "beale_noisy": 0.3}
METHODS = ["minnas-bo", "botorch", "optuna-gp", "skopt-gp", "optuna-tpe", "minnas-random"]
SECTION = "## Bayesian optimisation vs peers"
PEERS = ["numpy", "scipy", "scikit-learn", "scikit-optimize", "optuna", "torch", "botorch",
         "gpytorch"]


class Timed:
    """Wraps an objective, recording every value and the seconds spent inside it.

    ``values`` are what the optimiser saw; ``true_values`` are the noise-free values at the same
    points (``truth``), the ones the regret is measured on. Without noise they are equal.
    """

    def __init__(self, objective, truth=None):
        self.objective = objective
        self.truth = truth
        self.values: list[float] = []
        self.true_values: list[float] = []
        self.eval_seconds = 0.0

    def __call__(self, params: dict) -> float:
        start = time.perf_counter()
        value = self.objective(params)
        self.eval_seconds += time.perf_counter() - start
        self.values.append(value)
        self.true_values.append(value if self.truth is None else self.truth(params))
        return value


# --------------------------------------------------------------------------- the methods
def run_minnas_bo(f: Timed, space, seed: int, n_calls: int, **options) -> None:
    minimize(f, space, n_calls=n_calls, n_initial=10, seed=seed, **options)


def variant(method: str) -> tuple[str, dict]:
    """``"minnas-bo:prior_mean=mean,xi=0.01"`` -> ``("minnas-bo", {"prior_mean": "mean", ...})``.

    The tuning split compares such variants of minnas's options; plain names have no options.
    """
    name, _, spec = method.partition(":")
    if name not in RUNNERS or (spec and name != "minnas-bo"):
        raise argparse.ArgumentTypeError(f"unknown method {method!r}: one of {METHODS}, or "
                                         "minnas-bo:key=value,... (options of minnas's BO)")
    options = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if value == "None":  # e.g. y_transform=None, the values themselves
            options[key] = None
            continue
        try:
            options[key] = float(value) if key != "prior_mean" else value
        except ValueError:
            options[key] = value
    return name, options


def run_botorch(f: Timed, space, seed: int, n_calls: int) -> None:
    """BoTorch's standard single-objective loop (its "closed loop" tutorial) with log-EI.

    ``SingleTaskGP`` (its default kernel and priors) on the unit-cube encoding of ``space``, with
    ``Standardize`` on the outcome; ``fit_gpytorch_mll``; ``LogExpectedImprovement`` maximised by
    ``optimize_acqf`` (q = 1, 10 restarts from 512 raw samples). The initial design is 10
    scrambled Sobol' points. Integer and categorical dimensions are relaxed to the cube and the
    proposal is rounded by the space's decoding (the same relaxation minnas uses).
    """
    import torch
    from botorch.acquisition import LogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from scipy.stats import qmc

    torch.manual_seed(seed)
    d = space.n_unit
    bounds = torch.stack([torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64)])
    design = qmc.Sobol(d, scramble=True, seed=seed).random(min(10, n_calls))
    X: list[np.ndarray] = []
    y: list[float] = []

    def evaluate(u: np.ndarray) -> None:
        x = space.from_unit(u[None, :])[0]
        y.append(f(x))
        X.append(space.to_unit([x])[0])  # the point actually evaluated, after rounding

    for u in design:
        evaluate(u)
    while len(y) < n_calls:
        train_X = torch.tensor(np.array(X), dtype=torch.float64)
        train_Y = -torch.tensor(y, dtype=torch.float64).unsqueeze(-1)  # BoTorch maximises
        gp = SingleTaskGP(train_X, train_Y, outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        acq = LogExpectedImprovement(gp, best_f=train_Y.max())
        candidate, _ = optimize_acqf(acq, bounds=bounds, q=1, num_restarts=10, raw_samples=512)
        evaluate(candidate[0].detach().numpy())


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


RUNNERS = {"minnas-bo": run_minnas_bo, "botorch": run_botorch, "skopt-gp": run_skopt,
           "optuna-tpe": run_optuna_tpe, "optuna-gp": run_optuna_gp,
           "minnas-random": run_minnas_random}


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


def run_one(problem: str, method: str, seed: int, n_calls: int) -> dict:
    """One run: the values (noise-free) in order, wall seconds, seconds inside the objective."""
    quiet_peers()
    truth = PROBLEMS[problem]()
    # Noise is drawn from its own seeded stream: every method sees the same noise.
    noisy = problem in NOISE_SD
    f = Timed(testfunctions.noisy(truth, NOISE_SD[problem], seed) if noisy else truth,
              truth if noisy else None)
    start = time.perf_counter()
    name, options = variant(method)
    RUNNERS[name](f, truth.space, seed, n_calls, **options)
    seconds = time.perf_counter() - start
    values = np.asarray(f.true_values[:n_calls], dtype=float)
    print(f"{problem:16s} {method:14s} seed {seed}: best {values.min():.6g} ({seconds:.1f} s)",
          file=sys.stderr, flush=True)
    return {"values": values, "seconds": seconds, "eval_seconds": f.eval_seconds}


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


def acceptance(runs: dict, problems: list[str], methods: list[str], n_calls: int,
               references: dict[str, float], ours: str = "minnas-bo") -> str:
    """Per problem: is our median regret @n_calls at or below every peer's? And the time ratios."""
    peers = [m for m in methods if not m.startswith("minnas-bo")]
    if ours not in methods or not peers:
        return ""

    def median_regret(p: str, m: str) -> float:
        return float(np.median([r["values"].min() - references[p] for r in runs[p][m]]))

    lines, wins = [], 0
    for p in problems:
        mine = median_regret(p, ours)
        theirs = {m: median_regret(p, m) for m in peers}
        best = min(theirs, key=theirs.get)
        # Regrets below 1e-12 of the function's scale are rounding: count them as equal.
        tol = 1e-12 * max(1.0, abs(references[p]))
        ok = all(mine <= r + tol for r in theirs.values())
        wins += ok
        ratio = "n/a (both 0)" if theirs[best] <= tol and mine <= tol else (
            "inf" if theirs[best] <= tol else f"{mine / theirs[best]:.3g}x")
        lines.append(f"- {p}: {ours} {fmt(mine)}, best peer {best} {fmt(theirs[best])} "
                     f"(ours / best peer {ratio}): "
                     + ("at or below every peer" if ok else "above " + ", ".join(
                         m for m, r in theirs.items() if mine > r + tol)))

    def per_iter(m: str) -> float:
        return float(np.median([r["seconds"] / n_calls for p in problems for r in runs[p][m]]))

    timing = "; ".join(f"{m} {per_iter(m):.3g} s ({per_iter(ours) / per_iter(m):.3g}x)"
                       for m in ("botorch", "skopt-gp") if m in peers)
    head = (f"Median regret @{n_calls}: {ours} at or below every peer ({', '.join(peers)}) "
            f"on {wins} of {len(problems)} problems.")
    if timing:
        head += (f" Seconds per iteration, median over all runs: {ours} {per_iter(ours):.3g} s; "
                 + timing + ".")
    return head + "\n\n" + "\n".join(lines)


def reference_note(problem: str, reference: float) -> str:
    if PROBLEMS[problem]().minimum is not None:
        return f"known minimum {reference:.6g}"
    return f"best value found by any method in any seed of this run, {reference:.6g}"








# ------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=list(SPLITS), default="all",
                        help="the problems: the tuning split, the test split, or both (default)")
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS),
                        help="these problems instead of a split")
    parser.add_argument("--methods", nargs="+", default=METHODS, metavar="METHOD",
                        help=f"some of {METHODS}, or minnas-bo:key=value,... (a variant)")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--n-calls", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes; each run is timed inside its own process")
    parser.add_argument("--out", default="benchmarks/RESULTS.md",
                        help='markdown file whose "Bayesian optimisation vs peers" section is '
                             'replaced by the results; "" prints only')
    args = parser.parse_args(argv)
    for m in args.methods:
        try:
            variant(m)
        except argparse.ArgumentTypeError as error:
            parser.error(str(error))
    args.problems = args.problems or SPLITS[args.split]
    command = "python benchmarks/bo_vs_peers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    quiet_peers()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    runs: dict = {}
    references: dict[str, float] = {}
    jobs = [(p, m, seed) for p in args.problems for m in args.methods for seed in args.seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        done = list(pool.map(run_one, *zip(*jobs), [args.n_calls] * len(jobs)))
    for (p, m, _), run in zip(jobs, done):
        runs.setdefault(p, {}).setdefault(m, []).append(run)
    for p in args.problems:
        truth = PROBLEMS[p]()
        # A real task has no known minimum: measure against the best value seen in this run.
        references[p] = (truth.minimum if truth.minimum is not None else
                         min(r["values"].min() for rs in runs[p].values() for r in rs))
    wall = time.perf_counter() - started

    result = table(runs, args.problems, args.methods, args.n_calls, references)
    summary = ratios(runs, args.problems, args.methods, args.n_calls, references)
    verdict = "\n\n".join(acceptance(runs, args.problems, args.methods, args.n_calls, references, m)
                            for m in args.methods if m.startswith("minnas-bo"))
    print(result + "\n\n" + summary + "\n\n" + verdict)
    if not args.out:
        return
    notes = [
        f"Command: `{command.strip()}`",
        "",
        f"Date: {datetime.date.today().isoformat()}; wall time {wall / 60:.1f} min; "
        f"machine: {machine()}; load average {load:.2f} at the start; one thread per library "
        "(OMP/BLAS, torch).",
        "",
        f"Versions: {versions(PEERS)}.",
        "",
        f"{len(args.seeds)} seeds ({', '.join(map(str, args.seeds))}), {args.n_calls} "
        "evaluations per run, 10 of them initial design for every model-based method. "
        "Regret = best value found so far minus the minimum: "
        + "; ".join(f"{p}: {reference_note(p, references[p])}" for p in args.problems) + ". "
        "Seconds per iteration include the evaluation; overhead is the optimiser alone.",
        "",
        "Methods: minnas-bo = `minnas.hpo.bayesopt.minimize` with its defaults; botorch = "
        "`SingleTaskGP` (defaults, `Standardize`) + `fit_gpytorch_mll` + "
        "`LogExpectedImprovement` + `optimize_acqf` (10 restarts, 512 raw samples), 10 Sobol' "
        "initial points; optuna-gp = `GPSampler(seed=s)`; skopt-gp = `skopt.gp_minimize` "
        "defaults with `n_initial_points=10`; optuna-tpe = `TPESampler(seed=s)`; "
        "minnas-random = `minnas.hpo.search.random_search`. "
        + ("Noisy problems: " + ", ".join(f"{p} (noise sd {NOISE_SD[p]})" for p in args.problems
                                         if p in NOISE_SD) + "; every method sees the same "
           "noise sequence for a seed, regret uses the noise-free values."
           if any(p in NOISE_SD for p in args.problems) else ""),
        "",
        result,
        "",
        "Ratios (median over seeds; below 1 means minnas-bo is better or faster):",
        "",
        summary,
        "",
        verdict,
    ]
    section = SECTION + ("" if args.split == "all" or len(args.problems) != len(SPLITS[args.split])
                         else f": {args.split} split")
    write_section(Path(args.out), section, "\n".join(notes))
    print(f"\nwrote {args.out} ({wall / 60:.1f} min)", file=sys.stderr)


if __name__ == "__main__":
    main()
