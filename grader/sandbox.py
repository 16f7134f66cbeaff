"""Start a student's kernel in a process world of its own, and end everything it started.

The grader puts this script in front of the kernel's command line::

    python -I sandbox.py CONFIG -- python -m ipykernel_launcher -f ...

``CONFIG`` is a JSON object (see :func:`kernel_command`). Before it replaces itself with the
kernel, the script

1. asks the kernel to die with the grading worker that started it (``PR_SET_PDEATHSIG``),
2. joins the notebook's cgroup, which bounds the memory and the number of processes of the
   kernel and all its descendants *together*, and is killed as a whole when the notebook ends,
3. sets the per-process rlimits (address space, CPU seconds, file size), and
4. at the ``bubblewrap`` level, starts the kernel through `bubblewrap
   <https://github.com/containers/bubblewrap>`_ (``bwrap``, the sandbox Flatpak uses): fresh PID,
   network, IPC, UTS and user namespaces, so the kernel sees and signals only its own descendants,
   reaches no host and no host Unix socket, and everything in it dies with it; an *allow-list* view
   of the files (the Python installation and the ``minnas`` package read-only, its own connection
   folder, a private size-limited home, ``/tmp`` and ``/dev/shm``; nothing of the home folder, the
   solutions, the gradebook or other submissions); an allow-list environment.

Where the grading machine runs a kernel template (:mod:`grader.template`), the command after
``--`` is a *holder* instead of the kernel (PID 1 of the sandbox, ``--as-pid-1``), and the
kernel, forked from the template with the lessons' libraries already imported, joins the
holder's cgroup and namespaces and takes the same limits, environment and home.

Levels, best first; the report of every run says which one it had:

* ``bubblewrap``: all of the above (Linux with ``bwrap`` installed and user namespaces allowed).
* ``none``: a scratch copy of the submission, the rlimits and a session of its own, with the
  allow-list environment (macOS, or Linux without ``bwrap``). The kernel can read what the
  grading user can read; the static and run-time integrity checks still flag what they see.

The cgroup is independent of the level: cgroup v2 where this process may create cgroups with
the ``memory`` and ``pids`` controllers, v1 where those hierarchies are writable (root), and
otherwise only the per-process bounds (``RLIMIT_AS``, and ``RLIMIT_NPROC`` for a non-root user).

This file imports only the standard library: it runs before every kernel.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUBBLEWRAP, NONE = "bubblewrap", "none"
HOME = "/home/student"  # the kernel's home and working folder inside bubblewrap
MAX_COPY_BYTES = 64 * 2**20  # a submission folder is a notebook and maybe a data file
# Variables a kernel may inherit; everything else (tokens, the grader's paths) stays outside.
ENV_ALLOWED = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "NBGRADER_EXECUTION", "PYTHONWARNINGS",
               "PYDEVD_DISABLE_FILE_VALIDATION", "MPLBACKEND", "JPY_SESSION_NAME")
# Set to 1 in every kernel's environment: the lessons' matrices are small, and with several
# kernels at once, BLAS/OpenMP threads per kernel cost more in contention than they gain.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
        "nsswitch.conf", "fonts")


def kernel_command(kernel_cmd: list[str], *, scratch: Path, copy_from: Path | None,
                   memory_bytes: int, cpu_seconds: int, level: str, ipc_dir: Path | None = None,
                   cgroup: list[str] = (), max_processes: int = 0,
                   view: list[Path] = (), init: bool = False) -> list[str]:
    """The command line that starts ``kernel_cmd`` through this script, with these bounds.

    ``scratch`` is the kernel's working folder at level ``none`` (at ``bubblewrap`` its home
    is a private tmpfs); ``cgroup`` the ``cgroup.procs`` files to join; ``view`` the paths
    the kernel sees read-only (default: :func:`read_only_view`).
    """
    config = kernel_config(scratch=scratch, copy_from=copy_from, memory_bytes=memory_bytes,
                           cpu_seconds=cpu_seconds, level=level, ipc_dir=ipc_dir, cgroup=cgroup,
                           max_processes=max_processes, view=view, init=init)
    return [sys.executable, "-I", str(Path(__file__).resolve()), json.dumps(config), "--",
            *kernel_cmd]


def kernel_config(*, scratch: Path, copy_from: Path | None, memory_bytes: int, cpu_seconds: int,
                  level: str, ipc_dir: Path | None = None, cgroup: list[str] = (),
                  max_processes: int = 0, view: list[Path] = (), init: bool = False) -> dict:
    """The launcher's configuration (see :func:`kernel_command`), as JSON-ready values; ``init``:
    the command is PID 1 of its namespace (a kernel template's holder, bubblewrap only)."""
    return {"scratch": str(scratch), "copy_from": str(copy_from) if copy_from else None,
            "memory_bytes": int(memory_bytes), "cpu_seconds": int(cpu_seconds), "level": level,
            "ipc_dir": str(ipc_dir) if ipc_dir else None, "cgroup": list(cgroup),
            "max_processes": int(max_processes), "init": bool(init),
            "view": [str(p) for p in (view or read_only_view())]}


def read_only_view() -> list[Path]:
    """What a kernel needs to see: the Python installation and the ``minnas`` package.

    The repository itself is not in the view (it holds the solutions): only its ``minnas``
    folder, which an editable install imports from. Nor is the folder the grader was started
    from (``python -m`` puts it first on ``sys.path``): it may hold the submissions and the
    gradebook. The import path shown is that of a new interpreter, as a kernel has.
    """
    import importlib.util
    import site

    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(site.getusersitepackages())}
    spec = importlib.util.find_spec("minnas")
    package = Path(spec.origin).parent if spec and spec.origin else None
    repo = package.parent if package else None
    for entry in _interpreter_path():
        path = Path(entry).resolve()
        if repo is not None and (path == repo or repo in path.parents or path in repo.parents):
            continue  # the repository and what holds it: only the package is shown
        paths.add(path)
    if package is not None:
        paths.add(package)
    return sorted(p for p in {p.resolve() for p in paths} if p.exists() and p != Path("/"))


