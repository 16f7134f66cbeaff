"""The course on nbgrader's own machinery: release lessons, autograde a class, report grades.

nbgrader's layout, renamed: the source notebooks live in ``solutions/`` and the student release
in ``lessons/`` of this repository, while everything produced by grading (the SQLite gradebook,
the submitted and autograded copies, feedback HTML and the grades CSV) lives in a working folder
outside git.

Releases go through :class:`nbgrader.apps.NbGraderAPI`, which reports ``{success, log, error}``
instead of raising; :func:`_check` turns a failure into an exception with nbgrader's own text.

Autograding is nbgrader's, split in two so that a class grades in parallel, on this machine or
on a Dask cluster (:mod:`grader.cluster`): workers check, sanitise and execute the notebooks
(:mod:`grader.execute`, with nbgrader's preprocessors, each kernel limited and isolated by
:mod:`grader.sandbox`) and render the feedback, and this process alone writes the SQLite
gradebook (nbgrader's ``SaveAutoGrades``). Whatever one submission does is recorded against it
(:mod:`grader.integrity`), and the rest of the class is still graded.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.utils import parse_utc
from sqlalchemy.exc import SAWarning

from grader import cluster, config, execute, report
from grader.execute import Job, Limits, Outcome
from grader.export import CanvasExportPlugin
from grader.integrity import ATTENTION, FAILED, NOTE, Flag, LessonSpec

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
LESSONS = REPO / "lessons"
EXAMPLES = Path(__file__).resolve().parent / "examples" / "class"
ADVERSARIAL = Path(__file__).resolve().parent / "examples" / "adversarial"

LESSON_NAME = re.compile(r"^\d\d_[a-z0-9_]+$")
# What nbgrader's exchange writes beside a submitted notebook; feedback goes back through it.
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")


class GradingError(RuntimeError):
    """An nbgrader step failed; the message carries nbgrader's own error text."""


def default_workdir() -> Path:
    """The grading working folder of ``nbgrader_config.py``: ``$MINNAS_GRADING_DIR`` or
    ``~/minnas-grading``."""
    return config.grading_dir()


def lesson_names(solutions: Path = SOLUTIONS) -> list[str]:
    """The lessons of the course: the ``NN_name`` folders of ``solutions/``, in order."""
    return sorted(p.name for p in solutions.iterdir() if p.is_dir() and LESSON_NAME.match(p.name))


def selected_lessons(solutions: Path = SOLUTIONS, only: Sequence[str] = ()) -> list[str]:
    """The lessons named in ``only`` (all when empty), in course order; an unknown name
    is an error."""
    names = lesson_names(solutions)
    unknown = sorted(set(only) - set(names))
    if unknown:
        raise ValueError(f"no such lesson in {solutions}: {', '.join(unknown)}")
    return [name for name in names if not only or name in only]


