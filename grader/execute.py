"""Grade one submitted notebook in a worker process: check it, sanitise it, run it under limits.

This is nbgrader's ``autograde`` for one notebook, cut where the gradebook is written: the
worker does everything that only *reads* (the integrity checks, nbgrader's sanitising
preprocessors against a read-only copy of the gradebook, the execution), and hands the
executed notebook back to the instructor's process, which alone writes grades
(:func:`grader.course.autograde`). That is what lets many notebooks run at once, on one machine
or many (:mod:`grader.cluster`), while the SQLite gradebook has a single writer. A
:class:`Job` carries everything grading needs (the submission's bytes, the lesson's cells, the
limits), so any machine with the course installed can run :func:`grade_job`.

Execution follows nbgrader's ``Execute`` preprocessor (errors allowed, the kernel interrupted
at the cell time limit, ``NBGRADER_EXECUTION=autograde``), with these differences:

* the kernel starts through :mod:`grader.sandbox` (its own process world, a cgroup, rlimits),
  and everything it started is killed with its cgroup when the notebook ends; where the
  machine allows, it is forked into that sandbox from a template that has the lessons'
  libraries imported (:mod:`grader.template`), instead of importing them itself;
* a per-notebook time limit on top of the per-cell one (and the parent process kills a worker
  that outlives both, :func:`grader.cluster.isolated`);
* output is bounded as it arrives (characters and messages per cell and per notebook), so no
  submission can make the grader hold or process more than that;
* before every test cell, :mod:`grader.guard` checks that the interpreter still runs tests as
  written, and flags what changed;
* a kernel that dies (``os._exit``, a signal, the CPU limit) costs the cells from the one that
  killed it onwards, each marked with the reason, instead of aborting the notebook;
* output on stderr in a test cell is kept but relabelled, so that a correct answer that also
  prints a warning is not scored 0 (nbgrader's rule); it is noted in the report;
* the code cells after the last graded one (a lesson's experiments, the student's own
  explorations) are not run: nothing after the last graded cell can change a grade, and they
  are most of a notebook's run time. The student and the lesson checks still run them. Nor
  are figures rendered (see :data:`GRADING_KERNEL_ARGS`).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets.config import Config

from grader import cluster, guard, sandbox, template
from grader.integrity import (FAILED, LIMIT, NOTE, SUSPICIOUS, Flag, LessonSpec, check_structure,
                              repair_cell_ids)
from grader.scan import scan_code, student_cells

KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]
# Figures are drawn for the student, not for the grade: while grading, a figure's display is its
# text (``<Figure size ... with 3 Axes>``), not a rendered PNG, which costs more than most tests.
GRADING_KERNEL_ARGS = [*KERNEL_ARGS, "--InlineBackend.figure_formats=set()"]
MAX_OUTPUTS_PER_CELL = 200
IOPUB_S = 10
NOT_RUN = ("[not run while grading: it comes after the last graded cell, so it cannot change "
           "the grade]\n")
# the first run-time check imports what the tests use (torch: seconds on a busy machine)
PROBE_S = 60
KERNEL_ENV = {"NBGRADER_EXECUTION": "autograde", "PYTHONWARNINGS": "ignore"}


@dataclass(frozen=True)
class Limits:
    """Per-submission bounds on everything a submission can make the grader do.

    Seconds per cell and per notebook; memory in bytes (of each process, and with a cgroup of
    the kernel and all its descendants together); processes (and threads) at once; output
    characters per cell and per notebook, and output messages per cell; the submitted file's size.
    """

    cell_s: int = 120
    notebook_s: int = 600
    memory_bytes: int = 4 * 2**30
    max_processes: int = 256
    cell_output_chars: int = 2_000_000
    notebook_output_chars: int = 20_000_000
    cell_messages: int = 2_000
    notebook_bytes: int = 32 * 2**20

    @property
    def cpu_s(self) -> int:
        """CPU seconds of the kernel: a backstop for one that ignores the interrupt."""
        return self.notebook_s + 30

    @property
    def hard_s(self) -> int:
        """Wall-clock seconds after which the grader kills the worker grading a notebook."""
        return self.notebook_s + 180

    def __post_init__(self):
        for name in ("cell_s", "notebook_s", "memory_bytes", "max_processes", "cell_output_chars",
                     "notebook_output_chars", "cell_messages", "notebook_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True)
class Isolation:
    """How kernels are isolated: the sandbox level, what they see, and whether
    cgroups bound them."""

    level: str = sandbox.NONE
    view: tuple[Path, ...] = ()
    cgroups: bool = False
    description: str = ""
    template: str = ""  # the socket of this machine's kernel template (grader.template), if any


@dataclass
class Task:
    student: str
    lesson: str
    notebook: Path          # the submitted notebook
    db_url: str             # a read-only copy of the gradebook (source cells, checksums)
    spec: LessonSpec
    limits: Limits
    isolation: Isolation
    scratch: Path           # where the kernel works at level "none" (bubblewrap: a private tmpfs)
    ipc_dir: Path           # this kernel's ZMQ sockets and connection file
    cgroup: str = ""        # the name of this kernel's cgroup, when cgroups bound kernels


@dataclass(frozen=True)
class Job:
    """One submission to grade, self-contained: the machine that grades it needs nothing else."""

    key: str                  # unique in the run (the start of its kernel cgroup's name)
    student: str
    lesson: str
    files: dict[str, bytes]   # the submission's lesson folder: relative path -> content
    spec: LessonSpec
    limits: Limits


@dataclass
class Outcome:
    student: str
    lesson: str
    nb: nbformat.NotebookNode | None
    flags: list[Flag] = field(default_factory=list)
    seconds: float = 0.0
    kernel_cpu_s: float = 0.0  # user + system seconds of the kernel and everything it started
    isolation: str = ""        # how the kernel was isolated, on the machine that ran it

    @property
    def failed(self) -> bool:
        return self.nb is None


def grade_job(job: Job, source_db: bytes) -> Outcome:
    """Grade ``job`` on this machine, in a private folder, the kernel isolated as well as this
    machine allows; ``source_db`` is a copy of the gradebook (the lessons' cells, read only).

    :func:`grade` runs in a fresh process (:func:`grader.cluster.isolated`), killed if it
    outlives the hard limit; whatever the kernel left behind is removed here.
    """
    level, cgroups, how = _isolation_here(job.limits.memory_bytes)
    template_path, started = _template_here(level, _uses_torch(job.spec))
    how += f"; {started}" if started else ""
    root = job_folder()
    task = Task(job.student, job.lesson, root / "submission" / f"{job.lesson}.ipynb",
                f"sqlite:///{root / 'source.db'}", job.spec, job.limits,
                Isolation(level, _view(), cgroups, how, template_path), root / "scratch",
                root / "k",
                # A name of this attempt's own: a job retried after its worker died may run beside
                # the orphan of the first attempt, and ending one cgroup must not end the other.
                f"minnas-{job.key}-{uuid.uuid4().hex[:8]}" if cgroups else "")
    try:
        _write_files(root / "submission", job.files)
        (root / "source.db").write_bytes(source_db)
        outcome = cluster.isolated(grade, task, job.limits.hard_s,
                                   after_kill=functools.partial(end_kernel, task))
        outcome.isolation = how
        return outcome
    finally:
        end_kernel(task)
        shutil.rmtree(root, ignore_errors=True)


JOB_PREFIX = "minnas-job-"


def job_folder() -> Path:
    """A private (0700) folder for one job on this machine, named after this process.

    Folders of jobs whose process is gone (a worker killed mid-job) are removed first.
    """
    for old in Path(tempfile.gettempdir()).glob(f"{JOB_PREFIX}*"):
        pid = old.name[len(JOB_PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{JOB_PREFIX}{os.getpid()}-"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process
        return True
    return True


_DETECTED: dict[int, tuple[str, bool, str]] = {}
_DETECTING = threading.Lock()


def _isolation_here(memory_bytes: int) -> tuple[str, bool, str]:
    """What this machine allows, probed once per process; a worker's threads wait for one probe
    (two at once would trip over each other's probe cgroup and find none)."""
    with _DETECTING:
        if memory_bytes not in _DETECTED:
            _DETECTED[memory_bytes] = sandbox.detect(memory_bytes)
        return _DETECTED[memory_bytes]


# torch or not -> (the template, or None where it failed, and how kernels start)
TEMPLATES: dict[bool, tuple[template.Template | None, str]] = {}


def _template_here(level: str, torch: bool) -> tuple[str, str]:
    """``(socket, description)`` of this process's kernel template with (``torch``) or without
    torch, started on first use; no socket where kernels are not in bubblewrap or the template
    failed (the description says why)."""
    if level != sandbox.BUBBLEWRAP:
        return "", ""
    with _DETECTING:
        if torch not in TEMPLATES:
            modules = template.TORCH if torch else template.BASE
            try:
                started = template.Template.start(dict(os.environ, **KERNEL_ENV), modules)
            except OSError as exc:
                TEMPLATES[torch] = (None, f"each kernel a new interpreter ({exc})")
            else:
                atexit.register(started.close)
                TEMPLATES[torch] = (started, "kernels forked from a template with the lessons' "
                                             "libraries imported")
        started, description = TEMPLATES[torch]
        return (started.path if started else ""), description


def _uses_torch(spec: LessonSpec) -> bool:
    """Whether the lesson's given cells or tests use torch (then its template imports it)."""
    texts = [cell["source"] for cell in spec.cells.values()] + list(spec.source_texts.values())
    return any(word in text for text in texts for word in ("torch", "minnas.data", "minnas.train"))


@functools.cache
def _view() -> tuple[Path, ...]:
    return tuple(sandbox.read_only_view())


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = folder / name
        # The instructor's process listed these names; a worker still writes nowhere else.
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ValueError(f"a submission file name outside its folder: {name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def end_kernel(task: Task) -> None:
    """Kill whatever is left of ``task``'s kernel (its cgroup), when cgroups bound kernels."""
    if task.isolation.cgroups and task.cgroup:
        sandbox.Cgroup.existing(task.cgroup).kill()


def grade(task: Task) -> Outcome:
    """Check, sanitise and execute one notebook; never raises for anything the student did."""
    start = time.perf_counter()
    outcome = Outcome(task.student, task.lesson, None)
    problem = submitted_file_problem(task.notebook, task.limits)
    if problem:
        outcome.flags.append(Flag(FAILED, "", problem))
        return outcome
    try:
        # nbformat.reads would replace duplicated cell ids with random ones; the integrity
        # check repairs them deterministically (and says so) instead.
        nb = nbformat.convert(nbformat.reader.reads(task.notebook.read_text(encoding="utf-8")), 4)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the student's, not ours
        outcome.flags.append(Flag(FAILED,
                                  "", f"not a valid notebook: {type(exc).__name__}: "
                                      f"{_first_line(exc)}"))
        return outcome
    try:
        outcome.flags += check_structure(nb, task.spec)
        nb = _sanitize(nb, task)
        outcome.flags += scan_code(student_cells(nb, task.spec), task.spec)
        flags, outcome.kernel_cpu_s = _execute(nb, task)
        outcome.flags += flags
        outcome.flags += _tidy_outputs(nb)
        outcome.nb = nb
    except Exception as exc:  # noqa: BLE001 - recorded against this submission; the batch goes on
        outcome.flags.append(Flag(FAILED, "",
                                  f"could not grade: {type(exc).__name__}: {_first_line(exc)}"))
    outcome.seconds = time.perf_counter() - start
    return outcome


def submitted_file_problem(notebook: Path, limits: Limits) -> str:
    """Why a submitted notebook cannot be graded as a file (a link, not a plain file, too
    big), or ``""``."""
    import stat

    info = notebook.lstat()
    if stat.S_ISLNK(info.st_mode):
        return f"{notebook.name} is a symbolic link, not a notebook file"
    if not stat.S_ISREG(info.st_mode):
        return f"{notebook.name} is not a plain file"
    if info.st_size > limits.notebook_bytes:
        return (f"{notebook.name} holds {info.st_size / 2**20:.1f} MiB, over the limit of "
                f"{limits.notebook_bytes / 2**20:g} MiB")
    return ""


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def _resources(task: Task) -> dict:
    return {"nbgrader": {"db_url": task.db_url, "assignment": task.lesson, "notebook": task.lesson,
                         "student": task.student}}


def _sanitize(nb: nbformat.NotebookNode, task: Task) -> nbformat.NotebookNode:
    """nbgrader's sanitising steps: clear outputs, deduplicate, restore kernelspec
    and locked cells."""
    from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        OverwriteCells, OverwriteKernelspec)

    cfg = Config()
    cfg.OverwriteCells.add_missing_cells = True
    resources = _resources(task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for pp in (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                   CheckCellMetadata):
            nb, resources = pp(config=cfg).preprocess(nb, resources)
    repair_cell_ids(nb)  # cells nbgrader re-added come without an id
    return nb


class _SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel through :mod:`grader.sandbox`: forked from the
    template at ``template`` into its sandbox where there is one (:mod:`grader.template`), as
    a new interpreter otherwise."""

    sandbox_options: dict = {}
    template: str = ""
    _kernel_argv: list[str] = []

    def format_kernel_cmd(self, extra_arguments=None):
        self._kernel_argv = super().format_kernel_cmd(extra_arguments)
        if self._forks():  # the sandbox starts with a holder, whom the kernel joins
            return sandbox.kernel_command(template.HOLDER, **self.sandbox_options, init=True)
        return sandbox.kernel_command(self._kernel_argv, **self.sandbox_options)

    def _forks(self) -> bool:
        argv = self._kernel_argv
        return bool(self.template) and len(argv) > 3 and argv[1:3] == ["-m", "ipykernel_launcher"] \
            and os.path.realpath(argv[0]) == os.path.realpath(sys.executable)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        await super()._async_launch_kernel(kernel_cmd, **kw)
        if not self._forks():
            return
        holder = self.provisioner.process  # from now on, it ends as the kernel ends
        config = sandbox.kernel_config(**self.sandbox_options)
        try:
            template.spawn(
                self.template, holder, self._kernel_argv[1:], sandbox.HOME,
                sandbox.kernel_env(sandbox.BUBBLEWRAP, sandbox.HOME, kw.get("env")),
                sandbox.rlimits(config), config["cgroup"])
        except OSError:  # the template is gone: this kernel starts as a new interpreter
            holder.kill()
            holder.wait()
            self.template = ""
            await super()._async_launch_kernel(
                sandbox.kernel_command(self._kernel_argv, **self.sandbox_options), **kw)

    @property
    def kernel_spec(self):
        # Jupyter's "message" interrupt: the kernel interrupts itself when asked on its control
        # channel. A SIGINT to the launcher's process group would not reach a kernel that
        # bubblewrap started in a session of its own.
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec


def _kernel_manager(task: Task, cgroup: sandbox.Cgroup | None) -> _SandboxedKernelManager:
    task.ipc_dir.mkdir(parents=True, exist_ok=True)
    km = _SandboxedKernelManager(kernel_name="python3", transport="ipc", ip=str(task.ipc_dir / "s"),
                                 connection_file=str(task.ipc_dir / "kernel.json"))
    km.sandbox_options = {
        "scratch": task.scratch, "copy_from": task.notebook.parent,
        "memory_bytes": task.limits.memory_bytes, "cpu_seconds": task.limits.cpu_s,
        "level": task.isolation.level, "ipc_dir": task.ipc_dir, "view": list(task.isolation.view),
        "cgroup": cgroup.procs_files if cgroup else [], "max_processes": task.limits.max_processes}
    km.template = task.isolation.template
    return km


class _BoundedClient(NotebookClient):
    """nbclient's client, with output bounded as it arrives (see :class:`Limits`).

    Beyond a bound, outputs are counted and dropped on arrival, so a flood of tiny writes or one
    huge print costs the grader no more than the bound; errors are always kept (they decide a
    test's grade), with their text shortened.
    """

    def __init__(self, nb, limits: Limits, **kw):
        super().__init__(nb, **kw)
        self.bounds = limits
        # cell index -> [characters kept, messages kept, dropped]
        self.used: dict[int, list[int]] = {}
        self.notebook_chars = 0

    def output(self, outs, msg, display_id, cell_index):
        content = msg["content"]
        if msg["msg_type"] == "error":
            content["evalue"] = _shorten(str(content.get("evalue", "")), 2_000)
            content["traceback"] = [_shorten(str(line), 2_000)
                                    for line in content.get("traceback", [])[-60:]]
            return super().output(outs, msg, display_id, cell_index)
        used = self.used.setdefault(cell_index, [0, 0, 0])
        size = _size(content)
        if (used[0] + size > self.bounds.cell_output_chars or used[1] >= self.bounds.cell_messages
                or self.notebook_chars + size > self.bounds.notebook_output_chars):
            used[2] += size
            return None
        used[0] += size
        used[1] += 1
        self.notebook_chars += size
        return super().output(outs, msg, display_id, cell_index)


def _size(content: dict) -> int:
    if "text" in content:
        return len(content["text"])
    return sum(len(v) if isinstance(v, str) else len(str(v))
               for v in (content.get("data") or {}).values())


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + f"... [{len(text) - n:,} characters cut]"


def _error(ename: str, evalue: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                  traceback=[f"{ename}: {evalue}"])


def _label(nb: nbformat.NotebookNode, index: int) -> str:
    return nb.cells[index].metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"


def _execute(nb: nbformat.NotebookNode, task: Task) -> tuple[list[Flag], float]:
    """Run the notebook cell by cell under the limits; returns what the limits and checks caught,
    and the kernel's CPU seconds."""
    limits, flags, cpu_s = task.limits, [], 0.0
    deadline = time.monotonic() + limits.notebook_s

    def cell_timeout(cell) -> int:
        return max(1, min(limits.cell_s, int(deadline - time.monotonic()) + 1))

    # The sandbox passes on only its allow-list, and sets the thread variables itself.
    env = dict(os.environ, **KERNEL_ENV)
    cgroup = (sandbox.Cgroup.create(task.cgroup, limits.memory_bytes, limits.max_processes)
              if task.isolation.cgroups and task.cgroup else None)
    km = _kernel_manager(task, cgroup)
    client = _BoundedClient(
        nb, limits, km=km, timeout_func=cell_timeout, interrupt_on_timeout=True, allow_errors=True,
        # After the reply, outputs may still be in flight (more so on a busy machine): give them
        # IOPUB_S before concluding that the kernel ignored the interrupt.
        raise_on_iopub_timeout=True, iopub_timeout=IOPUB_S, extra_arguments=GRADING_KERNEL_ARGS,
        record_timing=False,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "time limit",
                          "traceback": ["CellTimeoutError: the cell ran past its time limit"]},
        on_cell_executed=_record_reply_error)
    stopped = None  # (index, reason) of the cell where execution stopped
    out_of_memory = False
    try:
        with client.setup_kernel(env=env):
            stopped = _run_cells(client, nb, task, deadline, flags, cgroup)
    finally:
        # The client does not own a kernel manager it was given: stop the kernel here, now,
        # and with it everything the kernel started.
        try:
            if km.has_kernel:
                cpu_s = sandbox.tree_cpu_seconds(km.provisioner.process.pid)
                run_sync(km.shutdown_kernel)(now=True)
        finally:
            if cgroup is not None:
                out_of_memory = cgroup.out_of_memory()
                cgroup.kill()
    if stopped is not None:
        index, reason = stopped
        flags.append(Flag(LIMIT, _label(nb, index), reason))
        for cell in nb.cells[index:]:
            if cell.cell_type == "code":
                cell.outputs = [_error("KernelStopped",
                                       f"not run to the end: {reason} (in {_label(nb, index)})")]
    if out_of_memory and not any("memory" in f.message for f in flags):
        flags.append(Flag(LIMIT, "", f"the notebook's processes hit their memory limit together "
                                     f"({limits.memory_bytes / 2**30:g} GiB, cgroup)"))
    # How much a flood of output was is chance (the kernel's socket drops what it cannot send in
    # time), so the note states the bound, not the count: grades and flags stay deterministic.
    for index, (_, _, dropped) in sorted(client.used.items()):
        if dropped:
            bound = (f"{limits.cell_output_chars:,} characters or {limits.cell_messages:,} outputs "
                     f"per cell, {limits.notebook_output_chars:,} characters per notebook")
            nb.cells[index].outputs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=f"\n[output over the limit ({bound}) not kept]\n"))
            flags.append(Flag(NOTE, _label(nb, index),
                              f"output over the limit ({bound}): characters truncated"))
    return flags, cpu_s


def _run_cells(client: _BoundedClient, nb, task: Task, deadline: float, flags: list[Flag],
               cgroup: sandbox.Cgroup | None) -> tuple[int, str] | None:
    """Execute the code cells in order; ``(index, reason)`` of the cell where the kernel stopped.

    Before each test cell the run-time check (:mod:`grader.guard`) compares the interpreter
    with its state at kernel start; each new finding is a ``suspicious`` flag on that cell.
    """
    limits = task.limits
    baseline, reported = None, set()
    last = last_graded_cell(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if index > last:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=NOT_RUN)]
            continue
        if time.monotonic() >= deadline:
            return index, f"notebook time limit ({limits.notebook_s} s) reached before this cell"
        meta = cell.metadata.get("nbgrader", {})
        try:
            if baseline is None:  # before any cell: what the kernel is made of, not the student
                _, baseline = _probe(client, task.spec, None)
                baseline = baseline or {}
            if meta.get("grade") and not meta.get("solution"):
                found, _ = _probe(client, task.spec, baseline)
                for finding in found:
                    if finding not in reported:
                        reported.add(finding)
                        flags.append(Flag(SUSPICIOUS, _label(nb, index),
                                          f"before this test: {finding}"))
            client.execute_cell(cell, index)
        except DeadKernelError:
            return index, _death_reason(client.km, limits, cgroup)
        except CellTimeoutError:
            return index, (f"the kernel did not stop, or its output did not end, at the time limit "
                           f"({limits.cell_s} s per cell)")
        except Exception as exc:  # noqa: BLE001 - e.g. garbled messages from a kernel that forked
            return index, ("the kernel's messages could not be read "
                           f"({type(exc).__name__}: {_first_line(exc)})")
        flags += _limit_flags(nb, index, limits, deadline)
    return None