@functools.cache
def _interpreter_path() -> tuple[str, ...]:
    """``sys.path`` of a new interpreter of this Python with a kernel's environment, without its
    first entry (the folder of whoever started it; a kernel's is its own home)."""
    result = subprocess.run([sys.executable, "-c", "import json, sys; print(json.dumps(sys.path))"],
                            capture_output=True, text=True, cwd="/", timeout=120, check=True,
                            env=kernel_env(NONE, "/nonexistent"))
    return tuple(entry for entry in json.loads(result.stdout)[1:] if entry)


def bubblewrap_args(config: dict) -> list[str]:
    """bwrap's options for one kernel (see the module docstring)."""
    size = str(min(config["memory_bytes"], 2**30))
    args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
            "--die-with-parent", "--new-session", "--hostname", "kernel", "--clearenv"]
    if config.get("init"):  # the command is its PID namespace's init (a template's holder)
        args.append("--as-pid-1")
    for path in _SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in _ETC:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    for path in config["view"]:
        args += ["--ro-bind-try", path, path]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm",
             "--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", HOME]
    if config["ipc_dir"]:
        args += ["--bind", config["ipc_dir"], config["ipc_dir"]]
    if config["copy_from"]:
        args += ["--ro-bind", config["copy_from"], "/run/submission"]
    for name, value in kernel_env(config["level"], HOME).items():
        args += ["--setenv", name, value]
    return [*args, "--chdir", HOME]


def kernel_env(level: str, home: str, environ=None) -> dict[str, str]:
    """A kernel's environment: the allow-list of ``environ`` (default: this process's), and
    its own home, temporary folder and thread counts."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items()
           if k in ENV_ALLOWED}
    env.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    # IPython runs every file in $IPYTHONDIR/profile_default/startup: it lives in the kernel's
    # own home, so no kernel can plant code there for the next one.
    bindir = str(Path(sys.executable).parent)
    # JPY_PARENT_PID=1: ipykernel neither watches a parent (in its own PID namespace the
    # grader is not one) nor prints its stand-alone banner.
    env.update(JPY_PARENT_PID="1", HOME=home,
               TMPDIR="/tmp" if level == BUBBLEWRAP else home,
               IPYTHONDIR=f"{home}/.ipython", MPLCONFIGDIR=f"{home}/.matplotlib",
               PATH=os.pathsep.join([bindir, "/usr/local/bin", "/usr/bin", "/bin"]))
    return env


# -- cgroups ---------------------------------------------------------------------------------

def _own_cgroups() -> dict[str, Path]:
    """This process's cgroup folders: ``{"v2": dir}`` or ``{"memory": dir, "pids": dir}`` (v1)."""
    # controller ("v2" for cgroup2) -> (mount root, mount point)
    mounts: dict[str, tuple[str, str]] = {}
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields, _, rest = line.partition(" - ")
            fstype, _, options = (rest.split() + ["", "", ""])[:3]
            root, point = fields.split()[3:5]
            if fstype == "cgroup2":
                mounts.setdefault("v2", (root, point))
            elif fstype == "cgroup":
                for controller in ("memory", "pids"):
                    if controller in options.split(","):
                        mounts[controller] = (root, point)
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in (controllers.split(",") if controllers else ["v2"]):
            if controller in mounts:
                root, point = mounts[controller]
                found[controller] = Path(point) / os.path.relpath(path, root)
    return found


