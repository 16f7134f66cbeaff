"""The lesson notebooks: nbgrader metadata, a clean release, and lessons/ in
step with solutions/."""

from __future__ import annotations

import ast
import json
import os
import re

import nbformat
import pytest

from grader.course import LESSONS, lesson_names, stale_lessons
from lesson_facts import (PREDEFINED, RAISES, SOLUTION_REGION, source_notebook, answer_cells,
                          cpu_budget, defined_names, graded_code_cells, loaded_names, python_of,
                          reference_lines, solution_cells, stored_names, student_free_cells, tags)

LESSON_NAMES = lesson_names()
READABLE_ID = re.compile(r"^[a-z][a-z0-9_]{2,63}$")


def release_notebook(name: str) -> nbformat.NotebookNode:
    return nbformat.read(LESSONS / name / f"{name}.ipynb", as_version=4)


def nbgrader_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if "nbgrader" in c.metadata]


def test_the_foundation_lessons_exist():
    assert LESSON_NAMES[:3] == ["01_least_squares", "02_newton", "03_entropy"]


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_grade_ids_are_unique_readable_and_schema_3(name):
    cells = nbgrader_cells(source_notebook(name))
    ids = [c.metadata.nbgrader.grade_id for c in cells]
    assert len(ids) == len(set(ids)), f"duplicate grade_ids in {name}: {ids}"
    for cell in cells:
        meta = cell.metadata.nbgrader
        assert READABLE_ID.match(meta.grade_id), (
            f"{name}: grade_id {meta.grade_id!r} is not readable snake case")
        assert meta.schema_version == 3, (
            f"{name}/{meta.grade_id}: schema_version {meta.schema_version}")
        assert cell.id == meta.grade_id, f"{name}: cell id {cell.id!r} should equal its grade_id"


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_graded_code_cells_are_locked_tests_with_points(name):
    graded = graded_code_cells(source_notebook(name))
    assert len(graded) >= 3, (
        f"{name} has {len(graded)} graded test cells; a lesson needs at least 3")
    for cell in graded:
        meta = cell.metadata.nbgrader
        assert meta.points > 0 and meta.locked and not meta.solution, (
            f"{name}/{meta.grade_id}: {dict(meta)}")
        assert meta.grade_id.startswith("test_"), (
            f"{name}/{meta.grade_id}: test cell ids start with test_")
    assert sum("### BEGIN HIDDEN TESTS" in c.source for c in graded) >= 1, (
        f"{name} has no hidden tests")


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_reflection_is_graded_by_hand_with_a_rubric(name):
    answers = answer_cells(source_notebook(name))
    assert len(answers) >= 2, (
        f"{name} has {len(answers)} manually graded answer cells; a lesson needs at least 2")
    for cell in answers:
        meta = cell.metadata.nbgrader
        where = f"{name}/{meta.grade_id}"
        assert meta.solution and not meta.locked and meta.points > 0, f"{where}: {dict(meta)}"
        assert meta.grade_id.startswith("reflection_"), (
            f"{where}: answer cell ids start with reflection_")
        model = "\n".join(SOLUTION_REGION.findall(cell.source))
        assert "Rubric" in model and "Model answer" in model, (
            f"{where}: the hidden part of an answer cell holds a model answer and a rubric")


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_every_assert_in_a_test_cell_says_what_went_wrong(name):
    silent = []
    for cell in graded_code_cells(source_notebook(name)):
        silent += [f"{cell.id}:{node.lineno}" for node in ast.walk(python_of(cell))
                   if isinstance(node, ast.Assert) and node.msg is None]
    assert not silent, (
        f"{name}: asserts without a message (the student would see only AssertionError): {silent}")


@pytest.mark.parametrize("name", LESSON_NAMES[3:])
def test_lessons_from_04_set_one_exercise_of_graduate_size(name):
    """One exercise of at least 30 lines of reference solution, graded by a test cell
    with hidden tests."""
    nb = source_notebook(name)
    big = [c for c in solution_cells(nb) if reference_lines(c) >= 30]
    assert big, f"{name}: no exercise with >= 30 lines of reference solution " \
                f"(largest: {max(reference_lines(c) for c in solution_cells(nb))})"
    hidden_tests = "\n".join(c.source for c in graded_code_cells(nb)
                             if "### BEGIN HIDDEN TESTS" in c.source)
    for cell in big:
        names = defined_names(cell)
        assert any(re.search(rf"\b{n}\(", hidden_tests) for n in names), (
            f"{name}/{cell.id}: no test cell with hidden tests calls {sorted(names)}")


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_each_lesson_states_its_cpu_budget(name):
    top_to_bottom, when_graded = cpu_budget(name)
    assert 0 < when_graded <= top_to_bottom <= 90, (
        f"{name}: budget {top_to_bottom}/{when_graded} CPU-s")


