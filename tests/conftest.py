"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from grader import course

# nbgrader runs its `alembic` command from PATH when it creates a gradebook: put this
# interpreter's bin folder first, as activating the virtual environment does.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


@pytest.fixture(scope="session")
def graded(tmp_path_factory) -> course.ClassResults:
    """One autograde run over the sample class plus three more students, shared by the session
    (tests/test_grading.py checks the grades, tests/test_browser.py shows them in Formgrader):
    ``solution`` hands in the source notebooks, ``release`` the committed lessons/,
    ``corrupt`` an invalid notebook for the first lesson and nothing else, ``renamed`` a correct
    notebook for the first lesson saved under another name. The gradebook, submitted/,
    autograded/ and feedback/ are in ``graded.workdir``."""
    lessons = course.lesson_names()
    root = tmp_path_factory.mktemp("class")
    submissions = root / "submissions"
    shutil.copytree(course.EXAMPLES, submissions)
    for student, folder in (("solution", course.SOLUTIONS), ("release", course.LESSONS)):
        for lesson in lessons:
            shutil.copytree(folder / lesson, submissions / student / lesson)
    corrupt = submissions / "corrupt" / lessons[0]
    corrupt.mkdir(parents=True)
    (corrupt / f"{lessons[0]}.ipynb").write_text('{"cells": [')
    renamed = submissions / "renamed" / lessons[0]
    renamed.mkdir(parents=True)
    shutil.copy(course.EXAMPLES / "perfect" / lessons[0] / f"{lessons[0]}.ipynb", renamed / "my_work.ipynb")
    return course.autograde(submissions, root / "work", progress=False)