def nbgrader_api(workdir: Path, release_dir: Path, solutions: Path = SOLUTIONS) -> NbGraderAPI:
    """nbgrader's API with the course configuration (``nbgrader_config.py``), rooted at
    ``workdir`` (gradebook, submitted, autograded, feedback), reading ``solutions`` and
    releasing into ``release_dir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    _create_gradebook(workdir / "gradebook.db")
    cfg = config.load()
    workdir = workdir.resolve()
    cfg.CourseDirectory.root = str(workdir)
    # Absolute paths: nbgrader joins them onto the root, which keeps them as they are.
    cfg.CourseDirectory.source_directory = str(solutions.resolve())
    cfg.CourseDirectory.release_directory = str(release_dir.resolve())
    for step in ("submitted", "autograded", "feedback"):
        cfg.CourseDirectory[f"{step}_directory"] = str(workdir / step)
    cfg.CourseDirectory.db_url = f"sqlite:///{workdir / 'gradebook.db'}"
    cfg.NbGraderAPI.log_level = logging.ERROR
    return NbGraderAPI(config=cfg)


def _create_gradebook(db: Path) -> None:
    """An empty gradebook at ``db``, as nbgrader makes one, unless there is one already.

    nbgrader stamps a new gradebook with its schema version by running the ``alembic heads``
    command in a subprocess (seconds, and it must be on PATH); the version is read here from
    nbgrader's migration scripts instead.
    """
    if db.exists():
        return
    from alembic.script import ScriptDirectory
    from nbgrader.api import Base
    from nbgrader.dbutil import ALEMBIC_DIR
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{db}")
    try:
        Base.metadata.create_all(bind=engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num "
                                    "VARCHAR(32) NOT NULL)"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                               {"v": ScriptDirectory(ALEMBIC_DIR).get_current_head()})
    finally:
        engine.dispose()


def gradebook(workdir: Path) -> Gradebook:
    """The gradebook of ``workdir``, under the course id of ``nbgrader_config.py``."""
    _create_gradebook(workdir / "gradebook.db")
    return Gradebook(f"sqlite:///{workdir / 'gradebook.db'}",
                     course_id=config.load().CourseDirectory.course_id)


def _check(result: dict, what: str) -> None:
    if not result.get("success"):
        raise GradingError(f"{what} failed:\n{result.get('log', '')}\n"
                           f"{result.get('error', '')}".strip())


def release(out: Path = LESSONS, solutions: Path = SOLUTIONS,
            only: Sequence[str] = ()) -> list[Path]:
    """Generate the student release of every lesson (or of those in ``only``) into ``out``
    (clean: no solutions, no outputs).

    Returns the release notebooks written. nbgrader records each lesson in a gradebook while it
    releases; that gradebook is a throwaway one, so a release changes nothing but ``out``.
    """
    written = []
    with tempfile.TemporaryDirectory(prefix="minnas-release-") as tmp:
        api = nbgrader_api(Path(tmp), out, solutions)
        for name in selected_lessons(solutions, only):
            shutil.rmtree(out / name, ignore_errors=True)
            _check(api.generate_assignment(name, force=True, create=True), f"release of {name}")
            written += sorted((out / name).glob("*.ipynb"))
    return written


def register(workdir: Path, solutions: Path = SOLUTIONS, only: Sequence[str] = ()) -> list[str]:
    """Record the lessons (their cells and points) in the gradebook of ``workdir``, as nbgrader's
    ``generate_assignment`` does; a release for the grader is written to ``workdir/release``,
    ``lessons/`` is not touched. Due dates already set are kept. Returns the lessons recorded."""
    names = selected_lessons(solutions, only)
    api = nbgrader_api(workdir, workdir / "release", solutions)
    for lesson in names:
        _check(api.generate_assignment(lesson, force=True, create=True), f"registering {lesson}")
    return names


def stale_lessons(lessons: Path = LESSONS, solutions: Path = SOLUTIONS) -> list[str]:
    """Lessons whose committed release differs from a fresh release of ``solutions``
    (or is missing)."""
    with tempfile.TemporaryDirectory(prefix="minnas-fresh-") as tmp:
        fresh = Path(tmp)
        release(fresh, solutions)
        stale = []
        for name in lesson_names(solutions):
            ours = (sorted(p.name for p in (lessons / name).glob("*.ipynb"))
                    if (lessons / name).is_dir() else [])
            new = sorted(p.name for p in (fresh / name).glob("*.ipynb"))
            if ours != new or any(_read(lessons / name / nb) != _read(fresh / name / nb)
                                  for nb in new):
                stale.append(name)
        extra = [p.name for p in lessons.iterdir()
                 if p.is_dir() and p.name not in lesson_names(solutions)]
    return stale + sorted(extra)


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


@dataclass
class Grade:
    """One student's result on one lesson, with what the integrity checks found."""

    student: str
    lesson: str
    score: float = 0.0  # autograded points minus the late penalty (nbgrader's ``score``)
    max_score: float = 0.0
    late_penalty: float = 0.0  # points taken off for handing in after the lesson's due date
    timestamp: datetime.datetime | None = None  # when it was handed in (nbgrader's timestamp.txt)
    pending: float = 0.0  # points of answers awaiting a human grader (manually graded cells)
    kernel_cpu_s: float = 0.0  # user + system seconds of the kernel that ran the notebook
    status: str = "graded"  # graded | missing | failed
    detail: str = ""
    flags: list[Flag] = field(default_factory=list)

    def needs_attention(self) -> bool:
        return self.status == "failed" or any(f.kind in ATTENTION for f in self.flags)


