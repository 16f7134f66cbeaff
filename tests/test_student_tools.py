"""What a student checks a notebook with: nbgrader's Validate (with the course's limits from
nbgrader_config.py) and ``python -m grader check`` (the grader's own executor and limits)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from grader import config, course

LESSON = "01_least_squares"
BLANK = course.LESSONS / LESSON / f"{LESSON}.ipynb"
PERFECT = course.EXAMPLES / "perfect" / LESSON / f"{LESSON}.ipynb"


def run(*args: str, cwd: Path = course.REPO) -> subprocess.CompletedProcess:
    # The venv's bin first, as when it is activated (nbgrader runs `alembic` from PATH).
    env = {**os.environ,
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_validate_uses_the_cell_limit_of_autograde():
    """nbgrader started from the repository root (as the Validate button of a JupyterLab started
    there) reads nbgrader_config.py: its Execute preprocessor has the grader's cell limit."""
    probe = ("from nbgrader.apps import ValidateApp; from nbgrader.validator import Validator; "
             "from nbgrader.preprocessors import Execute; app = ValidateApp(); app.initialize([]); "
             "print(Execute(parent=Validator(parent=app)).timeout)")
    done = run("-c", probe)
    assert done.returncode == 0, done.stderr
    limit = config.limits().cell_s
    assert int(done.stdout.split()[-1]) == limit, (
        f"Validate's cell timeout is {done.stdout.strip()} s, autograde's {limit} s: "
        "they must be the same")
    assert limit > 30, (
        "nbgrader's default of 30 s interrupts lesson 07's search; the course sets its own")


def test_nbgrader_validate_reports_the_failures_of_a_blank_lesson():
    done = run("-m", "nbgrader", "validate", str(BLANK.relative_to(course.REPO)))
    out = done.stdout + done.stderr
    assert "VALIDATION FAILED" in out and "NotImplementedError" in out, (
        f"Validate should list the failures:\n{out}")
    assert "timeout" not in out.lower(), f"Validate hit a timeout:\n{out}"


def test_grader_check_shows_each_visible_test_and_fails_when_one_fails(tmp_path):
    done = run("-m", "grader", "check", str(BLANK), str(PERFECT), cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 1, (
        f"a failing visible test should make check exit 1, got {done.returncode}:\n{out}")
    blank, perfect = out.split(f"{PERFECT}:")
    assert "FAIL 0/2  test_normal_equations  NotImplementedError" in blank, (
        f"the blank lesson's failures:\n{blank}")
    assert "pass" not in blank.split("\n", 1)[1], f"nothing passes in the blank lesson:\n{blank}"
    assert "FAIL" not in perfect and "pass 2/2  test_normal_equations" in perfect, (
        f"the perfect lesson:\n{perfect}")
    assert "10/10 points from the visible tests" in perfect, perfect
    alone = run("-m", "grader", "check", str(PERFECT), cwd=tmp_path)
    assert alone.returncode == 0, (
        f"every visible test passes: check should exit 0:\n{alone.stdout}{alone.stderr}")
