"""The static scan of a submission's code: what in it could switch the tests off or reach
beyond the submission, however it is spelled.

It runs on the cells the student wrote (:func:`student_cells`: answer cells, and code cells added
or edited) before the notebook is executed; every finding is a ``suspicious``
:class:`grader.integrity.Flag`, never a score change. The run-time counterpart, which sees what
the interpreter *is* before each test cell, is :mod:`grader.guard`.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
from dataclasses import dataclass, field

import nbformat

from grader.integrity import (SUSPICIOUS, Flag, LessonSpec, _dotted, _is_locked, _module_bindings,
                              _nbgrader, _parse, _source)

# Paths into the grading machinery: the instructor's notebooks, the gradebook, other copies.
_SENSITIVE_PATH = re.compile(r"(^|[\\/])(solutions|autograded|submitted|feedback|release)([\\/]|$)"
                             r"|gradebook|\.db\b|MINNAS_GRADING_DIR|(^|[\\/])\.\.[\\/]")
_EXITS = {"exit", "quit", "sys.exit", "os._exit", "os.abort", "os.kill", "os.killpg",
          "signal.raise_signal", "signal.pthread_kill"}


# -- code ------------------------------------------------------------------------------------
#
# The scan looks for *capabilities*, not spellings. It resolves what every name is bound to
# (imports at any level, aliases made by assignment, `importlib.import_module("numpy")`,
# `sys.modules["numpy"]`, `vars(np)`, `globals()["np"]`, a function that returns a module, ...)
# and flags what student code has no honest use for, however it is spelled:
#
# 1. storing or deleting an attribute of an imported module (at any depth of the chain), of a
#    builtin, of an object a locked cell set up, or of the IPython shell: the tests and the
#    library see the replacement. Adding an attribute the module does not have
#    (`np.random.custom = 1`) changes nothing that exists, so it passes.
# 2. reaching the interpreter or the kernel: IPython's transformers, event hooks and error
#    report, the kernel's messaging, trace and profile hooks, frames, `sys.modules`, other
#    threads and processes, signals, shell commands, and the modules that exist to do these
#    (importing `ctypes`, `gc`, `threading`, ... is itself a finding).
# 3. dunder attributes other than the few honest code reads (see `_DUNDER_READS`): they are
#    the way around every other check (`f.__globals__`, `().__class__.__bases__`, ...).
# 4. defining the special methods that let an object pass for a correct answer (`__eq__`,
#    `__array_ufunc__`, ...), in a class body, through `type(...)` or a dict.
# 5. dynamic code: `exec`, `eval`, `compile`, `__import__`, `globals`, `locals`, `vars`, and
#    `getattr`/`setattr`/`delattr` with a name that is not a plain literal.
# and, as before: rebinding a name the tests use, calling or importing the `minnas` reference
# of an exercise (under any alias), paths into the grading machinery, stopping the kernel.
#
# Resolved values are dotted paths ("numpy.linalg.norm"), or markers: "<builtin>.len" (a
# builtin reached by its bare name), "<locked>.X" (an object a locked cell set up),
# "<ipython>..." (the IPython shell), "<get_ipython>" (the function), "[]path" (a container
# holding path) and "()path" (a function returning path).

# Modules whose import or use is a finding: what they give access to.
_RISKY_MODULES = {
    "builtins": "the builtins the tests use",
    "ctypes": "raw access to the interpreter's memory",
    "gc": "every live object, the tests' own included",
    "importlib": "imports by computed name",
    "inspect": "the interpreter's frames and the tests' namespace",
    "IPython": "the IPython shell that runs the tests",
    "ipykernel": "the kernel that runs the tests",
    "jupyter_client": "the kernel's messaging",
    "zmq": "the kernel's sockets",
    "threading": "code that runs later, in another thread",
    "_thread": "code that runs later, in another thread",
    "concurrent": "code that runs later, in another thread or process",
    "asyncio": "code that runs later, on the kernel's event loop",
    "multiprocessing": "other processes",
    "subprocess": "other processes and shell commands",
    "signal": "the kernel's signals",
    "runpy": "other files run as code",
    "code": "an interpreter inside the kernel",
    "codeop": "code compiled at run time",
    "pdb": "a debugger, whose trace hook sees every line",
    "bdb": "a debugger, whose trace hook sees every line",
    "marshal": "code objects",
    "pty": "other processes",
    "unittest.mock": "patching objects by name",
    "_pytest": "patching objects by name",
}
# Parts of those modules that only show output (`from IPython.display import display`).
_SAFE_SUBMODULES = ("IPython.display",)

# Parts of ordinary modules that reach the interpreter or the kernel (resolved paths; a path
# below one of them counts too: `sys.modules.get`).
_INTERNALS = {
    "sys.settrace": "a trace function sees, and can change, every line the tests run",
    "sys.setprofile": "a profile function sees every call the tests make",
    "sys.excepthook": "the hook that reports errors",
    "sys.displayhook": "the hook that shows results",
    "sys.unraisablehook": "the hook that reports errors",
    "sys.breakpointhook": "the debugger hook",
    "sys.addaudithook": "an audit hook sees what the grader does",
    "sys.monitoring": "monitoring callbacks see every line the tests run",
    "sys._getframe": "the interpreter's frames and the tests' namespace",
    "sys._current_frames": "the interpreter's frames and the tests' namespace",
    "sys.modules": "every loaded module, by name",
    "sys.meta_path": "import hooks",
    "sys.path_hooks": "import hooks",
    "os.system": "a shell command",
    "os.popen": "a shell command",
    "os.fork": "a copy of the kernel's process",
    "os.forkpty": "a copy of the kernel's process",
    "os.setsid": "a process outside the kernel's process group",
    "os.setpgrp": "a process outside the kernel's process group",
    "os.setpgid": "a process outside the kernel's process group",
    "os.getppid": "the kernel's parent process",
    "os.register_at_fork": "code run in forked processes",
    "types.CodeType": "code objects built at run time",
    "types.FunctionType": "functions built from code objects",
    "pytest.MonkeyPatch": "patching objects by name",
}
_OS_PROGRAMS = ("exec", "spawn", "posix_spawn")  # os.execv, os.spawnl, ...: another program

_TRANSFORMERS = ("IPython's input transformers, which rewrite every cell, the tests included, "
                 "before it runs")
_ERROR_REPORT = "how IPython reports an error: a failing test can look like a passing one"
_FRAMES = "the interpreter's frames and the tests' namespace"
_MESSAGING = "the kernel's messaging, which carries the test results"
_RUNNER = "IPython's cell runner"
_NAMESPACE = "the notebook's namespace, through IPython"
# Attribute names that belong to the interpreter's or IPython's machinery, on whatever object.
_HOOK_ATTRIBUTES = {
    "input_transformers_cleanup": _TRANSFORMERS, "input_transformers_post": _TRANSFORMERS,
    "input_transformer_manager": _TRANSFORMERS, "input_splitter": _TRANSFORMERS,
    "ast_transformers": "IPython's AST transformers, which rewrite every cell (an assert, dropped) "
                        "before it runs",
    "showtraceback": _ERROR_REPORT, "_showtraceback": _ERROR_REPORT,
    "showsyntaxerror": _ERROR_REPORT,
    "set_custom_exc": _ERROR_REPORT, "custom_exceptions": _ERROR_REPORT,
    "excepthook": "the hook that reports errors",
    "settrace": "a trace function, which sees and can change every line the tests run",
    "setprofile": "a profile function, which sees every call the tests make",
    "user_ns": _NAMESPACE, "user_global_ns": _NAMESPACE,
    "run_cell": _RUNNER, "run_cell_async": _RUNNER, "run_code": _RUNNER, "run_ast_nodes": _RUNNER,
    "transform_cell": _RUNNER, "transform_ast": _RUNNER,
    "f_back": _FRAMES, "f_globals": _FRAMES, "f_locals": _FRAMES, "f_builtins": _FRAMES,
    "f_code": _FRAMES,
    "f_trace": _FRAMES, "tb_frame": _FRAMES, "gi_frame": _FRAMES, "cr_frame": _FRAMES,
    "ag_frame": _FRAMES,
    "send_response": _MESSAGING, "iopub_socket": _MESSAGING, "iopub_thread": _MESSAGING,
    "shell_handlers": _MESSAGING, "shell_stream": _MESSAGING, "shell_streams": _MESSAGING,
    "control_stream": _MESSAGING, "control_handlers": _MESSAGING,
}
_EVENT_HOOK = ("registers an IPython event hook: code that runs around every cell, "
               "the tests included")
_IPYTHON_EVENTS = {"pre_execute", "pre_run_cell", "post_execute", "post_run_cell",
                   "shell_initialized"}
_IPYTHON = ("uses `get_ipython()`: the IPython shell that runs the tests (its transformers, "
            "hooks, kernel)")

_COMPARISON = "an object that can make any comparison with it pass"
_PROTOCOL = "an object that answers numpy's or torch's functions (np.allclose, torch.equal) itself"
_NUMBER = "an object that can pass for any number"
_ANYTHING = "an object that can pass for anything"
# Special methods that let an object pass for a correct answer: tests compare with ==, <,
# abs(a - b), bool(), float() and numpy's or torch's functions. Not listed, because honest
# classes define them: __init__, __repr__, __str__, __call__, forward-style methods,
# __len__/__getitem__/__iter__/__contains__ (a Dataset, a container: an object faking len()
# still has to hold the right items), __hash__, __post_init__, __enter__/__exit__, and arithmetic
# other than the subtraction in `abs(got - expected) < tol`. A dataclass's generated __eq__ is
# not in the source.
_FAKE_DUNDERS = {
    **dict.fromkeys(("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__",
                     "__abs__", "__sub__", "__rsub__"), _COMPARISON),
    **dict.fromkeys(("__array__", "__array_function__", "__array_ufunc__", "__array_interface__",
                     "__array_struct__", "__array_priority__", "__array_wrap__",
                     "__torch_function__", "__torch_dispatch__"), _PROTOCOL),
    **dict.fromkeys(("__float__", "__int__", "__index__", "__complex__", "__round__"), _NUMBER),
    **dict.fromkeys(("__getattr__", "__getattribute__", "__instancecheck__", "__subclasscheck__",
                     "__class__"), _ANYTHING),
}
# Dunder attributes honest code reads: names and docs (`type(x).__name__`,
# `x.__class__.__name__`, `np.__version__`), `super().__init__()` and `Base.__init__(self)`, and
# the protocol methods that do what a builtin call does (`x.__len__()` is `len(x)`). Every other
# one (`__dict__`, `__globals__`, `__code__`, `__closure__`, `__bases__`, `__mro__`,
# `__subclasses__`, `__builtins__`, `__self__`, `__func__`, `__wrapped__`, `__traceback__`,
# `__setattr__`, a comparison dunder, ...) is a way around the other checks. `__class__` is
# harmless alone: what could follow it (`__bases__`, `__eq__`, a store) is flagged.
_DUNDER_READS = {"__init__", "__name__", "__qualname__", "__doc__", "__module__", "__class__",
                 "__version__", "__len__", "__call__", "__repr__", "__str__", "__iter__",
                 "__next__",
                 "__getitem__", "__contains__", "__enter__", "__exit__", "__post_init__"}
_DUNDER_NAMES = {"__name__", "__doc__", "__debug__", "__class__"}  # bare names honest code uses

# Builtins that run or reach code out of sight of the scan; `vars()` without an argument is
# `locals()`, so it counts too.
_DYNAMIC = {
    "exec": "runs code built at run time with `exec()`",
    "eval": "runs code built at run time with `eval()`",
    "compile": "compiles code at run time with `compile()`",
    "__import__": "imports with `__import__()`",
    "globals": "reaches the notebook's namespace with `globals()`",
    "locals": "reaches a namespace with `locals()`",
    "vars": "reaches a namespace with `vars()`",
}
_ATTRIBUTE_BUILTINS = ("getattr", "setattr", "delattr")
_INTERRUPTS = {"signal.signal", "signal.alarm", "signal.setitimer", "signal.siginterrupt",
               "signal.pthread_sigmask"}
# Names of the comparisons tests make: a store of one on an object the scan cannot resolve
# (`type(torch.zeros(1)).allclose = f`, `make()[0].isclose = f`) is flagged too.
_COMPARISON_HELPERS = {"allclose", "isclose", "array_equal", "array_equiv", "equal", "assert_close",
                       "assert_allclose", "assert_array_equal", "assert_array_almost_equal",
                       "assert_almost_equal", "assert_equal", "approx"}
# Module settings honest code changes (they exist, so rule 1 would flag them).
_HARMLESS_SETTINGS = {"torch.backends.cudnn.deterministic", "torch.backends.cudnn.benchmark",
                      "torch.backends.cudnn.allow_tf32", "torch.backends.cuda.matmul.allow_tf32"}
# Packages the scan may import to tell a new attribute from an existing one (installed with the
# course, no side effects on import). A store on any other module is flagged.
_INTROSPECTABLE = {"numpy", "scipy", "torch", "matplotlib", "sklearn", "pandas", "minnas", "math",
                   "cmath", "random", "statistics", "os", "sys", "time", "itertools", "functools",
                   "operator", "collections", "copy", "json", "re", "string", "warnings", "pathlib",
                   "dataclasses", "typing", "types"}
# IPython magics (after IPython's transformation, `get_ipython().run_line_magic(...)`): the
# harmless ones, those whose argument is code to scan, and those that run a shell.
_HARMLESS_MAGICS = {"matplotlib", "pinfo", "pinfo2", "psearch", "pdoc", "pdef", "psource", "who",
                    "whos", "who_ls", "pwd", "precision", "pprint", "lsmagic", "magic", "quickref",
                    "history", "page", "xmode", "autoreload", "aimport", "html", "HTML", "latex",
                    "markdown", "svg", "javascript", "js"}
_CODE_MAGICS = {"time", "timeit", "prun", "capture"}
_SHELL_MAGICS = {"system", "sx", "sc", "sh", "bash", "script"}
_MAGIC_CALLS = ("run_line_magic", "run_cell_magic", "system", "getoutput")
_BUILTIN_NAMES = frozenset(dir(builtins))


def student_cells(nb: nbformat.NotebookNode, spec: LessonSpec) -> list[tuple[str, str]]:
    """(label, source) of the code the student wrote: answer cells, and added or
    edited code cells."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = _nbgrader(cell)
        if meta.get("solution"):
            out.append((meta.get("grade_id", f"cell {i}"), _source(cell)))
        elif not _is_locked(meta) and _source(cell).strip() not in spec.plain_sources:
            out.append((meta.get("grade_id") or f"cell {i}", _source(cell)))
    return out


