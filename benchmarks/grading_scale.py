"""Grading at scale: a synthetic class of small notebooks on the local engine and on Dask.

Why: a course of a few thousand students hands in tens of thousands of notebooks a term. The
grader runs notebooks on workers (:mod:`grader.cluster`), but one process alone writes the
SQLite gradebook (:func:`grader.course._save`). This measures how many notebooks a second one
machine grades, whether a real Dask cluster grades as fast as the in-process one, and what
share of the time the single gradebook writer takes, i.e. whether it would become the
bottleneck long before the workers do.

What runs: in a temporary folder, a one-lesson course ``01_tiny`` is written as an nbgrader
source notebook (a locked setup cell, a markdown cell, an answer cell ``def add(a, b)`` and a
1-point test cell with a hidden block), released with :func:`grader.course.release`, and
``--students`` students (default 1,000) hand in the release with the answer filled in:
``a + b`` (full marks), except every tenth student, who hands in ``a - b`` (0 points). The
same class is then graded with ``course.autograde(..., jobs=2, feedback=False)``, in a fresh
working folder for each engine:

* **local**: ``scheduler=None``: the in-process Dask cluster with 2 threads;
* **dask**: a real cluster of a ``dask scheduler`` and two ``dask worker --nthreads 1``
  processes on this machine (``DASK_DISTRIBUTED__WORKER__DAEMON=False``: grading starts a
  process per notebook on the worker), started before and stopped after the timed call.

Timed: the whole ``autograde`` call (registering the lesson, every notebook, the reports, the
Canvas export); the cluster's start is reported apart. The gradebook writer
(``course._save``, and ``course._record_zero`` for failures) is wrapped in this process to sum
the wall time spent in it. Checked: every student's score is what the answer deserves, and
both engines gave every student the same score (the script exits 1 otherwise).

Reported per engine: notebooks, wall s, notebooks/s, s/notebook; when the first notebook
reached the writer and the rate after it (fixed costs, such as the Dask workers importing the
grader and starting their forkservers, come before it; a small class is dominated by them);
the median seconds of ``grade()`` on the worker (``Outcome.seconds``); the writer's seconds,
share of the wall time and seconds per notebook (and over the first and the last tenth of the
class, to see whether writing grows with the gradebook). Then the throughput ratio dask/local
(acceptance: at least 0.85) and a projection (not a measurement) of longer runs.

Usage (from the repository root)::

    python benchmarks/grading_scale.py                              # 1,000 students; updates
                                                                    # RESULTS.md
    python benchmarks/grading_scale.py --students 20 --out ""       # smoke test, prints only
    python benchmarks/grading_scale.py --engines dask --feedback    # one engine, with feedback HTML
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, versions, write_section

import nbformat

from grader import course

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Grading at scale: a synthetic class on the local engine and on Dask"
LESSON = "01_tiny"
ENGINES = ("local", "dask")
JOBS = 2                 # the local engine's threads, and the Dask engine's workers (1 thread each)
WRONG_EVERY = 10         # every tenth student hands in a wrong answer
ACCEPTANCE = 0.85        # Dask's throughput at least this share of the local engine's
DASK = Path(sys.executable).parent / "dask"
CLUSTER_START_S = 120    # how long the scheduler and workers may take to come up on a busy machine

CORRECT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"


# -- the synthetic course ------------------------------------------------------------------------

def _nbgrader(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
              points: float | None = None) -> dict:
    """Cell metadata as nbgrader's create_assignment writes it (schema 3)."""
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook() -> nbformat.NotebookNode:
    """The instructor's version of ``01_tiny``: setup, a question, the answer and its test."""
    v4 = nbformat.v4
    cells = [
        v4.new_code_cell("import os, warnings\nwarnings.filterwarnings(\"ignore\")", id="setup",
                         metadata=_nbgrader("setup", locked=True)),
        v4.new_markdown_cell("# Lesson 01 - Adding\n\n"
                             "Write `add(a, b)`, which returns the sum of `a` and `b`.",
                             id="question"),
        v4.new_code_cell("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n"
                         "    ### END SOLUTION",
                         id="add", metadata=_nbgrader("add", solution=True)),
        v4.new_code_cell("assert add(1, 2) == 3, \"add(1, 2) should be 3\"\n"
                         "assert add(0, 0) == 0\n"
                         "### BEGIN HIDDEN TESTS\n"
                         "assert add(-1, 1) == 0\n"
                         "assert add(2.5, 0.5) == 3.0\n"
                         "### END HIDDEN TESTS",
                         id="test_add",
                         metadata=_nbgrader("test_add", grade=True, locked=True, points=1)),
    ]
    return v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                       "name": "python3"},
        "language_info": {"name": "python"}})


