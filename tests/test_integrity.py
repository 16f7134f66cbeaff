"""Integrity of grading: the static and structural checks on their own, then the adversarial
class in grader/examples/adversarial/ graded in one batch with good submissions."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader import cluster, course, sandbox
from grader.__main__ import main
from grader.execute import JOB_PREFIX, Limits
from grader.integrity import (FAILED, LIMIT, NOTE, RESTORED, SUSPICIOUS, TAMPERED, LessonSpec,
                              check_structure, repair_cell_ids)
from grader.scan import scan_code, student_cells
from make_examples import ADVERSARIAL_KINDS, ADVERSARIAL_LESSON, STUDENTS, adversarial, submission

LESSONS = course.lesson_names()
L01 = ADVERSARIAL_LESSON


def spec_of(lesson: str) -> LessonSpec:
    return LessonSpec.from_notebooks(
        lesson, json.loads((course.LESSONS / lesson / f"{lesson}.ipynb").read_text()),
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
    assert spec.exercises == {"normal_equations", "back_substitution", "qr_solve", "ridge",
                              "gradient_descent"}
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
    ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)",
     "changes how the kernel is interrupted"),
])
def test_scan_code_flags(code, expected):
    flags = scan_code([("ridge", code)], spec_of(L01))
    assert any(f.kind == SUSPICIOUS and expected in f.message for f in flags), flags


@pytest.mark.parametrize("code", [
    "import numpy as np\ndef ridge(X, y, lam):\n    n = len(y)\n"
    "    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)",
    "from minnas.foundations.least_squares import polynomial_features",
    "x = [i for i in range(3)]\nlen(x)",
    "def f():\n    len = 3\n    return len",
    "this is not python (",
    "import numpy.linalg\nnp.random.seed(3)",   # binds `np`? no: `numpy`; and calls are fine
    "import torch.nn\n[len for len in range(3)]",   # the same `torch`; a comprehension's own scope
    # not what the tests use
    "import numpy as np\nnp.set_printoptions(precision=3)\nnp.random.custom = 1",
])
def test_scan_code_leaves_honest_code_alone(code):
    assert scan_code([("ridge", code)], spec_of(L01)) == []


def test_structure_finds_edits_deletions_duplicates_and_ids():
    spec = spec_of(L01)
    nb = sample("perfect")
    test = next(c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "test_ridge")
    test.source = "assert True"
    test.metadata.nbgrader["points"] = 100
    nb.cells = [c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") != "test_qr_solve"]
    i = next(i for i, c in enumerate(nb.cells)
             if c.metadata.get("nbgrader", {}).get("grade_id") == "ridge")
    nb.cells.insert(i, nbformat.from_dict(json.loads(json.dumps(nb.cells[i]))))
    flags = {(f.cell, f.message) for f in check_structure(nb, spec)}
    assert ("test_qr_solve", "deleted locked cell re-added from the release") in flags
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids.index("test_qr_solve") == ids.index("test_back_substitution") + 1
    assert ("test_ridge",
            "points changed from 2 to 100; locked cell edited: restored from the release") in flags
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


@pytest.mark.parametrize("lesson", LESSONS)
def test_sample_class_on_disk_matches_the_generator(lesson):
    for student in STUDENTS:
        text = nbformat.writes(submission(lesson, student))
        path = course.EXAMPLES / student / lesson / f"{lesson}.ipynb"
        assert path.read_text().strip() == text.strip(), (
            f"{student}/{lesson} is stale: run python tests/make_examples.py {lesson}")


def test_sample_class_holds_every_student_and_lesson_and_nothing_else():
    assert sorted(p.name for p in course.EXAMPLES.iterdir()) == sorted(STUDENTS)
    for student in STUDENTS:
        assert sorted(p.name for p in (course.EXAMPLES / student).iterdir()) == LESSONS, student


# -- the adversarial class, graded ------------------------------------------------------------

LEVEL, CGROUPS, _ = sandbox.detect()
ISOLATED = LEVEL == sandbox.BUBBLEWRAP
LIMITS = Limits(cell_s=10, notebook_s=60, memory_bytes=4 * 2**30)

# kind: (score, status, {flag kinds that must be there}, words in one of the flags). Scores out
# of 10: perfect 10, partial 7, blank 0. An attack either gets the score the answers deserve or a
# flag for the instructor that names it; a flag never changes a score by itself.
EXPECTED = {
    "infinite_loop": (8, "graded", {LIMIT}, "cell time limit (10 s)"),
    "memory_hog": (8, "graded", {LIMIT}, "memory limit (4 GiB): MemoryError"),
    "kernel_exit": (5, "graded", {LIMIT, SUSPICIOUS}, "the kernel exited with status 3"),
    "stderr_warning": (10, "graded", {NOTE}, "wrote to stderr during a test"),
    "edited_test": (7, "graded", {TAMPERED}, "locked cell edited: restored"),
    "deleted_test": (7, "graded", {TAMPERED}, "deleted locked cell re-added"),
    "duplicated_cell": (10, "graded", {RESTORED}, "cell duplicated (2 copies)"),
    "renamed_notebook": (0, "failed", {FAILED}, "found: 01_least_squares-Copy1.ipynb"),
    "invalid_json": (0, "failed", {FAILED}, "not a valid notebook: NotJSONError"),
    "huge_output": (10, "graded", {NOTE}, "characters truncated"),
    # The patched helpers make the failing tests pass: flagged, not zeroed; the instructor decides.
    "rebinds_helper": (10, "graded", {SUSPICIOUS}, "numpy.allclose, isclose patched"),
    # Isolated, the solutions folder does not exist and the student's own (wrong) version stays.
    "reads_solutions": (7 if ISOLATED else 10, "graded", {SUSPICIOUS},
                        "locates files through `minnas.__file__`"),
    "calls_reference": (10, "graded", {SUSPICIOUS},
                        "`ridge` calls the minnas reference through `_ridge`"),
    "wrong_folder": (0, "failed", {FAILED}, "(wrong folder)"),
    # -- hurting the grader or the others: in its own PID namespace the kernel finds no one --
    "kills_grader": (10, "graded", {SUSPICIOUS}, "getppid"),
    "kills_neighbours": (10, "graded", {SUSPICIOUS}, "a thread of the submission is running"),
    "survives_setsid": (10, "graded", {SUSPICIOUS}, "subprocess"),
    "survives_fork": (10, "graded", {SUSPICIOUS}, "fork"),
    "output_flood": (10, "graded", {LIMIT, NOTE}, "characters truncated"),
    "one_huge_print": (10, "graded", {NOTE}, "characters truncated"),
    # Whether its children reach the 4 GiB total before the notebook ends depends on how fast
    # the machine hands out 4 GiB of fresh memory (in this VM, sometimes not within the 10 s
    # cell); the cgroup's bound itself is tested with a small one in test_sandbox.py.
    "forked_memory": (10, "graded", {SUSPICIOUS}, "fork"),
    "fork_bomb": (10, "graded", {SUSPICIOUS}, "fork"),
    "tmp_litter": (10, "graded", set(), ""),
    # -- full marks for no work: every answer wrong --
    "input_transformer": (10, "graded", {SUSPICIOUS},
                          "input_transformers_cleanup holds __main__._no_tests"),
    "input_transformer_post": (10, "graded", {SUSPICIOUS},
                               "input_transformers_post holds __main__.<lambda>"),
    "ast_transformer": (0, "graded", {SUSPICIOUS}, "ast_transformers holds __main__._DropAsserts"),
    "ast_transformer_insert": (0, "graded", {SUSPICIOUS}, "ast_transformers holds __main__._Quiet"),
    "event_hook": (3, "graded", {SUSPICIOUS}, "a pre_run_cell event hook __main__._swap"),
    "event_hook_execute": (3, "graded", {SUSPICIOUS}, "a pre_execute event hook __main__._swap"),
    "silenced_errors": (10, "graded", {SUSPICIOUS}, "the kernel's session's `send` replaced"),
    "silenced_errors_class": (10, "graded", {SUSPICIOUS}, "the kernel's session's `send` replaced"),
    "fakes_equality": (None, "graded", {SUSPICIOUS}, "__eq__"),
    "fakes_equality_type": (None, "graded", {SUSPICIOUS}, "__eq__"),
    "patches_alias": (10, "graded", {SUSPICIOUS}, "numpy.allclose, isclose patched"),
    "patches_vars": (10, "graded", {SUSPICIOUS}, "numpy.allclose, isclose patched"),
    "patches_sys_modules": (10, "graded", {SUSPICIOUS}, "numpy.allclose, isclose patched"),
    "patches_importlib": (10, "graded", {SUSPICIOUS}, "numpy.allclose, isclose patched"),
    "reference_renamed": (2, "graded", {SUSPICIOUS}, "`ridge` is the minnas reference"),
    "reference_dynamic": (2, "graded", {SUSPICIOUS},
                          "`ridge` calls the minnas reference through `_m`"),
    # -- reading what is not theirs: isolated, there is nothing to read --
    "snoops_files": (10, "graded", {SUSPICIOUS}, "path outside its folder"),
    "snoops_environment": (10, "graded", set(), ""),
    "foreign_cell": (10, "graded", {TAMPERED}, "nbgrader id the lesson does not have"),
    "foreign_id": (10, "graded", {TAMPERED}, "nbgrader id the lesson does not have"),
}
# Attacks that, without bubblewrap's PID namespace, would reach other processes of this machine.
UNSAFE_WITHOUT_ISOLATION = {"kills_grader", "kills_neighbours", "fork_bomb", "forked_memory",
                            "survives_fork", "survives_setsid"}
KINDS = [k for k in EXPECTED if ISOLATED or k not in UNSAFE_WITHOUT_ISOLATION]
CORRECT = ("perfect", "ada", "grace", "alan")  # correct students graded beside the attackers
SECRET = "minnas-test-secret-4b1d"


def test_every_kind_has_an_expectation():
    assert set(EXPECTED) == set(ADVERSARIAL_KINDS) and len(EXPECTED) >= 40


def _leftovers() -> list[str]:
    """Processes and /tmp entries an adversarial run may have left: there must be none."""
    found = [f"/tmp/{p.name}" for p in Path("/tmp").iterdir()
             if p.name.startswith(("minnas-litter", "minnas-grading-", "minnas-probe-",
                                   # this process's jobs: the run's
                                   f"{JOB_PREFIX}{os.getpid()}-"))]
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith(("sleep 4321", "sleep 4322")) or "adversarial-run" in cmd:
            found.append(f"process {proc.name}: {cmd[:80]}")
    return found


@pytest.fixture(scope="module")
def adversarial_runs(tmp_path_factory):
    """The adversarial class among correct students (jobs=2); then some of it again with jobs=1,
    for determinism across --jobs."""
    root = tmp_path_factory.mktemp("adversarial-run")
    submissions = root / "submissions"
    for kind in KINDS:
        shutil.copytree(course.ADVERSARIAL / kind, submissions / kind)
    for student in CORRECT:
        shutil.copytree(course.EXAMPLES / "perfect" / L01, submissions / student / L01)
    shutil.copytree(course.EXAMPLES / "partial" / L01, submissions / "partial" / L01)
    os.environ[SECRET.upper().replace("-", "_")] = SECRET  # in the grader's environment only
    try:
        first = course.autograde(submissions, root / "work", feedback=False, progress=False, jobs=2,
                                 limits=LIMITS)
    finally:
        del os.environ[SECRET.upper().replace("-", "_")]
    again = root / "again"
    for kind in ("infinite_loop", "kernel_exit", "edited_test", "huge_output", "rebinds_helper",
                 "input_transformer", "output_flood", "foreign_cell", "perfect", "partial",
                 *(["kills_grader"] if ISOLATED else [])):  # with jobs=1 it once killed the grader
        shutil.copytree(submissions / kind, again / kind)
    second = course.autograde(again, root / "work2", feedback=False, progress=False, jobs=1,
                              limits=LIMITS)
    return first, second


@pytest.mark.parametrize("kind", KINDS)
def test_adversarial_submission_gets_its_score_and_flag(adversarial_runs, kind):
    results, _ = adversarial_runs
    score, status, kinds, words = EXPECTED[kind]
    grade = results.grades[kind, L01]
    assert grade.status == status and score in (None, grade.score), grade
    assert kinds <= {f.kind for f in grade.flags}, grade.flags
    assert any(words in f.message for f in grade.flags) or not kinds, grade.flags
    if grade.score > (score if score is not None else 0):
        assert grade.needs_attention(), (
            f"more points than the answers deserve, and no flag: {grade}")


def test_correct_students_among_attackers_are_unaffected(adversarial_runs):
    results, _ = adversarial_runs
    for student in CORRECT:
        grade = results.grades[student, L01]
        assert (grade.score, grade.status, grade.flags) == (10, "graded", []), grade
    assert (results.grades["partial", L01].score, results.grades["partial", L01].flags) == (7, [])
    assert results.csv_path.is_file() and (results.workdir / "report.md").is_file()


def test_nothing_of_a_run_is_left_behind(adversarial_runs):
    results, _ = adversarial_runs
    assert _leftovers() == [], "processes or /tmp files outlived the run"
    assert not list(results.workdir.glob(".run-*")), "the run folder must be removed"


def test_nothing_of_the_grader_reaches_a_kernel(adversarial_runs):
    results, _ = adversarial_runs
    texts = {}
    for kind in ("snoops_files", "snoops_environment"):
        nb = nbformat.read(results.workdir / "autograded" / kind / L01 / f"{L01}.ipynb",
                           as_version=4)
        # what the kernel printed
        texts[kind] = json.dumps([c.get("outputs", []) for c in nb.cells])
    for kind, text in texts.items():
        assert SECRET not in text, f"{kind}: the grader's environment reached the kernel"
        if ISOLATED:
            assert str(results.workdir) not in text and "gradebook.db'" not in text, kind
            assert "connected to" not in text, f"{kind}: a host Unix socket was reachable"


def test_grading_is_deterministic_across_jobs(adversarial_runs):
    first, second = adversarial_runs
    for key, grade in second.grades.items():
        other = first.grades[key]
        assert (grade.score, grade.status, grade.flags) == (other.score, other.status,
                                                            other.flags), key


def test_the_gradebook_holds_every_student(adversarial_runs):
    results, _ = adversarial_runs
    with Gradebook(f"sqlite:///{results.workdir / 'gradebook.db'}") as gb:
        assert sorted(s.id for s in gb.students) == sorted(results.students)
        for (student, lesson), grade in results.grades.items():
            if grade.status != "missing":
                assert gb.find_submission(lesson, student).score == grade.score


def test_links_and_oversized_files_are_refused(tmp_path):
    submissions = tmp_path / "class"
    shutil.copytree(course.EXAMPLES / "perfect" / L01, submissions / "perfect" / L01)
    (submissions / "linked" / L01).mkdir(parents=True)
    (submissions / "linked" / L01 / f"{L01}.ipynb").symlink_to(
        course.SOLUTIONS / L01 / f"{L01}.ipynb")
    (submissions / "folder_link").mkdir()
    (submissions / "folder_link" / L01).symlink_to(course.SOLUTIONS / L01)
    shutil.copytree(course.EXAMPLES / "perfect" / L01, submissions / "data_link" / L01)
    (submissions / "data_link" / L01 / "data.csv").symlink_to("/etc/passwd")
    shutil.copytree(course.EXAMPLES / "perfect" / L01, submissions / "fifo" / L01)
    os.mkfifo(submissions / "fifo" / L01 / "pipe")
    big = submissions / "big" / L01 / f"{L01}.ipynb"
    big.parent.mkdir(parents=True)
    nb = sample("perfect")
    nb.cells[-1].source += "\n# " + "x" * (2 * 2**20)
    nbformat.write(nb, big)
    results = course.autograde(submissions, tmp_path / "work", feedback=False, progress=False,
                               jobs=2, limits=Limits(cell_s=10, notebook_s=60,
                                                     notebook_bytes=2**20))
    assert results.grades["perfect", L01].score == 10
    for student, words in (("linked", "is a symbolic link"), ("folder_link", "is a symbolic link"),
                           ("data_link", "data.csv is a symbolic link"),
                           ("fifo", "pipe is not a plain file"),
                           ("big", "over the limit of 1 MiB")):
        grade = results.grades[student, L01]
        assert (grade.status, grade.score) == ("failed", 0) and words in grade.detail, grade


def test_the_exit_status_says_when_something_needs_attention(tmp_path, capsys):
    submissions = tmp_path / "class"
    shutil.copytree(course.EXAMPLES / "perfect" / L01, submissions / "perfect" / L01)
    assert main(["autograde", str(submissions), "--workdir", str(tmp_path / "a"),
                 "--no-feedback"]) == 0
    shutil.copytree(course.ADVERSARIAL / "invalid_json", submissions / "invalid_json")
    assert main(["autograde", str(submissions), "--workdir", str(tmp_path / "b"),
                 "--no-feedback"]) == 1
    out = capsys.readouterr().out
    assert "needs attention: 1 submission(s)" in out and "1 FAILED" in out


def test_a_kernel_that_ignores_the_interrupt_is_stopped_and_the_batch_goes_on(tmp_path):
    nb = sample("perfect")
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ridge")
    # inside the function: the kernel re-installs its own SIGINT handler for every cell
    cell.source = "import signal\n" + cell.source.replace(
        '    """\n',
        '    """\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n'
        '    while True:\n        pass\n', 1)
    submissions = tmp_path / "class"
    (submissions / "stubborn" / L01).mkdir(parents=True)
    nbformat.write(nb, submissions / "stubborn" / L01 / f"{L01}.ipynb")
    shutil.copytree(course.EXAMPLES / "perfect" / L01, submissions / "perfect" / L01)
    results = course.autograde(submissions, tmp_path / "work", feedback=False, progress=False,
                               jobs=2, limits=Limits(cell_s=5, notebook_s=60))
    stubborn = results.grades["stubborn", L01]
    # the tests before ridge's pass; test_ridge and everything after it is lost, with the reason
    assert (stubborn.status, stubborn.score) == ("graded", 5)
    assert any(f.kind == LIMIT and "did not stop" in f.message for f in stubborn.flags), (
        stubborn.flags)
    assert any(f.kind == SUSPICIOUS and "interrupted" in f.message for f in stubborn.flags), (
        stubborn.flags)
    assert results.grades["perfect", L01].score == 10


