"""The static code scan (:func:`grader.integrity.scan_code`) on its own: attacks that got full
marks for no work, by every spelling we know of, must be flagged with a message that names what
happened; honest course code (numpy, torch modules, dataclasses, magics) must not be."""

from __future__ import annotations

import functools
import json

import pytest

from grader import course
from grader.integrity import SUSPICIOUS, LessonSpec
from grader.scan import scan_code

L01 = "01_least_squares"  # numpy; tests use np.allclose, np.isclose, np.linalg.norm, len
L07 = "07_darts"          # torch; tests use torch.allclose, getattr


@functools.cache
def spec_of(lesson: str) -> LessonSpec:
    return LessonSpec.from_notebooks(
        lesson, json.loads((course.LESSONS / lesson / f"{lesson}.ipynb").read_text()),
        json.loads((course.SOLUTIONS / lesson / f"{lesson}.ipynb").read_text()))


def messages(code: str | list[str], lesson: str = L01) -> list[str]:
    cells = [code] if isinstance(code, str) else code
    flags = scan_code([(f"cell {i}", c) for i, c in enumerate(cells)], spec_of(lesson))
    assert all(f.kind == SUSPICIOUS for f in flags)
    return [f.message for f in flags]


def flagged(code: str | list[str], *words: str, lesson: str = L01) -> None:
    found = messages(code, lesson)
    assert any(all(w in m for w in words) for m in found), found


ALWAYS_TRUE = "lambda *a, **k: True"

# (code, words that one flag's message must hold), by attack class.
IPYTHON = [
    ("def _no_tests(lines):\n    return ['pass\\n'] if any('assert' in l for l in lines) else "
     "lines\nget_ipython().input_transformers_cleanup.append(_no_tests)", ("input transformers",)),
    ("_ip = get_ipython()\n_ip.input_transformers_post.append(lambda lines: [])",
     ("input transformers",)),
    ("import ast\nclass Drop(ast.NodeTransformer):\n    def visit_Assert(self, node):\n        "
     "return None\nip = get_ipython()\nip.ast_transformers.append(Drop())", ("AST transformers",)),
    ("get_ipython().ast_transformers.insert(0, object())", ("AST transformers",)),
    (f"def _swap(info):\n    np.allclose = {ALWAYS_TRUE}\n"
     "get_ipython().events.register('pre_run_cell', _swap)",
     ("IPython event hook",)),
    ("events = get_ipython().events\nevents.register('pre_execute', print)",
     ("IPython event hook",)),
    ("get_ipython().kernel.session.send = lambda *a, **k: None", ("kernel's messaging",)),
    ("_session = get_ipython().kernel.session\n_send = _session.send\n"
     "_session.send = lambda *a, **k: None",
     ("kernel's messaging", "_session.send")),
    ("_cls = type(get_ipython().kernel.session)\n_cls.send = lambda *a, **k: None",
     ("kernel's messaging",)),
    ("import sys\nsys.settrace(lambda *a: None)", ("sys.settrace", "trace function")),
    ("from sys import setprofile as sp\nsp(print)", ("sys.setprofile",)),
    ("import sys\nsys.excepthook = lambda *a: None", ("sys.excepthook",)),
    ("import sys as s\ns.excepthook = print", ("patches `s.excepthook` (= `sys.excepthook`)",)),
    ("get_ipython().showtraceback = lambda *a, **k: None", ("showtraceback", "reports an error")),
    ("ip = get_ipython()\nip._showtraceback = print", ("_showtraceback", "reports an error")),
    ("from IPython import get_ipython as g\ng().run_cell('1')", ("uses `IPython`",)),
    ("import ipykernel", ("uses `ipykernel`",)),
    ("from jupyter_client import session", ("uses `jupyter_client`",)),
    ("import zmq", ("uses `zmq`",)),
]

