"""The kernel sandbox: rlimits everywhere; with bubblewrap an allow-list view of the files and
environment, its own PID and network namespaces, private /tmp; a cgroup per notebook where the
machine allows one. A small Python program stands in for the kernel."""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader import sandbox, template
from grader.execute import Limits

LEVEL, CGROUPS, WHY = sandbox.detect()
needs_bubblewrap = pytest.mark.skipif(LEVEL != sandbox.BUBBLEWRAP,
                                      reason=f"no bubblewrap here: {WHY}")
needs_cgroups = pytest.mark.skipif(not CGROUPS, reason=f"no writable cgroup here: {WHY}")
TEMPLATE = "template"  # bubblewrap, the kernel forked from a template (grader.template)
LEVELS = [sandbox.NONE, pytest.param(sandbox.BUBBLEWRAP, marks=needs_bubblewrap)]
SANDBOXES = [pytest.param(sandbox.BUBBLEWRAP, marks=needs_bubblewrap),
             pytest.param(TEMPLATE, marks=needs_bubblewrap)]
EVERY = [sandbox.NONE, *SANDBOXES]
_TEMPLATES: list[template.Template] = []


def run(code: str, level: str, memory: int = 2**31, **kw) -> subprocess.CompletedProcess:
    """Run ``code`` as the kernel would be run; its stdout comes back through a file in ``scratch``
    (the launcher sends the kernel's own stdout and stderr to /dev/null)."""
    out = kw["ipc_dir"] / "out.txt"
    wrapped = (f"import sys\nsys.stdout = sys.stderr = open({str(out)!r}, 'w', buffering=1)\n"
               + textwrap.dedent(code))
    if level == TEMPLATE:
        result = _run_forked(wrapped, memory, **kw)
    else:
        cmd = sandbox.kernel_command([sys.executable, "-c", wrapped], memory_bytes=memory,
                                     cpu_seconds=20, level=level, **kw)
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    result.stdout = out.read_text() if out.exists() else ""
    return result


