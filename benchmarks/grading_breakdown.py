"""Where grading one notebook spends its CPU time, lesson by lesson.

Why: the grader spends about 20 CPU-seconds per notebook of the demo class, and most of it is
not the student's code. Before making grading cheaper, this measures what each step costs, so
that the floor (executing the graded cells and what they depend on) is known and every change
can be judged against it.

What runs: for each lesson, the sample student ``perfect`` (:data:`grader.course.EXAMPLES`) is
graded once, in this process, with the grader's own steps in the order
:func:`grader.course.autograde` runs them, each timed on its own:

1. **register**: nbgrader's ``generate_assignment`` of the lesson into a fresh gradebook
   (:func:`grader.course.register`; once per lesson and run, not per notebook);
2. **sanitise**: reading, the integrity checks, nbgrader's sanitising preprocessors and the
   static scan (:func:`grader.execute.grade` up to execution), CPU of this process;
3. the kernel (sandboxed as when grading, its CPU read from /proc for the whole process tree,
   before and after each step): **kernel start** (interpreter and IPython up to the first
   request; where kernels are forked from a template (:mod:`grader.template`), the fork, its
   sandbox's bubblewrap and IPython; the template's own start is given once, above the
   table), **guard** (the run-time check before the first cell and before each test cell),
   **setup cell** (the first code cell: the imports), **solution cells** (the student's
   definitions), **test cells**, **other cells** (demos and experiments, which earn no
   points), and, of those, the cells that draw a **figure**;
4. **client**: this process's CPU while the kernel ran (nbclient, message handling);
5. **gradebook**: nbgrader's ``SaveAutoGrades`` and late penalty, in the parent
   (:func:`grader.course._save`);
6. **feedback**: nbgrader's ``generate_feedback`` of the notebook (HTML, hidden tests removed).

A real run adds a worker process per notebook (forked from a server that has the grader
imported) and the run's reports; the interpreter start of ``python -m grader`` is measured once
(``python -c "import grader.course"``). Kernels run one at a time, on a quiet machine the
figures are CPU seconds, not wall time.

Usage (from the repository root)::

    python benchmarks/grading_breakdown.py              # all lessons; updates RESULTS.md
    python benchmarks/grading_breakdown.py 01_least_squares --out ""   # one lesson, prints only
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, versions, write_section

from grader import config, course, execute, sandbox, template
from grader.execute import Isolation, Task
from grader.integrity import LessonSpec

REPO = Path(__file__).resolve().parents[1]
STUDENT = "perfect"
COLUMNS = ("register", "sanitise", "kernel start", "guard", "setup cell", "solution cells",
           "test cells", "other cells", "client", "gradebook", "feedback")


class Meter:
    """CPU seconds of the kernel's process tree, charged to the step that used them."""

    def __init__(self):
        self.costs: dict[str, float] = defaultdict(float)
        self.figures = 0.0
        self.km = None
        self.last = 0.0
        self.first_code = 0  # index of the notebook's first code cell (the setup cell)

    def kernel_cpu(self) -> float:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is None:
            return self.last
        # A kernel forked from the template: its sandbox's bubblewrap and holder count too.
        holder = getattr(process, "holder", None)
        return sandbox.tree_cpu_seconds(process.pid) + (
            sandbox.tree_cpu_seconds(holder.pid) if holder is not None else 0.0)

    def charge(self, step: str) -> float:
        """Charge the kernel's CPU since the last reading to ``step``; returns the amount."""
        now = self.kernel_cpu()
        used, self.last = now - self.last, now
        self.costs[step] += used
        return used


def kind(index: int, first_code: int, cell) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if index == first_code:
        return "setup cell"
    if meta.get("solution"):
        return "solution cells"
    if meta.get("grade"):
        return "test cells"
    return "other cells"


