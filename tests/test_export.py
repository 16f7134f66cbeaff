"""Late penalties (grader.late) and the Canvas gradebook CSV (grader.export), on a small gradebook
built with nbgrader's API: no kernels, no notebooks executed.

The course: two lessons, ``01_least_squares`` (one notebook, 4 + 6 points) and ``02_newton``
(two notebooks, 5 + 3 and 4 points); Ada submits everything in time, Alan submits
``02_newton`` a day and a half late, Grace never submits ``02_newton``, and a student whose id
is a spreadsheet formula submits nothing.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.preprocessors import AssignLatePenalties
from traitlets import TraitError
from traitlets.config import Config, PyFileConfigLoader
from traitlets.utils.importstring import import_item

from grader.export import (
    POINTS_POSSIBLE,
    STUDENT_COLUMNS,
    CanvasExportPlugin,
    read_roster,
    write_canvas_csv,
)
from grader.late import PerDayPenalty

# nbgrader 0.9's add_submission trips SQLAlchemy's autoflush warnings; they are
# nbgrader's, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

ROOT = Path(__file__).resolve().parents[1]
COURSE = "minnas"
DAY = 24 * 3600
DUE = {"01_least_squares": datetime(2027, 1, 15, 23, 59),
       "02_newton": datetime(2027, 1, 22, 23, 59)}
# lesson -> notebook -> {grade cell: max score}
CELLS = {"01_least_squares": {"least_squares": {"ex1": 4.0, "ex2": 6.0}},
         "02_newton": {"newton": {"ex1": 5.0, "ex2": 3.0}, "newton_extra": {"ex1": 4.0}}}
MAX = {"01_least_squares": 10.0, "02_newton": 12.0}
HOSTILE = "=1+1"
# student -> lesson -> (seconds after the due date, {notebook: {cell: score}})
SUBMISSIONS = {
    "ada": {"01_least_squares": (-3600, {"least_squares": {"ex1": 4 / 3, "ex2": 6.0}}),  # 7.333...
            "02_newton": (-60, {"newton": {"ex1": 5.0, "ex2": 3.0}, "newton_extra": {"ex1": 4.0}})},
    # alan's first lesson: on the dot, so in time
    "alan": {"01_least_squares": (0, {"least_squares": {"ex1": 1.0, "ex2": 6.0}}),
             "02_newton": (1.5 * DAY,
                           {"newton": {"ex1": 3.5, "ex2": 3.0}, "newton_extra": {"ex1": 3.0}})},
    # grace's total is 0.30000000000000004 in floating point
    "grace": {"01_least_squares": (-DAY, {"least_squares": {"ex1": 0.1, "ex2": 0.2}})},
}
NAMES = {"ada": ("Ada", "Lovelace"), "alan": ("Alan", "Turing"), "grace": (None, None),
         HOSTILE: (None, None)}
# Alan's 02_newton: 6.5 and 3 points, 1.5 days late = 2 days at 10 % = 20 % off each notebook.
ALAN_PENALTY = {"newton": 1.3, "newton_extra": 0.6}


def _build(db: Path) -> str:
    """A gradebook at ``db`` with the course above, graded but without late penalties; its URL."""
    url = f"sqlite:///{db}"
    with Gradebook(url, COURSE) as gb:
        for lesson, notebooks in CELLS.items():
            gb.add_assignment(lesson, duedate=DUE[lesson])
            for notebook, cells in notebooks.items():
                gb.add_notebook(notebook, lesson)
                for cell, points in cells.items():
                    gb.add_grade_cell(cell, notebook, lesson, max_score=points, cell_type="code")
        for student, (first, last) in NAMES.items():
            gb.add_student(student, first_name=first, last_name=last)
        for student, lessons in SUBMISSIONS.items():
            for lesson, (late_s, scores) in lessons.items():
                gb.add_submission(lesson, student,
                                  timestamp=DUE[lesson] + timedelta(seconds=late_s))
                for notebook, cells in scores.items():
                    for cell, score in cells.items():
                        grade = gb.find_grade(cell, notebook, lesson, student)
                        grade.auto_score, grade.needs_manual_grade = score, False
        gb.db.commit()
    return url


def _assign_penalties(url: str, student: str, lesson: str, config: Config | None = None) -> None:
    """Run nbgrader's AssignLatePenalties on every notebook of one submission, as autograde does
    (the course's settings unless ``config`` is given)."""
    if config is None:
        config = Config()
        # as in nbgrader_config.py
        config.AssignLatePenalties.plugin_class = "grader.late.PerDayPenalty"
        config.PerDayPenalty.percent_per_day = 10
        config.PerDayPenalty.max_percent = 100
    for notebook in CELLS[lesson]:
        resources = {"nbgrader": {"notebook": notebook, "assignment": lesson, "student": student,
                                  "db_url": url}}
        AssignLatePenalties(config=config).preprocess(nbformat.v4.new_notebook(), resources)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The course's gradebook file before the penalty step (built once: a few seconds)."""
    db = tmp_path_factory.mktemp("built") / "gradebook.db"
    _build(db)
    return db


def _copy(db: Path, folder: Path) -> str:
    """A copy of the gradebook file ``db`` in ``folder``; its URL."""
    copy = folder / "gradebook.db"
    shutil.copyfile(db, copy)
    return f"sqlite:///{copy}"


@pytest.fixture(scope="module")
def graded(built: Path, tmp_path_factory) -> str:
    """The course's gradebook after autograde's penalty step for every submission."""
    url = _copy(built, tmp_path_factory.mktemp("graded"))
    for student, lessons in SUBMISSIONS.items():
        for lesson in lessons:
            _assign_penalties(url, student, lesson)
    return url


def _read(path: Path) -> tuple[list[str], dict[str, str], dict[str, dict[str, str]]]:
    """The header, the Points Possible row and the student rows by SIS Login ID of a Canvas CSV."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert rows and rows[0]["Student"] == POINTS_POSSIBLE, (
        f"first row is not Canvas's Points Possible row: {rows[:1]}")
    return list(reader.fieldnames), rows[0], {r["SIS Login ID"]: r for r in rows[1:]}


def _expected(url: str) -> dict[tuple[str, str], float]:
    """(student, lesson) -> score minus late penalty, straight from the gradebook."""
    with Gradebook(url, COURSE) as gb:
        return {(s.student_id, a.name): s.score - s.late_submission_penalty
                for a in gb.assignments for s in a.submissions}


# --- PerDayPenalty ---------------------------------------------------------------------------

@pytest.mark.parametrize("seconds, penalty", [
    (0, 0.0),  # in time
    (-5, 0.0),  # early
    (1, 0.8),  # one second is a started day: 10 % of 8
    (DAY, 0.8),  # exactly one day
    (DAY + 1, 1.6),  # into the second day
    (1.5 * DAY, 1.6),
    (9.5 * DAY, 8.0),  # 10 days * 10 % = 100 %
    (20 * DAY, 8.0),  # 200 % capped at 100 %: never more than the score
])
def test_penalty_per_started_day(seconds: float, penalty: float) -> None:
    got = PerDayPenalty().late_submission_penalty("ada", 8.0, seconds)
    assert got == pytest.approx(penalty), (
        f"{seconds} s late on 8 points: expected {penalty} off, got {got}")
    assert isinstance(got, float), (
        f"the penalty must be a number (0.0, not None, when in time), got {got!r}")


def test_penalty_settings_are_respected() -> None:
    assert PerDayPenalty(percent_per_day=5).late_submission_penalty("a", 8.0, 1.5 * DAY) \
        == pytest.approx(0.8), "5 % a day for 2 started days of 8 points is 0.8"
    assert PerDayPenalty(max_percent=50).late_submission_penalty("a", 8.0, 20 * DAY) \
        == pytest.approx(4.0), "a 50 % cap leaves half of 8 points after 20 days"
    assert PerDayPenalty(percent_per_day=0).late_submission_penalty("a", 8.0, 20 * DAY) == 0.0, \
        "0 % a day takes nothing off"
    c = Config()  # as nbgrader_config.py sets them
    c.PerDayPenalty.percent_per_day, c.PerDayPenalty.max_percent = 25, 60
    policy = PerDayPenalty(config=c)
    assert (policy.percent_per_day, policy.max_percent) == (25, 60), (
        "the config file's values must be used")
    assert policy.late_submission_penalty("a", 10.0, 3 * DAY) == pytest.approx(6.0), (
        "75 % capped at 60 % of 10")


@pytest.mark.parametrize("settings", [
    {"percent_per_day": -1}, {"max_percent": -0.5}, {"max_percent": 101},
    {"percent_per_day": math.nan}, {"max_percent": math.nan}, {"percent_per_day": math.inf},
])
def test_penalty_rejects_bad_settings(settings: dict) -> None:
    with pytest.raises(TraitError):
        PerDayPenalty(**settings)
    c = Config()
    for name, value in settings.items():
        setattr(c.PerDayPenalty, name, value)
    with pytest.raises(TraitError):
        PerDayPenalty(config=c)
    policy = PerDayPenalty()
    with pytest.raises(TraitError):
        for name, value in settings.items():
            setattr(policy, name, value)
    assert (policy.percent_per_day, policy.max_percent) == (10, 100), (
        "a rejected value must not stick")


def test_course_config_names_these_classes() -> None:
    """nbgrader_config.py at the root names importable classes and valid settings."""
    loader = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT))
    c = loader.load_config()
    assert import_item(c.AssignLatePenalties.plugin_class) is PerDayPenalty, (
        "AssignLatePenalties.plugin_class")
    assert import_item(c.ExportApp.plugin_class) is CanvasExportPlugin, "ExportApp.plugin_class"
    policy = PerDayPenalty(config=c)
    assert 0 <= policy.max_percent <= 100 and policy.percent_per_day >= 0, (
        "the course's settings must be valid")


def test_penalty_lands_in_gradebook_through_nbgrader(built: Path, tmp_path: Path) -> None:
    """nbgrader's own AssignLatePenalties calls the plugin named by its config and stores the
    penalty per notebook; the submission's penalty is their sum."""
    url = _copy(built, tmp_path)
    with Gradebook(url, COURSE) as gb:
        before = gb.find_submission("02_newton", "alan").late_submission_penalty
    assert before == 0, f"no penalty before the preprocessor runs, got {before}"
    _assign_penalties(url, "alan", "02_newton")
    _assign_penalties(url, "ada", "02_newton")
    with Gradebook(url, COURSE) as gb:
        for notebook, penalty in ALAN_PENALTY.items():
            got = gb.find_submission_notebook(notebook, "02_newton", "alan").late_submission_penalty
            assert got == pytest.approx(penalty), (
                f"Alan's {notebook}: expected {penalty} off, gradebook has {got}")
        alan = gb.find_submission("02_newton", "alan")
        assert alan.score == pytest.approx(9.5), f"nbgrader keeps the raw score, got {alan.score}"
        assert alan.late_submission_penalty == pytest.approx(1.9), \
            f"the submission's penalty is the notebooks' sum, got {alan.late_submission_penalty}"
        ada = gb.find_submission("02_newton", "ada")
        assert ada.late_submission_penalty == 0, (
            f"Ada was in time, got {ada.late_submission_penalty} off")


# --- Canvas CSV ------------------------------------------------------------------------------

def test_canvas_csv_layout_and_scores(graded: str, tmp_path: Path) -> None:
    with Gradebook(graded, COURSE) as gb:
        path = write_canvas_csv(gb, tmp_path / "canvas.csv")
    header, points, rows = _read(path)
    lessons = sorted(CELLS)
    assert header == [*STUDENT_COLUMNS, *lessons], (
        f"header must be Canvas's student columns then the lessons: {header}")
    assert [points[lesson] for lesson in lessons] == ["10", "12"], f"Points Possible row: {points}"
    assert all(points[c] == "" for c in STUDENT_COLUMNS[1:]), (
        f"Points Possible has no identity: {points}")
    assert sorted(rows) == sorted(["ada", "alan", "grace", "'" + HOSTILE]), (
        f"one row per student: {sorted(rows)}")

    expected = _expected(graded)
    for student in SUBMISSIONS:
        for lesson in lessons:
            cell = rows[student][lesson]
            want = expected.get((student, lesson), 0.0)
            assert float(cell) == pytest.approx(round(want, 2), abs=1e-9), (
                f"{student}/{lesson}: {cell} != {want}")
            assert len(cell.partition(".")[2]) <= 2, f"{student}/{lesson}: {cell} has float noise"
    assert rows["ada"]["01_least_squares"] == "7.33", f"4/3 + 6 rounds to 7.33: {rows['ada']}"
    assert rows["grace"]["01_least_squares"] == "0.3", f"0.1 + 0.2 is written 0.3: {rows['grace']}"
    assert rows["ada"]["02_newton"] == "12", f"a whole score has no decimals: {rows['ada']}"
    raw = sum(sum(c.values()) for c in SUBMISSIONS["alan"]["02_newton"][1].values())
    assert float(rows["alan"]["02_newton"]) == pytest.approx(raw - sum(ALAN_PENALTY.values())), \
        f"Alan's late lesson must lose 20 % of each notebook ({raw} - 1.9): {rows['alan']}"
    assert rows["alan"]["01_least_squares"] == "7", (
        f"a submission at the due date is not late: {rows['alan']}")
    assert rows["grace"]["02_newton"] == "0", (
        f"a lesson not submitted is 0 by default: {rows['grace']}")

    assert rows["ada"]["Student"] == "Lovelace, Ada", f"Canvas's sortable name: {rows['ada']}"
    assert rows["grace"]["Student"] == "grace", f"without names, the student id: {rows['grace']}"
    assert all(r["ID"] == r["SIS User ID"] == r["Section"] == "" for r in rows.values()), \
        "without a roster, Canvas ids and sections are unknown and left blank"
    hostile = rows["'" + HOSTILE]
    assert hostile["Student"] == "'" + HOSTILE, f"a formula-like id is written as text: {hostile}"


def test_canvas_csv_filters_missing_and_roster(graded: str, tmp_path: Path, caplog) -> None:
    roster = tmp_path / "canvas_export.csv"
    # as Canvas's export: a BOM, and a totals column
    with open(roster, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow([*STUDENT_COLUMNS, "02_newton (4321)", "Current Score"])
        w.writerow(["    Points Possible", "", "", "", "", "12", "(read only)"])
        w.writerow(["Lovelace, Ada", "101", "S-1", "ada", "Section A", "", "90"])
        w.writerow(["Turing, A.", "102", "S-2", "alan", "Section B", "", "80"])
        w.writerow(["Student, Test", "103", "", "", "Section A", "", ""])
    assert sorted(read_roster(roster).students) == ["ada", "alan"], (
        "the test student has no login and is skipped")

    with Gradebook(graded, COURSE) as gb:
        only = write_canvas_csv(gb, tmp_path / "only.csv", assignments=["02_newton"],
                                students=["alan", "grace"], missing="blank", points_possible=False)
        caplog.set_level("WARNING", logger="grader.export")
        full = write_canvas_csv(gb, tmp_path / "roster.csv", roster=roster)
        with pytest.raises(ValueError, match="03_typo"):
            write_canvas_csv(gb, tmp_path / "x.csv", assignments=["03_typo"])

    with open(only, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["SIS Login ID"] for r in rows] == ["grace", "alan"], \
        f"only the chosen students, by name ('grace' < 'Turing, Alan'), no Points Possible: {rows}"
    assert list(rows[0]) == [*STUDENT_COLUMNS, "02_newton"], (
        f"only the chosen lesson: {list(rows[0])}")
    assert rows[0]["02_newton"] == "", (
        f"missing='blank' leaves a lesson not submitted blank: {rows[0]}")
    assert rows[1]["02_newton"] == "7.6", f"a submitted lesson keeps its score: {rows[1]}"

    header, _, rows = _read(full)
    assert header[-1] == "02_newton (4321)", (
        f"a lesson exported by Canvas keeps its 'Title (id)' header: {header}")
    assert (rows["ada"]["ID"], rows["ada"]["SIS User ID"],
            rows["ada"]["Section"]) == ("101", "S-1", "Section A"), (
        f"the roster's Canvas identity must be written: {rows['ada']}")
    assert rows["alan"]["Student"] == "Turing, A.", (
        f"the roster's (Canvas's) name wins: {rows['alan']}")
    assert rows["grace"]["ID"] == "", (
        f"a student missing from the roster has no Canvas id: {rows['grace']}")
    assert any("'grace' is not in the roster" in r.getMessage() for r in caplog.records), (
        "a student missing from the roster must be reported: "
        f"{[r.getMessage() for r in caplog.records]}")


def test_nbgrader_export_uses_the_plugin(graded: str, tmp_path: Path) -> None:
    """``nbgrader export --exporter=grader.export.CanvasExportPlugin`` writes
    what write_canvas_csv does."""
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.db_url = {graded!r}\n"
        f"c.CourseDirectory.course_id = {COURSE!r}\n")
    with Gradebook(graded, COURSE) as gb:
        expected = write_canvas_csv(gb, tmp_path / "expected.csv").read_bytes()
    out = tmp_path / "nbgrader_export.csv"
    # No user or system Jupyter config may change the run.
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter"), "JUPYTER_CONFIG_PATH": ""}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export",
                           "--exporter=grader.export.CanvasExportPlugin",
                           f"--to={out}"], check=False, cwd=course, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"nbgrader export failed:\n{proc.stdout}\n{proc.stderr}"
    assert "Exporting Canvas grades" in proc.stderr + proc.stdout, (
        f"the Canvas plugin did not run:\n{proc.stderr}")
    assert out.read_bytes() == expected, (
        "nbgrader export must write the same file as write_canvas_csv")
