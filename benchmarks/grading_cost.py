"""What grading one notebook costs: this tree's grader against an earlier commit's, on the demo
class.

Why: isolating each kernel (bubblewrap, a cgroup per notebook, a worker process per notebook, the
run-time check before each test cell, output bounded on arrival) must not make grading much
dearer. This grades the sample class of ``grader/examples/class/`` (4 students x 10 lessons, the
class ``python -m grader demo`` grades) with ``python -m grader autograde CLASS --jobs 2``,
feedback included, once with the grader of ``--baseline`` (a git worktree of that commit in a
temporary folder) and once with this tree's, alternating, ``--repeats`` times.

Measured: CPU seconds of the whole process tree (grader, workers, kernels), read from a cgroup
v1 ``cpuacct`` group made for each run (this needs root; otherwise only wall time is measured),
and wall seconds; per notebook = total / 40. Reported: each run, the medians, the ratio
(this tree / baseline) of the medians, and whether the two graders gave every student the same
score.

Usage (from the repository root)::

    python benchmarks/grading_cost.py --baseline 304fab1            # 1 repeat; updates RESULTS.md
    python benchmarks/grading_cost.py --baseline HEAD~3 --out ""    # prints only
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, versions, write_section

REPO = Path(__file__).resolve().parents[1]
CLASS = REPO / "grader" / "examples" / "class"
CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def grade(tree: Path, workdir: Path) -> tuple[float, float | None, dict]:
    """``(wall s, CPU s or None, scores)`` of one ``autograde`` of the sample class
    by ``tree``'s grader."""
    group = CPUACCT / f"minnas-bench-{os.getpid()}-{time.monotonic_ns()}"
    try:
        group.mkdir()
    except OSError:
        group = None

    def join() -> None:
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    env = dict(os.environ, PYTHONWARNINGS="ignore")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", "autograde", str(CLASS), "--workdir",
                    str(workdir),
                    "--jobs", "2"], cwd=tree, env=env, preexec_fn=join, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    cpu = None
    if group is not None:
        time.sleep(1)  # processes the run left (none should) would still be counted here
        cpu = int((group / "cpuacct.usage").read_text()) / 1e9
        for pid in (group / "cgroup.procs").read_text().split():
            (CPUACCT / "cgroup.procs").write_text(pid)
        group.rmdir()
    with (workdir / "grades.csv").open() as fh:
        scores = {(r["student"], r["lesson"]): r["score"] for r in csv.DictReader(fh)}
    with (workdir / "integrity.csv").open() as fh:  # the flags: the same list for the same class
        scores["flags"] = sorted(tuple(r.values()) for r in csv.DictReader(fh))
    return wall, cpu, scores


def bwrap_version() -> str:
    try:
        return (subprocess.run(["bwrap", "--version"], capture_output=True,
                               text=True).stdout.strip() or "?")
    except OSError:
        return "not installed"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True,
                        help="the commit to compare with (e.g. 304fab1); its minnas/ must "
                             "be this tree's")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "RESULTS.md"),
                        help="'' to print only")
    parser.add_argument("--heading",
                        default="Grading cost per notebook: isolated grader vs the one before",
                        help="the RESULTS.md section to write")
    args = parser.parse_args()
    began, load0 = time.time(), os.getloadavg()[0]
    rows, same = [], True
    with tempfile.TemporaryDirectory(prefix="minnas-cost-") as tmp:
        old = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), args.baseline], cwd=REPO,
                       check=True, capture_output=True)
        # Kernels import the installed minnas (this tree's), and the sandbox shows a kernel the
        # minnas the grader imported: without its own copy, the baseline's grader imports that too.
        shutil.rmtree(old / "minnas")
        try:
            for repeat in range(1, args.repeats + 1):
                scores = {}
                for name, tree in ((f"baseline {args.baseline}", old), ("this tree", REPO)):
                    wall, cpu, scores[name] = grade(tree, Path(tmp) / f"{name.split()[0]}-{repeat}")
                    rows.append((repeat, name, wall, cpu))
                    print(f"run {repeat}, {name}: wall {wall:.1f} s, CPU "
                          f"{cpu if cpu is None else round(cpu, 1)} s",
                          flush=True)
                first, second = scores.values()
                same &= first == second
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=REPO,
                           check=False)
    n = 40
    lines = ["| run | grader | wall s | CPU s | CPU s per notebook |", "|---|---|---|---|---|"]
    for repeat, name, wall, cpu in rows:
        lines.append(f"| {repeat} | {name} | {wall:.1f} | {'-' if cpu is None else f'{cpu:.1f}'} | "
                     f"{'-' if cpu is None else f'{cpu / n:.2f}'} |")
    names = list(dict.fromkeys(r[1] for r in rows))
    med = {name: (statistics.median(r[2] for r in rows if r[1] == name),
                  statistics.median(r[3] for r in rows
                                    if r[1] == name) if rows[0][3] is not None else None)
           for name in names}
    (_, (w0, c0)), (_, (w1, c1)) = med.items()
    summary = [f"Medians: baseline wall {w0:.1f} s, this tree {w1:.1f} s (ratio {w1 / w0:.2f}); " +
               (f"CPU {c0:.1f} s vs {c1:.1f} s (ratio {c1 / c0:.2f}), per notebook {c0 / n:.2f} vs "
                f"{c1 / n:.2f} CPU s."
                if c0 else "CPU not measured (no writable cpuacct cgroup)."),
               "Every (student, lesson) score, and every flag, the same with both graders: "
               f"{'yes' if same else 'NO'}."]
    heading = ("" if args.heading == parser.get_default("heading")
               else f' --heading "{args.heading}"')
    body = [f"Command: `python benchmarks/grading_cost.py --baseline {args.baseline}"
            f"{'' if args.repeats == 1 else f' --repeats {args.repeats}'}{heading}`", "",
            f"Date: {time.strftime('%Y-%m-%d')}; wall time {(time.time() - began) / 60:.1f} min; "
            f"machine: {machine()}; load average {load0:.2f} at the start, "
            f"{os.getloadavg()[0]:.2f} at the end.", "",
            f"Versions: {versions(['nbgrader', 'nbclient', 'jupyter_client', 'ipykernel'])}; "
            f"bubblewrap: {bwrap_version()}.", "",
            "Setting: the demo class (grader/examples/class: 4 students x 10 lessons = 40 "
            "notebooks), `python -m grader autograde CLASS --jobs 2` with feedback, default "
            "limits; the baseline is a git worktree of that commit (its grader, its lessons); CPU "
            "= cpuacct of a cgroup per run (grader, workers and kernels together).", "", *lines, "",
            *summary]
    print("\n".join(body))
    if args.out:
        write_section(Path(args.out), f"## {args.heading}", "\n".join(body))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
