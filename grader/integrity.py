"""What a submission did to its notebook, and what in its code an instructor should look at.

Two kinds of check run on every submission before it is executed:

* **Structure** (:func:`check_structure`), against the release the student received: locked
  cells that were edited, deleted or duplicated, cell types or points that were changed, and
  broken or duplicated nbformat cell ids. nbgrader's own preprocessors put the locked cells
  back (the grade is then the one the student's answers earn); these checks say *what* was
  put back, so the instructor hears of it.
* **Code** (:func:`grader.scan.scan_code`), static, on the cells the student wrote: what in
  them could switch the tests off or reach beyond the submission (see :mod:`grader.scan`).
  These are *flags*, never a score change: the instructor decides. The run-time counterpart,
  before every test cell, is :mod:`grader.guard`.

Each finding is a :class:`Flag`; its ``kind`` says whether it needs the instructor's attention
(``suspicious``, ``tampered``, ``limit``, ``failed``) or is a record (``restored``, ``note``).
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from collections import Counter
from dataclasses import dataclass, field

import nbformat

RESTORED, SUSPICIOUS, LIMIT, FAILED, NOTE = "restored", "suspicious", "limit", "failed", "note"
# A locked (test or set-up) cell edited, deleted or duplicated: restored, and the instructor
# hears of it.
TAMPERED = "tampered"
ATTENTION = (SUSPICIOUS, LIMIT, FAILED, TAMPERED)

_VALID_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


@dataclass(frozen=True)
class Flag:
    """One finding on one submission: its kind, the cell (``grade_id``, or ``""``) and
    what it is."""

    kind: str
    cell: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}" + (f" [{self.cell}]" if self.cell else "")


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _is_locked(meta: dict) -> bool:
    """A cell the student must not change: locked, or a test cell (graded, not a solution)."""
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


@dataclass
class LessonSpec:
    """What the checks need to know of one lesson, computed once from its release and source.

    ``cells`` maps every nbgrader ``grade_id`` of the release to its cell; ``protected`` maps the
    names the tests rely on (builtins, assert helpers, imported modules) to how the locked cells
    bind them (``"import numpy"``, ``"from numpy.testing import assert_allclose"`` or
    ``"builtin"``); ``exercises`` are the names the reference solution defines, which the student
    must define too; ``plain_sources`` the sources of the release's ordinary code cells.
    """

    name: str
    cells: dict[str, dict]
    order: list[str]
    kernelspec: dict
    protected: dict[str, str]
    exercises: set[str]
    plain_sources: set[str] = field(default_factory=set)
    tested_chains: set[str] = field(default_factory=set)  # e.g. "np.allclose", loaded by the tests
    # grade_id -> the source notebook's text
    source_texts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_notebooks(cls, name: str, release: dict, source: dict) -> LessonSpec:
        cells, order, plain = {}, [], set()
        for cell in release["cells"]:
            meta = _nbgrader(cell)
            if "grade_id" in meta:
                cells[meta["grade_id"]] = {"source": _source(cell), "cell_type": cell["cell_type"],
                                           "points": meta.get("points"), "locked": _is_locked(meta),
                                           "cell": cell}
                order.append(meta["grade_id"])
            elif cell["cell_type"] == "code":
                plain.add(_source(cell).strip())
        code = [(c, _nbgrader(c)) for c in source["cells"] if c["cell_type"] == "code"]
        setup = [_source(c) for c, m in code if _is_locked(m) and not m.get("grade")]
        tests = [_source(c) for c, m in code if m.get("grade") and not m.get("solution")]
        solutions = [_source(c) for c, m in code if m.get("solution")]
        exercises = set().union(set(), *(_module_bindings(_parse(s))[0] for s in solutions))
        # What the tests take from outside themselves: builtins, and what the locked set-up binds.
        bound_by_setup: dict[str, str] = {}
        for src in setup:
            names, imports = _module_bindings(_parse(src))
            bound_by_setup.update({n: "assigned in a locked cell" for n in names})
            bound_by_setup.update(imports)
        free, chains = set(), set()
        for src in tests:
            tree = _parse(src)
            names, imports = _module_bindings(tree)
            free |= _loaded_names(tree) - names - set(imports)
            chains |= {_dotted(n) for n in ast.walk(tree)
                       if isinstance(n, ast.Attribute)} if tree else set()
        protected = {n: bound_by_setup.get(n, "builtin") for n in free
                     if (n in bound_by_setup or hasattr(builtins, n)) and n not in exercises}
        texts = {_nbgrader(c)["grade_id"]: _source(c) for c in source["cells"]
                 if "grade_id" in _nbgrader(c)}
        return cls(name, cells, order, release.get("metadata", {}).get("kernelspec", {}),
                   protected, exercises, plain, chains - {""}, texts)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _parse(source: str) -> ast.Module | None:
    """A cell as Python, with IPython's magics and shell escapes turned into calls first."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return None


def _import_signature(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> str:
    if isinstance(node, ast.Import):
        # `import torch.nn` binds `torch` to the same module as `import torch`
        return f"import {alias.name if alias.asname else alias.name.split('.')[0]}"
    return f"from {'.' * node.level}{node.module or ''} import {alias.name}"


def _module_bindings(tree: ast.Module | None) -> tuple[set[str], dict[str, str]]:
    """Names a cell binds at module level: (assigned/defined names, imported name -> signature)."""
    names: set[str] = set()
    imports: dict[str, str] = {}
    if tree is None:
        return names, imports

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if top:
                names.add(node.name)
            for stmt in ast.walk(node):  # a `global x` inside a function binds x at module level
                if isinstance(stmt, ast.Global):
                    names.update(stmt.names)
            return
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                             ast.GeneratorExp)):
            return  # their own scope (a walrus inside one is rare enough to let pass)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                imports[bound] = _import_signature(node, alias)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child, top and isinstance(node, ast.Module))

    visit(tree, True)
    return names, imports


