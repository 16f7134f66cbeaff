"""Grades as a learning-management system imports them: Canvas's gradebook CSV.

``write_canvas_csv(gradebook, path)`` writes, from nbgrader's gradebook, a file that Canvas's
Grades > Import accepts; ``nbgrader export`` writes the same file through
:class:`CanvasExportPlugin` (``c.ExportApp.plugin_class = "grader.export.CanvasExportPlugin"``
in ``nbgrader_config.py``, or ``--exporter=grader.export.CanvasExportPlugin``).

The file
--------
::

    Student,ID,SIS User ID,SIS Login ID,Section,01_least_squares,02_newton
    Points Possible,,,,,10,12
    "Lovelace, Ada",,,ada,,9.5,10.8
    "Turing, Alan",,,alan,,7,0

- Header: the student columns ``Student, ID, SIS User ID, SIS Login ID, Section`` in that order
  (as Canvas's own gradebook export writes them), then one column per lesson, in the order of
  the lesson names.
- ``Points Possible`` row: each lesson's maximum score (nbgrader's ``Assignment.max_score``).
  Canvas reads a row whose first cell contains "Points Possible" as the points of the
  assignment columns, not as a student; a column that creates a new assignment takes its points
  from it.
- One row per student of the gradebook. ``Student`` is "Last, First" (Canvas's sortable name)
  when the gradebook knows the names, else the nbgrader id. ``SIS Login ID`` is the nbgrader
  student id, which Canvas matches against the login (``unique_id``) of the course's students;
  ``ID`` (Canvas's numeric user id), ``SIS User ID`` and ``Section`` are blank unless a roster
  supplies them (below); a roster's values, its ``Student`` spelling included, take precedence.
- A lesson's cell: the submission's score minus its late penalty (nbgrader's
  ``SubmittedAssignment.score - SubmittedAssignment.late_submission_penalty``, at least 0, the
  grade Formgrader shows and nbgrader's own CSV export writes), rounded to 2 decimals and
  written without trailing zeros (``7``, ``6.3``, ``6.35``): Canvas shows and exports scores
  to two decimals, so more would be noise (``7.000000001``).
- A lesson the student did not submit: ``0`` by default, like nbgrader's CSV export, or blank
  (``missing="blank"``). A blank cell is no grade in Canvas: it leaves the assignment out of
  the student's Current Score (the total students see) and counts it as 0 only in the Final
  Score, so a blank would make a student who skipped a lesson look better than they are. Use
  blank for a lesson whose due date has not passed, or to leave grades entered by hand in
  Canvas (a paper submission) alone.
- UTF-8, comma-separated, quoted as RFC 4180 (Python's csv module). Text cells go through
  :func:`grader.report._csv_text` (nbgrader student ids are folder names students can choose):
  a value starting with ``= + - @`` gets a leading ``'`` so a spreadsheet shows it as text.

How Canvas matches rows and columns
-----------------------------------
- Students: first by ``ID``, then by ``SIS User ID``, then ``SIS Login ID``, and last by the
  name in ``Student`` (name or sortable name); a row that matches nobody is shown as an unknown
  student in Canvas's import preview, where it can be assigned by hand.
- Assignments: a header "Title (1234)" (how Canvas's export names a column: the title and the
  Canvas assignment id) updates assignment 1234; a header without an id updates the assignment
  with exactly that title, and otherwise creates a new assignment (Canvas asks to confirm it
  in the preview; courses with closed grading periods may forbid creating). Titles containing
  "Current Score", "Final Score", "Current Grade", "Override Score"... are read-only totals to
  Canvas and ignored. So without a roster the lesson columns update (or create) the Canvas
  assignments with the lessons' names; with a roster taken from a Canvas export, a lesson
  whose name is the title of an exported column gets that column's "Title (id)" header.

Roster (optional)
-----------------
:func:`read_roster` reads a CSV with a column holding the nbgrader student id (``key``, by
default ``SIS Login ID``) and any of ``Student, ID, SIS User ID, SIS Login ID, Section``: the
simplest roster is the gradebook CSV Canvas exports (Grades > Export), whose assignment headers
"Title (id)" also give each lesson's Canvas column. With the plugin:
``c.CanvasExportPlugin.roster = "canvas_export.csv"`` (and ``roster_key`` when the nbgrader id is
another column).

Sources
-------
- Instructure, "How do I import grades in the Gradebook?" (Instructor Guide):
  https://community.instructure.com/en/kb/articles/660862-how-do-i-import-grades-in-the-gradebook
  (formerly
  https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807);
  the required columns as summarised by Ohio State's guide,
  https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades
  (Student name / ID / SIS User ID, SIS Login ID, Section, then the assignments; new assignment
  columns create assignments; an imported score overwrites the one in Canvas).
- Canvas's importer itself, ``app/models/gradebook_importer.rb`` in
  https://github.com/instructure/canvas-lms (header check: first cell "Student", second "ID",
  last student column "Section"; the "Points Possible" row; student matching by ID, SIS User
  ID, SIS Login ID, then name; ``Assignment.title_and_id`` for "Title (id)" headers; the
  read-only total columns; scores compared at 2 decimals "which is also the maximum level of
  precision shown in the gradebook").
- Current and Final Score (blank = ungraded): Canvas's export notes, e.g.
  https://ts.vcu.edu/askit/teaching-and-learning/canvas/faculty/grading-faculty/gradebook-action-menu-faculty/
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from nbgrader.api import Gradebook
from nbgrader.plugins import ExportPlugin
from traitlets import Bool, Enum, Unicode

# The one spreadsheet-safe writer of the project: no control characters, formulas shown as text.
from grader.report import _csv_text

STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_POSSIBLE = "Points Possible"
DEFAULT_FILE = "canvas_grades.csv"
_log = logging.getLogger(__name__)

# How Canvas names an existing assignment's column: its title, a space and its id in parentheses
# (Assignment.title_and_id in canvas-lms).
_TITLE_AND_ID = re.compile(r"\A(.*)\s\((\d+)\)\Z", re.DOTALL)


@dataclass
class Roster:
    """What Canvas knows about the course that the gradebook does not.

    Attributes
    ----------
    students : dict of str to dict of str to str
        nbgrader student id -> the non-blank ``Student``, ``ID``, ``SIS User ID``,
        ``SIS Login ID`` and ``Section`` values of that student's row.
    columns : dict of str to str
        Assignment title -> Canvas's header for it, "Title (id)", from a Canvas export.
    """

    students: dict[str, dict[str, str]] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)


def read_roster(path: str | Path, key: str = "SIS Login ID") -> Roster:
    """Read the Canvas identities of the students from a CSV, e.g. Canvas's gradebook export.

    Parameters
    ----------
    path : str or Path
        A UTF-8 CSV (a byte-order mark is fine) with a header row.
    key : str, optional
        The column that holds the nbgrader student id (default ``SIS Login ID``).

    Returns
    -------
    Roster
        The students by nbgrader id, and the "Title (id)" headers by title. Rows with a blank
        ``key`` (Canvas's "Points Possible" row, its test student) are skipped.

    Raises
    ------
    ValueError
        When the file has no ``key`` column, or two rows share an id.
    """
    roster = Roster()
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        if key not in header:
            raise ValueError(f"roster {path}: no column {key!r} with the nbgrader student ids "
                             f"(columns: {header})")
        reader.fieldnames = header
        for name in header:
            if (m := _TITLE_AND_ID.match(name)) and name not in STUDENT_COLUMNS:
                roster.columns.setdefault(m.group(1), name)
        for row in reader:
            student_id = (row.get(key) or "").strip()
            if not student_id or POINTS_POSSIBLE in (row.get("Student") or ""):
                continue
            if student_id in roster.students:
                raise ValueError(f"roster {path}: student {student_id!r} appears twice in "
                                 f"column {key!r}")
            roster.students[student_id] = {c: v.strip() for c in STUDENT_COLUMNS
                                           if (v := row.get(c) or "").strip()}
    return roster


def _points(value: float) -> str:
    """``value`` rounded to 2 decimals, without trailing zeros: ``7``, ``6.3``, ``6.35``."""
    return f"{max(0.0, value) + 0.0:.2f}".rstrip("0").rstrip(".")  # + 0.0: no "-0"


def _display_name(student) -> str:
    """``Last, First`` when the gradebook has names, one of them when it has one, else the id."""
    last, first = (student.last_name or "").strip(), (student.first_name or "").strip()
    return ", ".join(n for n in (last, first) if n) or student.id


def _chosen(requested: Iterable[str] | None, known: list[str], what: str) -> list[str]:
    """``known`` sorted, or only ``requested`` ones; an unknown name is an error (a typo would
    otherwise silently leave a lesson or a student out of the file)."""
    if requested is None or not (requested := [str(r) for r in requested]):
        return sorted(known)
    unknown = sorted(set(requested) - set(known))
    if unknown:
        raise ValueError(f"no {what} {', '.join(map(repr, unknown))} in the gradebook")
    return sorted(set(requested))


def write_canvas_csv(gradebook: Gradebook, path: str | Path,
                     assignments: Iterable[str] | None = None,
                     students: Iterable[str] | None = None,
                     roster: Roster | str | Path | None = None,
                     missing: Literal["zero", "blank"] = "zero", points_possible: bool = True,
                     log: logging.Logger | logging.LoggerAdapter | None = None) -> Path:
    """Write the grades of ``gradebook`` as a CSV that Canvas's gradebook import accepts.

    Parameters
    ----------
    gradebook : nbgrader.api.Gradebook
        An open gradebook (``with Gradebook(db_url) as gb:``).
    path : str or Path
        The file to write (replaced if it exists); its folder must exist.
    assignments : iterable of str, optional
        Only these lessons (nbgrader assignment names); all by default. Columns are in the order
        of the names either way.
    students : iterable of str, optional
        Only these nbgrader student ids; all students of the gradebook by default.
    roster : Roster, str or Path, optional
        Canvas identities (:func:`read_roster`, or the path of a CSV for it with the default
        key); without one ``ID``, ``SIS User ID`` and ``Section`` stay blank.
    missing : {"zero", "blank"}, optional
        What a lesson the student did not submit gets: ``0`` (default) or a blank cell.
    points_possible : bool, optional
        Write the "Points Possible" row after the header (default True).
    log : logging.Logger, optional
        Where to warn about scores still waiting for manual grading and students missing from
        the roster; this module's logger by default.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        When ``assignments`` or ``students`` names one the gradebook does not have, or
        ``missing`` is neither "zero" nor "blank".
    """
    if missing not in ("zero", "blank"):
        raise ValueError(f"missing must be 'zero' or 'blank', not {missing!r}")
    log = log or _log
    if roster is not None and not isinstance(roster, Roster):
        roster = read_roster(roster)
    roster = roster or Roster()

    lessons = _chosen(assignments, [a.name for a in gradebook.assignments], "lesson")
    by_id = {s.id: s for s in gradebook.students}
    student_ids = _chosen(students, list(by_id), "student")

    header = list(STUDENT_COLUMNS)
    max_scores = []
    # (lesson, student id) -> the submission; one query per lesson rather than per cell.
    submitted = {}
    for lesson in lessons:
        assignment = gradebook.find_assignment(lesson)
        header.append(roster.columns.get(lesson, lesson))
        max_scores.append(_points(assignment.max_score or 0.0))
        for submission in assignment.submissions:
            submitted[lesson, submission.student_id] = submission

    rows = []
    for student_id in student_ids:
        canvas = roster.students.get(student_id, {})
        if roster.students and not canvas:
            log.warning("Canvas export: %r is not in the roster; Canvas will match on SIS Login ID "
                        "and name only",
                        student_id)
        identity = {"Student": _display_name(by_id[student_id]), "SIS Login ID": student_id,
                    **canvas}
        row = [identity.get(c, "") for c in STUDENT_COLUMNS]
        for lesson in lessons:
            submission = submitted.get((lesson, student_id))
            if submission is None:
                row.append("0" if missing == "zero" else "")
                continue
            if submission.needs_manual_grade:
                log.warning("Canvas export: %s of %r still needs manual grading; its score "
                            "is incomplete", lesson, student_id)
            row.append(_points((submission.score or 0.0)
                               - (submission.late_submission_penalty or 0.0)))
        rows.append(row)
    # Sorted as people read a class list; the id breaks ties between namesakes.
    rows.sort(key=lambda r: (r[0].casefold(), r[3]))

    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([_csv_text(h) for h in header])
        if points_possible:
            writer.writerow([POINTS_POSSIBLE, *[""] * (len(STUDENT_COLUMNS) - 1), *max_scores])
        for row in rows:
            writer.writerow([_csv_text(c) for c in row])
    return path


class CanvasExportPlugin(ExportPlugin):
    """``nbgrader export`` plugin writing Canvas's gradebook CSV (:func:`write_canvas_csv`).

    Uses nbgrader's ``--to`` (default ``canvas_grades.csv``), ``--assignment`` and ``--student``
    (``ExportPlugin.to``, ``.assignment``, ``.student``), plus the settings below, e.g.
    ``c.CanvasExportPlugin.roster = "canvas_export.csv"`` in ``nbgrader_config.py``.
    """

    roster = Unicode("", help="CSV with the students' Canvas ids and sections (e.g. Canvas's "
                              "gradebook export); empty for none.").tag(config=True)
    roster_key = Unicode("SIS Login ID", help="The roster column that holds the "
                                              "nbgrader student id.").tag(config=True)
    missing = Enum(("zero", "blank"), default_value="zero",
                   help="A lesson not submitted: 0, or a blank cell (no grade in Canvas)."
                   ).tag(config=True)
    points_possible = Bool(True, help="Write Canvas's 'Points Possible' row (each lesson's "
                                      "maximum score).").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        """Write the grades of ``gradebook`` to ``self.to`` or ``canvas_grades.csv``.

        Parameters
        ----------
        gradebook : nbgrader.api.Gradebook
            The open gradebook, as ``nbgrader export`` passes it.
        """
        dest = self.to or DEFAULT_FILE
        roster = read_roster(self.roster, self.roster_key) if self.roster else None
        self.log.info("Exporting Canvas grades to %s", dest)
        if self.assignment:
            self.log.info("Exporting only lessons: %s", self.assignment)
        if self.student:
            self.log.info("Exporting only students: %s", self.student)
        write_canvas_csv(gradebook, dest, assignments=self.assignment or None,
                         students=self.student or None,
                         roster=roster, missing=self.missing, points_possible=self.points_possible,
                         log=self.log)


__all__ = ["CanvasExportPlugin", "Roster", "read_roster", "write_canvas_csv"]
