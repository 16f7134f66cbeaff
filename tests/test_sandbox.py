"""The kernel sandbox: rlimits everywhere; where Linux allows it, hidden paths, a read-only
repository and no network. A small Python program stands in for the kernel."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader import sandbox
from grader.execute import Limits

AVAILABLE, WHY = sandbox.namespaces_available()
needs_namespaces = pytest.mark.skipif(not AVAILABLE, reason=f"no namespaces here: {WHY}")


def run(code: str, tmp_path: Path, namespaces: bool, memory: int = 2**31, **kw) -> subprocess.CompletedProcess:
    cmd = sandbox.kernel_command([sys.executable, "-c", textwrap.dedent(code)], scratch=kw.pop("scratch"),
                                 memory_bytes=memory, cpu_seconds=20, namespaces=namespaces, **kw)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def layout(tmp_path):
    """A submission folder, a secret folder (the solutions) and a read-only folder (the repo)."""
    submission = tmp_path / "submissions" / "ada" / "01"
    submission.mkdir(parents=True)
    (submission / "data.txt").write_text("mine")
    secret = tmp_path / "solutions"
    secret.mkdir()
    (secret / "answer.txt").write_text("42")
    repo = tmp_path / "repo"
    repo.mkdir()
    return {"submission": submission, "secret": secret, "repo": repo, "tmp": tmp_path}


def test_namespaces_available_says_why():
    assert isinstance(AVAILABLE, bool) and WHY


@pytest.mark.parametrize("namespaces", [False, pytest.param(True, marks=needs_namespaces)])
def test_the_kernel_starts_in_a_scratch_copy_of_its_submission(layout, namespaces):
    scratch = layout["tmp"] / "scratch" / "ada"
    result = run("""
        import os
        print(os.getcwd(), open("data.txt").read())
        open("new.txt", "w").write("x")
    """, layout["tmp"], namespaces, scratch=scratch, copy_from=layout["submission"],
        hide=[layout["tmp"] / "scratch"] if namespaces else [])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(scratch), "mine"]
    assert not (layout["submission"] / "new.txt").exists()  # the original is untouched


@pytest.mark.parametrize("namespaces", [False, pytest.param(True, marks=needs_namespaces)])
def test_the_memory_limit_turns_a_huge_allocation_into_memory_error(layout, namespaces):
    result = run("""
        try:
            bytearray(3 * 2**30)
        except MemoryError:
            print("MemoryError")
    """, layout["tmp"], namespaces, memory=2**30, scratch=layout["tmp"] / "s", copy_from=None)
    assert result.stdout.strip() == "MemoryError", result.stderr


@needs_namespaces
def test_hidden_paths_are_empty_and_the_repository_is_read_only(layout):
    result = run(f"""
        import os
        print(sorted(os.listdir({str(layout["secret"])!r})))
        try:
            open({str(layout["repo"] / "x.py")!r}, "w")
        except OSError as exc:
            print(type(exc).__name__)
    """, layout["tmp"], True, scratch=layout["tmp"] / "s", copy_from=None, hide=[layout["secret"]],
        read_only=[layout["repo"]])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "OSError"]
    assert (layout["secret"] / "answer.txt").read_text() == "42"  # hidden from the kernel only


@needs_namespaces
def test_the_kernel_cannot_unmount_or_remount_what_hides_and_protects(layout):
    result = run(f"""
        import ctypes, ctypes.util, os
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        print(libc.umount2({str(layout["secret"]).encode()!r}, 2),              # MNT_DETACH
              libc.mount(None, {str(layout["repo"]).encode()!r}, None, 32 | 4096, None),  # remount,bind rw
              sorted(os.listdir({str(layout["secret"])!r})))
    """, layout["tmp"], True, scratch=layout["tmp"] / "s", copy_from=None, hide=[layout["secret"]],
        read_only=[layout["repo"]])
    assert result.stdout.split() == ["-1", "-1", "[]"], (result.stdout, result.stderr)


@needs_namespaces
def test_a_kept_folder_stays_visible_inside_a_hidden_one(layout):
    keep = layout["secret"] / "own"
    keep.mkdir()
    (keep / "mine.txt").write_text("ok")
    result = run(f"""
        import os
        print(sorted(os.listdir({str(layout["secret"])!r})), open({str(keep / "mine.txt")!r}).read())
    """, layout["tmp"], True, scratch=layout["tmp"] / "s", copy_from=None, hide=[layout["secret"]],
        keep=[keep])
    assert result.stdout.split() == ["['own']", "ok"], result.stderr


@pytest.mark.parametrize("namespaces", [False, pytest.param(True, marks=needs_namespaces)])
def test_a_server_on_this_machine_is_out_of_reach_in_namespaces(layout, namespaces):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        result = run(f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
                print("reached")
            except OSError:
                print("unreachable")
        """, layout["tmp"], namespaces, scratch=layout["tmp"] / "s", copy_from=None)
    assert result.stdout.strip() == ("unreachable" if namespaces else "reached"), result.stderr


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="cell_s"):
        Limits(cell_s=0)
    with pytest.raises(ValueError, match="memory_bytes"):
        Limits(memory_bytes=-1)