class Cgroup:
    """One cgroup (a folder per hierarchy) that bounds and ends a kernel and all it starts."""

    def __init__(self, dirs: list[Path]):
        self.dirs = dirs

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    @classmethod
    def create(cls, name: str, memory_bytes: int, max_processes: int) -> Cgroup | None:
        """A new cgroup ``name`` with these bounds, or ``None`` where this machine allows none."""
        own = _own_cgroups()
        try:
            if "memory" in own and "pids" in own:  # v1: one folder in each hierarchy
                dirs = [own["memory"] / name, own["pids"] / name]
                for d in dirs:
                    d.mkdir(exist_ok=True)
                (dirs[0] / "memory.limit_in_bytes").write_text(str(memory_bytes))
                _try_write(dirs[0] / "memory.memsw.limit_in_bytes", str(memory_bytes))  # no swap
                (dirs[1] / "pids.max").write_text(str(max_processes))
                return cls(dirs)
            if "v2" in own:
                base = _v2_delegated(own["v2"])
                d = base / name
                d.mkdir(exist_ok=True)
                (d / "memory.max").write_text(str(memory_bytes))
                _try_write(d / "memory.swap.max", "0")
                (d / "pids.max").write_text(str(max_processes))
                return cls([d])
        except OSError:
            return None
        return None

    @classmethod
    def existing(cls, name: str) -> Cgroup:
        """The cgroup ``name`` made by :meth:`create` in this process's hierarchy (to end it)."""
        own = _own_cgroups()
        if "memory" in own and "pids" in own:
            return cls([own["memory"] / name, own["pids"] / name])
        return cls([_v2_delegated(own["v2"]) / name] if "v2" in own else [])

    def pids(self) -> set[int]:
        found = set()
        for f in self.procs_files:
            try:
                found |= {int(p) for p in Path(f).read_text().split()}
            except OSError:
                pass
        return found

    def out_of_memory(self) -> bool:
        """Whether the kernel's tree hit the memory bound (the kernel then gets SIGKILL)."""
        for d in self.dirs:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                try:
                    counts = dict(line.split() for line in (d / name).read_text().splitlines())
                except (OSError, ValueError):
                    continue
                if int(counts.get(key, 0)) > 0:
                    return True
        return False

    def kill(self) -> None:
        """SIGKILL every process in the cgroup (again, until none is left), then remove it."""
        kill_file = self.dirs[0] / "cgroup.kill" if self.dirs else None
        for _ in range(200):
            pids = self.pids()
            if not pids:
                break
            if kill_file is not None and kill_file.exists():
                _try_write(kill_file, "1")
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)
        for d in self.dirs:
            try:
                d.rmdir()
            except OSError:
                pass


