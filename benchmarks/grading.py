"""Grading a class: plain sequential ``nbgrader autograde`` vs our parallel grader, ``--jobs 2``.

Why: :func:`grader.course.autograde` splits nbgrader's autograde into worker processes that
execute notebooks and one process that writes the gradebook, so that a class grades several
notebooks at a time. This measures what that buys on this machine, and checks that it grades
exactly as nbgrader does.

The class: ``--submissions`` notebooks (default 40) over lessons 01_least_squares, 02_newton and
03_entropy. Students s01, s02, ... each hand in lessons 01, 02, 03 in order until that many
notebooks exist (40: 14 students, the last with lesson 01 only); student k is a copy of the sample
student ``perfect``, ``partial``, ``blank``, ``broken`` (:data:`grader.course.EXAMPLES`), by
``(k - 1) % 4``. It is written to a temporary folder.

Measured in one run, in this order, ``--repeats`` times (default 1):

1. **nbgrader, sequential.** A fresh course folder whose ``nbgrader_config.py`` is the
   configuration of :func:`grader.course.nbgrader_api` (same root, solutions, release folder,
   SQLite gradebook, ``Execute.timeout`` 120 s, ``IgnorePattern`` and the rest of the
   repository's ``nbgrader_config.py``) and our kernel arguments; the lessons are registered with
   ``nbgrader generate_assignment L --force --create`` (not timed) and the submissions copied to
   ``submitted/<student>/<lesson>/``. Timed: ``nbgrader autograde L --force --create`` as a
   subprocess, once per lesson, with ``OMP/OPENBLAS/MKL_NUM_THREADS=1``.
2. **ours, ``jobs=2``.** Timed: the whole call ``grader.course.autograde(submissions, workdir,
   feedback=False, progress=False, jobs=2)`` in this process (what ``python -m grader autograde
   ... --jobs 2 --no-feedback`` runs), in a fresh working folder. It registers all lessons of
   ``solutions/`` inside that time (nbgrader's registration above is not timed: a handicap to
   us), runs the integrity checks and the sandbox, and writes grades.csv, report.md and the
   histogram.
3. **ours, ``jobs=1``** for reference (``--no-jobs1`` skips it).

Reported per run and method: wall time (``time.perf_counter``), notebooks per minute, the
speed-up over nbgrader in the same run, and whether every (student, lesson) score equals
nbgrader's (read from its gradebook, ``Gradebook.find_submission(lesson, student).score``); with
several repeats also the medians. Any score that differs, or an ``nbgrader`` call that fails,
is listed and the script exits with status 1. Feedback is off for both.

Usage (from the repository root)::

    python benchmarks/grading.py                   # 40 notebooks, 1 repeat; updates RESULTS.md
    python benchmarks/grading.py --quick --out ""  # smoke test: 10 notebooks (all 4 samples),
                                                   # prints only
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, versions, write_section

from nbgrader.api import Gradebook, MissingEntry

from grader import course, execute
from grader.sandbox import THREAD_VARIABLES

SECTION = "## Grading a class: sequential nbgrader vs `--jobs 2`"
LESSONS = ("01_least_squares", "02_newton", "03_entropy")
SAMPLES = ("perfect", "partial", "blank", "broken")
FULL_SUBMISSIONS = 40
# 10, not fewer: student s04, the first copy of `broken`, hands in lesson 01.
QUICK_SUBMISSIONS = 10
# nbgrader logs as "[AutogradeApp | WARNING] ..." on stderr.
NBGRADER_PROBLEM = re.compile(r"\| (WARNING|ERROR|CRITICAL)\]")

Pair = tuple[str, str]  # (student, lesson)


@dataclass
class Run:
    """One method's grading of the class in one repeat."""

    repeat: int
    method: str
    notebooks: int
    seconds: float
    scores: dict[Pair, float | None]  # None: no score recorded
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # failures that make the run invalid

    @property
    def per_minute(self) -> float:
        return 60 * self.notebooks / self.seconds


# -- the class ---------------------------------------------------------------------------------

def build_class(dest: Path, n: int) -> list[Pair]:
    """Write ``n`` submissions to ``dest/<student>/<lesson>/<lesson>.ipynb``; the
    (student, lesson) pairs."""
    pairs = []
    for i in range(n):
        k = i // len(LESSONS) + 1  # student number, from 1
        student, lesson = f"s{k:02d}", LESSONS[i % len(LESSONS)]
        sample = SAMPLES[(k - 1) % len(SAMPLES)]
        shutil.copytree(course.EXAMPLES / sample / lesson, dest / student / lesson)
        pairs.append((student, lesson))
    return pairs


