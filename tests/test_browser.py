"""JupyterLab driven by a real browser, as a student and an instructor would use it.

A ``jupyter lab`` server runs on a temporary copy of the course (``nbgrader_config.py``,
``lessons/``, ``solutions/``) with its own Jupyter and home folders, so that neither the
committed lessons nor the developer's settings are touched; the nbgrader extensions installed
in the environment load as they would for a student. Chromium, through Playwright, then:

* fills in the first exercise of lesson 01 and runs all cells (every cell runs, the first
  exercise's tests pass, the others fail, the figures render);
* clicks nbgrader's Validate button and reads the dialog;
* opens Formgrader on the gradebook of the session's graded sample class (the ``graded``
  fixture of conftest.py) and reads the lessons, their points and the students' scores.

The cells are read from JupyterLab's notebook model (``window.jupyterapp``, exposed with
``--LabApp.expose_app_in_browser``), not from the page: JupyterLab renders only the cells in
view. Screenshots go to ``$MINNAS_TEST_ARTIFACTS/browser/`` or ``tests/artifacts/browser/``.

``MINNAS_BROWSER_GRADING_DIR=<folder>`` shows an already graded folder in Formgrader instead of
grading the sample class (e.g. one from ``python -m grader autograde SUBMISSIONS --workdir
<folder>`` over the sample class's first lesson only): quicker while working on these tests.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from grader import course

try:
    from playwright.sync_api import Page, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None


def _chromium() -> str | None:
    wanted = os.environ.get("MINNAS_CHROMIUM")
    if wanted:
        return shutil.which(wanted) or (wanted if Path(wanted).is_file() else None)
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM = _chromium()
if sync_playwright is None or CHROMIUM is None:
    pytest.skip(
        "browser tests need Chromium and Playwright: install Chromium as root with "
        "`apt-get install -y chromium` (or point $MINNAS_CHROMIUM at a Chromium binary) and "
        "Playwright with `pip install -e \".[dev]\"`; missing: "
        + ", ".join(name for name, ok in (("playwright", sync_playwright is not None),
                                          ("chromium", CHROMIUM is not None)) if not ok),
        allow_module_level=True,
    )

REPO = course.REPO
LESSON = "01_least_squares"
NOTEBOOK = f"lessons/{LESSON}/{LESSON}.ipynb"
FIRST_EXERCISE = "normal_equations"  # grade_id of the first solution cell of lesson 01
FIRST_TEST = "test_normal_equations"  # ... and of its test cell
# The sample class's scores in lesson 01 (tests/test_grading.py: EXPECTED_SCORES) out of its
# 15 points, 5 of which are the reflection answers that wait for a person.
LESSON_SCORES = {"perfect": 10.0, "partial": 7.0, "blank": 0.0, "broken": 8.0}
TEST_ERRORS = ("NotImplementedError", "AssertionError")

SERVER_START_S = 90
RUN_ALL_S = 180  # lesson 01 runs top to bottom in well under a minute on one core
VALIDATE_S = 240  # Validate executes the whole notebook again, on the server
UI_S = 60  # anything else the page has to show

ARTIFACTS = (Path(os.environ.get("MINNAS_TEST_ARTIFACTS") or REPO / "tests" / "artifacts")
             / "browser")


# ---------------------------------------------------------------------------------------------
# The server and the browser


@dataclass
class Lab:
    url: str
    token: str
    root: Path  # the server's root folder: the copy of the course
    grading: Path  # $MINNAS_GRADING_DIR of the server
    log: Path

    def api(self, path: str) -> object:
        """GET a JSON API of the server (with the token), decoded."""
        request = urllib.request.Request(f"{self.url}/{path.lstrip('/')}",
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def open(self, page: Page, workspace: str, path: str = "") -> None:
        """Open JupyterLab in a workspace of its own (nothing restored from another test)."""
        tree = f"/tree/{path}" if path else ""
        page.goto(f"{self.url}/lab/workspaces/{workspace}{tree}?reset&token={self.token}")
        page.wait_for_function("() => window.jupyterapp !== undefined", timeout=UI_S * 1000)
        page.evaluate("async () => { await window.jupyterapp.restored; }")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def grading_dir(request, tmp_path_factory) -> Path:
    """A copy of the graded class's folder (Formgrader writes to the gradebook it opens)."""
    source = os.environ.get("MINNAS_BROWSER_GRADING_DIR")
    source = Path(source) if source else request.getfixturevalue("graded").workdir
    copy = tmp_path_factory.mktemp("browser") / "grading"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".run-*"))
    return copy


