"""Grading on a real Dask cluster: a worker killed mid-run loses no grade; a submission that kills
workers every time is recorded as failed, not retried forever.

The cluster (``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1) is the session
fixture ``dask_cluster``; tests/test_grading.py grades the sample class on it and
tests/test_integrity.py the adversarial class, each compared with the same class graded here.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

from distributed import Client

from grader import cluster, course

LESSONS = ("01_least_squares", "03_entropy")


def test_a_worker_killed_mid_run_loses_no_grade(dask_cluster, graded, tmp_path):
    submissions = tmp_path / "class"
    for student in ("perfect", "partial", "broken", "blank"):
        for lesson in LESSONS:
            shutil.copytree(course.EXAMPLES / student / lesson, submissions / student / lesson)
    done: list = []
    run = threading.Thread(target=lambda: done.append(course.autograde(
        submissions, tmp_path / "work", progress=False, scheduler=dask_cluster.address,
        only=LESSONS)))
    with Client(dask_cluster.address) as client:
        pids = client.run(os.getpid)  # worker address -> PID
        run.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            busy = [address for address, keys in client.processing().items() if keys]
            if busy:
                break
            time.sleep(0.1)
        assert busy, "no worker ever started grading"
        time.sleep(1.0)  # inside a notebook, not before it
        os.kill(pids[busy[0]], signal.SIGKILL)
        run.join(timeout=600)
        assert not run.is_alive() and done, "the run did not finish after a worker was killed"
        # the nanny restarts it, for the tests after this one
        client.wait_for_workers(2, timeout=120)
    results = done[0]
    for (student, lesson), grade in results.grades.items():
        local = graded.grades[student, lesson]
        assert (grade.status, grade.score, grade.flags) == (local.status, local.score,
                                                            local.flags), (student, lesson)


def test_a_submission_that_kills_every_worker_it_runs_on_fails_with_the_reason(dask_cluster):
    def kill_my_worker(item, shared):
        if item == "killer":
            os.kill(os.getpid(), signal.SIGKILL)
        return item.upper()

    with Client(dask_cluster.address) as client:
        # Alone: Dask counts a death against every item the worker held, so an item queued
        # beside the killer each time could share its fate (rare with the default of 3 deaths).
        (item, result, error), = cluster.map_unordered(client, kill_my_worker, ["killer"])
        assert result is None and "died, each time it was tried" in str(error)
        client.wait_for_workers(2, timeout=120)
        out = {item: (result, error) for item, result, error in
               cluster.map_unordered(client, kill_my_worker, ["ok", "fine"])}
    assert out == {"ok": ("OK", None), "fine": ("FINE", None)}, (
        "the cluster grades on after the deaths")


def test_a_daemon_worker_is_told_how_to_start(monkeypatch):
    import multiprocessing

    monkeypatch.setattr(multiprocessing.current_process(), "_config",
                        {**multiprocessing.current_process()._config, "daemon": True})
    try:
        cluster.isolated(str, 1)
    except RuntimeError as exc:
        assert "DASK_DISTRIBUTED__WORKER__DAEMON=False" in str(exc)
    else:
        raise AssertionError("a daemon process must be refused with the fix in the message")