def instrument(meter: Meter) -> None:
    """Wrap the grader's kernel steps so that each charges the kernel's CPU to its kind."""
    run_cells, probe = execute._run_cells, execute._probe
    execute_cell = execute._BoundedClient.execute_cell

    def timed_run_cells(client, nb, task, deadline, flags, cgroup):
        meter.km, meter.last = client.km, 0.0
        meter.charge("kernel start")
        meter.first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        return run_cells(client, nb, task, deadline, flags, cgroup)

    def timed_probe(client, spec, baseline):
        result = probe(client, spec, baseline)
        meter.charge("guard")
        return result

    def timed_execute_cell(self, cell, index, *args, **kwargs):
        result = execute_cell(self, cell, index, *args, **kwargs)
        used = meter.charge(kind(index, meter.first_code, cell))
        if any("image/png" in out.get("data", {}) for out in cell.get("outputs", [])):
            meter.figures += used
        return result

    execute._run_cells, execute._probe = timed_run_cells, timed_probe
    execute._BoundedClient.execute_cell = timed_execute_cell


def grade_one(lesson: str, root: Path, meter: Meter, use_template: bool) -> dict[str, float]:
    """Grade ``perfect``'s notebook of ``lesson`` step by step; CPU seconds per step."""
    workdir, submissions = root / "work", root / "submissions"
    shutil.copytree(course.EXAMPLES / STUDENT / lesson, submissions / STUDENT / lesson)
    costs: dict[str, float] = {}

    t = cpu_with_children()
    course.register(workdir, only=[lesson])
    costs["register"] = cpu_with_children() - t
    spec = LessonSpec.from_notebooks(lesson,
                                     course._read(workdir / "release" / lesson / f"{lesson}.ipynb"),
                                     course._read(course.SOLUTIONS / lesson / f"{lesson}.ipynb"))
    with course.gradebook(workdir) as gb:
        gb.update_or_create_student(STUDENT)
    level, cgroups, how = sandbox.detect(config.limits().memory_bytes)
    template_path = execute._template_here(level, execute._uses_torch(spec))[0] \
        if use_template else ""
    isolation = Isolation(level, tuple(sandbox.read_only_view()), cgroups, how, template_path)
    run_root = Path(tempfile.mkdtemp(prefix=".run-", dir=workdir))
    task = Task(STUDENT, lesson, submissions / STUDENT / lesson / f"{lesson}.ipynb",
                f"sqlite:///{workdir / 'gradebook.db'}", spec, config.limits(), isolation,
                run_root / "scratch", run_root / "k0", f"minnas-breakdown-{lesson}")

    meter.costs.clear()
    meter.figures = 0.0
    t = time.process_time()
    outcome = execute.grade(task)
    grader_cpu = time.process_time() - t
    costs.update({step: meter.costs.get(step, 0.0) for step in COLUMNS[2:8]})
    costs["figures"] = meter.figures
    # This process's CPU during grade(): sanitising before the kernel started, the client after.
    costs["sanitise"], costs["client"] = sanitise_share(task, grader_cpu)
    assert not outcome.failed, f"{lesson}: the sample notebook could not be graded: {outcome.flags}"

    grade = course.Grade(STUDENT, lesson)
    t = cpu_with_children()
    course._save(outcome, grade, workdir, submissions)
    costs["gradebook"] = cpu_with_children() - t
    t = cpu_with_children()
    course._render_feedback((workdir, lesson, STUDENT))  # raises if nbgrader could not make it
    costs["feedback"] = cpu_with_children() - t
    shutil.rmtree(run_root, ignore_errors=True)
    return costs


def template_cpu(started: template.Template) -> float:
    """CPU seconds the template used to start: its imports (read from /proc while it waits)."""
    return sandbox.tree_cpu_seconds(started.process.pid)