@pytest.fixture(scope="module")
def lab(tmp_path_factory, grading_dir) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("lab")
    root = base / "course"
    root.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", root)
    for folder in ("lessons", "solutions"):
        shutil.copytree(REPO / folder, root / folder)
    home = base / "home"
    config = base / "jupyter" / "config"
    # No news or update pop-ups over what the tests click.
    settings = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "MINNAS_", "IPYTHON", "MPL"))}
    env.update(
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_DATA_DIR=str(base / "jupyter" / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "jupyter" / "runtime"),
        MINNAS_GRADING_DIR=str(grading_dir),
        # nbgrader calls `alembic` from the environment's bin/, which may not be on PATH.
        PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
        PYTHONUNBUFFERED="1",
    )
    token = secrets.token_hex(16)
    port = _free_port()
    log = base / "jupyter-lab.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           "--ServerApp.port_retries=0", f"--ServerApp.token={token}", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root
    with open(log, "wb") as out:
        server = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    it = Lab(f"http://127.0.0.1:{port}", token, root, grading_dir, log)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited with {server.returncode}:\n{it.log_tail()}")
            try:
                it.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in {SERVER_START_S} s:\n"
                                f"{it.log_tail()}")
                time.sleep(0.25)
        yield it
    finally:
        _stop(server, it)


def _stop(server: subprocess.Popen, lab: Lab) -> None:
    """Shut the kernels down through the server, then the server (which stops on SIGTERM);
    kill its process group if it does not stop."""
    if server.poll() is not None:
        return
    try:
        for kernel in lab.api("/api/kernels"):
            request = urllib.request.Request(f"{lab.url}/api/kernels/{kernel['id']}",
                                             method="DELETE",
                                             headers={"Authorization": f"token {lab.token}"})
            urllib.request.urlopen(request, timeout=30).close()
    except (OSError, ValueError):
        pass
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)  # the server and what it started in its session
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-dev-shm-usage",
                                           "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_S * 1000)
    it = context.new_page()
    yield it
    context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


# ---------------------------------------------------------------------------------------------
# JupyterLab's notebook model, through window.jupyterapp

# The notebook panel open on a path (the first argument of every snippet below).
_PANEL = """const panel = Array.from(window.jupyterapp.shell.widgets('main'))
    .find(w => w.context && w.context.path === args[0] && w.content && w.content.model);"""

_READY = "(args) => { " + _PANEL + """
    if (!panel || !panel.context.isReady || panel.content.model.cells.length === 0) return false;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle';
}"""

_SET_SOURCE = "(args) => { " + _PANEL + """
    const cells = panel.content.model.cells;
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        const meta = cell.getMetadata('nbgrader') || {};
        if (meta.grade_id === args[1]) {
            const before = cell.sharedModel.getSource();
            cell.sharedModel.setSource(args[2]);
            return {index: i, before: before};
        }
    }
    return null;
}"""

# Run All is over when the kernel is idle and no cell is queued or running, the first code cell
# has run, and that has held for a few polls in a row (the kernel idles between two cells).
_RUN_ALL_DONE = "(args) => { " + _PANEL + """
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const cells = Array.from({length: panel.content.model.cells.length},
                             (_, i) => panel.content.model.cells.get(i))
                       .filter(c => c.type === 'code');
    const done = !!kernel && kernel.status === 'idle' && cells.length > 0
        && cells[0].executionCount !== null && cells.every(c => c.executionState !== 'running');
    window.__minnasQuiet = done ? (window.__minnasQuiet || 0) + 1 : 0;
    return window.__minnasQuiet >= 4;
}"""

