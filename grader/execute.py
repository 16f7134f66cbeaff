"""Grade one submitted notebook in a worker process: check it, sanitise it, run it under limits.

This is nbgrader's ``autograde`` for one notebook, cut where the gradebook is written: the
worker does everything that only *reads* (the integrity checks, nbgrader's sanitising
preprocessors against a read-only copy of the gradebook, the execution), and hands the
executed notebook back to the parent process, which alone writes grades
(:func:`grader.course.autograde`). That is what lets several notebooks run at once while the
SQLite gradebook has a single writer.

Execution follows nbgrader's ``Execute`` preprocessor (errors allowed, the kernel interrupted
at the cell time limit, ``NBGRADER_EXECUTION=autograde``), with four differences:

* the kernel starts through :mod:`grader.sandbox` (scratch copy, rlimits, namespaces);
* a per-notebook time limit on top of the per-cell one;
* a kernel that dies (``os._exit``, a signal, the CPU limit) costs the cells from the one that
  killed it onwards, each marked with the reason, instead of aborting the notebook;
* output on stderr in a test cell is kept but relabelled, so that a correct answer that also
  prints a warning is not scored 0 (nbgrader's rule); it is noted in the report.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets.config import Config

from grader import sandbox
from grader.integrity import (FAILED, LIMIT, NOTE, Flag, LessonSpec, check_structure, repair_cell_ids,
                              scan_code, student_cells)

KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]
MAX_OUTPUTS_PER_CELL = 200
IOPUB_S = 10


@dataclass(frozen=True)
class Limits:
    """Per-submission limits: seconds per cell and per notebook, memory (address space) in bytes."""

    cell_s: int = 120
    notebook_s: int = 600
    memory_bytes: int = 4 * 2**30

    @property
    def cpu_s(self) -> int:
        """CPU seconds of the kernel: a backstop for one that ignores the interrupt."""
        return self.notebook_s + 30

    def __post_init__(self):
        for name in ("cell_s", "notebook_s", "memory_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True)
class Isolation:
    """How kernels are isolated: namespaces or not, and which paths they must not see."""

    namespaces: bool
    hide: tuple[Path, ...] = ()
    read_only: tuple[Path, ...] = ()
    description: str = ""


@dataclass
class Task:
    student: str
    lesson: str
    notebook: Path          # the submitted notebook
    db_url: str             # a read-only copy of the gradebook (source cells, checksums)
    spec: LessonSpec
    limits: Limits
    isolation: Isolation
    scratch: Path           # where the kernel works (inside a private tmpfs under namespaces)
    ipc_dir: Path           # this kernel's ZMQ sockets and connection file


@dataclass
class Outcome:
    student: str
    lesson: str
    nb: nbformat.NotebookNode | None
    flags: list[Flag] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.nb is None


def grade(task: Task) -> Outcome:
    """Check, sanitise and execute one notebook; never raises for anything the student did."""
    start = time.perf_counter()
    outcome = Outcome(task.student, task.lesson, None)
    try:
        # nbformat.reads would replace duplicated cell ids with random ones; the integrity
        # check repairs them deterministically (and says so) instead.
        nb = nbformat.convert(nbformat.reader.reads(task.notebook.read_text(encoding="utf-8")), 4)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the student's, not ours
        outcome.flags.append(Flag(FAILED, "", f"not a valid notebook: {type(exc).__name__}: {_first_line(exc)}"))
        return outcome
    try:
        outcome.flags += check_structure(nb, task.spec)
        nb = _sanitize(nb, task)
        outcome.flags += scan_code(student_cells(nb, task.spec), task.spec)
        outcome.flags += _execute(nb, task)
        outcome.flags += _tidy_outputs(nb)
        outcome.nb = nb
    except Exception as exc:  # noqa: BLE001 - recorded against this submission; the batch goes on
        outcome.flags.append(Flag(FAILED, "", f"could not grade: {type(exc).__name__}: {_first_line(exc)}"))
    outcome.seconds = time.perf_counter() - start
    return outcome


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def _resources(task: Task) -> dict:
    return {"nbgrader": {"db_url": task.db_url, "assignment": task.lesson, "notebook": task.lesson,
                         "student": task.student}}


def _sanitize(nb: nbformat.NotebookNode, task: Task) -> nbformat.NotebookNode:
    """nbgrader's sanitising steps: clear outputs, deduplicate, restore kernelspec and locked cells."""
    from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        OverwriteCells, OverwriteKernelspec)

    cfg = Config()
    cfg.OverwriteCells.add_missing_cells = True
    resources = _resources(task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for pp in (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata):
            nb, resources = pp(config=cfg).preprocess(nb, resources)
    repair_cell_ids(nb)  # cells nbgrader re-added come without an id
    return nb


class _SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel through :mod:`grader.sandbox`."""

    sandbox_options: dict = {}

    def format_kernel_cmd(self, extra_arguments=None):
        return sandbox.kernel_command(super().format_kernel_cmd(extra_arguments), **self.sandbox_options)


def _kernel_manager(task: Task) -> _SandboxedKernelManager:
    task.ipc_dir.mkdir(parents=True, exist_ok=True)
    km = _SandboxedKernelManager(kernel_name="python3", transport="ipc", ip=str(task.ipc_dir / "s"),
                                 connection_file=str(task.ipc_dir / "kernel.json"))
    km.sandbox_options = {
        "scratch": task.scratch, "copy_from": task.notebook.parent,
        "memory_bytes": task.limits.memory_bytes,
        "cpu_seconds": task.limits.cpu_s,
        "namespaces": task.isolation.namespaces, "hide": list(task.isolation.hide),
        "read_only": list(task.isolation.read_only), "keep": [task.ipc_dir]}
    return km


def _error(ename: str, evalue: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _label(nb: nbformat.NotebookNode, index: int) -> str:
    return nb.cells[index].metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"


def _execute(nb: nbformat.NotebookNode, task: Task) -> list[Flag]:
    """Run the notebook cell by cell under the limits; returns what the limits caught."""
    limits, flags = task.limits, []
    deadline = time.monotonic() + limits.notebook_s

    def cell_timeout(cell) -> int:
        return max(1, min(limits.cell_s, int(deadline - time.monotonic()) + 1))

    env = dict(os.environ, NBGRADER_EXECUTION="autograde", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    km = _kernel_manager(task)
    client = NotebookClient(
        nb, km=km, timeout_func=cell_timeout, interrupt_on_timeout=True, allow_errors=True,
        # After the reply, outputs may still be in flight (more so on a busy machine): give them
        # IOPUB_S before concluding that the kernel ignored the interrupt.
        raise_on_iopub_timeout=True, iopub_timeout=IOPUB_S, extra_arguments=KERNEL_ARGS, record_timing=False,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "time limit",
                          "traceback": ["CellTimeoutError: the cell ran past its time limit"]},
        on_cell_executed=_record_reply_error)
    stopped = None  # (index, reason) of the cell where execution stopped
    try:
        with client.setup_kernel(env=env):
            stopped = _run_cells(client, nb, km, limits, deadline, flags)
    finally:
        # The client does not own a kernel manager it was given: stop the kernel here, now.
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    if stopped is not None:
        index, reason = stopped
        flags.append(Flag(LIMIT, _label(nb, index), reason))
        for cell in nb.cells[index:]:
            if cell.cell_type == "code":
                cell.outputs = [_error("KernelStopped", f"not run to the end: {reason} (in {_label(nb, index)})")]
    return flags


def _run_cells(client: NotebookClient, nb, km, limits: Limits, deadline: float,
               flags: list[Flag]) -> tuple[int, str] | None:
    """Execute the code cells in order; ``(index, reason)`` of the cell where the kernel stopped."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if time.monotonic() >= deadline:
            return index, f"notebook time limit ({limits.notebook_s} s) reached before this cell"
        try:
            client.execute_cell(cell, index)
        except DeadKernelError:
            return index, _death_reason(km, limits)
        except CellTimeoutError:
            return index, f"the kernel did not stop at the time limit ({limits.cell_s} s per cell)"
        flags += _limit_flags(nb, index, limits, deadline)
    return None


def _record_reply_error(cell, cell_index, execute_reply) -> None:
    """As nbgrader's Execute: an error reply with no error output (a timeout) becomes an output."""
    content = execute_reply["content"]
    if content["status"] == "error" and not any(
            o.output_type == "error" and o.get("ename") == content["ename"] for o in cell.outputs):
        cell.outputs.append(_error(content["ename"], content.get("evalue", "")))


def _limit_flags(nb, index: int, limits: Limits, deadline: float) -> list[Flag]:
    errors = [o for o in nb.cells[index].outputs if o.output_type == "error"]
    flags = []
    for out in errors:
        if out.ename == "CellTimeoutError":
            which = "notebook" if time.monotonic() >= deadline - 1 else "cell"
            seconds = limits.notebook_s if which == "notebook" else limits.cell_s
            flags.append(Flag(LIMIT, _label(nb, index), f"{which} time limit ({seconds} s): interrupted"))
        elif out.ename == "MemoryError":
            flags.append(Flag(LIMIT, _label(nb, index),
                              f"memory limit ({limits.memory_bytes / 2**30:g} GiB): MemoryError"))
    return flags


def _death_reason(km: AsyncKernelManager, limits: Limits) -> str:
    import signal

    process = getattr(getattr(km, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        return "the kernel died"
    if code < 0:
        sig = signal.Signals(-code)
        why = {signal.SIGXCPU: f"CPU time limit ({limits.cpu_s} s)",
               signal.SIGKILL: "killed (SIGKILL; out of memory?)"}.get(sig, sig.name)
        return f"the kernel died: {why}"
    return f"the kernel exited with status {code}"


def _tidy_outputs(nb: nbformat.NotebookNode) -> list[Flag]:
    """Relabel stderr in test cells, and cap huge outputs (nbgrader's LimitOutput, then a count cap)."""
    from nbgrader.preprocessors import LimitOutput

    flags = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs = _coalesce_streams(cell.outputs)
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            streams = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
            for out in streams:
                out.name, out.text = "stdout", "[stderr] " + out.text
            if streams:
                flags.append(Flag(NOTE, _label(nb, i), "wrote to stderr during a test (kept, not held against the grade)"))
        size = sum(len(o.get("text", "")) for o in cell.outputs)
        if len(cell.outputs) > MAX_OUTPUTS_PER_CELL:
            flags.append(Flag(NOTE, _label(nb, i), f"{len(cell.outputs)} outputs: the first "
                                                   f"{MAX_OUTPUTS_PER_CELL} and every error kept"))
            # Errors decide a test cell's grade: never drop one.
            cell.outputs = [o for k, o in enumerate(cell.outputs)
                            if k < MAX_OUTPUTS_PER_CELL or o.output_type == "error"]
        nb.cells[i], _ = LimitOutput().preprocess_cell(cell, {}, i)
        if sum(len(o.get("text", "")) for o in cell.outputs) < size:
            flags.append(Flag(NOTE, _label(nb, i), f"output of {size:,} characters truncated"))
    return flags


def _coalesce_streams(outputs: list) -> list:
    """Merge consecutive stream outputs of one name: how the kernel chunked them is chance."""
    merged = []
    for out in outputs:
        if (out.output_type == "stream" and merged and merged[-1].output_type == "stream"
                and merged[-1].name == out.name):
            merged[-1].text += out.text
        else:
            merged.append(out)
    return merged