FAKES = [
    ("class Anything:\n    def __eq__(self, other):\n        return True\n"
     "def ridge(X, y, lam):\n    return Anything()",
     ("defines `__eq__` in class `Anything`", "comparison")),
    ("class A:\n    def __ne__(self, other):\n        return False\n    def __bool__(self):\n"
     "        return True",
     ("defines `__bool__`",)),
    ("class A:\n    __array_priority__ = 1000\n    def __array_ufunc__(self, *a, **k):\n"
     "        return True",
     ("defines `__array_ufunc__`", "numpy's or torch's")),
    ("class A:\n    def __array_function__(self, *a, **k):\n        return True",
     ("defines `__array_function__`",)),
    ("class A:\n    def __array__(self, dtype=None):\n        return np.zeros(3)",
     ("defines `__array__`",)),
    ("class T:\n    @classmethod\n    def __torch_function__(cls, *a, **k):\n        return True",
     ("defines `__torch_function__`",)),
    ("class N:\n    def __float__(self):\n        return 1.0",
     ("defines `__float__`", "any number")),
    ("class N:\n    def __lt__(self, other):\n        return True\n"
     "    __le__ = __gt__ = __ge__ = __lt__",
     ("defines `__le__`",)),
    ("class Z:\n    def __abs__(self):\n        return 0\n"
     "    def __sub__(self, o):\n        return self\n    __rsub__ = __sub__",
     ("defines `__rsub__`",)),
    ("class Meta(type):\n    def __instancecheck__(cls, obj):\n        return True",
     ("defines `__instancecheck__`",)),
    ("class Any:\n    def __getattr__(self, name):\n        return self",
     ("defines `__getattr__`", "anything")),
    ("Fake = type('Fake', (), {'__eq__': lambda s, o: True, '__bool__': lambda s: True})",
     ("defines `__eq__` through a dict",)),
    ("ns = dict(__eq__=lambda s, o: True)\nFake = type('Fake', (object,), ns)",
     ("defines `__eq__` through a keyword",)),
    ("class F: pass\nF.__eq__ = lambda s, o: True", ("sets `__eq__` on `F`",)),
    ("class F: pass\nsetattr(F, '__array_ufunc__', None)", ("sets `__array_ufunc__` on `F`",)),
]

