"""Feedback HTML shows no hidden test: not its source, not its output, not its failure.

The notebook below is an autograded notebook made by hand (nothing is executed), modelled on
lesson 01's test cells, with tracebacks written the way IPython writes them (ANSI colours, one
frame per entry, ``Cell In[n], line k`` headers and four lines of context before and three after):

* ``test_shape``: a visible assert failed; its context lines reach into the hidden block;
* ``test_hidden``: a hidden assert failed, after the student's own ``print`` showed hidden inputs;
* ``test_passed``: passed, with stdout from the hidden block.
"""

from __future__ import annotations

import copy
import html
import os
import re
import sys
import warnings
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.api import Gradebook
from nbgrader.converters import GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from grader import course
from grader.feedback import HIDDEN_FAILURE, HIDDEN_OUTPUT_NOTE, HideHiddenTests, configure

REPO = Path(__file__).resolve().parents[1]
LESSON, STUDENT = "01_least_squares", "alice"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

VISIBLE_MESSAGE = "theta should have shape (3,), one entry per column of X; got (4,)"
HIDDEN_MESSAGE = "relative error 3.1e-04 on the secret ill-conditioned design 8641"
HIDDEN_PRINT = "X[0] for the secret seed 8641: [ 0.31 -1.27  2.05]"
HIDDEN_RESULT = "secret seed 9137 gives theta = [ 0.25 -1.5 ]"

SOLUTION = '''\
def normal_equations(X, y):
    theta = np.linalg.solve(X.T @ X, X.T @ y)
    print("X[0] =", X[0])
    return theta'''

TEST_SHAPE = '''\
rng = np.random.default_rng(1)
X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
theta = normal_equations(X, y)
expected = np.linalg.lstsq(X, y, rcond=None)[0]
assert np.shape(theta) == (3,), f"theta should have shape (3,), one entry per column of X; got {theta.shape}"
### BEGIN HIDDEN TESTS
for seed_4711, (n, p) in [(4711, (200, 8)), (4712, (4, 4))]:
    rng_secret = np.random.default_rng(seed_4711)
    assert np.allclose(normal_equations(*secret_problem(rng_secret, n, p)), oracle_4711(n, p))
### END HIDDEN TESTS'''  # noqa: E501 - a test cell's source, as the lessons write them

TEST_HIDDEN = '''\
rng = np.random.default_rng(3)
X, y = rng.normal(size=(40, 4)), rng.normal(size=40)
assert np.allclose(normal_equations(X, y), np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-8)
### BEGIN HIDDEN TESTS
X_secret = np.vander(np.linspace(0, 1, 40), 10, increasing=True) * 8641
err_secret = relative_error_8641(normal_equations(X_secret, X_secret @ theta_8641), theta_8641)
assert err_secret < 1e-7, f"relative error {err_secret:.1e} on the secret ill-conditioned design 8641"
### END HIDDEN TESTS'''  # noqa: E501 - a test cell's source, as the lessons write them

TEST_PASSED = '''\
theta = normal_equations(np.eye(2), np.array([1.0, 2.0]))
assert np.allclose(theta, [1, 2]), f"expected [1, 2], got {theta}"
### BEGIN HIDDEN TESTS
theta_9137 = normal_equations(*secret_problem(np.random.default_rng(9137), 30, 2))
print("secret seed 9137 gives theta =", theta_9137)
### END HIDDEN TESTS'''

HIDDEN_SOURCES = {"test_shape": TEST_SHAPE, "test_hidden": TEST_HIDDEN, "test_passed": TEST_PASSED}


def hidden_lines(source: str) -> list[str]:
    """The lines of the hidden block, markers included, stripped of indentation."""
    lines = source.split("\n")
    begin = next(i for i, line in enumerate(lines) if "BEGIN HIDDEN TESTS" in line)
    end = next(i for i, line in enumerate(lines) if "END HIDDEN TESTS" in line)
    return [line.strip() for line in lines[begin:end + 1]]