@pytest.mark.parametrize("name", [n for n in LESSON_NAMES if "07" <= n[:2] <= "11"])
def test_nas_lessons_grade_against_oracles_not_the_library(name):
    """A refactor of minnas must not change a grade: test cells never import or call it."""
    for cell in graded_code_cells(source_notebook(name)):
        assert "minnas" not in cell.source, (
            f"{name}/{cell.id} uses minnas; compute the oracle in the cell")


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_first_code_cell_is_the_locked_setup(name):
    first = next(c for c in source_notebook(name).cells if c.cell_type == "code")
    assert first.metadata.get("nbgrader", {}).get("locked"), (
        f"{name}: the first code cell must be locked")
    assert 'warnings.filterwarnings("ignore")' in first.source
    assert "np.random.seed(" in first.source


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_source_notebooks_are_committed_without_outputs(name):
    for cell in source_notebook(name).cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{name}/{cell.id} has outputs")


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_release_holds_no_solution_hidden_tests_or_outputs(name):
    text = (LESSONS / name / f"{name}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"lessons/{name} contains {marker!r}"
    nb = release_notebook(name)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"lessons/{name}/{cell.id} has outputs")
    solution_ids = {c.id for c in nbgrader_cells(nb) if c.metadata.nbgrader.solution}
    assert solution_ids, f"lessons/{name} has no exercise cells"
    for cell in nb.cells:
        if cell.id in solution_ids:
            stub = "raise NotImplementedError()" if cell.cell_type == "code" else "YOUR ANSWER HERE"
            assert stub in cell.source, f"lessons/{name}/{cell.id} is not blanked"


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_solution_code_of_the_source_is_absent_from_the_release(name):
    release_sources = "\n".join(c.source for c in release_notebook(name).cells)
    for cell in nbgrader_cells(source_notebook(name)):
        body = cell.source.split("### BEGIN SOLUTION")[1:]
        for chunk in body:
            answer = chunk.split("### END SOLUTION")[0].strip()
            for line in answer.splitlines():
                line = line.strip()
                # Short lines ("return x", "else:") may well appear in the task text.
                if len(line) > 30 and not line.startswith("#"):
                    assert line not in release_sources, (
                        f"lessons/{name} leaks solution line {line!r}")


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_test_cells_carry_the_raises_exception_tag(name):
    """Run All in Jupyter stops at the first cell that raises, unless the cell has this tag: on a
    fresh release every test fails, and the student would see one failure and no figures."""
    for where, nb in (("solutions", source_notebook(name)), ("lessons", release_notebook(name))):
        untagged = [c.id for c in graded_code_cells(nb) if RAISES not in tags(c)]
        assert not untagged, f"{where}/{name}: test cells without the {RAISES!r} tag: {untagged}"


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_run_all_of_a_fresh_release_raises_only_in_test_cells(name):
    """So the tag on the test cells is all Run All needs: an exercise stub raises only when its
    function is called, and the setup, demos and experiments read only what earlier cells of
    their own kind define (the library's versions, never a student's function or a test's name)."""
    nb = release_notebook(name)
    for cell in solution_cells(nb):
        raising = [node.lineno for node in python_of(cell).body if isinstance(node, ast.Raise)]
        assert not raising or RAISES in tags(cell), (
            f"lessons/{name}/{cell.id} raises at its top level (line {raising}); put the stub "
            f"inside a function, or tag the cell {RAISES!r}")
    known = set(PREDEFINED)
    for cell in student_free_cells(nb):
        own = stored_names(cell)
        foreign = loaded_names(cell) - known - own
        assert not foreign or RAISES in tags(cell), (
            f"lessons/{name}/{cell.id} reads {sorted(foreign)}, which only an exercise or a test "
            "cell defines: on a fresh release Run All would stop there. Use the library's "
            f"version, or tag the cell {RAISES!r}")
        known |= own


def test_lessons_equal_a_fresh_release():
    stale = stale_lessons()
    assert not stale, f"lessons/ is stale for {stale}: run `python -m grader release` and commit"


def test_release_is_valid_nbformat():
    for name in LESSON_NAMES:
        nbformat.validate(json.loads((LESSONS / name / f"{name}.ipynb").read_text()))


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_every_cell_of_the_solution_runs_without_an_error(name, tmp_path):
    """The grader stops at the last graded cell, so the experiments after it are exercised here:
    the solution notebook, every cell in order, with ``NBGRADER_EXECUTION`` set (the lessons'
    experiments shrink then, as they did while grading), and no cell may raise."""
    from nbclient import NotebookClient

    from grader.execute import GRADING_KERNEL_ARGS
    from grader.sandbox import THREAD_VARIABLES

    nb = source_notebook(name)
    # The environment of a grading kernel (grader.execute, grader.sandbox): single-threaded BLAS.
    env = {**os.environ, "NBGRADER_EXECUTION": "autograde", "PYTHONWARNINGS": "ignore",
           **dict.fromkeys(THREAD_VARIABLES, "1")}
    client = NotebookClient(nb, timeout=300, allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}},
                            extra_arguments=GRADING_KERNEL_ARGS)
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
    errors = [(cell.metadata.get("nbgrader", {}).get("grade_id") or cell.id, out.ename,
               out.evalue[:200])
              for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert errors == [], f"{name}: cells that raised: {errors}"