_CELLS = "(args) => { " + _PANEL + """
    const text = t => (Array.isArray(t) ? t.join('') : (t || ''));
    const cells = panel.content.model.cells;
    const out = [];
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i).toJSON();
        const meta = (cell.metadata && cell.metadata.nbgrader) || {};
        out.push({
            index: i, type: cell.cell_type, source: text(cell.source),
            count: cell.execution_count === undefined ? null : cell.execution_count,
            grade_id: meta.grade_id || null, grade: !!meta.grade, solution: !!meta.solution,
            tags: (cell.metadata && cell.metadata.tags) || [],
            outputs: (cell.outputs || []).map(o => ({
                type: o.output_type, mimes: Object.keys(o.data || {}), ename: o.ename || null,
                text: (text(o.text) + ' ' + (o.evalue || '')).slice(0, 400)})),
        });
    }
    return out;
}"""

_SHOW_CELL = "async (args) => { " + _PANEL + """
    panel.content.activeCellIndex = args[1];
    await panel.content.scrollToItem(args[1], 'start');
}"""


def open_notebook(lab: Lab, page: Page, workspace: str) -> None:
    lab.open(page, workspace, NOTEBOOK)
    try:
        page.wait_for_function(_READY, arg=[NOTEBOOK], timeout=UI_S * 1000, polling=250)
    except PlaywrightTimeout as error:
        screenshot(page, f"{workspace}_notebook_not_ready")
        raise AssertionError(f"{NOTEBOOK} did not open with an idle kernel in {UI_S} s ({error});\n"
                             f"server log:\n{lab.log_tail()}") from None


def reference_solution(grade_id: str) -> str:
    """The source notebook's answer to an exercise, without nbgrader's solution markers."""
    nb = nbformat.read(REPO / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*(\n|\Z)", "", cell.source,
                  flags=re.MULTILINE)


def fill_first_exercise(page: Page) -> int:
    """Type the reference answer of the first exercise into its cell (through the notebook
    model, which is what the cell's editor edits); returns the cell's index."""
    answer = reference_solution(FIRST_EXERCISE)
    result = page.evaluate(_SET_SOURCE, [NOTEBOOK, FIRST_EXERCISE, answer])
    assert result is not None, f"no cell with grade_id {FIRST_EXERCISE!r} in {NOTEBOOK}"
    assert "raise NotImplementedError()" in result["before"], (
        f"the release's {FIRST_EXERCISE} cell should hold the placeholder:\n{result['before']}")
    return result["index"]


