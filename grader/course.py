"""The course on nbgrader's own machinery: release lessons, autograde a class, report grades.

nbgrader's layout, renamed: the source notebooks live in ``solutions/`` and the student release
in ``lessons/`` of this repository, while everything produced by grading (the SQLite gradebook,
the submitted and autograded copies, feedback HTML and the grades CSV) lives in a working folder
outside git.

Every nbgrader call goes through :class:`nbgrader.apps.NbGraderAPI`, which reports
``{success, log, error}`` instead of raising; :func:`_check` turns a failure into an exception
with nbgrader's own error text, and the autograde loop records it against the one submission
that caused it so the rest of the class is still graded.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from sqlalchemy.exc import SAWarning
from tqdm.auto import tqdm
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
LESSONS = REPO / "lessons"
EXAMPLES = Path(__file__).resolve().parent / "examples"

LESSON_NAME = re.compile(r"^\d\d_[a-z0-9_]+$")

# A Python warning printed to stderr, e.g. "file.py:3: UserWarning: ...". nbgrader scores a test
# cell 0 when anything reaches stderr; a warning is not a wrong answer, so it is dropped.
WARNING_PATTERN = r"\w*Warning: "

CELL_TIMEOUT_S = 120


class GradingError(RuntimeError):
    """An nbgrader step failed; the message carries nbgrader's own error text."""


def default_workdir() -> Path:
    """The grading working folder: ``$MINNAS_GRADING_DIR`` or ``~/minnas-grading``."""
    return Path(os.environ.get("MINNAS_GRADING_DIR", Path.home() / "minnas-grading")).expanduser()


def lesson_names(solutions: Path = SOLUTIONS) -> list[str]:
    """The lessons of the course: the ``NN_name`` folders of ``solutions/``, in order."""
    return sorted(p.name for p in solutions.iterdir() if p.is_dir() and LESSON_NAME.match(p.name))


def nbgrader_api(workdir: Path, release_dir: Path, solutions: Path = SOLUTIONS) -> NbGraderAPI:
    """An nbgrader API rooted at ``workdir``, reading ``solutions`` and releasing into ``release_dir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    # nbgrader runs the `alembic` command to check the gradebook's schema; it lives next to this
    # interpreter, which is not on PATH when the venv is used without being activated.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    cfg = Config()
    cfg.CourseDirectory.root = str(workdir)
    # Absolute paths: nbgrader joins them onto the root, which keeps them as they are.
    cfg.CourseDirectory.source_directory = str(solutions.resolve())
    cfg.CourseDirectory.release_directory = str(release_dir.resolve())
    cfg.CourseDirectory.db_url = f"sqlite:///{(workdir / 'gradebook.db').resolve()}"
    cfg.Execute.timeout = CELL_TIMEOUT_S
    # Keep the kernel's own start-up notices out of the instructor's terminal.
    cfg.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]
    cfg.IgnorePattern.enabled = True
    cfg.IgnorePattern.pattern = WARNING_PATTERN
    cfg.NbGraderAPI.log_level = logging.ERROR
    return NbGraderAPI(config=cfg)


def _check(result: dict, what: str) -> None:
    if not result.get("success"):
        raise GradingError(f"{what} failed:\n{result.get('log', '')}\n{result.get('error', '')}".strip())


def release(out: Path = LESSONS, solutions: Path = SOLUTIONS) -> list[Path]:
    """Generate the student release of every lesson into ``out`` (clean: no solutions, no outputs).

    Returns the release notebooks written. nbgrader records each lesson in a gradebook while it
    releases; that gradebook is a throwaway one, so a release changes nothing but ``out``.
    """
    written = []
    with tempfile.TemporaryDirectory(prefix="minnas-release-") as tmp:
        api = nbgrader_api(Path(tmp), out, solutions)
        for name in lesson_names(solutions):
            shutil.rmtree(out / name, ignore_errors=True)
            _check(api.generate_assignment(name, force=True, create=True), f"release of {name}")
            written += sorted((out / name).glob("*.ipynb"))
    return written


def stale_lessons(lessons: Path = LESSONS, solutions: Path = SOLUTIONS) -> list[str]:
    """Lessons whose committed release differs from a fresh release of ``solutions`` (or is missing)."""
    with tempfile.TemporaryDirectory(prefix="minnas-fresh-") as tmp:
        fresh = Path(tmp)
        release(fresh, solutions)
        stale = []
        for name in lesson_names(solutions):
            ours = sorted(p.name for p in (lessons / name).glob("*.ipynb")) if (lessons / name).is_dir() else []
            new = sorted(p.name for p in (fresh / name).glob("*.ipynb"))
            if ours != new or any(_read(lessons / name / nb) != _read(fresh / name / nb) for nb in new):
                stale.append(name)
        extra = [p.name for p in lessons.iterdir() if p.is_dir() and p.name not in lesson_names(solutions)]
    return stale + sorted(extra)


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


@dataclass
class Grade:
    """One student's result on one lesson."""

    student: str
    lesson: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "graded"  # graded | missing | failed
    detail: str = ""


