"""A run-time check, before every test cell, that the kernel still runs tests as written.

A submission runs in the same interpreter as the tests that grade it, so its code can change
how that interpreter runs them: an IPython input or AST transformer that rewrites test cells, an
event hook that swaps in other functions before each cell, a wrapped ``session.send`` that drops
error messages, a patched ``numpy.allclose`` (by any spelling), a thread that patches later, the
``minnas`` reference bound to an exercise's name. The static scan (:func:`grader.scan.scan_code`)
sees what is spelled out; this check sees what the interpreter *is* before each test cell.

How: at kernel start, before any cell, the grader runs the probe (``_PROBE_SOURCE``) silently (no
history, no execution count, no ``pre_run_cell`` event) and keeps its *baseline* (the ids of every
attribute of the modules the tests use, and of ``builtins``); before each test cell it runs the
probe again with that baseline and gets back what changed. Every difference is a ``suspicious``
flag naming it.

What it is not: a guarantee. Code that controls the interpreter could recognise the probe and
answer in its place; it would have to be written for that, with the capabilities the static
scan flags (``get_ipython``, transformers, ``gc``, dunder access, ...). The README says which
properties are guaranteed (the process isolation) and which are detected (these).
"""

from __future__ import annotations

import json

# Modules whose objects may legitimately sit in IPython's hooks and the kernel's machinery.
TRUSTED = ("IPython", "ipykernel", "jupyter_client", "matplotlib", "matplotlib_inline", "traitlets",
           "zmq", "tornado", "comm", "debugpy", "threading", "asyncio", "concurrent", "tqdm",
           "torch", "ipywidgets", "logging", "codeop", "builtins")

