"""The shape of the library as a reader meets it, at one or more git revisions.

Per file of ``minnas/``: lines, guard statements (an ``if`` whose body raises) and the lines
they span, ``raise`` statements, and the line of the first top-level function or class (where
the method starts, once the docstring and imports are read). Usage::

    python benchmarks/library_shape.py                  # the working tree
    python benchmarks/library_shape.py aa2a592 HEAD     # two commits side by side (totals)
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sources(rev: str | None) -> dict[str, str]:
    """``{path: text}`` of the library's Python files, at ``rev`` or in the working tree."""
    if rev is None:
        files = sorted(ROOT.glob("minnas/**/*.py"))
        return {str(path.relative_to(ROOT)): path.read_text() for path in files}
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "minnas"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split()
    return {name: subprocess.run(["git", "show", f"{rev}:{name}"], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout
            for name in names if name.endswith(".py")}


def shape(text: str) -> dict[str, int | None]:
    """The counts of one file."""
    tree = ast.parse(text)
    guards = [node for node in ast.walk(tree)
              if isinstance(node, ast.If) and any(isinstance(s, ast.Raise) for s in node.body)]
    first = next((node.lineno for node in tree.body
                  if isinstance(node, ast.FunctionDef | ast.ClassDef)), None)
    return {"lines": len(text.splitlines()),
            "guards": len(guards),
            "guard_lines": sum(g.body[-1].end_lineno - g.lineno + 1 for g in guards),
            "raises": sum(isinstance(node, ast.Raise) for node in ast.walk(tree)),
            "first_def": first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revs", nargs="*", help="git revisions (default: the working tree)")
    revs = parser.parse_args().revs or [None]
    if len(revs) == 1:
        print(f"{'file':<34} {'lines':>6} {'guards':>7} {'guard lines':>12} {'raises':>7} "
              f"{'first def':>10}")
    for rev in revs:
        rows = {name: shape(text) for name, text in sources(rev).items()}
        if len(revs) == 1:
            for name, row in rows.items():
                print(f"{name:<34} {row['lines']:>6} {row['guards']:>7} {row['guard_lines']:>12} "
                      f"{row['raises']:>7} {row['first_def'] or '-':>10}")
        total = {key: sum(row[key] for row in rows.values())
                 for key in ("lines", "guards", "guard_lines", "raises")}
        longest = max(rows, key=lambda name: rows[name]["lines"])
        latest = max(rows, key=lambda name: rows[name]["first_def"] or 0)
        print(f"{rev or 'working tree'}: {len(rows)} files, {total['lines']} lines, "
              f"{total['guards']} guards ({total['guard_lines']} lines), {total['raises']} raises; "
              f"longest {longest} ({rows[longest]['lines']}), latest first def "
              f"{latest}:{rows[latest]['first_def']}")


if __name__ == "__main__":
    main()
