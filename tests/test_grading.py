"""Grading round trips with nbgrader: solutions score full marks, releases score zero, the sample
class scores what it should, and one broken submission never stops the others."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from grader import course, report
from grader.__main__ import main
from lesson_facts import cpu_budget, manual_points

LESSONS = course.lesson_names()

# Scores of the sample class in grader/examples/, lesson by lesson (see tests/make_examples.py).
# partial: one typical mistake per lesson loses that exercise's tests; broken: the first exercise
# cell raises, which costs its own tests only (later tests use references of their own).
EXPECTED_SCORES = {
    "perfect": {"01_least_squares": 10, "02_newton": 10, "03_entropy": 10,
                "04_hyperparameter_search": 14, "05_bayesian_optimization": 14,
                "06_warm_starting": 14, "07_darts": 14, "08_fbnet": 14, "09_mnasnet": 14,
                "10_once_for_all": 14, "11_meta_nas": 14},
    "partial": {"01_least_squares": 7, "02_newton": 8, "03_entropy": 9,
                "04_hyperparameter_search": 12, "05_bayesian_optimization": 11,
                "06_warm_starting": 12, "07_darts": 12, "08_fbnet": 13, "09_mnasnet": 12,
                "10_once_for_all": 11, "11_meta_nas": 10},
    "blank": {"01_least_squares": 0, "02_newton": 0, "03_entropy": 0,
              "04_hyperparameter_search": 0, "05_bayesian_optimization": 0,
              "06_warm_starting": 0, "07_darts": 0, "08_fbnet": 0, "09_mnasnet": 0,
              "10_once_for_all": 0, "11_meta_nas": 0},
    "broken": {"01_least_squares": 8, "02_newton": 7, "03_entropy": 7,
               "04_hyperparameter_search": 12, "05_bayesian_optimization": 12,
               "06_warm_starting": 13, "07_darts": 12, "08_fbnet": 13, "09_mnasnet": 10,
               "10_once_for_all": 11, "11_meta_nas": 11},
}
# Autograded points only: the reflection answers of perfect, partial and broken wait for a person.
EXPECTED_TOTALS = {"perfect": 142.0, "partial": 117.0, "blank": 0.0, "broken": 116.0}

# `graded`, the one autograde run of the class that the whole session shares, is in conftest.py.


def max_score(graded: course.ClassResults, lesson: str) -> float:
    return graded.grades["solution", lesson].max_score


@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_scores_full_marks(graded, lesson):
    """Every autograded point; the reflection answers wait for a person (nbgrader
    grades no prose)."""
    grade = graded.grades["solution", lesson]
    assert grade.status == "graded", grade.detail
    manual = manual_points(lesson)
    assert grade.max_score > manual > 0
    assert grade.score == grade.max_score - manual, (
        f"{lesson}: solution scored {grade.score}/{grade.max_score}")
    assert grade.pending == manual, (
        f"{lesson}: {grade.pending} manual points pending, expected {manual}")


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_scores_zero(graded, lesson):
    grade = graded.grades["release", lesson]
    assert grade.status == "graded", grade.detail
    assert grade.score == 0, f"{lesson}: the untouched release scored {grade.score}"
    assert grade.pending == 0, (
        f"{lesson}: untouched answers are nbgrader's zero, not pending ({grade.pending})")


@pytest.mark.parametrize("lesson", LESSONS)
def test_grading_keeps_the_lessons_cpu_budget(graded, lesson):
    """CPU seconds, not wall time: a busy machine stretches the second but not the first."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("the grader reads a kernel's CPU time from /proc, which this system lacks")
    budget = cpu_budget(lesson)[1]
    used = graded.grades["solution", lesson].kernel_cpu_s
    assert 0 < used <= budget, (
        f"{lesson}: grading the solution took {used:.1f} CPU-s, budget {budget}")


def test_sample_class_scores(graded):
    scores = {s: {lesson: graded.grades[s, lesson].score for lesson in LESSONS}
              for s in EXPECTED_SCORES}
    assert scores == EXPECTED_SCORES


def test_sample_class_totals(graded):
    totals = {s: graded.total(s) for s in EXPECTED_TOTALS}
    assert totals["perfect"] == (graded.max_total()
                                 - sum(manual_points(lesson) for lesson in LESSONS))
    assert totals == EXPECTED_TOTALS
    assert all(sum(EXPECTED_SCORES[s].values()) == EXPECTED_TOTALS[s] for s in EXPECTED_TOTALS)


def test_partial_and_broken_lose_points_in_every_lesson(graded):
    for student in ("partial", "broken"):
        for lesson in LESSONS:
            grade = graded.grades[student, lesson]
            assert grade.status == "graded"
            assert 0 < grade.score < grade.max_score, (
                f"{student}/{lesson}: {grade.score}/{grade.max_score}")