HIDDEN_TEXTS = ([line for source in HIDDEN_SOURCES.values() for line in hidden_lines(source)]
                + [HIDDEN_MESSAGE, HIDDEN_PRINT, HIDDEN_RESULT, "8641", "9137", "4711"])


def highlight(code: str) -> str:
    """Colour a line of code roughly as IPython does (so tokens are split by ANSI codes)."""
    if code.lstrip().startswith("#"):
        return f"\x1b[38;5;66;03m{code}\x1b[39;00m"
    code = re.sub(r"\bassert\b", "\x1b[38;5;28;01massert\x1b[39;00m", code)
    return re.sub(r'(f?"[^"]*")', "\x1b[33m\\1\x1b[39m", code)


def frame(count: int, source: str, line: int, function: str = "") -> str:
    """One traceback entry for ``line`` of the cell run as ``In[count]``, as IPython writes it."""
    where = f", in \x1b[36m{function}\x1b[39m\x1b[34m(X, y)\x1b[39m" if function else ""
    entry = (f"\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[{count}]\x1b[39m"
             f"\x1b[32m, line {line}\x1b[39m{where}\n")
    lines = source.split("\n")
    for number in range(max(1, line - 4), min(len(lines), line + 3) + 1):
        if number == line:
            gutter = f"\x1b[32m----> \x1b[39m\x1b[32m{number}\x1b[39m"
        else:
            gutter = f"\x1b[32m{number:>7}\x1b[39m"
        entry += f"{gutter} {highlight(lines[number - 1])}\n"
    return entry


def error(ename: str, evalue: str, frames: list[str]) -> nbformat.NotebookNode:
    return new_output("error", ename=ename, evalue=evalue, traceback=[
        "\x1b[31m" + "-" * 75 + "\x1b[39m",
        f"\x1b[31m{ename}\x1b[39m{' ' * 28}Traceback (most recent call last)",
        *frames, f"\x1b[31m{ename}\x1b[39m: {evalue}"])


def stdout(text: str) -> nbformat.NotebookNode:
    return new_output("stream", name="stdout", text=text)


def nbgrader_cell(source: str, grade_id: str, count: int, outputs: list, *, grade: bool,
                  solution: bool) -> nbformat.NotebookNode:
    meta = {"grade": grade, "solution": solution, "locked": not solution, "grade_id": grade_id,
            "schema_version": 3}
    if grade:
        meta["points"] = 1
    return new_code_cell(source, execution_count=count, outputs=outputs,
                         metadata={"nbgrader": meta})


def autograded_notebook() -> nbformat.NotebookNode:
    """The autograded notebook described in the module docstring (the same on every call)."""
    nb = new_notebook(cells=[
        new_markdown_cell("# Least squares\nThe tests below check `normal_equations`."),
        nbgrader_cell(SOLUTION, "normal_equations", 1, [], grade=False, solution=True),
        nbgrader_cell(TEST_SHAPE, "test_shape", 2, [
            stdout("X[0] = [ 0.35 -0.12  1.1 ]\n"),
            error("AssertionError", VISIBLE_MESSAGE, [frame(2, TEST_SHAPE, 5)])],
            grade=True, solution=False),
        nbgrader_cell(TEST_HIDDEN, "test_hidden", 3, [
            stdout(HIDDEN_PRINT + "\n"),
            error("AssertionError", HIDDEN_MESSAGE, [frame(3, TEST_HIDDEN, 7)])],
            grade=True, solution=False),
        nbgrader_cell(TEST_PASSED, "test_passed", 4, [stdout(HIDDEN_RESULT + "\n")],
                      grade=True, solution=False),
        new_code_cell("print('plot done'); 1 / 0", execution_count=5, outputs=[
            stdout("plot done\n"), error("ZeroDivisionError", "division by zero",
                                         [frame(5, "print('plot done'); 1 / 0", 1)])]),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})
    for number, cell in enumerate(nb.cells):
        cell.id = f"cell-{number}"
    return nb