def _loaded_names(tree: ast.Module | None) -> set[str]:
    return {n.id for n in ast.walk(tree)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} if tree else set()


def _dotted(node: ast.AST) -> str:
    """``np.testing.assert_allclose`` for the attribute chain, ``""`` when it is no plain chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return ""


# -- structure -------------------------------------------------------------------------------

def check_structure(nb: nbformat.NotebookNode, spec: LessonSpec) -> list[Flag]:
    """Compare a submission's nbgrader cells with the release; repair broken cell ids in place.

    Returns the findings. Deleted nbgrader cells are re-inserted here from the release (nbgrader
    would re-add only graded cells); duplicated ones are settled as nbgrader's
    ``DeduplicateIds`` would (the last copy is graded, the others lose their nbgrader metadata
    and run as ordinary code); the content of locked cells is put back later by nbgrader's
    ``OverwriteCells``.
    """
    flags = []
    # A cell with an nbgrader id the lesson does not have (copied from another lesson) would
    # crash nbgrader's OverwriteCells: it runs as ordinary code instead.
    for grade_id in sorted({_nbgrader(c).get("grade_id")
                            for c in nb.cells} - set(spec.cells) - {None}):
        for cell in nb.cells:
            if _nbgrader(cell).get("grade_id") == grade_id:
                del cell.metadata["nbgrader"]
        flags.append(Flag(TAMPERED, grade_id, "cell with an nbgrader id the lesson does not have: "
                                              "graded as ordinary code"))
    seen = Counter(_nbgrader(c).get("grade_id") for c in nb.cells if "grade_id" in _nbgrader(c))
    last = {_nbgrader(c).get("grade_id"): i for i, c in enumerate(nb.cells)
            if "grade_id" in _nbgrader(c)}
    for i, cell in enumerate(nb.cells):
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id is not None and last[grade_id] != i:
            del cell.metadata["nbgrader"]
    for grade_id in spec.order:
        ref = spec.cells[grade_id]
        kind = TAMPERED if ref["locked"] else RESTORED
        if seen[grade_id] == 0:
            _reinsert(nb, spec, grade_id)
            what = "locked cell" if ref["locked"] else "answer cell (as released, empty)"
            flags.append(Flag(kind, grade_id, f"deleted {what} re-added from the release"))
        elif seen[grade_id] > 1:
            flags.append(Flag(kind, grade_id,
                              f"cell duplicated ({seen[grade_id]} copies): the last "
                                              "is graded, the others run as ordinary code"))
    reported = set()
    for cell in nb.cells:
        meta = _nbgrader(cell)
        grade_id = meta.get("grade_id")
        ref = spec.cells.get(grade_id)
        if ref is None or grade_id in reported:
            continue
        changes = []
        if cell.cell_type != ref["cell_type"]:
            changes.append(f"cell type changed to {cell.cell_type}")
        if ref["points"] is not None and meta.get("points") != ref["points"]:
            changes.append(f"points changed from {ref['points']} to {meta.get('points')}")
        # A test cell as released, or as in the source (hidden tests included), is unchanged.
        if ref["locked"] and _source(cell).strip() not in (
                ref["source"].strip(), spec.source_texts.get(grade_id, "").strip()):
            changes.append("locked cell edited")
        if ref["locked"] and not _is_locked(meta):
            changes.append("lock removed")
        if changes:
            reported.add(grade_id)
            kind = TAMPERED if ref["locked"] or ref["points"] is not None else RESTORED
            flags.append(Flag(kind, grade_id, "; ".join(changes) + ": restored from the release"))
    if nb.metadata.get("kernelspec", {}).get("name") != spec.kernelspec.get("name"):
        flags.append(Flag(RESTORED, "", f"kernel {nb.metadata.get('kernelspec', {}).get('name')!r} "
                                        f"replaced by {spec.kernelspec.get('name')!r}"))
    flags += repair_cell_ids(nb)
    return flags


def _reinsert(nb: nbformat.NotebookNode, spec: LessonSpec, grade_id: str) -> None:
    """Put the release's cell back after the nearest earlier nbgrader cell the
    notebook still has."""
    position = 0
    for earlier in reversed(spec.order[:spec.order.index(grade_id)]):
        found = [i for i, c in enumerate(nb.cells) if _nbgrader(c).get("grade_id") == earlier]
        if found:
            position = found[-1] + 1
            break
    cell = nbformat.from_dict(json.loads(json.dumps(spec.cells[grade_id]["cell"])))
    cell.source = _source(cell)  # on disk a list of lines, in memory one string
    nb.cells.insert(position, cell)


def repair_cell_ids(nb: nbformat.NotebookNode) -> list[Flag]:
    """Give every cell a valid, unique nbformat id (nbformat refuses duplicates)."""
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        return []
    ids = Counter(c.get("id") for c in nb.cells)
    bad = [c for c in nb.cells if not _VALID_ID.match(str(c.get("id", ""))) or ids[c.get("id")] > 1]
    if not bad:
        return []
    used = set(ids)
    seen: set[str] = set()
    replaced = 0
    for i, cell in enumerate(nb.cells):
        cid = str(cell.get("id", ""))
        if _VALID_ID.match(cid) and cid not in seen:
            seen.add(cid)
            continue
        replaced += 1
        new, k = f"cell-{i:02d}", 0
        while new in used or new in seen:
            k += 1
            new = f"cell-{i:02d}-{k}"
        cell["id"] = new
        seen.add(new)
    return [Flag(RESTORED, "", f"{replaced} missing, invalid or duplicated cell id(s) replaced")]