def last_graded_cell(nb: nbformat.NotebookNode) -> int:
    """Index of the last code cell that nbgrader grades or that holds an answer (-1 if none).

    Read from the sanitised notebook, whose graded cells nbgrader has restored from the
    gradebook: a student cannot move this point earlier, only later (which runs more).
    """
    graded = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and (
              cell.metadata.get("nbgrader", {}).get("grade")
              or cell.metadata.get("nbgrader", {}).get("solution"))]
    return max(graded, default=-1)


def _probe(client: NotebookClient, spec: LessonSpec,
           baseline: dict | None) -> tuple[list[str], dict | None]:
    """Run :mod:`grader.guard`'s check silently in the kernel: ``(findings, snapshot)``."""
    from queue import Empty

    kc = client.kc
    msg_id = kc.execute("", silent=True, store_history=False,
                        user_expressions={"guard": guard.probe_code(spec, baseline)})
    give_up = time.monotonic() + PROBE_S
    while time.monotonic() < give_up:
        try:
            reply = run_sync(kc.shell_channel.get_msg)(timeout=1)
        except Empty:
            if not run_sync(client.km.is_alive)():
                raise DeadKernelError("the kernel died") from None
            continue
        if reply["parent_header"].get("msg_id") == msg_id:
            result = reply["content"].get("user_expressions", {}).get("guard", {})
            return guard.parse(result)
    return ["the run-time check got no answer"], None


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
            flags.append(Flag(LIMIT, _label(nb, index),
                              f"{which} time limit ({seconds} s): interrupted"))
        elif out.ename == "MemoryError":
            flags.append(Flag(LIMIT, _label(nb, index),
                              f"memory limit ({limits.memory_bytes / 2**30:g} GiB): MemoryError"))
    return flags