def test_a_corrupt_notebook_is_reported_and_the_rest_is_graded(graded):
    bad = graded.grades["corrupt", LESSONS[0]]
    assert bad.status == "failed" and bad.score == 0
    assert "JSON" in bad.detail, bad.detail
    assert sorted(g.student for g in graded.problems()) == ["corrupt", "renamed"]
    for lesson in LESSONS[1:]:
        assert graded.grades["corrupt", lesson].status == "missing"
    assert (graded.grades["perfect", LESSONS[0]].score
            == max_score(graded, LESSONS[0]) - manual_points(LESSONS[0]))


def test_a_renamed_notebook_is_reported_with_the_expected_name(graded):
    bad = graded.grades["renamed", LESSONS[0]]
    assert bad.status == "failed" and bad.score == 0
    assert f"no {LESSONS[0]}.ipynb" in bad.detail and "my_work.ipynb" in bad.detail, bad.detail


def test_grades_csv_has_a_row_per_student_and_lesson(graded):
    with graded.csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(graded.students) * len(LESSONS)
    by_key = {(r["student"], r["lesson"]): r for r in rows}
    for (student, lesson), grade in graded.grades.items():
        row = by_key[student, lesson]
        assert float(row["score"]) == grade.score and row["status"] == grade.status


def test_feedback_html_is_written_for_each_graded_submission(graded):
    for (student, lesson), grade in graded.grades.items():
        html = graded.feedback_dir / student / lesson / f"{lesson}.html"
        assert html.exists() == (grade.status == "graded"), html


def test_score_table_lists_every_student_with_the_total_and_integrity(graded):
    table = report.score_table(graded)
    for student in graded.students:
        line = next(line for line in table.splitlines() if line.startswith(student + " "))
        words = line.split()
        total = f"{graded.total(student):g}/{graded.max_total():g}"
        pending = f"{graded.pending(student):g}"
        if student in ("corrupt", "renamed"):
            assert words[-4:] == [total, pending, "1", "FAILED"], line
        else:
            assert words[-3:] == [total, pending, "ok"], line
    assert "corrupt/01_least_squares: failed: not a valid notebook: NotJSONError" in table


def test_the_sample_class_needs_no_attention_and_the_broken_ones_do(graded):
    assert sorted({g.student for g in graded.attention()}) == ["corrupt", "renamed"]


def test_report_files_are_written(graded):
    text = (graded.workdir / "report.md").read_text()
    assert "Needs attention: 2 submission(s)." in text and "grades_histogram.png" in text
    assert f"Manual grading: {graded.pending():g} points in " in text
    assert (graded.workdir / "grades_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (graded.workdir / "integrity.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["student"], r["kind"]) for r in rows} == {("corrupt", "failed"),
                                                         ("renamed", "failed")}


def test_exercise_summary_matches_the_grades(graded):
    rows = report.exercise_summary(graded)
    for lesson in LESSONS:
        total = next(r for r in rows if r["lesson"] == lesson and r["exercise"] == "(total)")
        scores = [g.score for g in graded.grades.values()
                  if g.lesson == lesson and g.status != "missing"]
        assert total["n"] == len(scores)
        assert total["mean"] == pytest.approx(sum(scores) / len(scores))
        assert total["full"] == pytest.approx(sum(s == total["max"] for s in scores) / len(scores))
        cells = [r for r in rows if r["lesson"] == lesson and r["exercise"] != "(total)"]
        # the exercises' means add up to the lesson's mean
        assert sum(r["mean"] for r in cells) == pytest.approx(total["mean"])


def test_autograde_rejects_a_missing_submissions_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        course.autograde(tmp_path / "nope", tmp_path / "work")
    assert main(["autograde", str(tmp_path / "nope"), "--workdir", str(tmp_path / "work")]) == 2


def test_release_check_passes_on_the_committed_lessons(capsys):
    assert main(["release", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_release_check_fails_on_a_stale_copy(tmp_path):
    lessons = tmp_path / "lessons"
    shutil.copytree(course.LESSONS, lessons)
    path = lessons / LESSONS[0] / f"{LESSONS[0]}.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][0]["source"] = ["An edit made by hand in lessons/ instead of solutions/."]
    path.write_text(json.dumps(nb))
    assert course.stale_lessons(lessons) == [LESSONS[0]]


def test_a_dask_cluster_grades_the_class_as_this_machine_does(graded, dask_cluster, tmp_path):
    """The sample class on a real scheduler and two workers: every grade, flag and feedback page
    as the in-process engine gave them (``graded``)."""
    results = course.autograde(course.EXAMPLES, tmp_path / "work", progress=False,
                               scheduler=dask_cluster.address)
    assert len(results.grades) == len(EXPECTED_SCORES) * len(LESSONS)
    for (student, lesson), grade in results.grades.items():
        local = graded.grades[student, lesson]
        assert (grade.status, grade.score, grade.pending, grade.flags) == (
            local.status, local.score, local.pending, local.flags), (student, lesson)
        if grade.status == "graded":
            assert (results.feedback_dir / student / lesson / f"{lesson}.html").is_file()
    assert results.isolation == graded.isolation