def scan_code(cells: list[tuple[str, str]], spec: LessonSpec) -> list[Flag]:
    """Static flags on the student's code (see the comment above); one flag per finding and cell.

    The cells share one namespace, as in the kernel: an alias bound in one cell (`import numpy
    as xx`) is known in the next, and so are the release's own imports.
    """
    flags: list[Flag] = []
    names = _Names.of_release(spec)
    for label, source in cells:
        tree = _parse(source)
        if tree is None:
            continue
        found = []
        names_bound, imports = _module_bindings(tree)
        for _name, signature in sorted(imports.items()):
            if signature.split()[1].startswith("minnas"):
                imported = signature.rsplit(" ", 1)[-1]
                if signature.startswith("from") and (imported in spec.exercises or imported == "*"):
                    found.append(Flag(SUSPICIOUS, label, f"imports the reference `{imported}` "
                                                         f"({signature}) instead of writing it"))
        for name in sorted(names_bound | set(imports)):
            how = spec.protected.get(name)
            if how is not None and imports.get(name) != how:
                found.append(Flag(SUSPICIOUS, label, f"rebinds `{name}`, which the tests use"))
        for flag in found + _scan_nodes(tree, label, spec, names):
            if flag not in flags:
                flags.append(flag)
    return flags


@dataclass
class _Names:
    """What module-level names are bound to, for the whole submission (see the comment above).

    ``release`` is how the release's own cells bind them (set-up, tests, plain cells); ``tested``
    the resolved attribute chains the tests load (``numpy.allclose``).
    """

    module: dict[str, str | None]
    release: dict[str, str]
    tested: set[str]

    @classmethod
    def of_release(cls, spec: LessonSpec) -> _Names:
        release: dict[str, str] = {}
        sources = [c["source"] for c in spec.cells.values()
                   if c["locked"] and c["cell_type"] == "code"]
        sources += [spec.source_texts[g] for g, c in spec.cells.items()
                    if c["locked"] and c["cell_type"] == "code" and g in spec.source_texts]
        for source in sources + sorted(spec.plain_sources):
            tree = _parse(source)
            for node in ast.walk(tree) if tree else ():
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    release.update({bound: path for bound, path, _ in _imported(node) if path})
        for name, how in spec.protected.items():
            if how == "assigned in a locked cell":
                release.setdefault(name, f"<locked>.{name}")
        tested = set()
        for chain in spec.tested_chains:
            root, *rest = chain.split(".")
            if root in release:
                tested.add(".".join([release[root], *rest]))
        return cls(dict(release), release, tested)