def click_menu(page: Page, menu: str, item: str) -> None:
    """Click a menu of the main menu bar, then one of its items, by their labels."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel",
                 has_text=re.compile(f"^{re.escape(menu)}$")).click()
    label = page.locator(".lm-Menu .lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                         has_text=re.compile(f"^{re.escape(item)}$"))
    label.first.click()


def _describe(cell: dict) -> str:
    outputs = "; ".join(f"{o['type']}{' ' + o['ename'] if o['ename'] else ''}"
                        f"{' ' + '/'.join(o['mimes']) if o['mimes'] else ''}: "
                        f"{o['text'].strip()[:150]}"
                        for o in cell["outputs"])
    return (f"cell {cell['index']} [{cell['count']}] {cell['grade_id'] or cell['source'][:40]!r} "
            f"tags={cell['tags']} -> {outputs or 'no output'}")


def _errors(cell: dict) -> list[dict]:
    return [o for o in cell["outputs"] if o["type"] == "error"]


# ---------------------------------------------------------------------------------------------
# Student


def test_student_runs_all_cells(lab, page):
    """Fill in the first exercise, Run All from the menu: every cell runs (the tests carry the
    ``raises-exception`` tag, so one failing test does not stop the rest), the first exercise's
    test passes, the others fail on the placeholders, and the figures render."""
    open_notebook(lab, page, "student-run-all")
    fill_first_exercise(page)
    click_menu(page, "Run", "Run All Cells")
    started = time.monotonic()
    try:
        page.wait_for_function(_RUN_ALL_DONE, arg=[NOTEBOOK], timeout=RUN_ALL_S * 1000, polling=250)
    except PlaywrightTimeout as error:
        screenshot(page, "student_run_all_unfinished")
        cells = page.evaluate(_CELLS, [NOTEBOOK])
        state = "\n".join(_describe(c) for c in cells if c["type"] == "code")
        raise AssertionError(f"Run All did not finish in {RUN_ALL_S} s ({error}):\n"
                             f"{state}") from None
    run_s = time.monotonic() - started
    cells = page.evaluate(_CELLS, [NOTEBOOK])
    code = [c for c in cells if c["type"] == "code"]
    state = "\n".join(_describe(c) for c in code)

    unrun = [c for c in code if c["count"] is None]
    assert not unrun, (
        f"Run All stopped early: {len(unrun)} of {len(code)} code cells never ran (does every test "
        f"cell carry the 'raises-exception' tag?), first: cell {unrun[0]['index']}\n{state}")

    tests = [c for c in code if c["grade"] and not c["solution"]]
    first = next(c for c in tests if c["grade_id"] == FIRST_TEST)
    assert not _errors(first), (
        f"the first exercise's test fails with the reference answer:\n{_describe(first)}")
    others = [c for c in tests if c is not first]
    assert others, state
    for cell in others:
        assert [o["ename"] for o in _errors(cell)] and all(
            o["ename"] in TEST_ERRORS for o in _errors(cell)), (
            f"an unanswered exercise's test should fail with {' or '.join(TEST_ERRORS)}:\n"
            f"{_describe(cell)}")
    rest = [c for c in code if c not in tests]
    broken = [c for c in rest if _errors(c)]
    assert not broken, ("setup, exercise and experiment cells should run without error:\n"
                        + "\n".join(_describe(c) for c in broken))

    figures = [c for c in code if any("image/png" in o["mimes"] for o in c["outputs"])]
    assert figures, f"no figure (image/png output) after Run All:\n{state}"

    page.evaluate(_SHOW_CELL, [NOTEBOOK, first["index"] - 1])
    page.locator(".jp-Notebook .jp-Cell.jp-mod-active").wait_for(state="visible")
    screenshot(page, "student_run_all_first_exercise_passes")
    page.evaluate(_SHOW_CELL, [NOTEBOOK, others[0]["index"]])
    screenshot(page, "student_run_all_next_exercise_fails")
    page.evaluate(_SHOW_CELL, [NOTEBOOK, figures[0]["index"]])
    figure = page.locator(".jp-Notebook .jp-Cell.jp-mod-active .jp-OutputArea-output img").first
    figure.wait_for(state="visible")
    figure.scroll_into_view_if_needed()
    screenshot(page, "student_run_all_figure")
    print(f"Run All: {len(code)} code cells in {run_s:.1f} s, {len(figures)} with a figure")


def test_student_validates(lab, page):
    """nbgrader's Validate button (which saves, then executes the notebook on the server) lists
    the failing tests of the unanswered exercises, not the first exercise's, and the blank
    written answers, and no error of its own."""
    open_notebook(lab, page, "student-validate")
    fill_first_exercise(page)
    release = nbformat.read(lab.root / NOTEBOOK, as_version=4)
    graded = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
    tests = {c.metadata.nbgrader.grade_id: c.source for c in graded
             if c.cell_type == "code" and not c.metadata.nbgrader.get("solution")}
    answers = [c for c in graded if c.cell_type == "markdown"]  # written answers, still blank
    # A line of the first test cell found in no other test cell: the dialog must not show it.
    others = "\n".join(src for gid, src in tests.items() if gid != FIRST_TEST)
    marker = next(line for line in tests[FIRST_TEST].splitlines()
                  if line.strip() and line not in others)

    page.locator(".jp-NotebookPanel-toolbar .validate-button").click()
    started = time.monotonic()
    dialog = page.locator(".jp-Dialog")
    try:
        dialog.wait_for(state="visible", timeout=VALIDATE_S * 1000)
    except PlaywrightTimeout as error:
        screenshot(page, "student_validate_no_dialog")
        raise AssertionError(f"no dialog {VALIDATE_S} s after clicking Validate ({error});\n"
                             f"server log:\n{lab.log_tail()}") from None
    validate_s = time.monotonic() - started
    title = dialog.locator(".jp-Dialog-header").inner_text().strip()
    body = dialog.locator(".jp-Dialog-body")
    text = body.inner_text()
    screenshot(page, "student_validate_dialog")
    (ARTIFACTS / "student_validate_dialog.txt").write_text(f"{title}\n\n{text}")
    message = f"Validate's dialog after {validate_s:.0f} s: {title!r}\n{text[:6000]}"

    assert title == "Validation Results", message + f"\nserver log:\n{lab.log_tail()}"
    assert "There was an error running the validate command" not in text, message
    assert not re.search(r"timeout|timed out|CellTimeoutError|DeadKernel", text, re.IGNORECASE), (
        message)
    assert dialog.locator("#validation-message.validation-failed").count() == 1, message
    failed = text.count("The following cell failed:")
    unanswered = text.count("You did not provide a response.")
    assert (failed - unanswered, unanswered) == (len(tests) - 1, len(answers)), (
        f"expected {len(tests) - 1} failing test cells and {len(answers)} blank written answers, "
        f"read {failed - unanswered} and {unanswered}\n" + message)
    assert "NotImplementedError" in text, message
    assert marker.strip() not in text, (
        f"the first exercise's test ({marker.strip()!r}) is listed\n" + message)
    dialog.locator(".jp-Dialog-footer button").last.click()
    dialog.wait_for(state="hidden")
    print(f"Validate: {failed - unanswered} failing test cells, {unanswered} blank answers in "
          f"{validate_s:.1f} s")


# ---------------------------------------------------------------------------------------------
# Instructor


def lesson_points() -> dict[str, float]:
    """Each lesson's points: the sum over its graded cells (code tests and written answers)."""
    points = {}
    for lesson in course.lesson_names():
        nb = nbformat.read(REPO / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
        points[lesson] = sum(float(c.metadata.get("nbgrader", {}).get("points", 0))
                             for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    return points


def test_formgrader_api_lists_the_lessons_and_scores(lab):
    """Formgrader's HTTP API, as its pages call it, on the course that
    nbgrader_config.py sets up."""
    points = lesson_points()
    assignments = lab.api("/formgrader/api/assignments")
    found = {a["name"]: a for a in assignments}
    assert sorted(found) == sorted(points), (
        f"Formgrader's assignments: {json.dumps(assignments)[:3000]}")
    assert {name: a["max_score"] for name, a in found.items()} == points, (
        json.dumps(assignments)[:3000])
    students = {s["id"] for s in lab.api("/formgrader/api/students")}
    assert set(LESSON_SCORES) <= students, f"Formgrader's students: {sorted(students)}"
    submissions = {s["student"]: s for s in lab.api(f"/formgrader/api/submissions/{LESSON}")}
    scores = {student: submissions.get(student, {}).get("score") for student in LESSON_SCORES}
    assert scores == LESSON_SCORES, (
        f"scores in {LESSON}: {json.dumps(list(submissions.values()))[:3000]}")
    assert all(submissions[s]["max_score"] == points[LESSON] for s in LESSON_SCORES), submissions


def test_instructor_sees_lessons_and_scores_in_formgrader(lab, page):
    """Nbgrader menu > Formgrader: Manage Assignments lists the 10 lessons, Manual Grading their
    points, the first lesson's submissions the sample class's scores; one submission
    opens for grading."""
    points = lesson_points()
    lab.open(page, "instructor")
    click_menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("#formgrader-iframe iframe")
    rows = frame.locator("#main-table tr")

    def table(header: str, min_rows: int, what: str) -> list[str]:
        """The rows of the page whose table has the column ``header``, once they have loaded."""
        try:
            frame.locator("thead th", has_text=re.compile(f"^{re.escape(header)}$")).wait_for()
            frame.locator("#main-table td",
                          has_text="Loading, please wait...").wait_for(state="detached")
            rows.nth(min_rows - 1).wait_for(state="visible")
        except PlaywrightTimeout as error:
            shot = screenshot(page, f"formgrader_{what.replace(' ', '_')}_missing")
            text = frame.locator("body").inner_text(timeout=5000)
            raise AssertionError(f"Formgrader shows no {what} (wanted {min_rows} rows; {error}); "
                                 f"screenshot {shot}; page:\n{text[:3000]}\n"
                                 f"server log:\n{lab.log_tail()}") from None
        return [" | ".join(t.split("\t")).strip() for t in rows.all_inner_texts()]

    # Manage Assignments (Formgrader's first page): every lesson, from solutions/.
    listed = table("# Submissions", len(points), "assignments")
    names = [row.split(" | ")[0].strip() for row in listed]
    assert sorted(n for n in names if n in points) == sorted(points), (
        "Manage Assignments:\n" + "\n".join(listed))
    screenshot(page, "formgrader_manage_assignments")

    # Manual Grading: each lesson with its submissions and average / maximum score.
    frame.get_by_role("link", name="Manual Grading", exact=True).click()
    listed = table("Assignment ID", len(points), "gradebook")
    for lesson, total in points.items():
        row = next((r for r in listed if r.startswith(lesson)), None)
        assert row is not None and re.search(rf"/ {total:g}\b", row), (
            f"{lesson} should show its {total:g} points:\n" + "\n".join(listed))
    screenshot(page, "formgrader_gradebook_lessons")

    # The first lesson's submissions with the students' scores (Manage Assignments > # Submissions).
    frame.get_by_role("link", name="Manage Assignments", exact=True).click()
    table("# Submissions", len(points), "assignments")
    frame.locator(f"a[href$='/formgrader/manage_submissions/{LESSON}']").click()
    listed = table("Student Name", len(LESSON_SCORES), f"{LESSON} submissions")
    for student, score in LESSON_SCORES.items():
        row = next((r for r in listed if re.search(rf"\b{student}\b", r)), None)
        assert row is not None and re.search(rf"\b{score:g} / {points[LESSON]:g}\b", row), (
            f"{student} should score {score:g} / {points[LESSON]:g} in {LESSON}:\n"
            + "\n".join(listed))
    screenshot(page, f"formgrader_{LESSON}_submissions_scores")

    # Grading one submission: Manual Grading > lesson > notebook > the partial student's.
    frame.get_by_role("link", name="Manual Grading", exact=True).click()
    table("Assignment ID", len(points), "gradebook")
    frame.locator(f"a[href$='/formgrader/gradebook/{LESSON}']").click()
    table("Notebook ID", 1, f"{LESSON} notebooks")
    frame.locator(f"a[href$='/formgrader/gradebook/{LESSON}/{LESSON}']").click()
    table("Submission ID", len(LESSON_SCORES), f"{LESSON} notebook submissions")
    # Names are hidden until the eye icon of a row reveals one: open the partial student's notebook.
    row = rows.filter(has=frame.locator("a.name-shown", has_text=re.compile("^partial$")))
    row.locator(".glyphicon-eye-open").click()
    row.locator("a.name-shown").click()
    frame.locator("#notebook-container").first.wait_for()
    source = nbformat.read(REPO / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    cells = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
    fields = frame.locator("input.score")
    assert fields.count() == len(cells), (
        f"the grading view should have a score field for each of the {len(cells)} graded cells, "
        f"has {fields.count()}:\n" + frame.locator("body").inner_text()[:3000])
    answer = next(c for c in cells if c.cell_type == "markdown").metadata.nbgrader.grade_id
    frame.locator(f"input.score#{answer}").scroll_into_view_if_needed()
    screenshot(page, f"formgrader_{LESSON}_manual_grading")