def cpu_with_children() -> float:
    """CPU seconds of this process and of its children that have ended (for steps that start
    none that outlive them: not while a kernel runs, whose time /proc gives)."""
    import resource

    own, children = (resource.getrusage(resource.RUSAGE_SELF),
                     resource.getrusage(resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sanitise_share(task: Task, grader_cpu: float) -> tuple[float, float]:
    """Split this process's CPU of ``grade()`` into the steps before execution (timed again,
    alone) and the client's share while the kernel ran."""
    import nbformat

    from grader.integrity import check_structure
    from grader.scan import scan_code, student_cells

    t = time.process_time()
    nb = nbformat.convert(nbformat.reader.reads(task.notebook.read_text(encoding="utf-8")), 4)
    check_structure(nb, task.spec)
    nb = execute._sanitize(nb, task)
    scan_code(student_cells(nb, task.spec), task.spec)
    sanitise = time.process_time() - t
    return sanitise, max(0.0, grader_cpu - sanitise)


def interpreter_start() -> float:
    """CPU seconds of ``python -c "import grader.course"`` (a run's interpreter and imports)."""
    before = cpu_with_children()
    subprocess.run([sys.executable, "-c", "import grader.course"], check=True)
    return cpu_with_children() - before


def shares(rows: dict[str, dict[str, float]]) -> str:
    """Where the time goes, as shares of the total over all lessons."""
    total = sum(costs[c] for costs in rows.values() for c in COLUMNS)

    def share(*columns: str) -> str:
        return f"{100 * sum(costs[c] for costs in rows.values() for c in columns) / total:.0f} %"

    return (f"Over these {len(rows)} notebooks ({total:.1f} CPU-s): the other cells (demos and "
            f"experiments, no points) take {share('other cells')}; the floor (setup, solution and "
            f"test cells) {share('setup cell', 'solution cells', 'test cells')}; registering the "
            f"lesson {share('register')} (once per lesson and run, not per notebook; here each "
            "lesson gets a fresh gradebook); kernel start and the "
            f"run-time guard {share('kernel start', 'guard')} (the first guard imports what the "
            "tests use, torch in 07-10); sanitising, client, gradebook and feedback "
            f"{share('sanitise', 'client', 'gradebook', 'feedback')}.")


def table(rows: dict[str, dict[str, float]]) -> str:
    head = ["lesson", *COLUMNS, "total", "of which figures", "floor"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    sums: dict[str, float] = defaultdict(float)
    for lesson, costs in rows.items():
        total = sum(costs[c] for c in COLUMNS)
        # The floor: what the tests need, the setup, the student's definitions and the tests.
        floor = costs["setup cell"] + costs["solution cells"] + costs["test cells"]
        values = [costs[c] for c in COLUMNS] + [total, costs["figures"], floor]
        for name, value in zip(head[1:], values):
            sums[name] += value
        lines.append(f"| {lesson} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    lines.append("| **all** | " + " | ".join(f"**{sums[name]:.1f}**" for name in head[1:]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="default: all")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "RESULTS.md"),
                        help="RESULTS.md to update ('' prints only)")
    parser.add_argument("--no-template", action="store_true",
                        help="start each kernel as a new interpreter, as before the template")
    args = parser.parse_args(argv)
    lessons = args.lessons or course.lesson_names()
    meter = Meter()
    instrument(meter)
    rows = {}
    use_template = not args.no_template and sandbox.detect()[0] == sandbox.BUBBLEWRAP
    with tempfile.TemporaryDirectory(prefix="breakdown-") as tmp:
        for lesson in lessons:
            rows[lesson] = grade_one(lesson, Path(tmp) / lesson, meter, use_template)
            print(f"{lesson}: {sum(rows[lesson][c] for c in COLUMNS):.2f} CPU-s", flush=True)
    starts = {("with torch" if torch else "without torch"): template_cpu(started)
              for torch, (started, _) in execute.TEMPLATES.items() if started is not None}
    kernels = "each kernel a new interpreter"
    if starts:
        kernels = ("each kernel forked from a template with the lessons' libraries imported "
                   "(their start, once per machine and run: "
                   + ", ".join(f"{k} {v:.2f} CPU-s" for k, v in sorted(starts.items())) + ")")
    start = interpreter_start()
    body = "\n".join([
        "Command: `python benchmarks/grading_breakdown.py"
        f"{' ' + ' '.join(args.lessons) if args.lessons else ''}`"
        f" ({time.strftime('%Y-%m-%d')}). Machine: {machine()}. "
        f"{versions(['nbgrader', 'nbclient', 'ipykernel', 'torch'])}.",
        "",
        f"CPU seconds to grade the sample student `{STUDENT}` of each lesson, step by step (see "
        "the script's docstring for what each column holds), one notebook at a time, kernels "
        f"sandboxed as when grading ({sandbox.detect(config.limits().memory_bytes)[0]}; "
        f"{kernels}). *floor*: "
        "the setup cell, the student's definitions and the test cells, which is what the grades "
        f"need. Interpreter start of `python -m grader` (once per run): {start:.2f} CPU-s.",
        "",
        table(rows),
        "",
        shares(rows),
    ])
    print(body)
    if args.out:
        write_section(Path(args.out), "## Grading cost per notebook, step by step", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