def _v2_delegated(own: Path) -> Path:
    """Where this process may create v2 cgroups with ``memory`` and ``pids``.

    A v2 cgroup with processes cannot hand controllers to children, so the grading process
    first moves into a leaf of its own (``grader``) and the kernels' cgroups are its siblings.
    """
    base = own.parent if own.name == "grader" else own
    if "memory" not in (base / "cgroup.subtree_control").read_text().split() or \
            "pids" not in (base / "cgroup.subtree_control").read_text().split():
        leaf = base / "grader"
        leaf.mkdir(exist_ok=True)
        # fails here if others share the cgroup
        (leaf / "cgroup.procs").write_text(str(os.getpid()))
        (base / "cgroup.subtree_control").write_text("+memory +pids")
    return base


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and all its live descendants, with what each
    has collected from its finished children (``/proc/PID/stat``; 0 where there is no /proc).

    Read from outside, before the tree is killed: a killed kernel is reaped by no one who
    would pass its time on to the grading worker.
    """
    parent, ticks = {}, {}
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # after "(comm)": state ppid ... utime stime cutime cstime are fields 12-15 (0-based 11-14)
        parent[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = sum(int(f) for f in fields[11:15])
    tree, frontier = set(), {pid}
    while frontier:
        tree |= frontier
        frontier = {p for p, pp in parent.items() if pp in frontier} - tree
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def _try_write(path: Path, text: str) -> bool:
    try:
        path.write_text(text)
        return True
    except OSError:
        return False


# -- what this machine allows ----------------------------------------------------------------

def detect(memory_bytes: int = 2**30) -> tuple[str, bool, str]:
    """``(level, cgroups, description)``: the isolation kernels get here (see
    the module docstring)."""
    cgroups, cgroup = _probe_cgroup(memory_bytes)
    level, description = _probe_level()
    return level, cgroups, f"{description}; {cgroup}"


def _probe_level() -> tuple[str, str]:
    if not sys.platform.startswith("linux"):
        return NONE, f"scratch copies and per-process limits only (no bubblewrap on {sys.platform})"
    if shutil.which("bwrap") is None:
        return NONE, ("scratch copies and per-process limits only (bubblewrap is not installed: "
                      "apt-get install bubblewrap)")
    with tempfile.TemporaryDirectory(prefix="minnas-probe-") as tmp:
        cmd = kernel_command([sys.executable, "-I", "-c", "import os; assert os.getpid() == 2"],
                             scratch=Path(tmp), copy_from=None, memory_bytes=2**30, cpu_seconds=10,
                             level=BUBBLEWRAP, ipc_dir=Path(tmp))
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return NONE, f"scratch copies and per-process limits only (bubblewrap failed: {exc})"
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or ["?"])[-1]
        return NONE, f"scratch copies and per-process limits only (bubblewrap failed: {why})"
    return BUBBLEWRAP, ("bubblewrap: own PID, network, IPC and user namespaces, allow-list files "
                        "and environment, private /tmp and /dev/shm")


def _probe_cgroup(memory_bytes: int) -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, "memory bounded per process only (RLIMIT_AS)"
    group = Cgroup.create(f"minnas-probe-{os.getpid()}", memory_bytes, 64)
    if group is None:
        rlimit = ("processes per user (RLIMIT_NPROC)" if os.geteuid() != 0
                  else "no process-count bound (root)")
        return False, f"memory bounded per process only (RLIMIT_AS; no writable cgroup), {rlimit}"
    group.kill()
    version = "v1" if len(group.dirs) == 2 else "v2"
    return True, ("memory and processes bounded per notebook, all of its processes together "
                  f"(cgroup {version})")


# -- the launcher ----------------------------------------------------------------------------

def _read_files(folder: Path) -> dict[str, bytes]:
    files, total = {}, 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            if total > MAX_COPY_BYTES:
                raise OSError(f"submission folder {folder} holds more than {MAX_COPY_BYTES} bytes")
            files[str(path.relative_to(folder))] = path.read_bytes()
    return files


def rlimits(config: dict) -> dict[str, tuple[int, int]]:
    """The per-process limits of a kernel: ``{resource name: (soft, hard)}``."""
    memory, cpu = config["memory_bytes"], config["cpu_seconds"]
    limits = {"RLIMIT_AS": (memory, memory), "RLIMIT_CPU": (cpu, cpu + 5),
              "RLIMIT_FSIZE": (2**30, 2**30)}
    if not config["cgroup"] and config["max_processes"] and os.geteuid() != 0:
        # Without a cgroup, the best bound on forking: this user's processes, plus a margin.
        mine = sum(1 for p in Path("/proc").glob("[0-9]*") if _owner(p) == os.geteuid()) \
            if Path("/proc").is_dir() else 0
        n = mine + config["max_processes"]
        limits["RLIMIT_NPROC"] = (n, n)
    return limits


def _set_limits(config: dict) -> None:
    import resource

    for name, value in rlimits(config).items():
        resource.setrlimit(getattr(resource, name), value)


def _owner(path: Path) -> int:
    try:
        return path.stat().st_uid
    except OSError:
        return -1


def main(argv: list[str]) -> None:
    config, kernel = json.loads(argv[1]), argv[3:]
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    for procs in config["cgroup"]:
        Path(procs).write_text(str(os.getpid()))
    # The kernel talks to the grader over its sockets; what it writes to its own stdout and
    # stderr (start-up notices, a flood from a broken process) must not reach the terminal.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    if config["level"] == BUBBLEWRAP:
        # bwrap's child copies the submission into the private home, then becomes the kernel.
        copy = ('cp -R /run/submission/. . 2>/dev/null; exec "$@"' if config["copy_from"]
                else 'exec "$@"')
        kernel = [*bubblewrap_args(config), "--", "/bin/sh", "-c", copy, "sh", *kernel]
    else:
        files = _read_files(Path(config["copy_from"])) if config["copy_from"] else {}
        scratch = Path(config["scratch"])
        scratch.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            (scratch / name).write_bytes(data)
        os.chdir(scratch)
        env = kernel_env(config["level"], str(scratch))
        os.environ.clear()
        os.environ.update(env)
        try:
            os.setsid()  # its own session: signals to the grader's process group do not reach it
        except OSError:
            pass
    try:
        _set_limits(config)
    except (ImportError, ValueError, OSError):
        pass  # Windows has no rlimits; the time limits still apply
    os.execvp(kernel[0], kernel)


if __name__ == "__main__":
    main(sys.argv)