PATCHES = [
    # forging the answer of the run-time check (grader.guard), which reports through json
    ("import json\n_d = json.dumps\n"
     "json.dumps = lambda o, **k: _d({'found': [], 'snapshot': None})",
     ("patches `json.dumps`",)),
    ("import json as j\nsetattr(j, 'loads', lambda s: {})", ("patches `j` with setattr()",)),
    (f"import numpy as xx\nxx.allclose = {ALWAYS_TRUE}",
     ("patches `xx.allclose` (= `numpy.allclose`)", "tests use")),
    (f"m = np\nm.allclose = {ALWAYS_TRUE}", ("patches `m.allclose` (= `numpy.allclose`)",)),
    (f"a, b = 1, np\nb.isclose = {ALWAYS_TRUE}", ("patches `b.isclose` (= `numpy.isclose`)",)),
    (f"for m in [np]:\n    m.allclose = {ALWAYS_TRUE}", ("patches `m.allclose`",)),
    (f"def g():\n    return np\ng().allclose = {ALWAYS_TRUE}", ("patches `g().allclose`",)),
    (f"def f(m=np):\n    m.allclose = {ALWAYS_TRUE}", ("patches `m.allclose`",)),
    (f"d = {{'a': np}}\nd['a'].allclose = {ALWAYS_TRUE}", ("patches `d['a'].allclose`",)),
    ("np.core.numeric.isclose = print",
     ("patches `np.core.numeric.isclose`", "gets the replacement")),
    ("from numpy import linalg\nlinalg.norm = abs",
     ("patches `linalg.norm` (= `numpy.linalg.norm`)", "tests use")),
    ("del np.allclose", ("deletes `np.allclose`",)),
    ("import torch\ntorch.Tensor.allclose = lambda *a, **k: True",
     ("patches `torch.Tensor.allclose`",)),
    ("type(np.zeros(1)).allclose = print", ("`allclose` is one of the comparisons",)),
    (f"vars(np)['allclose'] = {ALWAYS_TRUE}", ("patches `vars(np)['allclose']`", "tests use")),
    (f"vars(np)['allclose'] = {ALWAYS_TRUE}", ("with `vars()`",)),
    (f"np.__dict__['isclose'] = {ALWAYS_TRUE}", ("np.__dict__",)),
    (f"exec('np.allclose = {ALWAYS_TRUE}')", ("`exec()`",)),
    # the string is scanned too
    (f"exec('np.allclose = {ALWAYS_TRUE}')", ("patches `np.allclose`",)),
    ("eval(compile('1', '<x>', 'eval'))", ("`compile()`",)),
    ("eval(compile('1', '<x>', 'eval'))", ("`eval()`",)),
    ("e = exec\ne('x = 1')", ("`exec()`",)),
    (f"import importlib\nimportlib.import_module('numpy').allclose = {ALWAYS_TRUE}",
     ("patches `importlib.import_module('numpy').allclose` (= `numpy.allclose`)",)),
    ("import importlib\nsetattr(importlib.import_module('num' + 'py'), name, print)",
     ("uses `importlib`",)),
    ("from importlib import import_module\nimport_module('numpy').isclose = print",
     ("uses `importlib`",)),
    (f"import sys\nsys.modules['numpy'].allclose = {ALWAYS_TRUE}",
     ("patches `sys.modules['numpy'].allclose`",)),
    ("import sys\nsys.modules['numpy'] = None", ("replaces a module in `sys.modules`",)),
    ("globals()['len'] = lambda x: 3", ("rebinds `len`",)),
    ("globals()['np'].allclose = print",
     ("patches `globals()['np'].allclose` (= `numpy.allclose`)",)),
    ("locals()['x'] = 1", ("`locals()`",)),
    ("v = vars()", ("`vars()`",)),
    ("name = 'allclose'\nf = getattr(np, name)", ("getattr() with a computed attribute name",)),
    ("def patch(name, value):\n    setattr(np, name, value)",
     ("setattr() with a computed attribute name",)),
    ("def patch(name, value):\n    setattr(np, name, value)", ("patches `np` with setattr()",)),
    ("delattr(np, 'allclose')", ("patches `np` with delattr()",)),
    ("g = setattr\ng(np, 'allclose', print)", ("passes `setattr` around",)),
    ("__import__('numpy').allclose = print", ("`__import__()`",)),
    ("__import__('numpy').allclose = print",
     ("patches `__import__('numpy').allclose` (= `numpy.allclose`)",)),
    ("().__class__.__bases__[0].__subclasses__()", ("interpreter internals", "__bases__")),
    ("object.__subclasses__()", ("interpreter internals", "__subclasses__")),
    ("def f(): pass\nf.__globals__['np'].allclose = print",
     ("interpreter internals", "f.__globals__")),
    ("def f(): pass\nf.__globals__['np'].allclose = print", ("patches", "(= `numpy.allclose`)")),
    ("f = lambda: 0\nf.__code__ = (lambda: 1).__code__", ("changes `f.__code__`",)),
    ("__builtins__.len = lambda x: 3", ("uses `__builtins__`",)),
    ("import builtins as b\nb.len = None", ("patches `b.len` (= `builtins.len`)", "tests use")),
    ("print.__self__", ("interpreter internals",)),
    ("import ctypes\nctypes.pythonapi", ("uses `ctypes`",)),
    ("from ctypes import py_object", ("uses `ctypes`",)),
    ("import gc\nfor o in gc.get_referrers(np.allclose): pass", ("uses `gc`",)),
    ("from gc import get_objects", ("uses `gc`",)),
    ("import threading\n"
     f"threading.Timer(5, lambda: setattr(np, 'allclose', {ALWAYS_TRUE})).start()",
     ("uses `threading`", "later")),
    ("from threading import Thread\nThread(target=print).start()", ("uses `threading`",)),
    ("import _thread\n_thread.start_new_thread(print, ())", ("uses `_thread`",)),
    ("from concurrent.futures import ThreadPoolExecutor", ("uses `concurrent`",)),
    ("import multiprocessing as mp\nmp.Process(target=print).start()", ("uses `multiprocessing`",)),
    ("import subprocess\nsubprocess.Popen(['sleep', '100'])", ("uses `subprocess`",)),
    ("import os\nos.system('kill -9 $PPID')", ("uses `os.system`", "shell command")),
    ("from os import popen\npopen('ls')", ("uses `os.popen`",)),
    ("import os\nif os.fork() == 0:\n    os.setsid()", ("uses `os.fork`",)),
    ("import os\nif os.fork() == 0:\n    os.setsid()", ("uses `os.setsid`",)),
    ("import os\nos.kill(os.getppid(), 9)", ("stops the kernel with `os.kill()`",)),
    ("import os\nos.kill(os.getppid(), 9)", ("uses `os.getppid`",)),
    ("import os\nos.execvp('sh', ['sh'])", ("uses `os.execvp`",)),
    ("import signal\nsignal.alarm(1)", ("changes how the kernel is interrupted",)),
    ("from signal import SIGKILL", ("uses `signal`",)),
    ("import inspect\ninspect.stack()[1].frame.f_globals['np'].allclose = print",
     ("uses `inspect`",)),
    ("import inspect\ninspect.currentframe().f_back.f_globals", ("interpreter's frames",)),
    ("import sys\nsys._getframe(1).f_globals['len'] = None", ("uses `sys._getframe`",)),
    ("import sys\nsys._getframe(1).f_globals['len'] = None", ("rebinds `len`",)),
    ("from unittest import mock\nmock.patch('numpy.allclose', print).start()",
     ("uses `unittest.mock`",)),
    ("%%time\nnp.allclose = print", ("patches `np.allclose`",)),  # the code of a magic is scanned
    ("%timeit -n 1 -r 1 np.isclose = print", ("patches `np.isclose`",)),
    ("%load_ext my_transformer", ("runs the IPython magic `%load_ext my_transformer`",)),
    ("!kill -9 $PPID", ("runs a shell command",)),
]