@dataclass
class ClassResults:
    """Everything an autograde run produced."""

    students: list[str]
    lessons: list[str]
    grades: dict[tuple[str, str], Grade] = field(default_factory=dict)
    cell_scores: dict[tuple[str, str], dict[str, tuple[float, float]]] = field(default_factory=dict)
    # student/entry paths that are no lesson folder
    unknown: list[str] = field(default_factory=list)
    isolation: str = ""
    workdir: Path | None = None
    seconds: float = 0.0

    @property
    def csv_path(self) -> Path:
        return self.workdir / "grades.csv"

    @property
    def feedback_dir(self) -> Path:
        return self.workdir / "feedback"

    def total(self, student: str) -> float:
        return sum(self.grades[student, lesson].score for lesson in self.lessons)

    def pending(self, student: str | None = None) -> float:
        """Points awaiting manual grading, of one student or of the class."""
        return sum(g.pending for g in self.grades.values()
                   if student is None or g.student == student)

    def max_total(self) -> float:
        return sum(max((g.max_score for g in self.grades.values() if g.lesson == lesson), default=0)
                   for lesson in self.lessons)

    def problems(self) -> list[Grade]:
        """Submissions that could not be graded."""
        return [g for g in self.grades.values() if g.status == "failed"]

    def attention(self) -> list[Grade]:
        """Submissions the instructor should look at: failed, or flagged suspicious or
        at a limit."""
        return [g for g in self.grades.values() if g.needs_attention()]


def find_submissions(submissions: Path, lessons: list[str]) -> tuple[list[str], list[str]]:
    """Students (sub-folders of ``submissions``) and the entries in them that are
    no lesson folder."""
    if not submissions.is_dir():
        raise ValueError(f"submissions folder {submissions} does not exist")
    students = sorted(p.name for p in submissions.iterdir()
                      if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise ValueError(f"no student folders in {submissions} (expected "
                         "STUDENT/NN_lesson/NN_lesson.ipynb)")
    # Anything beside the lesson folders is reported, not graded: a notebook saved straight into
    # the student's folder, or a lesson folder with a wrong name, is a common hand-in slip.
    unknown = sorted(f"{s}/{p.name}" for s in students for p in (submissions / s).iterdir()
                     if not p.name.startswith(".") and p.name not in lessons)
    return students, unknown


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def autograde(submissions: Path | None = None, workdir: Path | None = None,
              solutions: Path = SOLUTIONS,
              feedback: bool = True, progress: bool = True, jobs: int | None = None,
              limits: Limits | None = None, only: Sequence[str] = (),
              scheduler: str | None = None) -> ClassResults:
    """Grade every ``submissions/<student>/<NN_lesson>/<NN_lesson>.ipynb``, ``jobs`` at a time,
    or on the Dask cluster whose scheduler is at ``scheduler`` (then ``jobs`` is unused).

    Each notebook is checked, sanitised and run in a process of its own (:mod:`grader.execute`),
    its kernel under ``limits`` and isolated (:mod:`grader.sandbox`); this process alone writes
    the gradebook, with nbgrader's late penalty where a submission's ``timestamp.txt`` is after
    the lesson's due date. Then feedback HTML (in parallel too), and in ``workdir``: the
    gradebook, ``grades.csv``, ``canvas_grades.csv``, ``integrity.csv``, ``report.md`` (per
    lesson and exercise: mean, median, share with full marks; every flag) and
    ``grades_histogram.png``.

    ``submissions`` defaults to ``workdir/submitted``, where ``nbgrader collect`` puts what
    students handed in through the exchange; ``workdir`` and ``limits`` default to those of
    ``nbgrader_config.py``; ``only`` grades just the lessons named.

    A submission that cannot be graded (invalid notebook, wrong name, a crash in grading) is
    recorded with status ``failed`` and the reason, and the rest of the class is still graded.
    """
    jobs = default_jobs() if jobs is None else jobs
    limits = config.limits() if limits is None else limits
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    start = time.perf_counter()
    workdir = (workdir or default_workdir()).resolve()
    submissions = workdir / "submitted" if submissions is None else submissions
    # nbgrader's gradebook trips SQLAlchemy's autoflush warnings on every submission; they say
    # nothing about the grades and would drown the report.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        results = _autograde(submissions.resolve(), workdir, solutions.resolve(), feedback,
                             progress, jobs, limits, only, scheduler)
    results.seconds = time.perf_counter() - start
    report.write_all(results)
    # The same export as `nbgrader export`, with the settings of nbgrader_config.py (e.g. a roster).
    canvas = CanvasExportPlugin(config=config.load(), to=str(workdir / "canvas_grades.csv"))
    with gradebook(workdir) as gb:
        canvas.export(gb)
    return results