def write_course(root: Path) -> Path:
    """``root/solutions/01_tiny/01_tiny.ipynb``; returns the solutions folder."""
    solutions = root / "solutions"
    (solutions / LESSON).mkdir(parents=True)
    nbformat.write(source_notebook(), solutions / LESSON / f"{LESSON}.ipynb")
    return solutions


def answered(release: dict, answer: str) -> str:
    """The release notebook with ``answer`` in the answer cell, as a student would save it."""
    nb = json.loads(json.dumps(release))
    cell = next(c for c in nb["cells"]
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "add")
    cell["source"] = answer
    return json.dumps(nb, indent=1)


def is_wrong(k: int) -> bool:
    return k % WRONG_EVERY == 0


def write_class(root: Path, solutions: Path, students: int) -> tuple[Path, dict[str, float]]:
    """``students`` hand-ins of the release in ``root/submissions``; returns the folder and the
    score each student deserves."""
    release = course.release(root / "release", solutions=solutions)
    assert [p.name for p in release] == [f"{LESSON}.ipynb"], release
    nb = json.loads(release[0].read_text())
    texts = {False: answered(nb, CORRECT), True: answered(nb, WRONG)}
    submissions, expected = root / "submissions", {}
    width = len(str(students))
    for k in range(1, students + 1):
        student = f"s{k:0{width}d}"
        folder = submissions / student / LESSON
        folder.mkdir(parents=True)
        (folder / f"{LESSON}.ipynb").write_text(texts[is_wrong(k)])
        expected[student] = 0.0 if is_wrong(k) else 1.0
    return submissions, expected


# -- the gradebook writer's clock ------------------------------------------------------------------