def _imported(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None, str]]:
    """(bound name, what it resolves to, full imported path) for each name an import binds."""
    out = []
    for alias in node.names:
        if isinstance(node, ast.Import):
            top = alias.name.split(".")[0]
            out.append((alias.asname or top, alias.name if alias.asname else top, alias.name))
        elif node.level:  # relative: nothing a notebook can import
            out.append((alias.asname or alias.name, None, alias.name))
        else:
            full = f"{node.module}.{alias.name}" if alias.name != "*" else node.module
            out.append((alias.asname or alias.name, full if alias.name != "*" else None, full))
    return out


def _scan_nodes(tree: ast.Module, label: str, spec: LessonSpec, names: _Names) -> list[Flag]:
    """The flags of one cell, whose module-level bindings go into ``names`` for the next cells."""
    scanner = _Scanner(label, spec, names)
    scanner.scan(tree)
    return scanner.flags


@dataclass
class _Frame:
    """A scope inside the cell: a function, a lambda, a class body or a comprehension."""

    kind: str
    names: dict[str, str | None]
    declared_global: set[str] = field(default_factory=set)
    name: str = ""
    returns: str | None = None


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _show(node: ast.AST) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= 70 else text[:67] + "..."


def _display(path: str) -> str:
    """A resolved path as the student would write it."""
    return (path.replace("<ipython>", "get_ipython()").replace("<builtin>.", "builtins.")
            .replace("<locked>.", ""))