@dataclass
class ClassResults:
    """Everything an autograde run produced."""

    students: list[str]
    lessons: list[str]
    grades: dict[tuple[str, str], Grade] = field(default_factory=dict)
    csv_path: Path | None = None
    feedback_dir: Path | None = None
    unknown: list[str] = field(default_factory=list)  # student/entry paths that are no lesson folder

    def total(self, student: str) -> float:
        return sum(self.grades[student, lesson].score for lesson in self.lessons)

    def max_total(self) -> float:
        return sum(max((g.max_score for g in self.grades.values() if g.lesson == lesson), default=0)
                   for lesson in self.lessons)

    def problems(self) -> list[Grade]:
        """Submissions that could not be graded and need the instructor's eye."""
        return [g for g in self.grades.values() if g.status == "failed"]


def find_submissions(submissions: Path, lessons: list[str]) -> tuple[list[str], list[str]]:
    """Students (sub-folders of ``submissions``) and the entries in them that are no lesson folder."""
    if not submissions.is_dir():
        raise ValueError(f"submissions folder {submissions} does not exist")
    students = sorted(p.name for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise ValueError(f"no student folders in {submissions} (expected STUDENT/NN_lesson/NN_lesson.ipynb)")
    # Anything beside the lesson folders is reported, not graded: a notebook saved straight into
    # the student's folder, or a lesson folder with a wrong name, is a common hand-in slip.
    unknown = sorted(f"{s}/{p.name}" for s in students for p in (submissions / s).iterdir()
                     if not p.name.startswith(".") and p.name not in lessons)
    return students, unknown


def autograde(submissions: Path, workdir: Path | None = None, solutions: Path = SOLUTIONS,
              feedback: bool = True, progress: bool = True) -> ClassResults:
    """Grade every ``submissions/<student>/<NN_lesson>/<NN_lesson>.ipynb`` and write the grades CSV.

    The gradebook, autograded copies, feedback HTML and ``grades.csv`` go to ``workdir``.
    A submission that nbgrader cannot grade (invalid notebook, missing file) is recorded with
    status ``failed`` and the error, and the rest of the class is still graded.
    """
    # nbgrader's gradebook trips SQLAlchemy's autoflush warnings on every submission; they say
    # nothing about the grades and would drown the report.
    with warnings.catch_warnings(), _single_threaded_kernels():
        warnings.simplefilter("ignore", SAWarning)
        return _autograde(submissions, (workdir or default_workdir()).resolve(), solutions,
                          feedback, progress)


# Kernels inherit the grader's environment. The lessons' matrices are small, and on a laptop
# several BLAS/OpenMP threads per kernel cost more in contention than they gain.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _single_threaded_kernels():
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _autograde(submissions: Path, workdir: Path, solutions: Path, feedback: bool,
               progress: bool) -> ClassResults:
    lessons = lesson_names(solutions)
    students, unknown = find_submissions(submissions, lessons)
    # The gradebook learns each lesson's cells (hidden tests included) from a release made in
    # the working folder, so grading never touches the committed lessons/.
    api = nbgrader_api(workdir, workdir / "release", solutions)
    for lesson in lessons:
        _check(api.generate_assignment(lesson, force=True, create=True), f"registering {lesson}")

    results = ClassResults(students, lessons, unknown=unknown)
    pairs = [(student, lesson) for student in students for lesson in lessons]
    for student, lesson in tqdm(pairs, desc="autograde", unit="notebook", disable=not progress):
        grade = results.grades[student, lesson] = _grade_one(api, workdir, submissions, student, lesson)
        if feedback and grade.status == "graded":
            _check(api.generate_feedback(lesson, student, force=True), f"feedback for {student}/{lesson}")
    _read_scores(workdir, results)
    results.csv_path = write_csv(results, workdir / "grades.csv")
    results.feedback_dir = workdir / "feedback"
    return results


def _grade_one(api: NbGraderAPI, workdir: Path, submissions: Path, student: str, lesson: str) -> Grade:
    source = submissions / student / lesson
    grade = Grade(student, lesson)
    if not source.is_dir():
        grade.status, grade.detail = "missing", "no submission"
        return grade
    expected = f"{lesson}.ipynb"
    if not (source / expected).is_file():
        # nbgrader grades only the notebook names it released; say which one was expected.
        found = ", ".join(sorted(p.name for p in source.glob("*.ipynb"))) or "no notebook"
        grade.status, grade.detail = "failed", f"no {expected} in {student}/{lesson} (found: {found})"
        return grade
    dest = workdir / "submitted" / student / lesson
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(source, dest)
    result = api.autograde(lesson, student, force=True, create=True)
    if not result.get("success"):
        grade.status = "failed"
        grade.detail = _failure_reason(f"{result.get('log', '')}\n{result.get('error', '')}")
    return grade


# The line of an nbgrader log that names the exception, e.g. "nbformat.reader.NotJSONError: ...".
_EXCEPTION_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.*)$")