def lessons_of(pairs: list[Pair]) -> list[str]:
    """The lessons handed in, in course order (fewer than 3 only with a tiny class)."""
    return [lesson for lesson in LESSONS if any(p[1] == lesson for p in pairs)]


# -- 1. plain nbgrader -------------------------------------------------------------------------

def write_nbgrader_config(root: Path) -> None:
    """``root/nbgrader_config.py`` with the configuration of :func:`course.nbgrader_api` for
    ``root``.

    Taken from ``nbgrader_api`` itself, so that the baseline cannot drift from our settings.
    ``NbGraderAPI.log_level`` is left out: it quiets the API object, and the command-line apps
    should log as plain nbgrader does; so is ``GenerateFeedback`` (feedback is off for both).
    """
    config = course.nbgrader_api(root, root / "release").config
    # The kernel arguments of our grader, which keep the kernel's start-up notices out of the log.
    config.Execute.extra_arguments = execute.KERNEL_ARGS
    lines = ["c = get_config()  # noqa: F821"]
    for section, values in config.items():
        if section in ("NbGraderAPI", "GenerateFeedback"):
            continue
        lines += [f"c.{section}.{key} = {_literal(value)}" for key, value in values.items()]
    (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n")


def _literal(value) -> str:
    """``value`` as Python source; a class as its import path, which traitlets' Type accepts."""
    return (repr(f"{value.__module__}.{value.__qualname__}") if isinstance(value, type)
            else repr(value))


def nbgrader_env() -> dict[str, str]:
    """The environment of the ``nbgrader`` commands: single-threaded BLAS, this venv
    first on PATH."""
    env = dict(os.environ)
    env.update({name: "1" for name in THREAD_VARIABLES})
    # nbgrader runs `alembic` from PATH; it sits next to this interpreter.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def nbgrader(root: Path, args: list[str], log: Path) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` in the course folder ``root``; its stdout and stderr go to ``log``."""
    with log.open("w") as out:
        return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root,
                              env=nbgrader_env(), stdout=out, stderr=subprocess.STDOUT, check=False)


def run_nbgrader(root: Path, submissions: Path, pairs: list[Pair], repeat: int) -> Run:
    """Method 1: register the lessons (untimed), then time one ``nbgrader autograde`` per lesson."""
    root.mkdir(parents=True)
    logs = root / "logs"
    logs.mkdir()
    write_nbgrader_config(root)
    problems, notes = [], []
    start = time.perf_counter()
    for lesson in lessons_of(pairs):
        done = nbgrader(root, ["generate_assignment", lesson, "--force", "--create"],
                        logs / f"generate_assignment-{lesson}.log")
        if done.returncode:
            problems.append(f"`nbgrader generate_assignment {lesson}` exited {done.returncode} "
                            f"(log: {logs / f'generate_assignment-{lesson}.log'})")
    notes.append(f"registering {len(lessons_of(pairs))} lessons took "
                 f"{time.perf_counter() - start:.1f} s (not timed)")
    for student, lesson in pairs:
        shutil.copytree(submissions / student / lesson, root / "submitted" / student / lesson)

    start = time.perf_counter()
    codes = {}
    for lesson in lessons_of(pairs):
        codes[lesson] = nbgrader(root, ["autograde", lesson, "--force", "--create"],
                                 logs / f"autograde-{lesson}.log").returncode
    seconds = time.perf_counter() - start

    for lesson, code in codes.items():
        if code:
            problems.append(f"`nbgrader autograde {lesson}` exited {code} (log: "
                            f"{logs / f'autograde-{lesson}.log'})")
    flagged = [line.strip() for log in sorted(logs.glob("autograde-*.log"))
               for line in log.read_text().splitlines() if NBGRADER_PROBLEM.search(line)]
    notes.append(f"{len(flagged)} WARNING/ERROR lines in nbgrader's autograde log")
    return Run(repeat, "nbgrader, sequential", len(pairs), seconds, nbgrader_scores(root, pairs),
               notes, problems)