REFERENCE = [
    ("from minnas.foundations import least_squares as ls2\nls2.ridge(1, 2, 3)",
     ("calls the reference `ls2.ridge` (= `minnas.foundations.least_squares.ridge`)",)),
    ("import minnas.foundations.least_squares as m\ndef ridge(X, y, lam):\n"
     "    return m.ridge(X, y, lam)",
     ("calls the reference `m.ridge`",)),
    ("from minnas import foundations\nridge = foundations.least_squares.ridge",
     ("calls the reference",)),
    # `ls` as the release's plain cell binds it
    ("ridge = ls.ridge", ("calls the reference `ls.ridge`",)),
    ("import importlib\nridge = importlib.import_module('minnas.foundations.least_squares').ridge",
     ("imports the reference module `minnas.foundations.least_squares`",)),
    ("import importlib\n_m = importlib.import_module('minnas.foundations.least_squares')\n"
     "ridge = _m.ridge",
     ("calls the reference `_m.ridge`",)),
    ("from minnas.foundations import least_squares as ls\nridge = getattr(ls, 'rid' + 'ge')",
     ("calls the reference `getattr(ls, 'ridge')`",)),
    ("from minnas.foundations import least_squares as ls\nridge = getattr(ls, 'egdir'[::-1])",
     ("calls the reference",)),
    ("from minnas.foundations import least_squares as ls\ndef ridge(X, y, lam, name='ridge'):\n"
     "    return getattr(ls, name)(X, y, lam)", ("reaches into the reference `ls`",)),
    ("ridge = __import__('minnas.foundations.least_squares', fromlist=['x']).ridge",
     ("calls the reference",)),
    ("from minnas.foundations import least_squares as ls\nridge = vars(ls)['ridge']",
     ("`vars()`",)),
]

