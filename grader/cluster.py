"""Where notebooks are graded: Dask distributed, on this machine or on many.

One engine for every scale. :func:`connect` gives a Dask client: of a cluster inside this
process (``jobs`` threads, nothing to start or configure), or of a scheduler that ``dask
scheduler`` and ``dask worker`` processes make up across machines. :func:`map_unordered` sends
self-contained work items (no path of the instructor's machine: see
:class:`grader.execute.Job`) and yields the results as they arrive, so the caller, the only
writer of the gradebook, records each one at once.

On the worker, every item runs in a fresh process of its own (:func:`isolated`, forked from a
server that has the grader imported): whatever one item does happens to one process. A process
that dies is retried once; one that runs past the hard limit is killed. A Dask worker that
dies (killed, out of memory, its machine gone) loses nothing: the scheduler hands its items
to other workers, and an item on which workers died ``distributed.scheduler.allowed-failures``
times (3 by default) comes back as an error (``KilledWorker``), recorded against that item.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import multiprocessing
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from tqdm.auto import tqdm

PR_SET_PDEATHSIG = 1  # prctl(2)
# Dask's worker runs as a daemon process by default, and a daemon process may not start others.
DAEMON_HINT = ("this Dask worker is a daemon process, which may not start the process each "
               "notebook is graded in: start it with DASK_DISTRIBUTED__WORKER__DAEMON=False (or "
               "dask worker --no-nanny)")


@contextlib.contextmanager
def connect(scheduler: str | None = None, jobs: int = 1) -> Iterator[Any]:
    """A Dask client: of the scheduler at ``scheduler`` (e.g. ``tcp://10.0.0.5:8786``), or, with
    none, of a cluster in this process that runs ``jobs`` items at once."""
    from distributed import Client, LocalCluster

    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    # Threads are enough here: each item runs in a process of its own anyway (isolated()), and
    # an in-process cluster starts in a fraction of a second. No dashboard; the scheduler's HTTP
    # server (health checks) takes any free port of the loopback interface, never 8787 of all.
    with LocalCluster(n_workers=1, threads_per_worker=jobs, processes=False, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        yield client


def map_unordered(client, function: Callable, items: list, shared: Any = None, *,
                  progress: bool = False,
                  desc: str = "") -> Iterator[tuple[Any, Any, BaseException | None]]:
    """``(item, result, error)`` for ``function(item, shared)`` over ``items``, as they finish.

    ``function`` runs on a worker and must be importable there; ``shared`` (e.g. a gradebook's
    bytes) is sent to each worker once, and again should the workers holding it die. An
    exception raised by ``function``, or the loss of the workers it ran on, is that item's
    ``error``, never the run's.
    """
    from distributed import as_completed

    if not items:
        return
    # The shared bytes as a task's result rather than scattered data: the scheduler keeps the
    # task, so if every worker holding the result dies, it is made again instead of lost (lost
    # scattered data would cancel every item still waiting for it).
    data = client.submit(_same, shared, pure=False) if shared is not None else None
    futures = {client.submit(function, item, data, pure=False): item for item in items}
    bar = tqdm(total=len(items), desc=desc, unit="notebook", disable=not progress)
    try:
        for future in as_completed(futures):
            item = futures.pop(future)
            try:
                yield item, future.result(), None
            except Exception as exc:  # noqa: BLE001 - this item's error, the run goes on
                yield item, None, _explain(exc)
            finally:
                future.release()
                bar.update()
    finally:
        client.cancel(list(futures))  # only when the caller stopped early
        bar.close()


def _same(value: Any) -> Any:
    return value


def _explain(exc: BaseException) -> BaseException:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return RuntimeError("the Dask workers grading it died, each time it was tried "
                            "(KilledWorker)")
    return exc


# -- on the worker -----------------------------------------------------------------------------

def isolated(function: Callable, item: Any, hard_s: float | None = None,
             after_kill: Callable[[], None] | None = None) -> Any:
    """``function(item)`` in a fresh process; its result, or its exception raised here.

    A process that dies before it answers is retried once in a new one; one that runs past
    ``hard_s`` wall-clock seconds is killed, ``after_kill()`` cleans up, and ``TimeoutError``
    is raised.
    """
    context = _fork_context()
    if multiprocessing.current_process().daemon:
        raise RuntimeError(DAEMON_HINT)
    for attempt in (1, 2):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(send, function, item), daemon=True)
        process.start()
        send.close()
        try:
            answered = receive.poll(hard_s)
            ok, value = receive.recv() if answered else (False, None)
        except (EOFError, OSError):  # the process died before it answered
            process.join()
            if attempt == 1:
                continue
            raise RuntimeError("the grading process died twice "
                               f"(exit code {process.exitcode})") from None
        finally:
            receive.close()
        if not answered:
            process.kill()
            process.join()
            if after_kill is not None:
                after_kill()
            raise TimeoutError(f"grading ran past the hard limit of {hard_s:g} s and was stopped")
        process.join()
        if ok:
            return value
        raise value
    raise AssertionError("unreachable")


@functools.cache
def _fork_context():
    """Processes forked from a server with the grader imported: a fresh process per item for the
    cost of a fork, not of an interpreter start and nbgrader's imports."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["grader.course", "grader.execute"])
    return context


def _die_with_parent() -> None:
    """On Linux, end this process when the fork server that started it ends, which it does when
    its worker dies: the worker's items are graded again elsewhere, and a grading process left
    running would compete with them for nothing (its kernel dies with it:
    bwrap --die-with-parent)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _work(conn, function: Callable, item) -> None:
    _die_with_parent()
    warnings.simplefilter("ignore")
    logging.getLogger().setLevel(logging.ERROR)
    try:
        result = (True, function(item))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent as the item's error
        result = (False, exc)
    try:
        conn.send(result)
    except Exception as exc:  # noqa: BLE001 - e.g. an exception that cannot be pickled
        conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
    conn.close()