def _failure_reason(text: str) -> str:
    """The most specific exception named in an nbgrader log (its last line is a generic wrapper)."""
    found = [m.groups() for m in map(_EXCEPTION_LINE.match, text.splitlines()) if m]
    specific = [f"{name}: {msg.strip()}" for name, msg in found if "see the the above traceback" not in msg]
    if specific:
        return specific[-1][:300]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "unknown error"


def _read_scores(workdir: Path, results: ClassResults) -> None:
    with Gradebook(f"sqlite:///{workdir / 'gradebook.db'}") as gb:
        for lesson in results.lessons:
            max_score = gb.find_assignment(lesson).max_score
            for student in results.students:
                grade = results.grades[student, lesson]
                grade.max_score = max_score
                if grade.status != "graded":
                    continue
                try:
                    grade.score = gb.find_submission(lesson, student).score
                except MissingEntry:
                    grade.status, grade.detail = "failed", "no grade recorded"


def write_csv(results: ClassResults, path: Path) -> Path:
    """One row per student and lesson: score, maximum, status and detail."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "lesson", "score", "max_score", "status", "detail"])
        for (student, lesson), g in sorted(results.grades.items()):
            writer.writerow([student, lesson, f"{g.score:g}", f"{g.max_score:g}", g.status, g.detail])
    return path


def score_table(results: ClassResults) -> str:
    """A plain-text table: one row per student, one column per lesson, then the total."""
    header = ["student", *results.lessons, "total"]
    rows = []
    for student in results.students:
        cells = []
        for lesson in results.lessons:
            g = results.grades[student, lesson]
            cells.append({"graded": f"{g.score:g}/{g.max_score:g}", "missing": "-"}.get(g.status, "FAILED"))
        rows.append([student, *cells, f"{results.total(student):g}/{results.max_total():g}"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    lines = [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
    for g in results.problems():
        lines.append(f"FAILED {g.student}/{g.lesson}: {g.detail}")
    for folder in results.unknown:
        lines.append(f"ignored {folder}: not a lesson folder (expected STUDENT/NN_name/NN_name.ipynb)")
    return "\n".join(lines)