def _death_reason(km: AsyncKernelManager, limits: Limits, cgroup: sandbox.Cgroup | None) -> str:
    import signal

    if cgroup is not None and cgroup.out_of_memory():
        return (f"the kernel died: memory limit of the notebook's processes together "
                f"({limits.memory_bytes / 2**30:g} GiB, cgroup)")
    process = getattr(getattr(km, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        return "the kernel died"
    if code > 128 and code - 128 in signal.Signals._value2member_map_:
        code = 128 - code  # bubblewrap reports a child killed by signal N as status 128 + N
    if code < 0:
        sig = signal.Signals(-code)
        why = {signal.SIGXCPU: f"CPU time limit ({limits.cpu_s} s)",
               signal.SIGKILL: "killed (SIGKILL; out of memory?)"}.get(sig, sig.name)
        return f"the kernel died: {why}"
    return f"the kernel exited with status {code}"


def _tidy_outputs(nb: nbformat.NotebookNode) -> list[Flag]:
    """Relabel stderr in test cells, and cap huge outputs (nbgrader's LimitOutput, then
    a count cap)."""
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor
    from nbgrader.preprocessors import LimitOutput

    flags = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        # How the kernel chunked a stream is chance: consecutive writes of one name become one.
        CoalesceStreamsPreprocessor().preprocess_cell(cell, {}, i)
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            streams = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
            for out in streams:
                out.name, out.text = "stdout", "[stderr] " + out.text
            if streams:
                flags.append(Flag(NOTE,
                                  _label(nb, i), "wrote to stderr during a test (kept, not held "
                                                 "against the grade)"))
        size = sum(len(o.get("text", "")) for o in cell.outputs)
        if len(cell.outputs) > MAX_OUTPUTS_PER_CELL:
            flags.append(Flag(NOTE, _label(nb, i), f"{len(cell.outputs)} outputs: the first "
                                                   f"{MAX_OUTPUTS_PER_CELL} and every error kept"))
            # Errors decide a test cell's grade: never drop one.
            cell.outputs = [o for k, o in enumerate(cell.outputs)
                            if k < MAX_OUTPUTS_PER_CELL or o.output_type == "error"]
        nb.cells[i], _ = LimitOutput().preprocess_cell(cell, {}, i)
        if sum(len(o.get("text", "")) for o in cell.outputs) < size:
            flags.append(Flag(NOTE, _label(nb, i), "long output shortened to nbgrader's limits "
                                                   "(characters truncated)"))
    return flags