def _autograde(submissions: Path, workdir: Path, solutions: Path, feedback: bool, progress: bool,
               jobs: int, limits: Limits, only: Sequence[str],
               scheduler: str | None) -> ClassResults:
    lessons = selected_lessons(solutions, only)
    students, unknown = find_submissions(submissions, lesson_names(solutions))
    # The gradebook learns each lesson's cells (hidden tests included) from a release made in
    # the working folder, so grading never touches the committed lessons/.
    register(workdir, solutions, lessons)
    specs = {lesson: LessonSpec.from_notebooks(
                 lesson, _read(workdir / "release" / lesson / f"{lesson}.ipynb"),
                 _read(solutions / lesson / f"{lesson}.ipynb"))
             for lesson in lessons}
    with gradebook(workdir) as gb:
        for student in students:
            gb.update_or_create_student(student)
    results = ClassResults(students, lessons, unknown=unknown, workdir=workdir)
    run = uuid.uuid4().hex[:12]
    todo: list[Job] = []
    for student in students:
        for lesson in lessons:
            grade = results.grades[student, lesson] = Grade(student, lesson)
            notebook = _find_notebook(submissions, grade, unknown)
            if grade.status == "failed":
                _record_zero(workdir, grade)
            elif notebook is not None:
                files = _bundle(notebook, limits)
                if isinstance(files, str):  # too big to send anywhere: failed, with the reason
                    _save(Outcome(student, lesson, None, [Flag(FAILED, "", files)]), grade, workdir,
                          submissions)
                else:
                    todo.append(Job(f"{run}-{len(todo)}", student, lesson, files, specs[lesson],
                                    limits))
    isolation = set()
    with cluster.connect(scheduler, jobs) as client:
        # Workers read the lessons' source cells from a copy: the gradebook itself has one writer.
        source = (workdir / "gradebook.db").read_bytes()
        for job, outcome, error in cluster.map_unordered(client, execute.grade_job, todo, source,
                                                         progress=progress, desc="autograde"):
            grade = results.grades[job.student, job.lesson]
            try:
                if error is not None:
                    raise error
                isolation.add(outcome.isolation)
                _save(outcome, grade, workdir, submissions)
            except Exception as exc:  # noqa: BLE001 - this submission fails, the class goes on
                grade.status, grade.detail = ("failed",
                                              f"could not grade: {type(exc).__name__}: {exc}"[:300])
                grade.flags.append(Flag(FAILED, "", grade.detail))
                _record_zero(workdir, grade)
        if feedback:
            _write_feedback(client, workdir, results, progress)
    results.isolation = "; ".join(sorted(isolation))
    _read_scores(workdir, results)
    return results