@dataclass
class WriterClock:
    """Wall seconds spent in the gradebook writer, per top-level call, and when each call came.

    ``_save`` calls ``_record_zero`` itself for a failed notebook: only the outermost call is
    timed, so nothing is counted twice.
    """

    origin: float = field(default_factory=time.perf_counter)  # the start of the timed autograde
    calls: list[float] = field(default_factory=list)     # seconds inside the writer, per notebook
    arrivals: list[float] = field(default_factory=list)  # seconds after origin each call began
    # Seconds the worker spent in grade() for each notebook (Outcome.seconds, handed to _save):
    # tells a slower worker apart from overhead between the workers and this process.
    worker_s: list[float] = field(default_factory=list)
    depth: int = 0

    def wrap(self, function: Callable, outcome_first: bool = False) -> Callable:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            if self.depth == 0:
                self.arrivals.append(start - self.origin)
            if outcome_first and getattr(args[0], "seconds", 0):
                self.worker_s.append(args[0].seconds)
            self.depth += 1
            try:
                return function(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.calls.append(time.perf_counter() - start)
        return timed

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """The writer functions of :mod:`grader.course` replaced by timed ones (``_autograde``
        looks them up in the module at each call), restored afterwards."""
        saved = course._save, course._record_zero
        # _save(outcome, grade, workdir, submissions)
        course._save = self.wrap(saved[0], outcome_first=True)
        course._record_zero = self.wrap(saved[1])
        try:
            yield
        finally:
            course._save, course._record_zero = saved


def tenth_median(calls: list[float], last: bool) -> float:
    """Median writer seconds over the first (or last) tenth of the calls, in arrival order."""
    n = max(1, len(calls) // 10)
    part = calls[-n:] if last else calls[:n]
    return statistics.median(part) if part else 0.0


# -- the engines -----------------------------------------------------------------------------------

@dataclass
class Run:
    engine: str
    notebooks: int
    wall_s: float
    writer: WriterClock
    scores: dict[str, float]
    statuses: dict[str, str]
    start_s: float = 0.0  # the cluster's start, outside the timed call (dask only)

    @property
    def per_s(self) -> float:
        return self.notebooks / self.wall_s

    @property
    def writer_s(self) -> float:
        return sum(self.writer.calls)


def grade(engine: str, submissions: Path, solutions: Path, workdir: Path, feedback: bool,
          progress: bool, scheduler: str | None = None) -> Run:
    """One timed ``autograde`` of the class, with the writer's time measured."""
    clock = WriterClock()
    with clock.installed():
        start = clock.origin = time.perf_counter()
        results = course.autograde(submissions, workdir, solutions=solutions, feedback=feedback,
                                   progress=progress, jobs=JOBS, scheduler=scheduler)
        wall = time.perf_counter() - start
    grades = {student: results.grades[student, LESSON] for student in results.students}
    return Run(engine, len(grades), wall, clock, {s: g.score for s, g in grades.items()},
               {s: g.status for s, g in grades.items()})


@contextlib.contextmanager
def dask_cluster(folder: Path, workers: int) -> Iterator[str]:
    """A ``dask scheduler`` and ``workers`` single-threaded ``dask worker`` processes on this
    machine, their logs in ``folder``; yields the scheduler's address. Stopped on exit."""
    from distributed import Client

    folder.mkdir(parents=True)
    scheduler_file = folder / "scheduler.json"
    # A Dask worker is a daemon process by default, and a daemon may not start the process that
    # grades each notebook (grader.cluster.DAEMON_HINT).
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        log = open(folder / f"{name}.log", "wb")  # closed with the process, below
        process = subprocess.Popen([str(DASK), *args], cwd=folder, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        process.log = log  # type: ignore[attr-defined]
        processes.append(process)
        return process

    try:
        # --no-dashboard still serves Dask's HTTP routes, on 0.0.0.0:8787 unless told otherwise:
        # keep them on this machine, on a free port (two clusters at once would collide).
        scheduler = start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
                          "--no-dashboard",
                          "--dashboard-address", "127.0.0.1:0", "--scheduler-file",
                          str(scheduler_file))
        address = _wait_for_address(scheduler, scheduler_file, folder / "scheduler.log")
        for i in range(workers):
            start(f"worker{i}", "worker", "--scheduler-file", str(scheduler_file), "--host",
                  "127.0.0.1",
                  "--nthreads", "1", "--no-dashboard", "--local-directory",
                  str(folder / f"worker{i}"))
        with Client(scheduler_file=str(scheduler_file), timeout="60s") as client:
            client.wait_for_workers(workers, timeout=CLUSTER_START_S)
        yield address
    finally:
        _stop(processes)


def _wait_for_address(scheduler: subprocess.Popen, scheduler_file: Path, log: Path) -> str:
    """The scheduler's address, once it has written its scheduler file."""
    deadline = time.monotonic() + CLUSTER_START_S
    while time.monotonic() < deadline:
        if scheduler.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with status {scheduler.returncode}:\n"
                               f"{log.read_text()[-2000:]}")
        # absent, or half written
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            return json.loads(scheduler_file.read_text())["address"]
        time.sleep(0.2)
    raise TimeoutError(f"dask scheduler wrote no {scheduler_file.name} in {CLUSTER_START_S} s")


def _stop(processes: list[subprocess.Popen]) -> None:
    """Workers first, then the scheduler: terminate, wait, kill what does not stop."""
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    for process in reversed(processes):
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.log.close()  # type: ignore[attr-defined]


def run_engine(engine: str, root: Path, submissions: Path, solutions: Path, feedback: bool,
               progress: bool) -> Run:
    workdir = root / f"work-{engine}"
    if engine == "local":
        return grade(engine, submissions, solutions, workdir, feedback, progress)
    start = time.perf_counter()
    with dask_cluster(root / "dask", JOBS) as address:
        started = time.perf_counter() - start
        run = grade(engine, submissions, solutions, workdir, feedback, progress, scheduler=address)
    run.start_s = started
    return run


# -- checks and report -----------------------------------------------------------------------------

def problems(runs: list[Run], expected: dict[str, float]) -> list[str]:
    """Every student whose score is not what the answer deserves, or differs between engines."""
    found = []
    for run in runs:
        for student, deserved in expected.items():
            score, status = run.scores.get(student), run.statuses.get(student)
            if status != "graded" or score is None or abs(score - deserved) > 1e-9:
                found.append(f"{run.engine}: {student} scored {score} ({status}), deserves "
                             f"{deserved:g}")
    for student in expected:
        if len({run.scores.get(student) for run in runs}) > 1:
            found.append(f"{student}: the engines disagree: "
                         + ", ".join(f"{run.engine} {run.scores.get(student)}" for run in runs))
    return found


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def throughput_table(runs: list[Run]) -> str:
    head = ["engine", "notebooks", "wall s", "notebooks/s", "s/notebook", "first result s",
            "notebooks/s after the first", "worker grade() s/notebook (median)", "cluster start s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        arrivals = run.writer.arrivals
        # Fixed costs (imports and the forkserver on each worker, the first kernel) come before the
        # first result; the rate after it is what a longer run tends to.
        steady = ((len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1
                  else float("nan"))
        start = f"{run.start_s:.1f}" if run.engine == "dask" else "n/a (in process)"
        lines.append(f"| {run.engine} | {run.notebooks} | {run.wall_s:.1f} | {run.per_s:.3f} | "
                     f"{run.wall_s / run.notebooks:.3f} | "
                     f"{arrivals[0] if arrivals else float('nan'):.1f} | {steady:.3f} | "
                     f"{_median(run.writer.worker_s):.2f} | {start} |")
    return "\n".join(lines)


def writer_table(runs: list[Run]) -> str:
    head = ["engine", "writer s", "share of wall", "writer s/notebook",
            "median s/notebook, first / last tenth"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        calls = run.writer.calls
        lines.append(f"| {run.engine} | {run.writer_s:.1f} | {100 * run.writer_s / run.wall_s:.1f} "
                     f"% | {run.writer_s / max(1, len(calls)):.4f} | "
                     f"{tenth_median(calls, False):.4f} / {tenth_median(calls, True):.4f} |")
    return "\n".join(lines)


def ratio_line(runs: list[Run]) -> str:
    by = {run.engine: run for run in runs}
    if not set(ENGINES) <= set(by):
        return "Only one engine ran: no dask/local ratio."
    ratio = by["dask"].per_s / by["local"].per_s
    verdict = "met" if ratio >= ACCEPTANCE else "NOT met"
    return (f"Throughput dask / local: {ratio:.3f} (acceptance: at least {ACCEPTANCE:g}, i.e. Dask "
            f"within {100 * (1 - ACCEPTANCE):.0f} % of the local engine: {verdict}).")


def projection(runs: list[Run]) -> str:
    """Hours for longer runs at the measured throughput, and whether the writer would keep up.

    The writer is one process however many machines grade: it caps the class at 1 / (writer s
    per notebook) notebooks a second, which K machines of this kind reach when K x throughput
    does.
    """
    run = next((r for r in runs if r.engine == "dask"), runs[0])
    hours = {n: n / run.per_s / 3600 for n in (3_000, 30_000)}
    writer = run.writer_s / max(1, len(run.writer.calls))
    at_10k_writer_h, at_10k_grading_h = 10_000 * writer / 3600, 10_000 / run.per_s / 3600
    machines = 1 / (writer * run.per_s) if writer > 0 else float("inf")
    verdict = ("is not the bottleneck on one machine, and would become it beyond about "
               f"{machines:.0f} machines of this kind (1 / (writer s per notebook x notebooks/s))"
               if machines > 1 else "IS the bottleneck already on one machine")
    return (
        f"Projection, not a measurement (linear in the notebooks, from the {run.engine} engine's "
        f"{run.per_s:.3f} notebooks/s on this {os.cpu_count()}-core machine): 3,000 notebooks take "
        f"{hours[3_000]:.2f} h and 30,000 take {hours[30_000]:.1f} h; with K machines of this kind "
        f"as Dask workers, divide by K. The gradebook writer ({writer:.4f} s per notebook, one "
        f"process however many machines grade) needs {at_10k_writer_h:.2f} h for 10,000 notebooks "
        f"against {at_10k_grading_h:.2f} h of grading on one machine: it {verdict}, if its cost "
        "per notebook stays as measured while the gradebook grows.")


def report(runs: list[Run], found: list[str], argv: list[str], students: int, feedback: bool,
           load: float, date: str) -> str:
    """The RESULTS.md section: command, machine, versions, setting, table, checks, projection."""
    setting = (f"Setting: one synthetic lesson (`{LESSON}`: setup, `def add(a, b)`, one 1-point "
               f"test cell with hidden tests), {students} students with one notebook each, every "
               f"{WRONG_EVERY}th answer wrong; `course.autograde(..., jobs={JOBS}, "
               f"feedback={feedback})` timed whole, in a fresh working folder per engine. local: "
               f"the in-process cluster, {JOBS} threads; dask: `dask scheduler` and {JOBS} `dask "
               "worker --nthreads 1` on this machine (their start is the last column, not in the "
               "wall time). Writer: wall time inside `course._save` / `_record_zero` in the "
               "instructor's process; first result: seconds from the start of the call to the "
               "first notebook reaching the writer, and the rate after it; worker grade(): "
               "`Outcome.seconds` (checks, sanitising, the kernel's run), measured on the worker.")
    checked = ("Every score as the answer deserves, and the same on every engine: "
               + ("yes." if not found else f"NO ({len(found)} problems)."))
    return "\n".join([
        (f"Command: `{command(argv)}` ({date}). Machine: {machine()}; load average {load:.2f} at "
         f"the start, {os.getloadavg()[0]:.2f} at the end."),
        "",
        "Versions: " + versions(["nbgrader", "nbclient", "jupyter_client", "ipykernel", "dask",
                                 "distributed"]) + ".",
        "",
        setting,
        "",
        throughput_table(runs),
        "",
        ratio_line(runs),
        "",
        "The gradebook writer (`course._save`), in the instructor's process:",
        "",
        writer_table(runs),
        "",
        checked,
        "",
        projection(runs),
    ])


def command(argv: list[str]) -> str:
    return "python benchmarks/grading_scale.py" + ("".join(" " + shlex.quote(a) for a in argv))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=1000,
                        help="students, one notebook each (default 1000)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "RESULTS.md"),
                        help="RESULTS.md to update ('' prints only)")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help="comma-separated: local, dask (default both)")
    parser.add_argument("--feedback", action="store_true",
                        help="render feedback HTML too (off: grading throughput)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar per engine")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or set(engines) - set(ENGINES):
        parser.error(f"--engines: choose from {', '.join(ENGINES)}")
    if args.students < 1:
        parser.error("--students must be >= 1")

    load = os.getloadavg()[0]
    date = time.strftime("%Y-%m-%d")
    with tempfile.TemporaryDirectory(prefix="minnas-grading-scale-") as tmp:
        root = Path(tmp)
        # nbgrader_config.py creates its grading folder (and exchange) at every load: keep them
        # here, not in the user's ~/minnas-grading. The Dask processes inherit it.
        os.environ["MINNAS_GRADING_DIR"] = str(root / "grading")
        solutions = write_course(root)
        submissions, expected = write_class(root, solutions, args.students)
        print(f"{args.students} students ({sum(v == 0 for v in expected.values())} with a wrong "
              f"answer), engines {', '.join(engines)}, feedback {'on' if args.feedback else 'off'}",
              flush=True)
        runs = []
        for engine in engines:
            runs.append(run_engine(engine, root, submissions, solutions, args.feedback,
                                   args.progress))
            print(f"{engine}: {runs[-1].notebooks} notebooks in {runs[-1].wall_s:.1f} s",
                  flush=True)
    found = problems(runs, expected)

    body = report(runs, found, argv, args.students, args.feedback, load, date)
    print(body)
    if found:
        print("\nProblems:\n" + "\n".join(f"- {p}" for p in found[:50]), file=sys.stderr)
    if args.out:
        write_section(Path(args.out), SECTION, body)
    return 1 if found else 0


if __name__ == "__main__":  # required: the grader's forkserver re-imports __main__
    sys.exit(main())