def nbgrader_scores(root: Path, pairs: list[Pair]) -> dict[Pair, float | None]:
    """Each submission's total score in the gradebook of ``root``; ``None`` where
    none was recorded."""
    scores: dict[Pair, float | None] = {}
    with Gradebook(f"sqlite:///{(root / 'gradebook.db').resolve()}") as gb:
        for student, lesson in pairs:
            try:
                scores[student, lesson] = gb.find_submission(lesson, student).score
            except MissingEntry:
                scores[student, lesson] = None
    return scores


# -- 2, 3. our grader --------------------------------------------------------------------------

def run_ours(workdir: Path, submissions: Path, pairs: list[Pair], jobs: int, repeat: int) -> Run:
    """Methods 2 and 3: the whole :func:`course.autograde` call, timed."""
    start = time.perf_counter()
    results = course.autograde(submissions, workdir, feedback=False, progress=False, jobs=jobs)
    seconds = time.perf_counter() - start
    grades = [results.grades[pair] for pair in pairs]
    statuses = sorted({g.status for g in grades})
    notes = [", ".join(f"{sum(g.status == s for g in grades)} {s}" for s in statuses)]
    attention = [g for g in grades if g.needs_attention()]
    if attention:
        notes.append(f"{len(attention)} flagged for attention")
    problems = [f"{g.student}/{g.lesson} {g.status}: {g.detail}" for g in grades
                if g.status != "graded"]
    scores = {pair: results.grades[pair].score for pair in pairs}
    return Run(repeat, f"ours, jobs={jobs}", len(pairs), seconds, scores, notes, problems)


# -- comparing and reporting -------------------------------------------------------------------

def differences(reference: Run, run: Run) -> list[str]:
    """Submissions whose score in ``run`` is not exactly ``reference``'s (or is
    missing in either)."""
    return [f"{s}/{lesson}: nbgrader: {reference.scores[s, lesson]}; {run.method}: "
            f"{run.scores[s, lesson]}"
            for s, lesson in reference.scores
            if reference.scores[s, lesson] is None
            or run.scores[s, lesson] != reference.scores[s, lesson]]


def table(runs: list[Run], repeats: int) -> list[str]:
    """The markdown table: every run, then the medians when there are several repeats."""
    rows = ["| run | method | notebooks | wall s | notebooks/min | speed-up vs nbgrader | "
            "scores identical |",
            "|---|---|---|---|---|---|---|"]
    by_repeat = {r: {run.method: run for run in runs if run.repeat == r}
                 for r in range(1, repeats + 1)}
    speedups: dict[str, list[float]] = {}
    differing: dict[str, int] = {}  # runs of a method with any score unlike nbgrader's
    for r, methods in by_repeat.items():
        reference = methods.pop("nbgrader, sequential")
        rows.append(f"| {r} | {reference.method} | {reference.notebooks} | {reference.seconds:.1f} "
                    f"| {reference.per_minute:.1f} | reference | reference |")
        for run in methods.values():
            speedup = reference.seconds / run.seconds
            speedups.setdefault(run.method, []).append(speedup)
            diff = differences(reference, run)
            differing[run.method] = differing.get(run.method, 0) + bool(diff)
            same = "yes" if not diff else f"no ({len(diff)} of {run.notebooks} differ)"
            rows.append(f"| {r} | {run.method} | {run.notebooks} | {run.seconds:.1f} | "
                        f"{run.per_minute:.1f} | {speedup:.2f} | {same} |")
    if repeats > 1:
        for method in dict.fromkeys(run.method for run in runs):
            mine = [run for run in runs if run.method == method]
            wall = statistics.median(run.seconds for run in mine)
            rate = statistics.median(run.per_minute for run in mine)
            if method in speedups:
                speedup = f"{statistics.median(speedups[method]):.2f}"
                same = ("yes, every run" if not differing[method]
                        else f"no, in {differing[method]} of {repeats} runs")
            else:
                speedup = same = "reference"
            rows.append(f"| median of {repeats} | {method} | {mine[0].notebooks} | {wall:.1f} | "
                        f"{rate:.1f} | {speedup} | {same} |")
    return rows