# Runs in the kernel inside a fresh namespace: ARGS is a JSON string (see `probe_code`).
_PROBE_SOURCE = r'''
import builtins, importlib, json, sys, threading
args = json.loads(ARGS)
ip = sys.modules["IPython"].get_ipython()
trusted = tuple(args["trusted"])

def origin(obj):
    if isinstance(obj, type(sys)):
        return obj.__name__
    return getattr(obj, "__module__", None) or getattr(type(obj), "__module__", "") or ""

def foreign(obj):
    mod = origin(getattr(obj, "__func__", obj))
    return not any(mod == t or mod.startswith(t + ".") for t in trusted)

def label(obj):
    obj = getattr(obj, "__func__", obj)
    return f"{origin(obj)}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"

found = []
for kind in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
    found += [f"IPython {kind} holds {label(t)}" for t in getattr(ip, kind, []) if foreign(t)]
for event, callbacks in ip.events.callbacks.items():
    found += [f"a {event} event hook {label(c)}" for c in callbacks if foreign(c)]
if sys.gettrace() is not None or sys.getprofile() is not None:
    found.append("a trace or profile function is set (sys.settrace/setprofile)")
for what, obj, names in (
        ("the shell", ip, ("run_cell", "run_cell_async", "run_code", "run_ast_nodes",
                           "transform_cell", "showtraceback", "_showtraceback", "showsyntaxerror",
                           "transform_ast")),
        ("the kernel", ip.kernel, ("do_execute", "execute_request", "send_response",
                                   "_publish_status")),
        ("the kernel's session", ip.kernel.session, ("send", "serialize", "sign", "msg"))):
    for name in names:
        if foreign(getattr(obj, name, None)) or foreign(getattr(type(obj), name, None)):
            found.append(f"{what}'s `{name}` replaced")
for name in ("stdout", "stderr", "excepthook", "displayhook"):
    if foreign(getattr(sys, name)):
        found.append(f"sys.{name} replaced by {label(getattr(sys, name))}")
found += [f"a thread of the submission is running ({t.name})" for t in threading.enumerate()
          if origin(getattr(t, "_target", None) or t) == "__main__"]

# Modules the tests use: every attribute present at the baseline must still be the same object.
modules = {}
for name in args["modules"]:
    try:
        modules[name] = importlib.import_module(name)
    except Exception:
        pass
modules["builtins"] = builtins
snapshot = {name: {"": id(sys.modules.get(name))} | {k: id(v) for k, v in vars(m).items()}
            for name, m in modules.items()}

def replaced(module, name, attr):
    """An attribute that is no longer the object it was: a patch, unless its own package rebound
    it with one of its own objects (torch wraps some functions lazily, on first use)."""
    if attr not in vars(module):
        return True
    value = vars(module)[attr]
    package = origin(getattr(value, "__func__", value)).split(".")[0]
    return name == "builtins" or package != name.split(".")[0]


for name, before in (args["baseline"] or {}).items():
    now = snapshot.get(name, {})
    changed = sorted(k for k, v in before.items() if now.get(k) != v
                     and (not k or name not in modules or replaced(modules[name], name, k)))
    if "" in changed:
        found.append(f"sys.modules[{name!r}] replaced")
    names = [k for k in changed if k][:5]
    if names:
        found.append(f"{name}.{', '.join(names)} patched")

ns = ip.user_ns
for alias, how in args["protected"].items():
    if alias not in ns:
        continue
    value, words = ns[alias], how.split()
    if how == "builtin":
        expected = getattr(builtins, alias, None)
    elif words[0] == "import":
        expected = sys.modules.get(words[1])
    else:
        expected = getattr(sys.modules.get(words[1]), words[3], None)
    if value is not expected:
        found.append(f"`{alias}`, which the tests use, rebound")
for name in args["exercises"]:
    fn = ns.get(name)
    if origin(fn).startswith("minnas"):
        found.append(f"`{name}` is the minnas reference")
        continue
    code = getattr(fn, "__code__", None)
    names, stack = set(), [code] if code else []
    while stack:
        c = stack.pop()
        names |= set(c.co_names)
        stack += [k for k in c.co_consts if hasattr(k, "co_names")]
    for used in sorted(names):
        obj = getattr(fn, "__globals__", {}).get(used)
        # the reference itself, or the minnas module that holds it
        if origin(obj).startswith("minnas") and (
                getattr(obj, "__name__", "") in args["exercises"]
                or isinstance(obj, type(sys)) and any(hasattr(obj, e) for e in args["exercises"])):
            found.append(f"`{name}` calls the minnas reference through `{used}`")
RESULT = json.dumps({"found": found, "snapshot": snapshot if args["baseline"] is None else None})
'''


def probe_code(spec, baseline: dict | None) -> str:
    """The expression the grader evaluates in the kernel (as a user expression) for one probe."""
    args = {"trusted": TRUSTED, "modules": sorted(_modules(spec)), "protected": spec.protected,
            "exercises": sorted(spec.exercises), "baseline": baseline}
    return (f"(lambda d: (exec({_PROBE_SOURCE!r}, d), d['RESULT'])[1])"
            f"({{'ARGS': {json.dumps(args)!r}}})")


def _modules(spec) -> set[str]:
    """The modules the tests reach: those the locked cells import, and their tested sub-modules."""
    modules = set()
    for alias, how in spec.protected.items():
        words = how.split()
        if words[0] in ("import", "from") and not words[1].startswith("."):
            modules.add(words[1])
            if words[0] == "import":
                modules |= {words[1] + chain[len(alias):].rsplit(".", 1)[0]
                            for chain in spec.tested_chains if chain.startswith(alias + ".")
                            and chain.count(".") > 1}
    return modules


def parse(result: dict) -> tuple[list[str], dict | None]:
    """``(findings, snapshot)`` from the probe's user-expression reply; a broken reply
    is a finding."""
    if result.get("status") != "ok":
        return [f"the run-time check could not run ({result.get('ename', 'no reply')})"], None
    try:
        data = json.loads(_literal(result["data"]["text/plain"]))
        return list(data["found"]), data["snapshot"]
    except (KeyError, ValueError, TypeError):
        return ["the run-time check's answer was altered"], None


def _literal(text: str) -> str:
    import ast

    value = ast.literal_eval(text)
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value
