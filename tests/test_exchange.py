"""The exchange round trip with nbgrader's own commands and our grader as the engine.

An instructor releases lesson 01 to a temporary exchange; three students, each with a home of
their own, fetch it and submit with ``nbgrader`` (carol twice: her later submission is the one
graded); after the due date has passed, bob submits. The instructor collects, autogrades with
``python -m grader`` (parallel, sandboxed), releases the feedback, and the students fetch it.
Every command runs from a copy of the course folder, so it reads ``nbgrader_config.py`` as it
would in a course.
"""

from __future__ import annotations

import csv
import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import course

LESSON = "01_least_squares"
NOTEBOOK = f"{LESSON}.ipynb"
SAMPLE = course.EXAMPLES


def nbgrader(cwd: Path, env: dict, *args: str) -> str:
    """Run an nbgrader command as a person would, from ``cwd``; its output and log on success."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("exchange")
    course_dir = root / "course"
    course_dir.mkdir()
    shutil.copy(course.REPO / "nbgrader_config.py", course_dir)
    for folder in ("solutions", "lessons"):
        shutil.copytree(course.REPO / folder / LESSON, course_dir / folder / LESSON)
    # The venv's bin first, as when it is activated: nbgrader runs its `alembic` from PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    instructor = {**os.environ, "PATH": path, "HOME": str(root / "instructor"),
                  "MINNAS_GRADING_DIR": str(root / "grading"),
                  "MINNAS_EXCHANGE_DIR": str(root / "exchange")}

    def student(name: str) -> dict:
        return {**instructor, "HOME": str(root / "home" / name),
                "MINNAS_GRADING_DIR": str(root / "home" / name)}

    def hand_in(name: str, sample: str) -> str:
        shutil.copy(SAMPLE / sample / LESSON / NOTEBOOK,
                    root / "students" / name / LESSON / NOTEBOOK)
        log = nbgrader(course_dir, student(name), "submit", LESSON, f"--student={name}",
                       f"--Exchange.assignment_dir={root / 'students' / name}")
        return log.split("Submitted as: ")[-1].split(LESSON)[-1].strip()

    nbgrader(course_dir, instructor, "release_assignment", LESSON)
    for name in ("alice", "bob", "carol"):
        (root / "students" / name).mkdir(parents=True)
        nbgrader(course_dir, student(name), "fetch_assignment", LESSON,
                 f"--Exchange.assignment_dir={root / 'students' / name}")
    stamps = {"carol (first)": hand_in("carol", "partial"), "carol": hand_in("carol", "perfect"),
              "alice": hand_in("alice", "perfect")}
    due = datetime.datetime.now(datetime.UTC)
    nbgrader(course_dir, instructor, "db", "assignment", "add", LESSON,
             f"--duedate={due:%Y-%m-%d %H:%M:%S.%f} UTC")
    stamps["bob"] = hand_in("bob", "perfect")
    nbgrader(course_dir, instructor, "collect", LESSON)

    graded = subprocess.run([sys.executable, "-m", "grader", "autograde", "--lesson", LESSON],
                            cwd=course_dir, env=instructor, capture_output=True, text=True,
                            timeout=600)
    nbgrader(course_dir, instructor, "release_feedback", LESSON)
    for name in ("alice", "bob", "carol"):
        nbgrader(course_dir, student(name), "fetch_feedback", LESSON, f"--student={name}",
                 f"--Exchange.assignment_dir={root / 'students' / name}")
    return {"root": root, "grading": root / "grading", "graded": graded, "stamps": stamps,
            "due": due}


def rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_autograde_grades_what_was_collected(round_trip):
    graded = round_trip["graded"]
    assert graded.returncode == 0, (
        f"autograde of the collected submissions failed:\n{graded.stdout}\n{graded.stderr}")
    grades = {r["student"]: r for r in rows(round_trip["grading"] / "grades.csv")}
    assert set(grades) == {"alice", "bob", "carol"}, (
        f"expected the three students, got {sorted(grades)}")
    assert all(r["status"] == "graded" for r in grades.values()), grades


def test_the_later_submission_is_graded(round_trip):
    carol = {r["student"]: r for r in rows(round_trip["grading"] / "grades.csv")}["carol"]
    stamps = round_trip["stamps"]
    assert carol["submitted_at"].replace("T", " ") in stamps["carol"], (
        f"carol's graded submission should be her second ({stamps['carol']}), got "
        f"{carol['submitted_at']}")
    assert float(carol["score"]) == 10, (
        f"carol's second (perfect) submission scores 10, got {carol['score']}")


def test_a_late_submission_loses_the_configured_penalty(round_trip):
    grades = {r["student"]: r for r in rows(round_trip["grading"] / "grades.csv")}
    # nbgrader_config.py: 10 % of the score for each day or part of one
    assert float(grades["bob"]["late_penalty"]) == pytest.approx(1.0), (
        f"bob was late: {grades['bob']}")
    assert float(grades["bob"]["score"]) == pytest.approx(9.0), (
        f"bob's score after the penalty: {grades['bob']}")
    assert float(grades["alice"]["late_penalty"]) == 0 and float(grades["alice"]["score"]) == 10, (
        grades["alice"])


def test_canvas_export_applies_the_penalty_and_equals_grades_csv(round_trip):
    grades = {r["student"]: float(r["score"]) for r in rows(round_trip["grading"] / "grades.csv")}
    canvas = rows(round_trip["grading"] / "canvas_grades.csv")
    lesson_column = next(c for c in canvas[0] if c.startswith(LESSON))
    students = {r["SIS Login ID"]: r[lesson_column] for r in canvas if r["SIS Login ID"]}
    assert {name: float(score) for name, score in students.items()} == grades, (
        f"Canvas scores {students} differ from grades.csv {grades}")


def test_every_student_fetches_feedback_for_the_graded_submission(round_trip):
    root, stamps = round_trip["root"], round_trip["stamps"]
    for name in ("alice", "bob", "carol"):
        fetched = sorted((root / "students" / name / LESSON / "feedback").glob(f"*/{LESSON}.html"))
        assert [p.parent.name for p in fetched] == [stamps[name]], (
            f"{name} should fetch the feedback of the submission graded ({stamps[name]}), "
            f"got {fetched}")
        text = fetched[0].read_text(encoding="utf-8")
        assert "BEGIN HIDDEN TESTS" not in text, f"{name}'s feedback shows hidden tests"


def test_nbgrader_finds_the_course_and_its_grades(round_trip):
    """nbgrader's own commands, run from the course folder, read the gradebook the grader wrote."""
    env = {**os.environ,
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "MINNAS_GRADING_DIR": str(round_trip["grading"])}
    listing = nbgrader(round_trip["root"] / "course", env, "db", "assignment", "list")
    assert f"{LESSON} (due: " in listing, (
        f"nbgrader db assignment list should show {LESSON}:\n{listing}")
    students = nbgrader(round_trip["root"] / "course", env, "db", "student", "list")
    assert all(name in students for name in ("alice", "bob", "carol")), students


def test_a_forged_or_huge_timestamp_is_refused_cheaply(tmp_path):
    """timestamp.txt sits in the student's folder: a garbage or huge one must fail that
    submission with a reason (not be read whole, not be taken as 'on time')."""
    (tmp_path / "timestamp.txt").write_text("2026-12-07 10:00:00.5 UTC\n")
    assert course._timestamp(tmp_path) == datetime.datetime(2026, 12, 7, 10, 0, 0, 500000)
    (tmp_path / "timestamp.txt").write_text("not a time")
    with pytest.raises(ValueError, match="timestamp.txt is not a time"):
        course._timestamp(tmp_path)
    with (tmp_path / "timestamp.txt").open("w") as fh:  # 64 MiB, sparse: costs no disk
        fh.seek(64 * 2**20)
        fh.write("x")
    with pytest.raises(ValueError, match="timestamp.txt is not a time"):
        course._timestamp(tmp_path)
    (tmp_path / "timestamp.txt").unlink()
    assert course._timestamp(tmp_path) is None, "no timestamp.txt: no time (never late)"