ATTACKS = [pytest.param(code, words, id=f"{kind}-{i}")
           for kind, cases in (("ipython", IPYTHON), ("fake", FAKES), ("patch", PATCHES),
                               ("reference", REFERENCE))
           for i, (code, words) in enumerate(cases)]


@pytest.mark.parametrize("code, words", ATTACKS)
def test_attack_is_flagged(code, words):
    flagged(code, *words)


@pytest.mark.parametrize("code, words", [
    ("import torch\ntorch.allclose = lambda *a, **k: True",
     ("patches `torch.allclose`", "tests use")),
    ("import torch as t\nt.equal = lambda *a, **k: True",
     ("patches `t.equal` (= `torch.equal`)", "tests use")),
    ("class Fake(torch.Tensor):\n    @classmethod\n"
     "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
     "        return True", ("defines `__torch_function__` in class `Fake`",)),
    ("from minnas.nas import darts as d\nMixedOp = d.MixedOp",
     ("calls the reference `d.MixedOp`",)),
])
def test_attack_on_a_torch_lesson_is_flagged(code, words):
    flagged(code, *words, lesson=L07)


HONEST = [
    # a torch module, the way the lessons write them
    "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self, d):\n"
    "        super().__init__()\n        self.fc = nn.Linear(d, 1)\n"
    "        self.alpha = nn.Parameter(torch.zeros(3))\n\n"
    "    def forward(self, x):\n        return self.fc(x)\n\n    def __repr__(self):\n"
    "        return f'{type(self).__name__}({self.__class__.__name__})'\n\n    def __call__(self, "
    "*args):\n        return super().__call__(*args)\n",
    "import torch\nmodel = torch.nn.Linear(3, 1)\nwith torch.no_grad():\n    model.weight.data = "
    "torch.zeros(1, 3)\n    model.bias.data.fill_(0.0)\nfor p in model.parameters():\n    "
    "p.grad = None",
    "class Mixer:\n    def __init__(self, alpha):\n        self.alpha = alpha\n        "
    "self.weights = [alpha]\n    def __len__(self):\n        return len(self.weights)\n"
    "    def __getitem__(self, i):\n        return self.weights[i]\n"
    "    def __iter__(self):\n        return iter(self.weights)",
    # a dataclass (its generated __eq__ and ordering are not in the source)
    "from dataclasses import dataclass, field\n\n\n@dataclass(order=True)\nclass Point:\n    x: "
    "float\n    y: float = 0.0\n    tags: list = field(default_factory=list)\n\n    def "
    "__post_init__(self):\n        self.x = float(self.x)\n\n    def __hash__(self):\n        "
    "return hash((self.x, self.y))",
    # numpy code
    "rng = np.random.default_rng(0)\nX = rng.normal(size=(5, 2))\ny = X @ np.ones(2)\n"
    "theta = np.linalg.lstsq(X, y, rcond=None)[0]\nassert np.allclose(X @ theta, "
    "y)\nnp.random.seed(3)",
    "def back_substitution(R, b):\n    p = R.shape[0]\n    theta = np.zeros(p)\n    for i in "
    "range(p - 1, -1, -1):\n        theta[i] = (b[i] - R[i, i + 1:] @ theta[i + 1:]) / R[i, i]\n   "
    " return theta",
    # local variables named like module attributes, or like modules
    "def f(x):\n    allclose = np.allclose(x, 0)\n    norm = np.linalg.norm(x)\n"
    "    linalg = [x]\n    return allclose, norm, linalg",
    "class Box:\n    pass\n\n\nlinalg = Box()\nlinalg.norm = 2.0\nrandom = [3, 1]\nrandom.sort()",
    "def f(np):\n    np.linalg = True\n    return np",
    "def step(bn, momentum):\n    bn.momentum = momentum\n    self_norm = bn.norm = None\n"
    "    return bn",
    # a new attribute on a module changes nothing that exists; a documented setting
    "np.random.custom_seed = 1",
    "import torch\ntorch.backends.cudnn.deterministic = True",
    # reading special attributes honest code reads
    "x = np.zeros(3)\nn = x.__len__()\nv = np.__version__\nname = type(x).__name__\n"
    "doc = np.zeros.__doc__",
    "if __name__ == '__main__':\n    print(__doc__)",
    # getattr with a literal name, hasattr, and ordinary modules
    "import torch\nact = getattr(torch.nn, 'ReLU')()\nok = hasattr(act, 'inplace')",
    "import sys\nimport os\nimport time\nprint('note', file=sys.stderr)\nsys.path.append('..')\n"
    "p = os.path.join('a', 'b')\nt0 = time.perf_counter()",
    "import copy, itertools, functools, math, random\nrandom.seed(0)\n"
    "f = functools.partial(math.pow, 2)",
    "from IPython.display import display, Markdown\ndisplay(Markdown('**done**'))",
    "import torch.nn.functional as F\nimport torch\ny = F.relu(torch.zeros(3))\n"
    "z = torch.softmax(y, dim=0)",
    "from minnas.foundations.least_squares import polynomial_features as pf\n"
    "X = pf(np.linspace(0, 1, 5), 3)",
    "from minnas.foundations import least_squares as ls\n"
    "X = ls.polynomial_features(np.linspace(0, 1, 5), 3)",
    # magics that only measure or show
    "%matplotlib inline\n%timeit -n 3 np.zeros(3)",
    "%%time\nx = np.zeros(3)",
    "%load_ext autoreload\n%autoreload 2",
    "np.linalg.solve?",
]