def describe_class(pairs: list[Pair]) -> str:
    students = list(dict.fromkeys(s for s, _ in pairs))
    per_sample = {name: sum(SAMPLES[(int(s[1:]) - 1) % len(SAMPLES)] == name for s, _ in pairs)
                  for name in SAMPLES}
    return (f"{len(pairs)} notebooks from {len(students)} students over "
            f"{', '.join(lessons_of(pairs))}; notebooks per sample student copied: "
            + ", ".join(f"{k} {v}" for k, v in per_sample.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=None,
                        help=f"notebooks in the class (default {FULL_SUBMISSIONS}; "
                             f"{QUICK_SUBMISSIONS} with --quick)")
    parser.add_argument("--repeats", type=int, default=1, help="times the whole sequence is run")
    parser.add_argument("--no-jobs1", action="store_true", help="skip our grader with jobs=1")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke test: {QUICK_SUBMISSIONS} notebooks")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (logs, gradebooks)")
    parser.add_argument("--out", default="benchmarks/RESULTS.md", help='"" prints only')
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    n = args.submissions or (QUICK_SUBMISSIONS if args.quick else FULL_SUBMISSIONS)
    if n < 1 or args.repeats < 1:
        parser.error("--submissions and --repeats must be positive")

    load = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0))
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="minnas-bench-grading-"))
    try:
        submissions = tmp / "class"
        pairs = build_class(submissions, n)
        print(describe_class(pairs), f"in {submissions}", flush=True)
        runs: list[Run] = []
        for r in range(1, args.repeats + 1):
            runs.append(run_nbgrader(tmp / f"nbgrader-{r}", submissions, pairs, r))
            for jobs in (2,) if args.no_jobs1 else (2, 1):
                runs.append(run_ours(tmp / f"ours-jobs{jobs}-{r}", submissions, pairs, jobs, r))
            for run in runs[-(2 if args.no_jobs1 else 3):]:
                print(f"run {r}, {run.method}: {run.seconds:.1f} s, {run.per_minute:.1f} "
                      "notebooks/min; "
                      + "; ".join(run.notes), flush=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    wall = (time.perf_counter() - start) / 60
    load_end = os.getloadavg()[0]

    mismatches = [f"- run {run.repeat}, {d}" for run in runs if run.method != "nbgrader, sequential"
                  for d in differences(next(b for b in runs if b.repeat == run.repeat), run)]
    problems = [f"- run {run.repeat}, {run.method}: {p}" for run in runs for p in run.problems]
    notes = [f"- run {run.repeat}, {run.method}: " + "; ".join(run.notes) for run in runs]
    verdict = ("Every (student, lesson) score of our grader equals nbgrader's, in every run."
               if not mismatches else
               f"**Scores differ from nbgrader's** in {len(mismatches)} cases:")
    body = "\n".join([
        "Command: `" + shlex.join(["python", "benchmarks/grading.py", *argv]) + "`",
        "",
        f"Date: {datetime.date.today()}; wall time {wall:.1f} min; machine: {machine()}; "
        f"{cores} cores available to the process; load average {load:.2f} at the start, "
        f"{load_end:.2f} at the end.",
        "",
        f"Versions: {versions(['nbgrader', 'nbclient', 'jupyter_client', 'ipykernel'])}.",
        "",
        f"Setting: {describe_class(pairs)}; {args.repeats} repeat(s) of the sequence nbgrader, "
        f"ours jobs=2{'' if args.no_jobs1 else ', ours jobs=1'}; feedback off; OMP/OPENBLAS/MKL "
        "threads 1. nbgrader: one `nbgrader autograde LESSON --force --create` per lesson, in "
        "sequence, with the configuration of `course.nbgrader_api` (cell timeout 120 s, "
        "IgnorePattern); its time excludes registering the lessons (`generate_assignment`). Ours: "
        "the whole `course.autograde(..., feedback=False, jobs=J)` call, which includes "
        f"registering all {len(course.lesson_names())} lessons of solutions/ (a handicap to ours), "
        "the integrity checks, the sandbox and writing grades.csv, report.md and the histogram. "
        "Speed-up = nbgrader's wall time / the method's, in the same run"
        + ("; the median row gives the median of the per-run speed-ups." if args.repeats > 1
           else "."),
        "",
        *table(runs, args.repeats),
        "",
        verdict,
        *mismatches,
        *(["", "Failures:", *problems] if problems else []),
        "",
        "Notes:",
        *notes,
    ])
    print(body)
    if args.out:
        write_section(Path(args.out), SECTION, body)
    if mismatches or problems:
        print("FAILED: " + ("scores differ from nbgrader's" if mismatches else "")
              + (" and " if mismatches and problems else "")
              + ("a grading step failed" if problems else ""),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