def _bundle(notebook: Path, limits: Limits) -> dict[str, bytes] | str:
    """The files of the submission's lesson folder, to be graded anywhere; or why they cannot be."""
    problem = execute.submitted_file_problem(notebook, limits)
    if problem:
        return problem
    folder = notebook.parent
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in paths)
    if size > limits.notebook_bytes:  # the notebook fits: other files the student put beside it
        return (f"{folder.name}/ holds {size / 2**20:.1f} MiB, over the limit of "
                f"{limits.notebook_bytes / 2**20:g} MiB for a submission")
    return {str(p.relative_to(folder)): p.read_bytes() for p in paths}


def _find_notebook(submissions: Path, grade: Grade, unknown: list[str]) -> Path | None:
    """The notebook to grade for ``grade``, or ``None`` with ``grade`` marked missing or failed."""
    student, lesson = grade.student, grade.lesson
    source = submissions / student / lesson
    expected = f"{lesson}.ipynb"
    # A link could hand in any file the grader can read (the instructor's own notebook, say),
    # and a FIFO or device file could stall whatever reads it.
    odd = _odd_entry(submissions, student, lesson)
    if odd:
        grade.status, grade.detail = "failed", odd
    elif (source / expected).is_file():
        return source / expected
    elif source.is_dir():
        # nbgrader grades only the notebook names it released; say which one was expected.
        found = ", ".join(sorted(p.name for p in source.glob("*.ipynb"))) or "no notebook"
        grade.status, grade.detail = ("failed",
                                      f"no {expected} in {student}/{lesson} (found: {found})")
    else:
        grade.status, grade.detail = "missing", "no submission"
        astray = [u for u in unknown if u in (f"{student}/{lesson}.ipynb", f"{student}/{expected}")]
        if astray:
            grade.status = "failed"
            grade.detail = f"{astray[0]} is not in {student}/{lesson}/ (wrong folder)"
    if grade.status == "failed":
        grade.flags.append(Flag(FAILED, "", grade.detail))
    return None


def _odd_entry(submissions: Path, student: str, lesson: str) -> str:
    """Why ``student``'s folder for ``lesson`` holds what no submission may (a link, a special
    file), or ``""``. Nothing is followed: links are seen as links."""
    import stat

    folder = submissions / student / lesson
    paths = [submissions / student, folder]
    if folder.is_dir() and not folder.is_symlink():
        for root, dirs, files in os.walk(folder):
            paths += [Path(root) / name for name in dirs + files]
    for path in paths:
        try:
            mode = path.lstat().st_mode
        except OSError:
            continue
        if stat.S_ISLNK(mode):
            return f"{path.relative_to(submissions)} is a symbolic link"
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return f"{path.relative_to(submissions)} is not a plain file"
    return ""


def _save(outcome: Outcome, grade: Grade, workdir: Path, submissions: Path) -> None:
    """Write one graded notebook to the gradebook and the working folder (this process only)."""
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    grade.flags += outcome.flags
    grade.kernel_cpu_s = outcome.kernel_cpu_s
    handed_in = submissions / grade.student / grade.lesson
    submitted = workdir / "submitted" / grade.student / grade.lesson
    if handed_in.resolve() != submitted.resolve():  # not already nbgrader's collected copy
        shutil.rmtree(submitted, ignore_errors=True)
        shutil.copytree(handed_in, submitted, symlinks=True)
    if outcome.failed:
        grade.status = "failed"
        grade.detail = next(f.message for f in outcome.flags if f.kind == FAILED)
        _record_zero(workdir, grade)
        return
    db_url = f"sqlite:///{workdir / 'gradebook.db'}"
    grade.timestamp = _timestamp(submitted)
    with gradebook(workdir) as gb:
        gb.update_or_create_submission(grade.lesson, grade.student, timestamp=grade.timestamp)
    autograded = workdir / "autograded" / grade.student / grade.lesson
    shutil.rmtree(autograded, ignore_errors=True)
    autograded.mkdir(parents=True)
    for name in EXCHANGE_FILES:  # nbgrader's feedback release needs them beside the notebook
        if (submitted / name).is_file():
            shutil.copy(submitted / name, autograded / name)
    resources = {"nbgrader": {"db_url": db_url, "assignment": grade.lesson,
                              "notebook": grade.lesson, "student": grade.student}}
    nb, _ = SaveAutoGrades().preprocess(outcome.nb, resources)
    # The late penalty is nbgrader's own step, with the plugin nbgrader_config.py names.
    nb, _ = AssignLatePenalties(config=config.load()).preprocess(nb, resources)
    nbformat.write(nb, autograded / f"{grade.lesson}.ipynb")