def _run_forked(code: str, memory: int, **kw) -> subprocess.CompletedProcess:
    """``python -c code`` forked from a template into a bubblewrap sandbox, as kernels are."""
    if not _TEMPLATES:
        _TEMPLATES.append(template.Template.start(dict(os.environ)))
    config = sandbox.kernel_config(memory_bytes=memory, cpu_seconds=20, level=sandbox.BUBBLEWRAP,
                                   init=True, **kw)
    holder = subprocess.Popen(sandbox.kernel_command(template.HOLDER, **config),
                              start_new_session=True)
    try:
        _TEMPLATES[0].spawn(holder, ["-c", code], sandbox.HOME,
                            sandbox.kernel_env(sandbox.BUBBLEWRAP, sandbox.HOME),
                            sandbox.rlimits(config), config["cgroup"])
        status = holder.wait(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    return subprocess.CompletedProcess(code, status, "", "")


@pytest.fixture(scope="module", autouse=True)
def _close_templates():
    yield
    while _TEMPLATES:
        _TEMPLATES.pop().close()


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


@pytest.mark.parametrize("level", EVERY)
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


@pytest.mark.parametrize("level", EVERY)
def test_the_memory_limit_turns_a_huge_allocation_into_memory_error(layout, level):
    result = run("""
        try:
            bytearray(3 * 2**30)
        except MemoryError:
            print("MemoryError")
    """, level, memory=2**30, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    assert result.stdout.strip() == "MemoryError", (result.stdout, result.stderr)


@pytest.mark.parametrize("level", EVERY)
def test_the_environment_is_an_allow_list(layout, level, monkeypatch):
    monkeypatch.setenv("MINNAS_SECRET_TOKEN", "hunter2")
    result = run("import os\nprint(sorted(os.environ))", level, scratch=layout["tmp"] / "s",
                 copy_from=None, ipc_dir=layout["ipc"])
    assert "MINNAS_SECRET_TOKEN" not in result.stdout and "HOME" in result.stdout, result.stdout


@pytest.mark.parametrize("level", SANDBOXES)
def test_the_kernel_sees_only_the_allow_list(layout, level):
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
    """, level, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "['run']", f"only the socket folder's parents should exist: {lines}"
    assert lines[1:] == ["False False", "False", "OSError"], lines


@needs_bubblewrap
def test_the_folder_the_grader_runs_in_is_not_in_the_view(layout, monkeypatch):
    """`cd ~/course && python -m grader autograde submissions/` puts ~/course first on the
    grader's sys.path; the submissions and the gradebook there must stay out of the kernels'
    sight."""
    course_folder = layout["tmp"] / "course"
    (course_folder / "submissions" / "bob").mkdir(parents=True)
    (course_folder / "gradebook.db").write_text("grades")
    monkeypatch.chdir(course_folder)
    monkeypatch.syspath_prepend(str(course_folder))
    view = sandbox.read_only_view()
    assert not any(p == course_folder or course_folder in p.parents for p in view), view
    result = run(f"""
        import os
        print(os.path.exists({str(course_folder / "gradebook.db")!r}))
    """, sandbox.BUBBLEWRAP, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"],
        view=view)
    assert result.stdout.split() == ["False"], (result.stdout, result.stderr)


@pytest.mark.parametrize("level", SANDBOXES)
def test_the_kernel_sees_and_signals_only_its_own_processes(layout, level):
    result = run("""
        import os
        print(os.getpid(), sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
        try:
            os.kill(os.getppid(), 9)
            print("parent signalled")
        except OSError as exc:
            print(type(exc).__name__)
    """, level, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    lines = result.stdout.splitlines()
    # bwrap's init and the kernel; or a template's holder and the kernel, forked by PID 2
    expected = "2 [1, 2]" if level == sandbox.BUBBLEWRAP else "3 [1, 3]"
    assert lines[0] == expected, f"a fresh PID namespace, {lines}"
    assert result.returncode == 0, "killing its parent inside the namespace reaches nothing outside"


@pytest.mark.parametrize("level", SANDBOXES)
def test_processes_the_kernel_started_die_with_it(layout, level):
    marker = f"{os.getpid() % 1000 + 5000}"
    run(f"""
        import subprocess
        subprocess.Popen(["setsid", "sleep", "{marker}"])
    """, level, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    time.sleep(0.5)
    survivors = [p for p in Path("/proc").glob("[0-9]*") if _cmdline(p) == f"sleep\0{marker}\0"]
    assert survivors == [], "a setsid'd child must not outlive the sandbox"


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_text()
    except OSError:
        return ""


@pytest.mark.parametrize("level", SANDBOXES)
def test_tmp_is_private_and_size_limited(layout, level):
    name = f"minnas-sandbox-test-{os.getpid()}"
    result = run(f"""
        open("/tmp/{name}", "w").write("x")
        try:
            open("/dev/shm/big", "wb").write(b"x" * (2**30 + 2**20))
        except OSError as exc:
            print(type(exc).__name__)
    """, level, memory=2**31, scratch=layout["tmp"] / "s", copy_from=None,
                 ipc_dir=layout["ipc"])
    assert result.stdout.strip() == "OSError", result.stdout
    assert not Path(f"/tmp/{name}").exists(), "the kernel's /tmp is its own"


@pytest.mark.parametrize("level", EVERY)
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
    expected = ["reached"] * 2 if level == sandbox.NONE else ["unreachable"] * 2
    assert result.stdout.split() == expected, result.stderr


@needs_cgroups
@pytest.mark.parametrize("level", EVERY)
def test_a_cgroup_bounds_the_memory_of_a_kernels_processes_together(layout, level):
    """Four children of 200 MiB each, each far under the per-process limit (2 GiB), together
    over the notebook's 512 MiB: the cgroup kills one of them."""
    group = sandbox.Cgroup.create(f"minnas-test-mem-{os.getpid()}", 2**29, 64)
    try:
        result = run("""
            import os, time
            children = []
            for _ in range(4):
                pid = os.fork()
                if pid == 0:
                    ballast = bytearray(200 * 2**20)
                    time.sleep(2)  # all four hold theirs at once
                    os._exit(0)
                children.append(pid)
            print(sorted(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in children))
        """, level, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"],
            cgroup=group.procs_files, max_processes=64)
        assert result.returncode == 0, result.stdout
        assert group.out_of_memory(), "the cgroup should have killed a child"
        assert -9 in ast.literal_eval(result.stdout.strip()), result.stdout  # by the cgroup
    finally:
        group.kill()


@needs_cgroups
@pytest.mark.parametrize("level", [sandbox.NONE, SANDBOXES[1]])
def test_a_cgroup_bounds_the_processes_of_a_kernel_together_and_ends_them(layout, level):
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
        """, level, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"],
            cgroup=group.procs_files, max_processes=32)
        assert 0 < int(result.stdout.strip()) < 32, result.stdout
        if level == sandbox.NONE:  # in a sandbox, they died with the kernel's PID namespace
            assert group.pids(), "the sleeping children are still in the cgroup"
    finally:
        group.kill()
    assert group.pids() == set() and not any(d.exists() for d in group.dirs)


@needs_bubblewrap
def test_a_forked_kernel_keeps_no_capability_and_makes_no_namespace(layout):
    result = run("""
        import ctypes, os
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print(*(status[k].strip() for k in ("CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")))
        libc = ctypes.CDLL(None, use_errno=True)
        for flag in (0x10000000, 0x00020000, 0x40000000):  # user, mount, network namespaces
            print(libc.unshare(flag), end=" ")
    """, TEMPLATE, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["0000000000000000"] * 4 + ["1"], lines
    assert lines[1].split() == ["-1"] * 3, f"no new namespace of any kind: {lines}"


@needs_bubblewrap
def test_kernels_of_one_template_share_no_file_and_cannot_reach_it(layout):
    write = """
        import os
        for folder in ("/tmp", "/dev/shm", os.getcwd()):
            open(os.path.join(folder, "left-by-a"), "w").write("a")
    """
    assert run(write, TEMPLATE, scratch=layout["tmp"] / "s", copy_from=None,
               ipc_dir=layout["ipc"]).returncode == 0
    folder = Path(_TEMPLATES[0].path).parent
    result = run(f"""
        import os
        print([os.path.exists(os.path.join(f, "left-by-a"))
               for f in ("/tmp", "/dev/shm", os.getcwd())], os.path.exists({str(folder)!r}))
    """, TEMPLATE, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    assert result.stdout.strip() == "[False, False, False] False", result.stdout
    assert folder.stat().st_mode & 0o077 == 0, "only the grading user may ask for kernels"


@needs_bubblewrap
def test_another_user_cannot_ask_the_template_for_a_kernel(layout):
    run("pass", TEMPLATE, scratch=layout["tmp"] / "s", copy_from=None, ipc_dir=layout["ipc"])
    pid = os.fork()
    if pid == 0:  # a process of another user (root here can become one) tries the socket
        code = 3
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(_TEMPLATES[0].path)
            code = 0
        except PermissionError:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.geteuid() != 0:
        pytest.skip("only root can act as another user here")
    assert os.waitstatus_to_exitcode(status) == 1, "the socket must refuse other users"


@needs_bubblewrap
def test_a_template_ends_and_removes_its_folder_when_its_starter_is_gone():
    started = template.Template.start(dict(os.environ))
    folder = Path(started.path).parent
    assert (folder / "socket").exists()
    os.close(started._alive_fd)  # what a worker's death does: its end of the pipe closes
    assert started.process.wait(timeout=30) == 0
    assert not folder.exists()


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
