"""What the tests read from a lesson's source notebook: its cells by role, its stated CPU budget."""

from __future__ import annotations

import ast
import builtins
import re

import nbformat

from grader.course import SOLUTIONS

# The first markdown cell of every lesson states, on a line of its own:
# **CPU budget:** 60 CPU-s top to bottom, 25 CPU-s when graded (kernel user + system time).
BUDGET = re.compile(r"^\*\*CPU budget:\*\* (\d+) CPU-s top to bottom, (\d+) CPU-s when graded",
                    re.MULTILINE)
SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.DOTALL)
# The standard cell tag that lets Jupyter's Run All (and nbclient) go on past a cell that raises.
RAISES = "raises-exception"
# Names a cell may read without defining them: Python's builtins and what IPython adds.
PREDEFINED = frozenset(dir(builtins)) | {"get_ipython", "display", "In", "Out", "exit", "quit"}


def source_notebook(name: str) -> nbformat.NotebookNode:
    return nbformat.read(SOLUTIONS / name / f"{name}.ipynb", as_version=4)


def _meta(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def graded_code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """Autograded cells: locked code cells with points."""
    return [c for c in nb.cells if c.cell_type == "code" and _meta(c).get("grade")]


def answer_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """Manually graded answers: markdown cells a student writes in and a person grades."""
    return [c for c in nb.cells if c.cell_type == "markdown" and _meta(c).get("grade")]


def solution_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The exercises' code cells."""
    return [c for c in nb.cells if c.cell_type == "code" and _meta(c).get("solution")]


def student_free_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """Code cells that are neither an exercise nor a test: the setup, demos and experiments."""
    return [c for c in nb.cells if c.cell_type == "code" and not _meta(c).get("solution")
            and not _meta(c).get("grade")]


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.metadata.get("tags", []))


def manual_points(name: str) -> float:
    return sum(float(_meta(c)["points"]) for c in answer_cells(source_notebook(name)))


def cpu_budget(name: str) -> tuple[int, int]:
    """``(top to bottom, when graded)``: the CPU seconds the lesson's first cell promises."""
    first = next(c for c in source_notebook(name).cells if c.cell_type == "markdown")
    found = BUDGET.search(first.source)
    if found is None:
        raise ValueError(f"{name}: the first markdown cell states no '**CPU budget:** ...' line")
    return int(found.group(1)), int(found.group(2))


def reference_lines(cell: nbformat.NotebookNode) -> int:
    """Lines of reference solution in a cell: non-blank, not only a comment."""
    body = "\n".join(SOLUTION_REGION.findall(cell.source))
    return sum(1 for line in body.splitlines() if line.strip() and not line.strip().startswith("#"))


def python_of(cell: nbformat.NotebookNode) -> ast.Module:
    """A code cell as Python (IPython's ``%magic`` and ``!shell`` lines left out)."""
    lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


def defined_names(cell: nbformat.NotebookNode) -> set[str]:
    tree = python_of(cell)
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def stored_names(cell: nbformat.NotebookNode) -> set[str]:
    """Every name a cell binds anywhere (assignments, imports, definitions, arguments,
    loop and comprehension variables): more than it defines globally, never less."""
    names = set()
    for node in ast.walk(python_of(cell)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def loaded_names(cell: nbformat.NotebookNode) -> set[str]:
    return {node.id for node in ast.walk(python_of(cell))
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