def _timestamp(folder: Path) -> datetime.datetime | None:
    """When the submission in ``folder`` was handed in: nbgrader's ``timestamp.txt``, if any."""
    path = folder / "timestamp.txt"
    if not path.is_file():
        return None
    with path.open("rb") as fh:  # the student's folder: read no more than a time needs
        text = fh.read(100).decode("utf-8", "replace")
    try:
        return parse_utc(text.strip())
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"timestamp.txt is not a time: {exc}") from None


def _record_zero(workdir: Path, grade: Grade) -> None:
    """A submission that could not be graded: zero in the gradebook, which the
    instructor can override."""
    with gradebook(workdir) as gb:
        gb.update_or_create_submission(grade.lesson, grade.student)
        for g in gb.find_submission_notebook(grade.lesson, grade.lesson, grade.student).grades:
            g.auto_score, g.needs_manual_grade = 0, False
        gb.db.commit()


def _write_feedback(client, workdir: Path, results: ClassResults, progress: bool) -> None:
    """Feedback HTML of every graded submission, rendered on the workers from a copy of the
    gradebook; a submission whose feedback fails keeps its grade and gets a note."""
    graded = [g for g in results.grades.values() if g.status == "graded"]
    items = [(g.lesson, g.student,
              (workdir / "autograded" / g.student / g.lesson / f"{g.lesson}.ipynb").read_bytes())
             for g in graded]
    for (lesson, student, _), html, error in cluster.map_unordered(
            client, _feedback_job, items, (workdir / "gradebook.db").read_bytes(),
            progress=progress, desc="feedback"):
        if error is not None:  # the grade stands; the instructor hears that its feedback is missing
            results.grades[student, lesson].flags.append(
                Flag(NOTE, "", f"no feedback HTML: {_first_line(error)}"))
            continue
        folder = workdir / "feedback" / student / lesson
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{lesson}.html").write_text(html, encoding="utf-8")
        for name in EXCHANGE_FILES:  # as nbgrader's generate_feedback: release_feedback reads them
            if (workdir / "autograded" / student / lesson / name).is_file():
                shutil.copy(workdir / "autograded" / student / lesson / name, folder / name)


def _feedback_job(item: tuple[str, str, bytes], gradebook_db: bytes) -> str:
    """nbgrader's feedback HTML of one autograded notebook, on whichever machine runs it."""
    lesson, student, notebook = item
    root = execute.job_folder()
    try:
        (root / "gradebook.db").write_bytes(gradebook_db)
        folder = root / "autograded" / student / lesson
        folder.mkdir(parents=True)
        (folder / f"{lesson}.ipynb").write_bytes(notebook)
        return cluster.isolated(_render_feedback, (root, lesson, student), config.limits().hard_s)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _render_feedback(item: tuple[Path, str, str]) -> str:
    root, lesson, student = item
    result = nbgrader_api(root, root / "release").generate_feedback(lesson, student, force=True)
    if not result.get("success"):
        raise RuntimeError(_last_line(result.get("error", "")))
    return (root / "feedback" / student / lesson / f"{lesson}.html").read_text(encoding="utf-8")


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: " + (str(exc).strip().splitlines() or [""])[0][:200]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1][:200] if lines else "unknown error"


