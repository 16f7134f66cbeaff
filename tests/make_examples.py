"""Regenerate the sample classes in ``grader/examples/`` from ``lessons/`` and ``solutions/``.

    python tests/make_examples.py              # every lesson
    python tests/make_examples.py 07_darts     # only the lessons named

``grader/examples/class/``: four students, each submitting every lesson, as a student would:
the release notebook with the exercise cells edited.

- ``perfect``: every exercise cell holds the reference solution.
- ``partial``: the reference solution, except one exercise per lesson with a typical mistake
  (listed in ``MISTAKES``), which loses that exercise's tests.
- ``blank``: the untouched release.
- ``broken``: the reference solution, but the first exercise cell of each lesson raises
  (a misspelt import), so the functions defined there do not exist and their tests fail.

``grader/examples/adversarial/``: one student per kind of bad submission of lesson 01, each
built from ``perfect``, ``partial`` or ``blank`` (see ``ADVERSARIAL_KINDS``; ``ATTACKS`` holds the
attacks on the grader and the other students, at least two variants of each);
``tests/test_integrity.py`` states the score or the flag each one should get, and fails while
either class on disk differs from what this script writes.

Run it after changing a lesson, then update the expected totals in ``tests/test_grading.py``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat

from grader.course import ADVERSARIAL, EXAMPLES, LESSONS, SOLUTIONS, lesson_names

# One typical mistake per lesson: {lesson: {grade_id of an exercise cell: the student's code}}.
MISTAKES: dict[str, dict[str, str]] = {
    # The Lipschitz constant without its 1/n: every step is n times too short.
    "01_least_squares": {"gradient_descent": '''\
def gradient_descent(X, y, n_iter):
    n, p = X.shape
    L = np.linalg.eigvalsh(X.T @ X).max()  # Lipschitz constant
    theta = np.zeros(p)
    losses = [np.sum((X @ theta - y) ** 2) / (2 * n)]
    for _ in range(n_iter):
        grad = X.T @ (X @ theta - y) / n
        theta = theta - grad / L
        losses.append(np.sum((X @ theta - y) ** 2) / (2 * n))
    return theta, np.array(losses)
'''},
    # The Armijo condition with the sign of the slope term flipped.
    "02_newton": {"backtracking": '''\
def backtracking(f, x, dx, g, c=1e-4, shrink=0.5):
    fx = f(x)
    slope = np.dot(g, dx)
    t = 1.0
    for _ in range(60):
        ft = f(x + t * dx)
        if np.isfinite(ft) and ft <= fx - c * t * slope:  # sufficient decrease
            break
        t *= shrink
    return t
'''},
    # log-softmax straight from the formula: exp overflows for large logits.
    "03_entropy": {"log_softmax": '''\
def log_softmax(z):
    z = np.asarray(z, dtype=float)
    return z - np.log(np.sum(np.exp(z)))
'''},
    # Decoding from the unit interval without clipping u to [0, 1] first.
    "04_hyperparameter_search": {"unit_encoding": '''\
def to_unit(v, low, high, log=False):
    v = np.asarray(v, dtype=float)
    if log:
        return np.log(v / low) / np.log(high / low)
    return (v - low) / (high - low)


def from_unit(u, low, high, log=False):
    u = np.asarray(u, dtype=float)
    if log:
        return low * (high / low) ** u
    return low + u * (high - low)
'''},
    # Expected improvement written for maximisation in a minimisation problem.
    "05_bayesian_optimization": {"expected_improvement": '''\
from scipy.stats import norm


def expected_improvement(mu, sigma, best, xi=0.0):
    mu = np.asarray(mu, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    delta = mu - best - xi
    safe = np.where(sigma > 0, sigma, 1.0)
    z = delta / safe
    ei = delta * norm.cdf(z) + safe * norm.pdf(z)
    return np.where(sigma > 0, ei, np.maximum(delta, 0.0))
'''},
    # The 1-NN landmarker pooled over all folds instead of averaged per fold.
    "06_warm_starting": {"one_nn_landmarker": '''\
def one_nn_landmarker(X, y, folds):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    n_correct, n_tested = 0, 0
    for train_idx, test_idx in folds:
        d2 = ((X[test_idx][:, None, :] - X[train_idx][None, :, :]) ** 2).sum(axis=2)
        predicted = y[train_idx][np.argmin(d2, axis=1)]
        n_correct += np.sum(predicted == y[test_idx])
        n_tested += len(test_idx)
    return float(n_correct / n_tested)
'''},
    # DARTS' discretisation misread: 'none' counted when ranking a node's edges, so an edge
    # whose strongest weight is 'none' can be kept.
    "07_darts": {"derive_cell": '''\
def derive_cell(weights, primitives):
    w = np.asarray(weights, dtype=float)
    n_nodes = int(round((np.sqrt(9 + 8 * w.shape[0]) - 3) / 2))
    allowed = np.array([name != "none" for name in primitives])
    genes, start = [], 0
    for node in range(n_nodes):
        rows = w[start:start + node + 2]
        strength = rows.max(axis=1)
        kept = sorted(np.argsort(-strength, kind="stable")[:2])
        genes += [(primitives[int(np.argmax(np.where(allowed, rows[i], -np.inf)))], int(i))
                  for i in kept]
        start += node + 2
    return tuple(genes)
'''},
    # The hinge without its max(0, .): a network under the target is rewarded for being faster.
    "08_fbnet": {"target_loss": '''\
def target_loss(ce, lat, target, lam=1.0):
    if not target > 0 or lam < 0:
        raise ValueError(f"need target > 0 and lam >= 0, got {target} and {lam}")
    ce, lat = torch.as_tensor(ce), torch.as_tensor(lat)
    return ce + lam * (lat / target - 1)
'''},
    # REINFORCE without zero_grad: every step adds the gradients of all earlier steps.
    "09_mnasnet": {"reinforce_update": '''\
def reinforce_update(optimizer, log_prob, reward, baseline=None, decay=0.9):
    baseline = reward if baseline is None else baseline
    loss = -(reward - baseline) * log_prob
    loss.backward()
    optimizer.step()
    return float(decay * baseline + (1 - decay) * reward)
'''},
    # BN recalibration with the default momentum: an exponential average that still remembers the
    # supernet's statistics instead of the plain average over the calibration batches.
    "10_once_for_all": {"recalibrate": '''\
def recalibrate(net, X, batch_size=250):
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    net.train()
    with torch.no_grad():
        for batch in torch.split(X, batch_size):
            net(batch)
    return net.eval()
'''},
    # Reptile that hands the meta-parameters themselves to adapt: an adapt that changes its input
    # in place (as an optimiser does) then moves theta before the meta-update.
    "11_meta_nas": {"reptile": '''\
def reptile(theta, sample_task, adapt, iterations, meta_batch=1, epsilon=1.0, frozen=()):
    if iterations < 1 or meta_batch < 1 or not 0 <= epsilon <= 1 or set(frozen) - set(theta):
        raise ValueError("bad arguments")
    theta = {name: p.detach().clone() for name, p in theta.items()}
    learned = [name for name in theta if name not in frozen]
    history = []
    for t in range(iterations):
        step = epsilon * (1 - t / iterations)
        phis = [adapt(theta, sample_task()) for _ in range(meta_batch)]
        if any(set(phi) != set(theta) for phi in phis):
            raise ValueError("adapt returned other names")
        history.append(float(np.mean([sum(((phi[n] - theta[n]) ** 2).sum() for n in learned) ** 0.5
                                      for phi in phis])))
        with torch.no_grad():
            for name in learned:
                mean = torch.stack([phi[name].detach() for phi in phis]).mean(dim=0)
                theta[name] = theta[name] + step * (mean - theta[name])
    return theta, history
'''},
}

STUDENTS = ("perfect", "partial", "blank", "broken")
BROKEN_LINE = "import numpy.lingalg  # a typo: this cell raises ModuleNotFoundError\n"

_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


def reference_answer(source: str) -> str:
    """A solution cell as a student who got it right would leave it: the markers removed."""
    return _MARKER.sub("", source)


def _solution_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def submission(lesson: str, student: str) -> nbformat.NotebookNode:
    """The notebook ``student`` hands in for ``lesson``."""
    nb = nbformat.read(LESSONS / lesson / f"{lesson}.ipynb", as_version=4)
    if student == "blank":
        return nb
    source = _solution_cells(nbformat.read(SOLUTIONS / lesson / f"{lesson}.ipynb", as_version=4))
    cells = _solution_cells(nb)
    for grade_id, cell in cells.items():
        cell.source = reference_answer(source[grade_id].source)
    if student == "partial":
        for grade_id, code in MISTAKES[lesson].items():
            cells[grade_id].source = code
    elif student == "broken":
        first = next(iter(cells.values()))
        first.source = BROKEN_LINE + first.source
    return nb


# -- the adversarial class (lesson 01) -------------------------------------------------------

ADVERSARIAL_LESSON = "01_least_squares"

# What a student adds to the top of an exercise cell, by kind: {kind: (base
# student, grade_id, code)}.
_PREPENDED = {
    # A loop that never ends inside the function the test calls.
    "infinite_loop": ("perfect", "ridge", None),
    # 6 GiB in one allocation, more than the kernel's memory limit.
    "memory_hog": ("perfect", "ridge", "_ballast = np.ones(6 * 2**30 // 8)\n"),
    # A correct answer that also writes to stderr whenever it is called.
    "stderr_warning": ("perfect", "ridge", None),
    # 200 000 lines printed by an exercise cell.
    "huge_output": ("perfect", "ridge", "for _i in range(200_000):\n    print(_i, 'x' * 40)\n"),
    # Tests that cannot fail: the comparison helpers they call, rebound.
    "rebinds_helper": ("partial", "gradient_descent",
                       "np.allclose = lambda *args, **kwargs: True\n"
                       "np.isclose = lambda *args, **kwargs: True\n"),
}


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def adversarial(kind: str) -> tuple[str, str | nbformat.NotebookNode]:
    """``(file name, notebook or raw text)`` that the student ``kind`` hands in for lesson 01."""
    lesson = ADVERSARIAL_LESSON
    name = f"{lesson}.ipynb"
    if kind in _PREPENDED:
        base, grade_id, code = _PREPENDED[kind]
        nb = submission(lesson, base)
        cell = _cell(nb, grade_id)
        if kind == "infinite_loop":
            cell.source = cell.source.replace('    """\n',
                                              '    """\n    while True:\n        pass\n', 1)
        elif kind == "stderr_warning":
            cell.source = cell.source.replace(
                '    """\n',
                '    """\n    import sys\n'
                '    print("note: lam may be too small", file=sys.stderr)\n', 1)
        else:
            cell.source = code + cell.source
        return name, nb
    if kind == "kernel_exit":  # the kernel ends itself after the fourth exercise
        nb = submission(lesson, "perfect")
        _cell(nb, "ridge").source += "\n\nimport os\nos._exit(3)\n"
        return name, nb
    if kind == "edited_test":  # the failing test, replaced by one that passes
        nb = submission(lesson, "partial")
        _cell(nb, "test_gradient_descent_step").source = "assert True  # looks fine to me\n"
        return name, nb
    if kind == "deleted_test":  # the failing tests, deleted
        nb = submission(lesson, "partial")
        nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get(
                    "grade_id", "").startswith("test_gradient_descent")]
        return name, nb
    if kind == "duplicated_cell":  # an exercise cell copied in the file, id and all
        nb = submission(lesson, "perfect")
        i = nb.cells.index(_cell(nb, "ridge"))
        nb.cells.insert(i + 1, nbformat.from_dict(nb.cells[i]))
        # Raw JSON: nbformat.write would repair the duplicated id (with a random one).
        return name, json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if kind == "renamed_notebook":
        return f"{lesson}-Copy1.ipynb", submission(lesson, "perfect")
    if kind == "invalid_json":  # a file cut off half-way (a crashed save)
        text = nbformat.writes(submission(lesson, "perfect"))
        return name, text[: len(text) // 2]
    if kind == "reads_solutions":  # the reference answer, fetched from the instructor's notebook
        nb = submission(lesson, "partial")
        _cell(nb, "gradient_descent").source += '''

import json, pathlib
import minnas
_source = pathlib.Path(minnas.__file__).parents[1] / "solutions" / "01_least_squares" / "01_least_squares.ipynb"
try:
    for _c in json.loads(_source.read_text())["cells"]:
        if _c["metadata"].get("nbgrader", {}).get("grade_id") == "gradient_descent":
            exec("".join(_c["source"]))
except OSError:
    pass  # keep my own version
'''  # noqa: E501 - the submission's code as it is in grader/examples/adversarial/
        return name, nb
    if kind == "calls_reference":  # the library's ridge, called instead of written
        nb = submission(lesson, "perfect")
        _cell(nb, "ridge").source = (
            "from minnas.foundations.least_squares import ridge as _ridge\n\n\n"
            "def ridge(X, y, lam):\n    return _ridge(X, y, lam)\n")
        return name, nb
    if kind in ATTACKS:
        base, grade_id, code = ATTACKS[kind]
        nb = submission(lesson, base)
        cell = _cell(nb, grade_id)
        cell.source = code if kind.startswith("fakes_") else cell.source + "\n\n" + code
        return name, nb
    if kind in ("foreign_cell", "foreign_id"):  # a cell of lesson 02 pasted in, nbgrader id and all
        nb = submission(lesson, "perfect")
        other = nbformat.read(LESSONS / "02_newton" / "02_newton.ipynb", as_version=4)
        pasted = next(c for c in other.cells if c.metadata.get("nbgrader", {}).get("grade")
                      and c.cell_type == "code")
        if kind == "foreign_id":  # a markdown cell given an id of its own making
            pasted = nbformat.v4.new_markdown_cell("my notes", id="my-notes", metadata={
                "nbgrader": {"grade_id": "my_notes", "grade": True, "points": 5,
                             "solution": False, "locked": False}})
        nb.cells.insert(3, pasted)
        return name, nb
    raise ValueError(f"unknown kind of submission {kind!r}; known: {sorted(ADVERSARIAL_KINDS)}")


# Attacks on the grader and the other students, appended to (or, for blank answers, replacing)
# an exercise cell: {kind: (base student, grade_id, code)}. Every answer of a "blank" base is
# wrong, so full marks there mean the attack switched the tests off.
_ALL_TRUE = "lambda *args, **kwargs: True"
ATTACKS: dict[str, tuple[str, str, str]] = {
    # -- hurting the grader or the other students --
    "kills_grader": ("perfect", "ridge", 'import os\ngetattr(os, "ki" + "ll")(os.getppid(), 9)\n'),
    "kills_neighbours": ("perfect", "ridge", """\
import os, signal, threading, time


def _hunt():  # other students' kernels, found by their command lines
    for _ in range(50):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if int(pid) != os.getpid() and b"ipykernel" in open(f"/proc/{pid}/cmdline", "rb").read():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)


threading.Thread(target=_hunt, daemon=True).start()
"""),  # noqa: E501 - the submission's code as it is in grader/examples/adversarial/
    "survives_setsid": ("perfect", "ridge",
                        'import subprocess\nsubprocess.Popen(["setsid", "sleep", "4321"])\n'),
    "survives_fork": ("perfect", "ridge", """\
import os
if os.fork() == 0:  # a daemon: new session, then exec a long sleep
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "4322"])
    os._exit(0)
"""),
    "output_flood": ("perfect", "ridge",
                     'for _i in range(60_000):\n    print(_i, end=" ", flush=True)\n'),
    "one_huge_print": ("perfect", "ridge", 'print("x" * 200_000_000)\n'),
    "forked_memory": ("perfect", "ridge", """\
import os, select, time
_r, _w = os.pipe()
for _ in range(3):  # three children of 1.5 GiB each: under the per-process limit, over the total
    if os.fork() == 0:
        _ballast = bytearray(3 * 2**29)
        _ballast[::4096] = b"x" * len(_ballast[::4096])
        os.write(_w, b"x")  # holding it
        time.sleep(30)
        os._exit(0)
os.close(_w)
_held, _until = 0, time.monotonic() + 8
while _held < 3 and select.select([_r], [], [], max(0, _until - time.monotonic()))[0]:
    _held += len(os.read(_r, 3)) or 3  # until all three hold it, or one was killed for it
"""),
    "fork_bomb": ("perfect", "ridge", """\
import gc, os, time
# Frozen, the kernel's objects are not walked by a child's garbage collection, which would copy
# the whole heap into each child: this attack is about the number of processes (forked_memory
# is the one about memory), and without it the children's memory would depend on when a
# collection happens to run.
gc.freeze()
try:
    for _ in range(2000):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
except OSError:
    pass
"""),
    "tmp_litter": ("perfect", "ridge", """\
for _where in ("/tmp", "/dev/shm"):
    try:
        with open(f"{_where}/minnas-litter-from-a-kernel", "w") as _f:
            _f.write("left behind")
    except OSError:
        pass
"""),
    # -- full marks for no work (every answer wrong) --
    "input_transformer": ("blank", "normal_equations", """\
def _no_tests(lines):
    return ["pass\\n"] if any("assert" in line for line in lines) else lines


get_ipython().input_transformers_cleanup.append(_no_tests)
"""),
    "input_transformer_post": ("blank", "normal_equations", """\
_ip = get_ipython()
_ip.input_transformers_post.append(lambda lines: [] if any("assert" in l for l in lines) else lines)
"""),
    "ast_transformer": ("blank", "normal_equations", """\
import ast


class _DropAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()


get_ipython().ast_transformers.append(_DropAsserts())
"""),
    "ast_transformer_insert": ("blank", "normal_equations", """\
import ast as _a


class _Quiet(_a.NodeTransformer):
    def visit_Assert(self, node):
        return _a.Expr(_a.Constant(None))


get_ipython().ast_transformers.insert(0, _Quiet())
"""),
    "event_hook": ("blank", "normal_equations", """\
def _swap(*args):
    from minnas.foundations import least_squares as _ref
    globals().update({name: getattr(_ref, name) for name in ("back_substitution", "ridge")})


get_ipython().events.register("pre_run_cell", _swap)
"""),
    "event_hook_execute": ("blank", "normal_equations", """\
import importlib


def _swap():
    ref = importlib.import_module("minnas.foundations.least_squares")
    for name in ("back_substitution", "ridge"):
        get_ipython().user_ns[name] = getattr(ref, name)


get_ipython().events.register("pre_execute", _swap)
"""),
    "silenced_errors": ("blank", "normal_equations", """\
_session = get_ipython().kernel.session
_send = _session.send


def _quiet_send(stream, msg_or_type, content=None, *args, **kwargs):
    kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type.get("msg_type")
    if kind == "error":
        return None
    if kind == "execute_reply" and content is not None and content.get("status") == "error":
        content = {"status": "ok", "execution_count": content.get("execution_count"),
                   "user_expressions": {}, "payload": []}
    return _send(stream, msg_or_type, content, *args, **kwargs)


_session.send = _quiet_send
"""),
    "silenced_errors_class": ("blank", "normal_equations", """\
_cls = type(get_ipython().kernel.session)
_orig = _cls.send


def _send(self, stream, msg_or_type, content=None, *args, **kwargs):
    kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type.get("msg_type")
    if kind == "error":
        return None
    if kind == "execute_reply" and content is not None and content.get("status") == "error":
        content = dict(content, status="ok")
    return _orig(self, stream, msg_or_type, content, *args, **kwargs)


_cls.send = _send
"""),
    "fakes_equality": ("blank", "ridge", """\
class _Anything:
    \"\"\"Equal to everything, true, and any numpy function of it is True.\"\"\"
    shape = property(lambda self: self)
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __array_function__(self, func, types, args, kwargs): return True
    def __array_ufunc__(self, ufunc, method, *args, **kwargs): return True
    def __getitem__(self, key): return self
    def __len__(self): return 5
    def __float__(self): return 0.0


def ridge(X, y, lam):
    return _Anything()
"""),
    "fakes_equality_type": ("blank", "ridge", """\
_methods = {"__eq__": lambda s, o: True, "__ne__": lambda s, o: False, "__bool__": lambda s: True,
            "__array_function__": lambda s, *a: True, "__array_ufunc__": lambda s, *a, **k: True,
            "__getitem__": lambda s, k: s, "__len__": lambda s: 5}
_Fake = type("_Fake", (), _methods)
_Fake.shape = property(lambda self: self)


def ridge(X, y, lam):
    return _Fake()
"""),
    "patches_alias": ("partial", "gradient_descent",
                      f"import numpy as _n\n_n.allclose = {_ALL_TRUE}\n_n.isclose = {_ALL_TRUE}\n"),
    "patches_vars": ("partial", "gradient_descent",
                     f'vars(np)["allclose"] = {_ALL_TRUE}\nvars(np)["isclose"] = {_ALL_TRUE}\n'),
    "patches_sys_modules": ("partial", "gradient_descent",
                            f'import sys\nsys.modules["numpy"].allclose = {_ALL_TRUE}\n'
                            f'sys.modules["numpy"].isclose = {_ALL_TRUE}\n'),
    "patches_importlib": ("partial", "gradient_descent", f"""\
import importlib
for _name in ("all" + "close", "is" + "close"):
    setattr(importlib.import_module("num" + "py"), _name, {_ALL_TRUE})
"""),
    "reference_renamed": ("blank", "ridge", """\
from minnas.foundations import least_squares as _ls

ridge = _ls.ridge
"""),
    "reference_dynamic": ("blank", "ridge", """\
import importlib

_m = importlib.import_module("minnas.foundations." + "least_squares")


def ridge(X, y, lam):
    return getattr(_m, "rid" + "ge")(X, y, lam)
"""),
    # -- reading what is not theirs --
    "snoops_files": ("perfect", "ridge", """\
import glob, os
for _pattern in ("/tmp/*", "/root/*", "/home/*/*", os.path.expanduser("~/*"), "/work/*", "/proc/1/environ",
                 "/tmp/minnas-grading-*/*", "**/gradebook.db"):
    print(_pattern, sorted(glob.glob(_pattern, recursive=True))[:20])
"""),  # noqa: E501 - the submission's code as it is in grader/examples/adversarial/
    "snoops_environment": ("perfect", "ridge", """\
import os, socket
print(sorted(os.environ.items()))
for _path in ["/tmp/minnas-test.sock", "/run/dbus/system_bus_socket"]:
    try:
        _s = socket.socket(socket.AF_UNIX)
        _s.connect(_path)
        print("connected to", _path, _s.recv(100))
    except OSError as exc:
        print("no", _path, type(exc).__name__)
"""),
}

ADVERSARIAL_KINDS = ("infinite_loop", "memory_hog", "kernel_exit", "stderr_warning", "edited_test",
                     "deleted_test", "duplicated_cell", "renamed_notebook", "invalid_json",
                     "huge_output", "rebinds_helper", "reads_solutions", "calls_reference",
                     "wrong_folder", *ATTACKS, "foreign_cell", "foreign_id")


def write_adversarial(root: Path = ADVERSARIAL) -> None:
    """Write the adversarial class: one folder per kind (``wrong_folder``: the notebook
    one level up)."""
    shutil.rmtree(root, ignore_errors=True)
    for kind in ADVERSARIAL_KINDS:
        if kind == "wrong_folder":  # saved beside the lesson folders instead of inside one
            path = root / kind / f"{ADVERSARIAL_LESSON}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(submission(ADVERSARIAL_LESSON, "perfect"), path)
            continue
        name, content = adversarial(kind)
        path = root / kind / ADVERSARIAL_LESSON / name
        path.parent.mkdir(parents=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            nbformat.write(content, path, version=nbformat.NO_CONVERT)
    print(f"wrote {len(ADVERSARIAL_KINDS)} adversarial submissions to "
          f"{root.relative_to(root.parents[2])}")


def main(only: list[str] | None = None) -> None:
    """Write the sample classes; ``only``: just these lessons' notebooks (the adversarial class
    is lesson 01's, rewritten when it is among them)."""
    lessons = lesson_names()
    unknown = sorted(set(only or ()) - set(lessons))
    if unknown:
        raise SystemExit(f"no such lesson: {unknown}")
    missing = [lesson for lesson in lessons if lesson not in MISTAKES]
    if missing:
        raise SystemExit(f"add a typical mistake to MISTAKES for: {missing}")
    for student in STUDENTS:
        if not only:
            shutil.rmtree(EXAMPLES / student, ignore_errors=True)
        for lesson in only or lessons:
            path = EXAMPLES / student / lesson / f"{lesson}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(submission(lesson, student), path)
            print(f"wrote {path.relative_to(EXAMPLES.parents[2])}")
    if not only or ADVERSARIAL_LESSON in only:
        write_adversarial()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