def _as_builtin(path: str | None) -> str | None:
    """``len`` for a path that is the builtin `len` (by its bare name or through `builtins`)."""
    if path and path.startswith(("<builtin>.", "builtins.")) and path.count(".") == 1:
        return path.split(".")[1]
    return None


def _fold(node: ast.AST | None) -> str | None:
    """The string an expression made of literals only always gives (`"rid" + "ge"`,
    `f"{'rid'}ge"`, `"".join(["rid", "ge"])`, `"egdir"[::-1]`), else None."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _fold(node.left), _fold(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_fold(v.value if isinstance(v, ast.FormattedValue) and v.format_spec is None
                       else v) for v in node.values]
        return "".join(parts) if None not in parts else None
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join" and len(node.args) == 1
            and isinstance(node.args[0], (ast.List, ast.Tuple))):
        sep, items = _fold(node.func.value), [_fold(e) for e in node.args[0].elts]
        return sep.join(items) if sep is not None and None not in items else None
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        text = _fold(node.value)
        bounds = [_integer(b) for b in (node.slice.lower, node.slice.upper, node.slice.step)]
        if text is not None and all(b is None or type(b) is int for b in bounds):
            return text[slice(*bounds)]
    return None


def _integer(node: ast.AST | None) -> int | str | None:
    """A literal integer bound of a slice (`-1` included); None for none; "?" otherwise."""
    if node is None:
        return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _integer(node.operand)
        return -value if type(value) is int else "?"
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else "?"


def _risky_module(path: str) -> str | None:
    if any(path == safe or path.startswith(safe + ".") for safe in _SAFE_SUBMODULES):
        return None
    return next((m for m in _RISKY_MODULES if path == m or path.startswith(m + ".")), None)


def _internal(path: str) -> str | None:
    """The entry of `_INTERNALS` that ``path`` is, or is below (`sys.modules.get`)."""
    found = next((key for key in _INTERNALS if path == key or path.startswith(key + ".")), None)
    parts = path.split(".")
    if found is None and len(parts) == 2 and parts[0] == "os" and parts[1].startswith(_OS_PROGRAMS):
        return path
    return found


def _internal_reason(key: str) -> str:
    return _INTERNALS.get(key, "another program in the kernel's place")


_ATTRIBUTES: dict[str, bool | None] = {}  # _has_attribute's answers


def _has_attribute(path: str) -> bool | None:
    """Whether the object at ``path`` ("numpy.random.custom") exists: None when the scan cannot
    tell (a package it does not import, an import that fails)."""
    import warnings

    parts = path.split(".")
    if parts[0] not in _INTROSPECTABLE or len(parts) < 2:
        return None
    if path not in _ATTRIBUTES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = importlib.import_module(parts[0])
                for i, part in enumerate(parts[1:-1], start=2):
                    obj = (getattr(obj, part) if hasattr(obj, part)
                           else importlib.import_module(".".join(parts[:i])))
                _ATTRIBUTES[path] = hasattr(obj, parts[-1])
        except Exception:  # noqa: BLE001 - any failure (an import that raises): cannot tell
            _ATTRIBUTES[path] = None
    return _ATTRIBUTES[path]


def _function_locals(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                     ) -> tuple[set[str], set[str]]:
    """(local names, names declared global) of a function: its parameters, and what its own
    body binds (not what nested functions, classes or comprehensions bind)."""
    args = node.args
    local = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    local |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared: set[str] = set()
    if isinstance(node, ast.Lambda):
        return local, declared

    def walk(n: ast.AST) -> None:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            local.add(n.name)
            return
        if isinstance(n, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        if isinstance(n, ast.Global):
            declared.update(n.names)
        elif isinstance(n, ast.Nonlocal):
            local.difference_update(n.names)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            local.add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            local.update(bound for bound, _, _ in _imported(n))
        elif isinstance(n, ast.ExceptHandler) and n.name:
            local.add(n.name)
        for child in ast.iter_child_nodes(n):
            walk(child)

    for stmt in node.body:
        walk(stmt)
    nonlocal_names = {n for s in ast.walk(node) if isinstance(s, ast.Nonlocal) for n in s.names}
    return local - declared - nonlocal_names, declared


class _Scanner(ast.NodeVisitor):
    """Walks one cell in order, keeps track of what names are bound to, and collects flags."""

    def __init__(self, label: str, spec: LessonSpec, names: _Names):
        self.label, self.spec, self.names = label, spec, names
        self.flags: list[Flag] = []
        self.frames: list[_Frame] = []
        self.parents: dict[ast.AST, ast.AST] = {}
        # nodes already accounted for (a code string, scanned as code)
        self.skip: set[ast.AST] = set()
        self.depth = 0

    def flag(self, message: str) -> None:
        found = Flag(SUSPICIOUS, self.label, message)
        if found not in self.flags:
            self.flags.append(found)

    def scan(self, tree: ast.AST) -> None:
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self.visit(tree)

    def scan_text(self, text: str, node: ast.AST, options: bool = False) -> None:
        """Scan a string that runs as code (`exec("...")`, the body of `%%time`); with
        ``options``, the line of a magic (`%timeit -n 3 code`): its leading options are dropped."""
        tree = _parse(text) if self.depth < 3 else None
        words = text.split()
        for skipped in range(1, min(len(words), 8) if options else 0):
            if tree is not None:
                break
            tree = _parse(" ".join(words[skipped:]))
        if tree is not None:
            self.skip.add(node)
            self.depth += 1
            self.scan(tree)
            self.depth -= 1

    # -- what names are bound to --------------------------------------------------------------

    def lookup(self, name: str) -> str | None:
        for i, frame in enumerate(reversed(self.frames)):
            if name in frame.declared_global:
                break
            if frame.kind == "class" and i > 0:  # a method does not see its class's names
                continue
            if name in frame.names:
                return frame.names[name]
        if name in self.names.module:
            return self.names.module[name]
        if name == "get_ipython":
            return "<get_ipython>"
        if name == "__builtins__":
            return "<builtin>"
        return f"<builtin>.{name}" if name in _BUILTIN_NAMES else None

    def bind(self, name: str, path: str | None) -> None:
        for i, frame in enumerate(reversed(self.frames)):
            if name in frame.declared_global:
                break
            if frame.kind == "class" and i > 0:
                continue
            if name in frame.names or frame.kind == "class":
                frame.names[name] = path
                return
        self.names.module[name] = path

    def resolve(self, node: ast.AST | None) -> str | None:
        """What an expression is, as far as the scan can tell (see the comment above)."""
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base and not base.startswith(("[]", "()")) else None
        if isinstance(node, ast.Call):
            return self._resolve_call(node)
        if isinstance(node, ast.Subscript):
            return self._resolve_subscript(node)
        if isinstance(node, ast.IfExp):
            return self.resolve(node.body) or self.resolve(node.orelse)
        if isinstance(node, ast.BoolOp):
            return next(filter(None, map(self.resolve, node.values)), None)
        if isinstance(node, ast.NamedExpr):
            return self.resolve(node.value)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            inner = next(filter(None, map(self.resolve, node.elts)), None)
            return "[]" + inner.removeprefix("[]") if inner else None
        if isinstance(node, ast.Dict):
            inner = next(filter(None, map(self.resolve, node.values)), None)
            return "[]" + inner.removeprefix("[]") if inner else None
        if isinstance(node, ast.Lambda):
            self.frames.append(_Frame("function", self._parameters(node)))
            inner = self.resolve(node.body)
            self.frames.pop()
            return "()" + inner if inner else None
        return None

    def _resolve_call(self, node: ast.Call) -> str | None:
        func = self.resolve(node.func)
        first = _fold(node.args[0]) if node.args else None
        if func in ("importlib.import_module", "sys.modules.get") and first:
            return first
        if _as_builtin(func) == "__import__" and first:
            fromlist = len(node.args) > 3 or any(k.arg == "fromlist" for k in node.keywords)
            return first if fromlist else first.split(".")[0]
        if _as_builtin(func) == "getattr" and len(node.args) >= 2:
            base, name = self.resolve(node.args[0]), _fold(node.args[1])
            return f"{base}.{name}" if base and name and not base.startswith(("[]", "()")) else None
        if func == "<get_ipython>" or (func or "").endswith(".get_ipython"):
            return "<ipython>"
        if _as_builtin(func) == "type" and len(node.args) == 1:  # the class of a resolved object
            base = self.resolve(node.args[0])
            return f"{base}.__class__" if base and not base.startswith(("[]", "()")) else None
        if func and func.startswith("()"):
            return func[2:]
        return None

    def _resolve_subscript(self, node: ast.Subscript) -> str | None:
        key = _fold(node.slice)
        value = self.resolve(node.value)
        if value == "sys.modules" and key:
            return key
        if value and value.startswith("[]"):
            return value[2:]
        kind, base = self._namespace(node.value)
        if kind == "globals" and key:
            return self.lookup(key)
        if kind == "object" and key:
            inner = self.resolve(base)
            return f"{inner}.{key}" if inner and not inner.startswith(("[]", "()")) else None
        return None

    def _namespace(self, node: ast.AST) -> tuple[str, ast.AST | None]:
        """("object", X) for `vars(X)` and `X.__dict__`; ("globals", None) for `globals()`,
        `locals()`, `vars()` and the namespaces of functions, frames and the shell
        (`f.__globals__`, `frame.f_globals`, `ip.user_ns`); ("", None) otherwise."""
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            return "object", node.value
        if isinstance(node, ast.Attribute) and node.attr in ("__globals__", "f_globals", "f_locals",
                                                             "user_ns"):
            return "globals", None
        if isinstance(node, ast.Call) and _as_builtin(self.resolve(node.func)) in (
                "vars", "globals", "locals"):
            return ("object", node.args[0]) if node.args else ("globals", None)
        return "", None

    def _parameters(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                    ) -> dict[str, str | None]:
        """Parameters as local names; one with a default is bound to what its default is."""
        args = node.args
        params: dict[str, str | None] = dict.fromkeys(_function_locals(node)[0])
        positional = args.posonlyargs + args.args
        for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
            params[arg.arg] = self.resolve(default)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            params[arg.arg] = self.resolve(default) if default is not None else None
        return params

    def assign(self, target: ast.AST, value: ast.AST | None) -> None:
        """Bind the names in ``target`` to what ``value`` is (pairwise for `a, b = np, torch`)."""
        if isinstance(target, ast.Name):
            self._class_dunder(target.id)
            self.bind(target.id, self.resolve(value))
        elif isinstance(target, (ast.Tuple, ast.List)):
            pairwise = (isinstance(value, (ast.Tuple, ast.List))
                        and len(value.elts) == len(target.elts)
                        and not any(isinstance(e, ast.Starred) for e in target.elts + value.elts))
            if pairwise:
                for t, v in zip(target.elts, value.elts):
                    self.assign(t, v)
            else:
                self.assign_each(target, self.resolve(value))
        elif isinstance(target, ast.Starred):
            self.assign(target.value, None)

    def assign_each(self, target: ast.AST, container: str | None) -> None:
        """Bind the names in ``target`` to an element of ``container`` (a `for` loop)."""
        element = container[2:] if container and container.startswith("[]") else None
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                self.bind(node.id, element)

    # -- scopes -------------------------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for child in [*node.decorator_list, node.args, node.returns]:
            if child is not None:
                self.visit(child)
        self._class_dunder(node.name)
        frame = _Frame("function", self._parameters(node), _function_locals(node)[1])
        self.frames.append(frame)
        for stmt in node.body:
            self.visit(stmt)
        self.frames.pop()
        self.bind(node.name, "()" + frame.returns if frame.returns else None)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.args)
        self.frames.append(_Frame("function", self._parameters(node)))
        self.visit(node.body)
        self.frames.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for child in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(child)
        self.frames.append(_Frame("class", {}, name=node.name))
        for stmt in node.body:
            self.visit(stmt)
        self.frames.pop()
        self.bind(node.name, None)

    def _comprehension(self, node: ast.AST, *results: ast.AST) -> None:
        frame = _Frame("comprehension", {})
        self.frames.append(frame)
        for gen in node.generators:
            self.visit(gen.iter)
            frame.names.update({n.id: None for n in ast.walk(gen.target)
                                if isinstance(n, ast.Name)})
            self.assign_each(gen.target, self.resolve(gen.iter))
            self.visit(gen.target)
            for condition in gen.ifs:
                self.visit(condition)
        for result in results:
            self.visit(result)
        self.frames.pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, node.elt)

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, node.key, node.value)

    def visit_Return(self, node: ast.Return) -> None:
        self.generic_visit(node)
        function = next((f for f in reversed(self.frames) if f.kind == "function"), None)
        if function is not None and function.returns is None:
            function.returns = self.resolve(node.value)

    # -- bindings -----------------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.assign(target, node.value)
            self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        for child in (node.annotation, node.value):
            if child is not None:
                self.visit(child)
        if node.value is not None:
            self.assign(node.target, node.value)
        self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self.bind(node.target.id, None)
        self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.bind(node.target.id, self.resolve(node.value))

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self.assign_each(node.target, self.resolve(node.iter))
        self.visit(node.target)
        for stmt in node.body + node.orelse:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_withitem(self, node: ast.withitem) -> None:
        self.visit(node.context_expr)
        if node.optional_vars is not None:
            self.assign_each(node.optional_vars, None)
            self.visit(node.optional_vars)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.bind(node.name, None)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for bound, path, full in _imported(node):
            if full and not (isinstance(node, ast.ImportFrom) and node.level):
                self._check_path(node, full)
            if bound != "*":
                self.bind(bound, path)

    visit_ImportFrom = visit_Import

    # -- the checks ---------------------------------------------------------------------------

    def _class_dunder(self, name: str) -> None:
        """Rule 4: a special method that fakes comparisons, defined in a class body."""
        if self.frames and self.frames[-1].kind == "class" and name in _FAKE_DUNDERS:
            self.flag(f"defines `{name}` in class `{self.frames[-1].name}`: {_FAKE_DUNDERS[name]}")

    def _chain_end(self, node: ast.AST) -> bool:
        """Whether ``node`` is the whole of an attribute chain
        (`np.linalg.norm`, not `np.linalg`)."""
        parent = self.parents.get(node)
        return not (isinstance(parent, ast.Attribute) and parent.value is node)

    def _note(self, node: ast.AST, path: str | None) -> str:
        """`` (= `numpy.allclose`)`` when the code spells ``path`` otherwise than
        the release would."""
        dotted = _dotted(node)
        if path is None or _display(path) == _show(node):
            return ""
        if dotted:
            root, *rest = dotted.split(".")
            if ".".join([self.names.release.get(root, root), *rest]) == path:
                return ""
        return f" (= `{_display(path)}`)"

    def _check_path(self, node: ast.AST, path: str | None) -> None:
        """Rule 2 on a resolved name, chain, import or dynamic import."""
        if path is None:
            return
        if path == "<get_ipython>" or path.startswith("<ipython>"):
            self.flag(_IPYTHON)
            return
        risky = _risky_module(path)
        if risky:
            self.flag(f"uses `{risky}`: {_RISKY_MODULES[risky]}")
        internal = _internal(path)
        if internal:  # named by what it is, however it was reached: one flag for all the spellings
            self.flag(f"uses `{internal}`: {_internal_reason(internal)}")

    def _check_reference(self, node: ast.AST, path: str | None, shown: str) -> None:
        """The `minnas` reference of an exercise, reached by any alias."""
        if path and path.startswith("minnas.") and path.rsplit(".", 1)[1] in self.spec.exercises:
            self.flag(f"calls the reference `{shown}`{self._note(node, path)} "
                      "instead of writing it")

    def _patch_reason(self, base_node: ast.AST, attr: str) -> tuple[str | None, str] | None:
        """Rule 1: (resolved path or None, why it matters) when setting ``attr`` on ``base_node``
        changes something others use; None when it does not (a local object, a new attribute)."""
        base = self.resolve(base_node)
        if base is None or base.startswith(("[]", "()")):
            is_self = isinstance(base_node, ast.Name) and base_node.id in ("self", "cls")
            if attr in _COMPARISON_HELPERS and not is_self:
                return None, f": `{attr}` is one of the comparisons the tests make"
            return None
        path = f"{base}.{attr}"
        if base == "<get_ipython>" or base.startswith("<ipython>"):
            return path, ": the IPython shell that runs the tests"
        if base.startswith("<locked>"):
            return path, ", which a locked cell set up for the tests"
        if base.split(".")[0] in ("builtins", "<builtin>"):
            used = base in ("builtins", "<builtin>") and self.spec.protected.get(attr) == "builtin"
            return path, ", which the tests use" if used else ", a builtin every cell sees"
        if any(t == path or t.startswith(path + ".") for t in self.names.tested):
            return path, ", which the tests use"
        if path in _HARMLESS_SETTINGS or _has_attribute(path) is False:
            return None
        return path, ": code that uses it (the tests, the library) gets the replacement"

    def _check_dunder(self, attr: str, shown: str, store: bool, owner: str = "") -> None:
        """Rule 3 (and rule 4 for a special method set from outside the class)."""
        if attr in ("__file__", "__path__"):
            self.flag(f"locates files through `{shown}`")
        elif store and attr in _FAKE_DUNDERS:
            self.flag(f"sets `{attr}` on `{owner or shown}`: {_FAKE_DUNDERS[attr]}")
        elif store:
            self.flag(f"changes `{shown}`: interpreter internals")
        elif attr not in _DUNDER_READS:
            self.flag(f"reaches interpreter internals through `{shown}`")

    def visit_Name(self, node: ast.Name) -> None:
        if node in self.skip:
            return
        if node.id == "__builtins__":
            self.flag("uses `__builtins__`")
            return
        if not isinstance(node.ctx, ast.Load):
            return
        path = self.lookup(node.id)
        builtin = _as_builtin(path)
        if builtin in _DYNAMIC:
            self.flag(_DYNAMIC[builtin])
        elif builtin in _ATTRIBUTE_BUILTINS and not self._called(node):
            self.flag(f"passes `{node.id}` around instead of calling it: its attribute name is "
                      "out of sight")
        elif _is_dunder(node.id) and node.id not in _DUNDER_NAMES and not self._in_class(node.id):
            self._check_dunder(node.id, node.id, False)
        if self._chain_end(node):
            self._check_path(node, path)

    def _in_class(self, name: str) -> bool:
        """Whether ``name`` is bound in the class body being read (`__rsub__ = __sub__`)."""
        return (bool(self.frames) and self.frames[-1].kind == "class"
                and name in self.frames[-1].names)

    def _called(self, node: ast.AST) -> bool:
        parent = self.parents.get(node)
        return isinstance(parent, ast.Call) and parent.func is node

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr, shown = node.attr, _show(node)
        store = isinstance(node.ctx, (ast.Store, ast.Del))
        path = self.resolve(node)
        if _is_dunder(attr):
            self._check_dunder(attr, shown, store, _show(node.value))
        elif store:
            reason = self._patch_reason(node.value, attr)
            if reason:
                verb = "deletes" if isinstance(node.ctx, ast.Del) else "patches"
                self.flag(f"{verb} `{shown}`{self._note(node, reason[0])}{reason[1]}")
        if attr in _HOOK_ATTRIBUTES and not (path and _internal(path)):
            self.flag(f"uses `{shown}`: {_HOOK_ATTRIBUTES[attr]}")
        if attr in ("register", "unregister", "callbacks") and _show(node.value).endswith("events"):
            self.flag(_EVENT_HOOK)
        if attr == "send" and (shown.endswith("session.send") or ".session." in (path or "")):
            self.flag(f"uses `{shown}`: {_MESSAGING}")
        if not store:
            self._check_reference(node, path, shown)
        if self._chain_end(node):
            self._check_path(node, path)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._check_namespace_store(node)
        if self._chain_end(node):
            self._check_path(node, self.resolve(node))
        self.generic_visit(node)

    def _check_namespace_store(self, node: ast.Subscript) -> None:
        """Rule 1 through a namespace dict: `vars(np)["allclose"] = f`, `sys.modules["numpy"] = m`,
        `globals()["len"] = f`."""
        key, shown = _fold(node.slice), _show(node)
        if self.resolve(node.value) == "sys.modules":
            self.flag(f"replaces a module in `sys.modules`: `{shown}`")
            return
        kind, base = self._namespace(node.value)
        if kind == "globals" and key in self.spec.protected:
            self.flag(f"rebinds `{key}`, which the tests use")
        elif kind == "object" and key is None and self.resolve(base):
            self.flag(f"patches `{_show(base)}` through its namespace dict: `{shown}`")
        elif kind == "object" and key is not None:
            reason = self._patch_reason(base, key)
            if reason:
                self.flag(f"patches `{shown}`{self._note(node, reason[0])}{reason[1]}")

    def visit_Call(self, node: ast.Call) -> None:
        if self._magic(node):
            return
        func = self.resolve(node.func)
        shown = _dotted(node.func) or _show(node.func)
        plain = _as_builtin(func) or func
        if shown in _EXITS or plain in _EXITS or shown.endswith(("kernel.do_shutdown", "ask_exit")):
            alias = f" (= `{plain}`)" if plain and plain in _EXITS and plain != shown else ""
            self.flag(f"stops the kernel with `{shown}()`{alias}")
        if shown in _INTERRUPTS or plain in _INTERRUPTS:
            self.flag(f"changes how the kernel is interrupted with `{shown}()`")
        builtin = _as_builtin(func)
        if builtin in _ATTRIBUTE_BUILTINS:
            self._check_attribute_call(node, builtin)
        elif isinstance(node.func, ast.Attribute) and node.func.attr in ("setattr", "delattr",
                                                                         "object"):
            if node.args and self._patch_target(node.args[0]):
                self.flag(f"patches `{_show(node.args[0])}` with `{shown}()`")
        if builtin in ("exec", "eval", "compile") and node.args:
            text = _fold(node.args[0])
            if text is not None:
                self.scan_text(text, node.args[0])
        if func == "importlib.import_module" or builtin == "__import__":
            name = _fold(node.args[0]) if node.args else None
            if name and name.split(".")[0] == "minnas":
                self.flag(f"imports the reference module `{name}` with `{shown}()`")
        if isinstance(node.func, ast.Attribute) and node.func.attr == "register" and node.args:
            if _fold(node.args[0]) in _IPYTHON_EVENTS:
                self.flag(_EVENT_HOOK)
        for keyword in node.keywords:
            if keyword.arg in _FAKE_DUNDERS:
                self.flag(f"defines `{keyword.arg}` through a keyword of `{shown}()`: "
                          f"{_FAKE_DUNDERS[keyword.arg]}")
        if self._chain_end(node):
            self._check_path(node, self.resolve(node))
        self.generic_visit(node)

    def _patch_target(self, node: ast.AST) -> bool:
        """Whether patching attributes of ``node`` reaches past the student's own objects."""
        path = self.resolve(node)
        return bool(path) and not path.startswith(("[]", "()"))

    def _check_attribute_call(self, node: ast.Call, builtin: str) -> None:
        """Rule 5 and rules 1 to 3 for `getattr(obj, name)`,
        `setattr(obj, name, value)`, `delattr`."""
        if len(node.args) < 2:
            return
        obj, name_node = node.args[0], node.args[1]
        name, target = _fold(name_node), _show(obj)
        if not (isinstance(name_node, ast.Constant) and isinstance(name_node.value, str)):
            self.flag(f"uses {builtin}() with a computed attribute name: `{_show(name_node)}`")
        store = builtin != "getattr"
        if name is None:
            base = self.resolve(obj)
            if base and base.startswith("minnas"):
                self.flag(f"reaches into the reference `{target}` with {builtin}() and a "
                          "computed name")
            if store and self._patch_target(obj):
                self.flag(f"patches `{target}` with {builtin}()")
            return
        shown = f"{builtin}({target}, {name!r})"
        if _is_dunder(name):
            self._check_dunder(name, shown, store, target)
        elif store:
            reason = self._patch_reason(obj, name)
            if reason:
                path = f" (`{_display(reason[0])}`)" if reason[0] else ""
                self.flag(f"patches `{target}` with {builtin}(){path}{reason[1]}")
        else:
            base = self.resolve(obj)
            path = f"{base}.{name}" if base and not base.startswith(("[]", "()")) else None
            self._check_reference(obj, path, shown)
            if name in _HOOK_ATTRIBUTES:
                self.flag(f"uses `{shown}`: {_HOOK_ATTRIBUTES[name]}")

    def _magic(self, node: ast.Call) -> bool:
        """An IPython magic or shell escape, as IPython's transformation wrote it: a harmless
        one passes, the code of `%time`/`%%timeit`/`%%capture` is scanned, the
        others are flagged."""
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr in _MAGIC_CALLS
                and isinstance(func.value, ast.Call) and not func.value.args
                and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython"
                and self.lookup("get_ipython") == "<get_ipython>"):
            return False
        args = [_fold(a) or "" for a in node.args]
        if func.attr in ("system", "getoutput"):
            command = args[0] if args else ""
            self.flag("runs a shell command: "
                      f"`!{command if len(command) <= 60 else command[:57] + '...'}`")
        else:
            name, line = (args + ["", ""])[:2]
            cell = func.attr == "run_cell_magic"
            if name in _CODE_MAGICS:
                code_at = 2 if cell else 1
                if len(node.args) > code_at:
                    self.scan_text(args[code_at], node.args[code_at], options=not cell)
            elif name in _SHELL_MAGICS:
                self.flag(f"runs a shell command: `%{'%' if cell else ''}{name}`")
            elif not (name in _HARMLESS_MAGICS
                      or (name == "load_ext" and line.strip() == "autoreload")
                      or (name == "config" and line.strip().startswith("InlineBackend."))):
                shown = f"{'%%' if cell else '%'}{name} {line}".strip()
                self.flag(f"runs the IPython magic `{shown[:60]}`")
        for arg in node.args:
            self.visit(arg)
        return True

    def visit_Dict(self, node: ast.Dict) -> None:
        for key in node.keys:
            name = _fold(key)
            if name in _FAKE_DUNDERS:
                self.flag(f"defines `{name}` through a dict (a class built with `type()`): "
                          f"{_FAKE_DUNDERS[name]}")
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        if node.exc is not None and "SystemExit" in ast.dump(node.exc):
            self.flag("stops the kernel with `raise SystemExit`")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if (node not in self.skip and isinstance(node.value, str)
                and _SENSITIVE_PATH.search(node.value)):
            self.flag(f"refers to a path outside its folder: {node.value[:60]!r}")