def _read_scores(workdir: Path, results: ClassResults) -> None:
    with gradebook(workdir) as gb:
        for lesson in results.lessons:
            max_score = gb.find_assignment(lesson).max_score
            for student in results.students:
                grade = results.grades[student, lesson]
                grade.max_score = max_score
                if grade.status != "graded":
                    continue
                try:
                    notebook = gb.find_submission_notebook(lesson, lesson, student)
                except MissingEntry:
                    grade.status, grade.detail = "failed", "no grade recorded"
                    continue
                grade.late_penalty = notebook.late_submission_penalty or 0.0
                grade.score = notebook.score - grade.late_penalty
                # nbgrader gives an untouched answer 0 itself; an answered one waits for a person.
                grade.pending = sum(g.max_score for g in notebook.grades if g.needs_manual_grade
                                    and g.manual_score is None and g.auto_score is None)
                # Per test cell; answers graded by hand are Formgrader's to report.
                results.cell_scores[student, lesson] = {g.name: (g.score, g.max_score)
                                                        for g in notebook.grades
                                                        if g.cell_type == "code"}


@dataclass
class TestResult:
    """One test cell of a checked notebook: its points and, when it failed, why."""

    name: str
    score: float
    max_score: float
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score


def check(notebook: Path, limits: Limits | None = None,
          lessons: Path = LESSONS) -> tuple[Grade, list[TestResult]]:
    """Grade one student's notebook against the visible tests of its lesson, as the grader would.

    The same pipeline as :func:`autograde` (integrity checks, sanitising, the sandboxed kernel
    with ``NBGRADER_EXECUTION`` set, the limits of ``nbgrader_config.py``), with the release in
    ``lessons`` as the source: the hidden tests are not run, so passing here is necessary, not
    sufficient. Nothing is written outside a temporary folder.

    Returns the lesson's grade (visible tests only) and one :class:`TestResult` per test cell.
    """
    lesson = lesson_of(notebook, lessons)
    with tempfile.TemporaryDirectory(prefix="minnas-check-") as tmp:
        folder = Path(tmp) / "submissions" / "you" / lesson
        folder.mkdir(parents=True)
        shutil.copy(notebook, folder / f"{lesson}.ipynb")
        results = autograde(folder.parents[1], Path(tmp) / "work", solutions=lessons,
                            feedback=False, progress=False, jobs=1, limits=limits, only=[lesson])
        grade = results.grades["you", lesson]
        graded = results.workdir / "autograded" / "you" / lesson / f"{lesson}.ipynb"
        messages = _failure_messages(_read(graded)) if graded.is_file() else {}
    scores = results.cell_scores.get(("you", lesson), {})
    return grade, [TestResult(name, score, top, messages.get(name, "") if score < top else "")
                   for name, (score, top) in scores.items()]


def lesson_of(notebook: Path, lessons: Path = LESSONS) -> str:
    """The lesson a student's notebook belongs to, from its file name or its folder's name."""
    names = lesson_names(lessons)
    for candidate in (notebook.stem, notebook.resolve().parent.name):
        if candidate in names:
            return candidate
    raise ValueError(f"cannot tell which lesson {notebook} is: name it NN_name.ipynb "
                     f"(one of {', '.join(names)}) or keep it in a folder of that name")


def _failure_messages(nb: dict) -> dict[str, str]:
    """The first line of each failing test cell's error (or why it scored 0), by grade_id."""
    messages = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                messages[meta["grade_id"]] = (f"{out.get('ename', '')}: {out.get('evalue', '')}"
                                              .strip(": "))
                break
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                messages.setdefault(meta["grade_id"], "the cell wrote to stderr")
    return {name: (text.strip().splitlines() or [""])[0][:600] for name, text in messages.items()}
