"""Start a student's kernel inside limits: its own scratch folder, rlimits, and where Linux allows
it, no network and no view of the solutions, the gradebook or the other submissions.

The grader puts this script in front of the kernel's command line::

    [unshare --user --map-root-user --mount --net --] python sandbox.py CONFIG -- python -m ipykernel_launcher -f ...

``CONFIG`` is a JSON object (see :func:`kernel_command`). The script reads the submission's
files, then, when it runs in fresh namespaces (``"namespaces": true``):

1. makes the repository and the Python installation read-only (a student cannot change the
   library or the grader that later submissions use),
2. lays an empty private tmpfs over every ``hide`` path (the solutions, the grading folder with
   its gradebook, the submissions, the other kernels' sockets), keeping only its own ``keep``
   folders visible, and
3. writes the submission's files into ``scratch`` (inside that private tmpfs),

and always: changes into ``scratch``, sets the rlimits (address space, CPU seconds, file size)
and replaces itself with the kernel, under namespaces inside one more user and mount namespace:
mounts handed down to it are locked, so the kernel cannot unmount what hides the solutions or
remount the repository writable. The network namespace has only a loopback device that is
down, so the kernel cannot reach any host; the grader talks to it over Unix sockets (ZMQ's
``ipc`` transport), which do not need a network.

Without unprivileged user namespaces (macOS, or Linux where they are switched off) the grader
gives each kernel a fresh scratch copy and the rlimits only; the integrity report says which
isolation a run had. This file imports only the standard library: it runs before every kernel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

UNSHARE = ["unshare", "--user", "--map-root-user", "--mount", "--net", "--"]
UNSHARE_LOCK = ["unshare", "--user", "--map-root-user", "--mount", "--"]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384

MAX_COPY_BYTES = 64 * 2**20  # a submission folder is a notebook and maybe a data file


def kernel_command(kernel_cmd: list[str], *, scratch: Path, copy_from: Path | None,
                   memory_bytes: int, cpu_seconds: int, namespaces: bool,
                   hide: list[Path] = (), read_only: list[Path] = (),
                   keep: list[Path] = ()) -> list[str]:
    """The command line that starts ``kernel_cmd`` through this script, with these limits.

    ``keep`` are folders inside a hidden path that stay visible (the kernel's own socket folder).
    """
    config = {"scratch": str(scratch), "copy_from": str(copy_from) if copy_from else None,
              "memory_bytes": int(memory_bytes), "cpu_seconds": int(cpu_seconds),
              "namespaces": bool(namespaces), "hide": [str(p) for p in hide],
              "read_only": [str(p) for p in read_only], "keep": [str(p) for p in keep]}
    prefix = UNSHARE if namespaces else []
    return [*prefix, sys.executable, "-I", str(Path(__file__).resolve()), json.dumps(config), "--",
            *kernel_cmd]


def namespaces_available() -> tuple[bool, str]:
    """Whether kernels can run in fresh user, mount and network namespaces here, and if not, why."""
    if not sys.platform.startswith("linux"):
        return False, f"no Linux namespaces on {sys.platform}"
    if shutil.which("unshare") is None:
        return False, "the unshare command (util-linux) is not installed"
    # The probe does what a grading run does: hide a folder, keep a read-only one, start Python.
    with tempfile.TemporaryDirectory(prefix="minnas-probe-") as tmp:
        cmd = kernel_command([sys.executable, "-I", "-c", "pass"], scratch=Path(tmp) / "scratch",
                             copy_from=None, memory_bytes=2**30, cpu_seconds=10, namespaces=True,
                             hide=[Path(tmp)], read_only=[Path(sys.prefix)])
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"unshare failed: {exc}"
    if result.returncode != 0:
        return False, f"unshare failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}"
    return True, "user, mount and network namespaces"


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {fstype or 'bind'} on {target}: {os.strerror(errno)}")


def _read_files(folder: Path) -> dict[str, bytes]:
    files, total = {}, 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            if total > MAX_COPY_BYTES:
                raise OSError(f"submission folder {folder} holds more than {MAX_COPY_BYTES} bytes")
            files[str(path.relative_to(folder))] = path.read_bytes()
    return files


def _isolate(config: dict) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    for path in config["read_only"]:
        if os.path.isdir(path):
            _mount(libc, path, path, None, MS_BIND | MS_REC)
            _mount(libc, None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    for path in config["hide"]:
        if not os.path.isdir(path):
            continue
        # A kept folder under a hidden one is opened first and bound back on top of the tmpfs.
        keep = [k for k in config["keep"] if os.path.isdir(k) and Path(path) in Path(k).parents]
        fds = [os.open(k, os.O_PATH | os.O_DIRECTORY) for k in keep]
        _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=512m,mode=0755")
        for k, fd in zip(keep, fds):
            os.makedirs(k, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{fd}", k, None, MS_BIND)
            os.close(fd)


def main(argv: list[str]) -> None:
    config, kernel = json.loads(argv[1]), argv[3:]
    files = _read_files(Path(config["copy_from"])) if config["copy_from"] else {}
    if config["namespaces"]:
        _isolate(config)
        # The kernel is root of the namespaces it was given and could unmount what hides the
        # solutions. Mounts handed down to a child user namespace are locked: no unmounting
        # them, no remounting them writable.
        kernel = [*UNSHARE_LOCK, *kernel]
    scratch = Path(config["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        (scratch / name).write_bytes(data)
    os.chdir(scratch)
    # IPython runs every file in $IPYTHONDIR/profile_default/startup: a kernel must not be able
    # to plant code there for the next student's kernel.
    os.environ["IPYTHONDIR"] = str(scratch / ".ipython")
    if config["namespaces"]:  # the home folder is read-only: matplotlib's cache goes here instead
        os.environ["MPLCONFIGDIR"] = str(scratch / ".matplotlib")
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the grader's time limits still apply
        os.execvp(kernel[0], kernel)
    memory = config["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = config["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**30, 2**30))
    os.execvp(kernel[0], kernel)


if __name__ == "__main__":
    main(sys.argv)