def test_a_grading_process_that_dies_is_retried_once_then_fails_only_its_own_item():
    assert cluster.isolated(_die_on_three, 2) == 4
    with pytest.raises(RuntimeError, match="died twice"):
        cluster.isolated(_die_on_three, 3)
    with cluster.connect(jobs=2) as client:
        out = {item: (result, error) for item, result, error in
               cluster.map_unordered(client, _isolated_double, [1, 2, 3, 4])}
    assert {k: v[0] for k, v in out.items() if k != 3} == {1: 2, 2: 4, 4: 8}
    assert out[3][0] is None and "died twice" in str(out[3][1])


def test_a_grading_process_past_the_hard_limit_is_stopped():
    assert cluster.isolated(_sleep, 0.1, hard_s=3) == 0.1
    cleaned = []
    with pytest.raises(TimeoutError, match="hard limit of 3 s"):
        cluster.isolated(_sleep, 30, hard_s=3, after_kill=lambda: cleaned.append(True))
    assert cleaned == [True]


def _isolated_double(x: int, shared) -> int:
    return cluster.isolated(_die_on_three, x)


def _die_on_three(x: int) -> int:
    if x == 3:
        os._exit(1)
    return 2 * x


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_the_adversarial_class_gets_the_same_grades_and_flags_through_dask(adversarial_runs,
                                                                           dask_cluster, tmp_path):
    first, _ = adversarial_runs
    results = course.autograde(first.workdir.parent / "submissions", tmp_path / "work",
                               feedback=False, progress=False, limits=LIMITS,
                               scheduler=dask_cluster.address)
    assert results.grades.keys() == first.grades.keys()
    for key, grade in results.grades.items():
        local = first.grades[key]
        assert (grade.score, grade.status, _timeless(grade)) == (local.score, local.status,
                                                                 _timeless(local)), key


def _timeless(grade) -> list:
    """The grade's flags, less forked_memory's cgroup flag: whether its children reach the
    total before its cell ends is the machine's speed (see EXPECTED), not the grader's."""
    return [f for f in grade.flags if not (grade.student == "forked_memory"
                                           and "memory limit together" in f.message)]


def test_a_job_cannot_write_outside_its_folder(tmp_path):
    """A grading job's file names come from the instructor's listing; a worker still refuses one
    that would land outside the job's folder (a forged job, or a bug in the listing)."""
    from grader.execute import _write_files

    for name in ("../escape.py", "/tmp/escape.py", "a/../../escape.py"):
        with pytest.raises(ValueError, match="outside its folder"):
            _write_files(tmp_path / "job" / "submission", {name: b"print('hi')"})
    assert not (tmp_path / "escape.py").exists() and not (tmp_path / "job" / "escape.py").exists()
