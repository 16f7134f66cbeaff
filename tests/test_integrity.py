"""Integrity of grading: the static and structural checks on their own, then the adversarial
class in grader/examples/adversarial/ graded in one batch with good submissions."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader import course, sandbox
from grader.__main__ import main
from grader.execute import Limits
from grader.integrity import (FAILED, LIMIT, NOTE, RESTORED, SUSPICIOUS, LessonSpec, check_structure,
                              repair_cell_ids, scan_code, student_cells)
from grader.make_examples import ADVERSARIAL_KINDS, ADVERSARIAL_LESSON, adversarial

LESSONS = course.lesson_names()
L01 = ADVERSARIAL_LESSON


def spec_of(lesson: str) -> LessonSpec:
    return LessonSpec.from_notebooks(lesson, json.loads((course.LESSONS / lesson / f"{lesson}.ipynb").read_text()),
                                     json.loads((course.SOLUTIONS / lesson / f"{lesson}.ipynb").read_text()))


def sample(student: str, lesson: str = L01) -> nbformat.NotebookNode:
    return nbformat.read(course.EXAMPLES / student / lesson / f"{lesson}.ipynb", as_version=4)


# -- the checks on their own -----------------------------------------------------------------

@pytest.mark.parametrize("lesson", LESSONS)
def test_honest_submissions_raise_no_flag(lesson):
    spec = spec_of(lesson)
    for student in ("perfect", "partial", "blank", "broken"):
        nb = sample(student, lesson)
        assert check_structure(nb, spec) == []
        assert scan_code(student_cells(nb, spec), spec) == [], student


def test_the_spec_knows_what_the_tests_rely_on():
    spec = spec_of(L01)
    assert spec.exercises == {"normal_equations", "back_substitution", "qr_solve", "ridge", "gradient_descent"}
    assert spec.protected["np"] == "import numpy" and spec.protected["len"] == "builtin"
    assert not set(spec.protected) & spec.exercises


@pytest.mark.parametrize("code, expected", [
    ("len = lambda x: 3", "rebinds `len`"),
    ("import numpy.linalg as np", "rebinds `np`"),
    ("np.allclose = lambda *a, **k: True", "patches `np.allclose`, which the tests use"),
    ("setattr(np, 'isclose', lambda *a: True)", "patches `np` with setattr()"),
    ("import builtins\nbuiltins.len = None", "uses `builtins`"),
    ("!cat ../../solutions/01_least_squares/01_least_squares.ipynb", "path outside its folder"),
    ("open('/home/me/minnas-grading/gradebook.db').read()", "path outside its folder"),
    ("import minnas\nminnas.foundations.least_squares.ridge(1, 2, 3)", "calls the reference"),
    ("from minnas.foundations.least_squares import *", "imports the reference `*`"),
    ("import os\nos._exit(0)", "stops the kernel with `os._exit()`"),
    ("import sys\nsys.exit()", "stops the kernel with `sys.exit()`"),
    ("raise SystemExit", "stops the kernel with `raise SystemExit`"),
    ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)", "changes how the kernel is interrupted"),
])
def test_scan_code_flags(code, expected):
    flags = scan_code([("ridge", code)], spec_of(L01))
    assert any(f.kind == SUSPICIOUS and expected in f.message for f in flags), flags


@pytest.mark.parametrize("code", [
    "import numpy as np\ndef ridge(X, y, lam):\n    n = len(y)\n    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)",
    "from minnas.foundations.least_squares import polynomial_features",
    "x = [i for i in range(3)]\nlen(x)",
    "def f():\n    len = 3\n    return len",
    "this is not python (",
    "import numpy.linalg\nnp.random.seed(3)",   # binds `np`? no: `numpy`; and calls are fine
    "import torch.nn\n[len for len in range(3)]",   # the same `torch`; a comprehension's own scope
    "import numpy as np\nnp.set_printoptions(precision=3)\nnp.random.custom = 1",  # not what the tests use
])
def test_scan_code_leaves_honest_code_alone(code):
    assert scan_code([("ridge", code)], spec_of(L01)) == []


def test_structure_finds_edits_deletions_duplicates_and_ids():
    spec = spec_of(L01)
    nb = sample("perfect")
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_ridge")
    test.source = "assert True"
    test.metadata.nbgrader["points"] = 100
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_qr_solve"]
    i = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "ridge")
    nb.cells.insert(i, nbformat.from_dict(json.loads(json.dumps(nb.cells[i]))))
    flags = {(f.cell, f.message) for f in check_structure(nb, spec)}
    assert ("test_qr_solve", "deleted locked cell re-added from the release") in flags
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells].index("test_qr_solve") == \
        [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells].index("test_back_substitution") + 1
    assert ("test_ridge", "points changed from 2 to 100; locked cell edited: restored from the release") in flags
    assert any(cell == "ridge" and "duplicated (2 copies)" in m for cell, m in flags)
    assert ("", "1 missing, invalid or duplicated cell id(s) replaced") in flags
    # the earlier copy of the duplicate is now ordinary code; ids are unique again
    assert sum(c.metadata.get("nbgrader", {}).get("grade_id") == "ridge" for c in nb.cells) == 1
    assert len({c.id for c in nb.cells}) == len(nb.cells)


def test_deleted_setup_and_answer_cells_are_put_back_in_place():
    spec = spec_of(L01)
    nb = sample("perfect")
    gone = {"setup", "ridge", "test_ridge"}  # a test together with the cell before it
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in gone]
    flags = check_structure(nb, spec)
    assert {f.cell for f in flags if "re-added" in f.message} == gone
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert [i for i in ids if i] == spec.order


def test_repair_cell_ids_is_deterministic():
    nb = sample("perfect")
    nb.cells[1]["id"] = nb.cells[2]["id"] = "same"
    nb.cells[3]["id"] = "not valid!"
    other = nbformat.from_dict(json.loads(json.dumps(nb)))
    assert repair_cell_ids(nb) and repair_cell_ids(other)
    assert [c.id for c in nb.cells] == [c.id for c in other.cells]
    assert repair_cell_ids(nb) == []


def test_adversarial_class_on_disk_matches_the_generator():
    for kind in ADVERSARIAL_KINDS:
        if kind == "wrong_folder":
            assert (course.ADVERSARIAL / kind / f"{L01}.ipynb").is_file()
            continue
        name, content = adversarial(kind)
        text = content if isinstance(content, str) else nbformat.writes(content)
        assert (course.ADVERSARIAL / kind / L01 / name).read_text().strip() == text.strip(), kind


# -- the adversarial class, graded ------------------------------------------------------------

ISOLATED = sandbox.namespaces_available()[0]
LIMITS = Limits(cell_s=10, notebook_s=60, memory_bytes=4 * 2**30)

# kind: (score, status, {flag kinds}, words in one of the flags). Scores out of 10; partial = 7.
EXPECTED = {
    "infinite_loop": (8, "graded", {LIMIT}, "cell time limit (10 s)"),
    "memory_hog": (8, "graded", {LIMIT}, "memory limit (4 GiB): MemoryError"),
    "kernel_exit": (5, "graded", {LIMIT, SUSPICIOUS}, "the kernel exited with status 3"),
    "stderr_warning": (10, "graded", {NOTE}, "wrote to stderr during a test"),
    "edited_test": (7, "graded", {RESTORED}, "locked cell edited: restored"),
    "deleted_test": (7, "graded", {RESTORED}, "deleted locked cell re-added"),
    "duplicated_cell": (10, "graded", {RESTORED}, "cell duplicated (2 copies)"),
    "renamed_notebook": (0, "failed", {FAILED}, "found: 01_least_squares-Copy1.ipynb"),
    "invalid_json": (0, "failed", {FAILED}, "not a valid notebook: NotJSONError"),
    "huge_output": (10, "graded", {NOTE}, "characters truncated"),
    # The patched helpers make the failing tests pass: flagged, not zeroed; the instructor decides.
    "rebinds_helper": (10, "graded", {SUSPICIOUS}, "patches `np.allclose`"),
    # Isolated, the solutions folder is empty and the student's own (wrong) version stays.
    "reads_solutions": (7 if ISOLATED else 10, "graded", {SUSPICIOUS}, "locates files through `minnas.__file__`"),
    "calls_reference": (10, "graded", {SUSPICIOUS}, "imports the reference `ridge`"),
    "wrong_folder": (0, "failed", {FAILED}, "(wrong folder)"),
}


def test_every_kind_has_an_expectation():
    assert set(EXPECTED) == set(ADVERSARIAL_KINDS) and len(EXPECTED) >= 12


@pytest.fixture(scope="module")
def adversarial_runs(tmp_path_factory):
    """The adversarial class plus the honest perfect and partial lesson 01, graded twice."""
    root = tmp_path_factory.mktemp("adversarial")
    submissions = root / "submissions"
    shutil.copytree(course.ADVERSARIAL, submissions)
    for student in ("perfect", "partial"):
        shutil.copytree(course.EXAMPLES / student / L01, submissions / student / L01)
    first = course.autograde(submissions, root / "work", feedback=False, progress=False, jobs=2, limits=LIMITS)
    first_grades = {k: (g.score, g.status, list(g.flags)) for k, g in first.grades.items()}
    second = course.autograde(submissions, root / "work", feedback=False, progress=False, jobs=2, limits=LIMITS)
    return first_grades, second


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_adversarial_submission_gets_its_score_and_flag(adversarial_runs, kind):
    _, results = adversarial_runs
    score, status, kinds, words = EXPECTED[kind]
    grade = results.grades[kind, L01]
    assert (grade.score, grade.status) == (score, status), grade
    assert {f.kind for f in grade.flags} == kinds, grade.flags
    assert any(words in f.message for f in grade.flags), grade.flags
    assert grade.needs_attention() == bool(kinds & {FAILED, LIMIT, SUSPICIOUS})


def test_good_submissions_in_the_batch_are_unaffected(adversarial_runs):
    _, results = adversarial_runs
    assert (results.grades["perfect", L01].score, results.grades["partial", L01].score) == (10, 7)
    assert results.grades["perfect", L01].flags == results.grades["partial", L01].flags == []


def test_grading_twice_gives_identical_scores_and_flags(adversarial_runs):
    first, second = adversarial_runs
    assert first == {k: (g.score, g.status, list(g.flags)) for k, g in second.grades.items()}


def test_the_gradebook_holds_every_student(adversarial_runs):
    _, results = adversarial_runs
    with Gradebook(f"sqlite:///{results.workdir / 'gradebook.db'}") as gb:
        assert sorted(s.id for s in gb.students) == sorted(results.students)
        for (student, lesson), grade in results.grades.items():
            if grade.status != "missing":
                assert gb.find_submission(lesson, student).score == grade.score


def test_the_exit_status_says_when_something_needs_attention(tmp_path, capsys):
    submissions = tmp_path / "class"
    shutil.copytree(course.EXAMPLES / "perfect" / L01, submissions / "perfect" / L01)
    assert main(["autograde", str(submissions), "--workdir", str(tmp_path / "a"), "--no-feedback"]) == 0
    shutil.copytree(course.ADVERSARIAL / "invalid_json", submissions / "invalid_json")
    assert main(["autograde", str(submissions), "--workdir", str(tmp_path / "b"), "--no-feedback"]) == 1
    out = capsys.readouterr().out
    assert "needs attention: 1 submission(s)" in out and "1 FAILED" in out


def test_a_kernel_that_ignores_the_interrupt_is_stopped_and_the_batch_goes_on(tmp_path):
    nb = sample("perfect")
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ridge")
    # inside the function: the kernel re-installs its own SIGINT handler for every cell
    cell.source = "import signal\n" + cell.source.replace(
        '    """\n', '    """\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass\n', 1)
    submissions = tmp_path / "class"
    (submissions / "stubborn" / L01).mkdir(parents=True)
    nbformat.write(nb, submissions / "stubborn" / L01 / f"{L01}.ipynb")
    shutil.copytree(course.EXAMPLES / "perfect" / L01, submissions / "perfect" / L01)
    results = course.autograde(submissions, tmp_path / "work", feedback=False, progress=False, jobs=2,
                               limits=Limits(cell_s=5, notebook_s=60))
    stubborn = results.grades["stubborn", L01]
    # the tests before ridge's pass; test_ridge and everything after it is lost, with the reason
    assert (stubborn.status, stubborn.score) == ("graded", 5)
    assert any(f.kind == LIMIT and "did not stop" in f.message for f in stubborn.flags), stubborn.flags
    assert any(f.kind == SUSPICIOUS and "interrupted" in f.message for f in stubborn.flags), stubborn.flags
    assert results.grades["perfect", L01].score == 10
