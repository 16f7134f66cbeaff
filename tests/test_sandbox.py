"""The kernel sandbox: rlimits everywhere; with bubblewrap an allow-list view of the files and
environment, its own PID and network namespaces, private /tmp; a cgroup per notebook where the
machine allows one. A small Python program stands in for the kernel."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader import sandbox
from grader.execute import Limits

LEVEL, CGROUPS, WHY = sandbox.detect()
needs_bubblewrap = pytest.mark.skipif(LEVEL != sandbox.BUBBLEWRAP,
                                      reason=f"no bubblewrap here: {WHY}")
needs_cgroups = pytest.mark.skipif(not CGROUPS, reason=f"no writable cgroup here: {WHY}")
LEVELS = [sandbox.NONE, pytest.param(sandbox.BUBBLEWRAP, marks=needs_bubblewrap)]


def run(code: str, level: str, memory: int = 2**31, **kw) -> subprocess.CompletedProcess:
    """Run ``code`` as the kernel would be run; its stdout comes back through a file in ``scratch``
    (the launcher sends the kernel's own stdout and stderr to /dev/null)."""
    out = kw["ipc_dir"] / "out.txt"
    wrapped = (f"import sys\nsys.stdout = sys.stderr = open({str(out)!r}, 'w', buffering=1)\n"
               + textwrap.dedent(code))
    cmd = sandbox.kernel_command([sys.executable, "-c", wrapped], memory_bytes=memory,
                                 cpu_seconds=20, level=level, **kw)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    result.stdout = out.read_text() if out.exists() else ""
    return result


@pytest.fixture
def layout(tmp_path):
    """A submission folder, a secret folder (the solutions) and a folder for
    the kernel's sockets."""
    submission = tmp_path / "submissions" / "ada" / "01"
    submission.mkdir(parents=True)
    (submission / "data.txt").write_text("mine")
    secret = tmp_path / "solutions"
    secret.mkdir()
    (secret / "answer.txt").write_text("42")
    ipc = tmp_path / "run" / "k0"
    ipc.mkdir(parents=True)
    return {"submission": submission, "secret": secret, "ipc": ipc, "tmp": tmp_path}


def test_detect_says_what_isolation_this_machine_gives():
    assert LEVEL in (sandbox.BUBBLEWRAP, sandbox.NONE) and isinstance(CGROUPS, bool)
    assert ("cgroup" in WHY) == CGROUPS, WHY


@pytest.mark.parametrize("level", LEVELS)
def test_the_kernel_starts_in_a_copy_of_its_submission(layout, level):
    scratch = layout["tmp"] / "scratch" / "ada"
    result = run("""
        import os
        print(open("data.txt").read())
        open("new.txt", "w").write("x")
    """, level, scratch=scratch, copy_from=layout["submission"], ipc_dir=layout["ipc"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["mine"], result.stdout
    assert not (layout["submission"] / "new.txt").exists(), "the original must stay untouched"


@pytest.mark.parametrize("level", LEVELS)
def test_the_memory_limit_turns_a_huge_allocation_into_memory_error(layout, level):
    result = run("""
        try:
            bytearray(3 * 2**30)
        except MemoryError:
            print("MemoryError")
    """, level, memory=2**30, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    assert result.stdout.strip() == "MemoryError", (result.stdout, result.stderr)


@pytest.mark.parametrize("level", LEVELS)
def test_the_environment_is_an_allow_list(layout, level, monkeypatch):
    monkeypatch.setenv("MINNAS_SECRET_TOKEN", "hunter2")
    result = run("import os\nprint(sorted(os.environ))", level, scratch=layout["tmp"] / "s",
                 copy_from=None, ipc_dir=layout["ipc"])
    assert "MINNAS_SECRET_TOKEN" not in result.stdout and "HOME" in result.stdout, result.stdout


@needs_bubblewrap
def test_the_kernel_sees_only_the_allow_list(layout):
    result = run(f"""
        import os, minnas, numpy
        print(sorted(os.listdir({str(layout["tmp"])!r})))
        print(os.path.exists({str(layout["secret"] / "answer.txt")!r}),
              os.path.exists({str(Path.home())!r} + "/.bashrc"))
        print(os.path.exists({str(Path(sandbox.__file__).parents[1] / "solutions")!r}))
        try:
            open(os.path.join(os.path.dirname(minnas.__file__), "x.py"), "w")
        except OSError as exc:
            print(type(exc).__name__)
    """, sandbox.BUBBLEWRAP, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "['run']", f"only the socket folder's parents should exist: {lines}"
    assert lines[1:] == ["False False", "False", "OSError"], lines


@needs_bubblewrap
def test_the_kernel_sees_and_signals_only_its_own_processes(layout):
    result = run("""
        import os
        print(os.getpid(), sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
        try:
            os.kill(os.getppid(), 9)
            print("parent signalled")
        except OSError as exc:
            print(type(exc).__name__)
    """, sandbox.BUBBLEWRAP, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    lines = result.stdout.splitlines()
    assert lines[0] == "2 [1, 2]", f"a fresh PID namespace: bwrap's init and the kernel, {lines}"
    assert result.returncode == 0, "killing its parent inside the namespace reaches nothing outside"


@needs_bubblewrap
def test_processes_the_kernel_started_die_with_it(layout):
    marker = f"{os.getpid() % 1000 + 5000}"
    run(f"""
        import subprocess
        subprocess.Popen(["setsid", "sleep", "{marker}"])
    """, sandbox.BUBBLEWRAP, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    time.sleep(0.5)
    survivors = [p for p in Path("/proc").glob("[0-9]*") if _cmdline(p) == f"sleep\0{marker}\0"]
    assert survivors == [], "a setsid'd child must not outlive the sandbox"


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_text()
    except OSError:
        return ""


@needs_bubblewrap
def test_tmp_is_private_and_size_limited(layout):
    name = f"minnas-sandbox-test-{os.getpid()}"
    result = run(f"""
        open("/tmp/{name}", "w").write("x")
        try:
            open("/dev/shm/big", "wb").write(b"x" * (2**30 + 2**20))
        except OSError as exc:
            print(type(exc).__name__)
    """, sandbox.BUBBLEWRAP, memory=2**31, scratch=layout["tmp"] / "s", copy_from=None,
                 ipc_dir=layout["ipc"])
    assert result.stdout.strip() == "OSError", result.stdout
    assert not Path(f"/tmp/{name}").exists(), "the kernel's /tmp is its own"


@pytest.mark.parametrize("level", LEVELS)
def test_no_host_or_unix_socket_is_reachable_in_bubblewrap(layout, level, tmp_path):
    path = Path("/tmp") / f"minnas-sandbox-{os.getpid()}.sock"
    with socket.create_server(("127.0.0.1", 0)) as server, socket.socket(socket.AF_UNIX) as unix:
        path.unlink(missing_ok=True)
        unix.bind(str(path))
        unix.listen()
        port = server.getsockname()[1]
        result = run(f"""
            import socket
            for family, address in ((socket.AF_INET, ("127.0.0.1", {port})),
                                    (socket.AF_UNIX, {str(path)!r})):
                try:
                    s = socket.socket(family)
                    s.settimeout(5)
                    s.connect(address)
                    print("reached")
                except OSError:
                    print("unreachable")
        """, level, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    path.unlink(missing_ok=True)
    expected = ["unreachable"] * 2 if level == sandbox.BUBBLEWRAP else ["reached"] * 2
    assert result.stdout.split() == expected, result.stderr


@needs_cgroups
def test_a_cgroup_bounds_the_processes_of_a_kernel_together_and_ends_them(layout):
    group = sandbox.Cgroup.create(f"minnas-test-{os.getpid()}", 2**30, 32)
    try:
        result = run("""
            import os, time
            children = 0
            try:
                for _ in range(100):
                    if os.fork() == 0:
                        time.sleep(120)
                        os._exit(0)
                    children += 1
            except OSError:
                pass
            print(children)
        """, sandbox.NONE, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"],
            cgroup=group.procs_files, max_processes=32)
        assert 0 < int(result.stdout.strip()) < 32, result.stdout
        assert group.pids(), "the sleeping children are still in the cgroup"
    finally:
        group.kill()
    assert group.pids() == set() and not any(d.exists() for d in group.dirs)


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="cell_s"):
        Limits(cell_s=0)
    with pytest.raises(ValueError, match="memory_bytes"):
        Limits(memory_bytes=-1)
    with pytest.raises(ValueError, match="max_processes"):
        Limits(max_processes=0)


def test_tree_cpu_seconds_counts_a_process_and_its_descendants():
    """The oracle: what each process of the tree says it used (its own getrusage)."""
    burn = ("import resource, time\nt = time.process_time()\n"
            "while time.process_time() - t < 0.4: pass\n")
    report = ("u = resource.getrusage(resource.RUSAGE_SELF)\n"
              "print(u.ru_utime + u.ru_stime, flush=True)\n")
    grandchild = burn + report + "time.sleep(30)\n"
    child = ("import subprocess, sys\ng = subprocess.Popen([sys.executable, '-c', "
             f"{grandchild!r}], stdout=subprocess.PIPE, text=True)\n" + burn + report
             + "print(g.stdout.readline().strip(), flush=True)\ntime.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        own, descendant = float(proc.stdout.readline()), float(proc.stdout.readline())
        measured = sandbox.tree_cpu_seconds(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    # Both are still running: /proc lags getrusage by at most a clock tick per process, and the
    # interpreters' start-up before the reports is counted too.
    assert own + descendant - 0.05 <= measured <= own + descendant + 1.0, (own, descendant,
                                                                           measured)
    assert sandbox.tree_cpu_seconds(proc.pid) == 0.0  # gone: nothing to count
