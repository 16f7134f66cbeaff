"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
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
    shutil.copy(course.EXAMPLES / "perfect" / lessons[0] / f"{lessons[0]}.ipynb",
                renamed / "my_work.ipynb")
    return course.autograde(submissions, root / "work", progress=False)


@dataclass
class DaskCluster:
    address: str
    scheduler_file: Path
    processes: list[subprocess.Popen]


# Grading starts a process per notebook inside the worker, which a daemon process may not do.
DASK_ENV = {"DASK_DISTRIBUTED__WORKER__DAEMON": "False",
            # fewer deaths before a task is given up (3 by default), so the test of it is quick
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory) -> DaskCluster:
    """A real Dask cluster on this machine, as an instructor starts one across machines: a
    ``dask scheduler`` and two ``dask worker`` processes (one thread each, with a nanny that
    restarts a worker that dies), talking TCP on 127.0.0.1."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    dask = str(Path(sys.executable).parent / "dask")
    env = dict(os.environ, **DASK_ENV)
    # --no-dashboard still serves HTTP (health checks) on port 8787 of every interface
    common = ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    log = (folder / "dask.log").open("w")
    processes = [subprocess.Popen([dask, "scheduler", *common, "--port", "0", "--scheduler-file",
                                   str(scheduler_file)],
                                  env=env, stdout=log, stderr=subprocess.STDOUT)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        for i in range(2):
            processes.append(subprocess.Popen(
                [dask, "worker", *common, "--nthreads", "1", "--name", f"worker-{i}",
                 "--scheduler-file", str(scheduler_file)],
                env=env, stdout=log, stderr=subprocess.STDOUT))
        with Client(scheduler_file=str(scheduler_file), timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            address = client.scheduler.address
        yield DaskCluster(address, scheduler_file, processes)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