@pytest.mark.parametrize("code", HONEST)
def test_honest_code_is_not_flagged(code):
    assert messages(code) == []


def test_an_honest_torch_module_on_a_torch_lesson_is_not_flagged():
    code = (HONEST[0] + "\nnet = Net(3)\nout = net(torch.zeros(2, 3))\n"
            "assert torch.allclose(out, out)")
    assert messages(code, lesson=L07) == []


def test_an_alias_bound_in_one_cell_is_known_in_the_next():
    found = scan_code([("a", "import numpy as xx"), ("b", "xx.allclose = lambda *a, **k: True")],
                      spec_of(L01))
    assert [f.cell for f in found] == ["b"] and (
        "patches `xx.allclose` (= `numpy.allclose`)" in found[0].message)


def test_a_local_rebinding_shadows_the_module():
    assert messages(["m = np", "m = [1, 2]\nm.shape = 3"]) == []
    assert messages("def f():\n    np = object()\n    np.shape = 3") == []


def test_one_flag_per_finding_per_cell_in_a_stable_order():
    code = ("import numpy as xx\nxx.allclose = print\nxx.allclose = print\n"
            "get_ipython().ast_transformers.append(1)\nget_ipython().ast_transformers.append(2)")
    first = messages([code, code])
    assert first == messages([code, code])
    cells = scan_code([("a", code), ("b", code)], spec_of(L01))
    per_cell = [(f.cell, f.message) for f in cells]
    assert len(per_cell) == len(set(per_cell))
    assert [m for c, m in per_cell if c == "a"] == [m for c, m in per_cell if c == "b"]


def test_every_attack_class_has_two_variants_at_least():
    for cases in (IPYTHON, FAKES, PATCHES, REFERENCE):
        assert len(cases) >= 2