def cells_by_id(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {cell.metadata.nbgrader.grade_id: cell for cell in nb.cells
            if "nbgrader" in cell.metadata}


def plain_text(page: str) -> str:
    """What a reader of the HTML page sees: tags (syntax and ANSI colour spans) removed."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def leaks(text: str) -> list[str]:
    """The hidden texts that occur in ``text`` (ANSI codes ignored)."""
    text = ANSI.sub("", text)
    return [hidden for hidden in HIDDEN_TEXTS if hidden and hidden in text]


@pytest.fixture
def hidden() -> nbformat.NotebookNode:
    """The autograded notebook after HideHiddenTests."""
    nb, _ = HideHiddenTests().preprocess(autograded_notebook(), {})
    return nb


def test_sources_are_the_release_sources(hidden):
    release = autograded_notebook()
    for cell in release.cells:
        ClearHiddenTests(enforce_metadata=False)._remove_hidden_test_region(cell)
    for grade_id, cell in cells_by_id(hidden).items():
        assert cell.source == cells_by_id(release)[grade_id].source, (
            f"{grade_id}: the source should read as ClearHiddenTests makes it for the release")
        assert not leaks(cell.source), (
            f"{grade_id}: hidden text left in the source: {leaks(cell.source)}")


def test_visible_failure_is_kept_without_hidden_context(hidden):
    outputs = cells_by_id(hidden)["test_shape"].outputs
    assert [out.output_type for out in outputs] == ["stream", "error"], (
        f"expected the note and the error, got {[out.output_type for out in outputs]}")
    assert outputs[0].text == HIDDEN_OUTPUT_NOTE, (
        f"the student's print should become the note: {outputs[0]}")
    assert (outputs[1].ename, outputs[1].evalue) == ("AssertionError", VISIBLE_MESSAGE), (
        f"a visible failure should keep its type and message, got {outputs[1].ename}: "
        f"{outputs[1].evalue}")
    traceback = ANSI.sub("", "\n".join(outputs[1].traceback))
    assert "----> 5 assert np.shape(theta) == (3,)" in traceback, (
        f"no failing line in:\n{traceback}")
    assert "      1 rng = np.random.default_rng(1)" in traceback, (
        f"visible context should stay:\n{traceback}")
    assert not leaks(traceback), f"hidden context lines left in the traceback: {leaks(traceback)}"


def test_hidden_failure_is_replaced(hidden):
    outputs = cells_by_id(hidden)["test_hidden"].outputs
    assert [out.output_type for out in outputs] == ["stream", "error"], (
        f"expected the note and the error, got {[out.output_type for out in outputs]}")
    assert outputs[0].text == HIDDEN_OUTPUT_NOTE, (
        f"the hidden inputs printed should be dropped: {outputs[0]}")
    assert (outputs[1].ename, outputs[1].evalue) == ("AssertionError", HIDDEN_FAILURE), (
        f"a hidden failure should keep its type, with the generic message; got {outputs[1]}")
    assert outputs[1].traceback == [f"AssertionError: {HIDDEN_FAILURE}"], (
        f"a hidden failure should have a one-line traceback, got {outputs[1].traceback}")


def test_passed_cell_output_is_replaced_by_the_note(hidden):
    outputs = cells_by_id(hidden)["test_passed"].outputs
    assert outputs == [stdout(HIDDEN_OUTPUT_NOTE)], (
        f"a passed cell should show the note alone, got {outputs}")


def test_other_cells_are_untouched(hidden):
    original = autograded_notebook()
    for before, after in zip(original.cells, hidden.cells):
        if "nbgrader" in before.metadata and before.metadata.nbgrader.get("grade"):
            continue
        assert after == before, f"a cell without hidden tests changed:\n{before}\n->\n{after}"


@pytest.mark.parametrize("count, frames", [
    (None, [frame(6, TEST_SHAPE, 5)]),  # never numbered: no frame can be this cell's
    (2, []),  # no frame at all (e.g. a timeout)
    (2, [frame(7, TEST_SHAPE, 2)]),  # only another cell's frame
])
def test_failure_without_a_frame_of_the_cell_counts_as_hidden(count, frames):
    cell = nbgrader_cell(TEST_SHAPE, "test_shape", count,
                         [error("ValueError", "bad input 4711", frames)],
                         grade=True, solution=False)
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=[cell]), {})
    out = nb.cells[0].outputs[0]
    expected = ("ValueError", HIDDEN_FAILURE, [f"ValueError: {HIDDEN_FAILURE}"])
    assert (out.ename, out.evalue, out.traceback) == expected, (
        f"when in doubt the failure should count as hidden, got {out}")


def test_html_export_shows_no_hidden_test():
    exporter = HTMLExporter()
    leaky, _ = exporter.from_notebook_node(autograded_notebook())
    assert leaks(plain_text(leaky)), (
        "the check is blind: the plain export should show the hidden tests")
    exporter.register_preprocessor(HideHiddenTests, enabled=True)
    page, _ = exporter.from_notebook_node(autograded_notebook())
    text = plain_text(page)
    assert not leaks(text), f"hidden text in the HTML: {leaks(text)}"
    assert "BEGIN HIDDEN TESTS" not in text, "a hidden-tests marker is in the HTML"
    assert VISIBLE_MESSAGE in text, "the visible failure's message should be in the HTML"
    assert HIDDEN_FAILURE in text, "the hidden failure should be reported in the HTML"


@pytest.fixture
def course_dir(tmp_path, monkeypatch) -> Path:
    """A course folder with a gradebook and the autograded notebook of one student."""
    # Gradebook() runs the `alembic` command, which lives next to this interpreter.
    monkeypatch.setenv("PATH",
                       str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        gb.add_assignment(LESSON)
        gb.add_notebook(LESSON, LESSON)
        gb.add_solution_cell("normal_equations", LESSON, LESSON)
        for grade_id in HIDDEN_SOURCES:
            gb.add_grade_cell(grade_id, LESSON, LESSON, max_score=1, cell_type="code")
        gb.add_student(STUDENT)
        # nbgrader's own add_submission trips SQLAlchemy's autoflush warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            gb.add_submission(LESSON, STUDENT)
    folder = tmp_path / "autograded" / STUDENT / LESSON
    folder.mkdir(parents=True)
    nbformat.write(autograded_notebook(), folder / f"{LESSON}.ipynb")
    return tmp_path


def generate_feedback(root: Path, cfg: Config) -> str:
    """Run nbgrader's GenerateFeedback for the one student; the feedback page."""
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    cfg.CourseDirectory.assignment_id = LESSON
    cfg.CourseDirectory.student_id = STUDENT
    cfg.HTMLExporter.template_name = "feedback"  # as NbGraderAPI.generate_feedback sets it
    GenerateFeedback(coursedir=CourseDirectory(config=cfg), config=cfg, force=True).start()
    return (root / "feedback" / STUDENT / LESSON / f"{LESSON}.html").read_text()


def test_nbgrader_feedback_shows_no_hidden_test(course_dir):
    autograded = course_dir / "autograded" / STUDENT / LESSON / f"{LESSON}.ipynb"
    before = autograded.read_bytes()
    assert leaks(plain_text(generate_feedback(course_dir, Config()))), (
        "the check itself is blind: nbgrader's own feedback should show the hidden tests")
    cfg = Config()
    configure(cfg)
    text = plain_text(generate_feedback(course_dir, cfg))
    assert not leaks(text), f"hidden text in nbgrader's feedback: {leaks(text)}"
    assert "BEGIN HIDDEN TESTS" not in text, "a hidden-tests marker is in nbgrader's feedback"
    assert VISIBLE_MESSAGE in text, "the visible failure's message should be in the feedback"
    assert HIDDEN_FAILURE in text, "the hidden failure should be reported in the feedback"
    assert HIDDEN_OUTPUT_NOTE.strip() in text, "the note on hidden output should be in the feedback"
    assert f"{LESSON} (Score: 0.0 / 3.0)" in text, (
        "GetGrades should still put the (ungraded: 0) score in")
    assert autograded.read_bytes() == before, "the autograded notebook on disk should not change"


@pytest.mark.parametrize("solution", sorted((REPO / "solutions").glob("*/*.ipynb")),
                         ids=lambda path: path.parent.name)
def test_lesson_test_cells_read_as_released(solution):
    """On the real lessons: every test cell with hidden tests reads as in the committed release."""
    released = nbformat.read(REPO / "lessons" / solution.parent.name / solution.name, as_version=4)
    release = {cell.metadata.nbgrader.grade_id: cell.source
               for cell in released.cells if "nbgrader" in cell.metadata}
    nb = nbformat.read(solution, as_version=4)
    with_hidden = [cell.metadata.nbgrader.grade_id for cell in nb.cells
                   if "BEGIN HIDDEN TESTS" in cell.source]
    assert with_hidden, f"{solution.parent.name} has no hidden tests to check"
    nb, _ = HideHiddenTests().preprocess(copy.deepcopy(nb), {})
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in with_hidden:
            assert cell.source == release[grade_id], (
                f"{solution.parent.name}/{grade_id} should read as in the release")


def lesson_hidden_lines(lesson: str) -> set[str]:
    """The hidden test lines of a lesson that say something: each stripped line of a hidden block
    that occurs nowhere else in the source notebook (where a student may legitimately see it)."""
    nb = nbformat.read(course.SOLUTIONS / lesson / f"{lesson}.ipynb", as_version=4)
    hidden, elsewhere = set(), set()
    for cell in nb.cells:
        inside = False
        for line in cell.source.split("\n"):
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
                continue
            (hidden if inside else elsewhere).add(line.strip())
    # A hidden line may be part of a visible one ("import a, b" beside
    # "import a, b, c"): not evidence.
    visible = "\n".join(elsewhere)
    return {line for line in hidden
            if len(line) >= 8 and not line.startswith("#") and line not in visible}


def test_no_hidden_test_line_of_any_lesson_is_in_the_sample_class_feedback(graded):
    """Every feedback file of the class (the sample students, the solutions and the blank release
    handed in) is read as its reader sees it; no line of any lesson's hidden tests is in it."""
    feedback = sorted(graded.feedback_dir.glob("*/*/*.html"))
    assert len(feedback) >= 4 * len(graded.lessons), (
        f"expected feedback for the class, found {len(feedback)} files")
    for lesson in graded.lessons:
        hidden = lesson_hidden_lines(lesson)
        assert len(hidden) >= 5, (
            f"{lesson}: the check is blind, only {len(hidden)} hidden lines found")
        release = nbformat.read(course.LESSONS / lesson / f"{lesson}.ipynb", as_version=4)
        visible = {line.strip() for cell in release.cells
                   if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"
                   for line in cell.source.split("\n") if len(line.strip()) >= 8}
        for path in (p for p in feedback if p.parent.name == lesson):
            text = plain_text(path.read_text(encoding="utf-8"))
            assert any(line in text for line in visible), (
                f"{path}: the check is blind, no visible test line found")
            found = sorted(line for line in hidden if line in text)
            assert not found, (
                f"{path.relative_to(graded.feedback_dir)} shows hidden test lines: {found[:3]}")
            assert "BEGIN HIDDEN TESTS" not in text, (
                f"{path}: a hidden-tests marker is in the feedback")
