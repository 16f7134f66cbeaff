"""The grades of lessons 07-11 do not depend on how `minnas` draws its random numbers.

The lessons' experiments use the library, and the library will be refactored. If a test cell
depended on the library's internals (down to the order of its random draws), a refactor would
silently change grades. Here a copy of the library with several stochastic functions rewritten
to draw the same distributions in another order is put in front of the installed one, the sample
class's partial students of lessons 07-11 are run against it, and every score must
be what it is with the real library.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import minnas
from grader.course import EXAMPLES, SOLUTIONS
from test_grading import EXPECTED_SCORES

LESSONS = ["07_darts", "08_fbnet", "09_mnasnet", "10_once_for_all", "11_meta_nas"]
# The partial student: the perfect one but for one exercise, so a score that moved for either
# moves for this one too, and a mistake that a draw order alone catches shows here.
STUDENTS = ["partial"]

# Appended to the copied modules: the same distributions, drawn in another order.
REORDERED = {
    "nas/darts.py": '''
def random_genotype(n_nodes=4, primitives=PRIMITIVES, seed=0):
    if n_nodes < 1:
        raise ValueError(f"n_nodes must be >= 1, got {n_nodes}")
    ops = [name for name in primitives if name != "none"]
    if not ops:
        raise ValueError("primitives must contain an operation other than 'none'")
    rng = np.random.default_rng(seed)

    def cell():
        # operations first
        picked = [ops[k] for k in rng.integers(len(ops), size=2 * n_nodes)][::-1]
        genes = []
        for node in range(n_nodes):
            inputs = sorted(rng.permutation(node + 2)[:2])
            genes += [(picked[2 * node + j], int(i)) for j, i in enumerate(inputs)]
        return tuple(genes)

    reduce = cell()  # the reduction cell first
    return Genotype(normal=cell(), reduce=reduce)
''',
    "nas/fbnet.py": '''
def sample_architectures(theta, n, seed=0, blocks=BLOCKS):
    p = _softmax_rows(theta)
    if p.shape[1] != len(blocks):
        raise ValueError(f"theta has {p.shape[1]} columns but there are {len(blocks)} blocks")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    # all n draws of the last layer first, by inverting the CDF of uniform numbers
    columns = [np.searchsorted(np.cumsum(row), rng.random(n) * row.sum()) for row in p[::-1]][::-1]
    return [tuple(blocks[min(int(c[k]), len(blocks) - 1)] for c in columns) for k in range(n)]
''',
    "nas/mnasnet.py": '''
def _reordered_sample(self, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [n for _, n in self.decisions()]
    picks = [int(np.floor(rng.random() * n)) for n in sizes[::-1]][::-1]  # last decision first
    return self.decode(picks)


MnasSpace.sample = _reordered_sample
''',
    "nas/ofa_search.py": '''
def mutate(space, arch, prob, rng):
    def rows(rs, vs):  # the rows from last to first, each gene's choice drawn before its coin
        out = []
        for r in rs[::-1]:
            row = []
            for v in r[::-1]:
                new = int(vs[rng.integers(len(vs))])
                row.append(new if rng.random() < prob else v)
            out.append(tuple(row[::-1]))
        return tuple(out[::-1])

    expands = rows(arch.expands, space.expands)
    kernels = rows(arch.kernels, space.kernels)
    depths = rows((arch.depths,), space.depths)[0]
    return Arch(depths, kernels, expands)


def crossover(a, b, rng):
    flat = lambda arch: [*arch.depths, *(g for r in arch.kernels for g in r),
                         *(g for r in arch.expands for g in r)]
    take_b = rng.random(len(flat(a)))[::-1] >= 0.5  # one draw for all genes, reversed
    genes = iter([y if t else x for x, y, t in zip(flat(a), flat(b), take_b)])
    depths = tuple(next(genes) for _ in a.depths)
    kernels = tuple(tuple(next(genes) for _ in r) for r in a.kernels)
    expands = tuple(tuple(next(genes) for _ in r) for r in a.expands)
    return Arch(depths, kernels, expands)
''',
}

def _preamble(folder: Path) -> str:
    """Python that makes an interpreter import ``minnas`` from ``folder``: the editable install's
    import hook would otherwise win over anything on ``sys.path``."""
    return textwrap.dedent(f"""\
        import sys
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__
                            and "editable" not in getattr(f, "__name__", "")]
        sys.path.insert(0, {str(folder)!r})
        import minnas
        assert minnas.__file__.startswith({str(folder)!r}), minnas.__file__
        """)


# Each call prints a value that the reordering changes: proof that the copy is really different.
PROBES = """
import json, numpy as np, torch
from minnas.nas import darts, fbnet, mnasnet, ofa, ofa_search
space = ofa.OFASpace() if hasattr(ofa, "OFASpace") else None
rng = np.random.default_rng(0)
arch = space.sample(0)
out = {
    "darts": repr(darts.random_genotype(seed=3)),
    "fbnet": repr(fbnet.sample_architectures(np.zeros((4, len(fbnet.BLOCKS))), 5, seed=3)),
    "mnasnet": repr(mnasnet.MnasSpace().sample(3)),
    "ofa_mutate": repr(ofa_search.mutate(space, arch, 0.5, np.random.default_rng(3))),
    "ofa_crossover": repr(ofa_search.crossover(arch, space.sample(1), np.random.default_rng(3))),
}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def reordered_library(tmp_path_factory) -> Path:
    """A folder holding a copy of ``minnas`` with the functions of ``REORDERED`` redefined."""
    root = tmp_path_factory.mktemp("reordered")
    package = Path(minnas.__file__).parent
    shutil.copytree(package, root / "minnas", ignore=shutil.ignore_patterns("__pycache__"))
    for relative, code in REORDERED.items():
        with (root / "minnas" / relative).open("a") as fh:
            fh.write("\n\n# -- reordered for tests/test_library_independence.py --\n"
                     + textwrap.dedent(code))
    return root


def _probe(folder: Path | None) -> dict:
    code = (_preamble(folder) if folder else "") + PROBES
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_the_reordered_library_draws_other_numbers(reordered_library):
    original, reordered = _probe(None), _probe(reordered_library)
    same = [name for name in original if original[name] == reordered[name]]
    assert not same, f"the reordering changed nothing for {same}"


def _score(nb: nbformat.NotebookNode) -> float:
    """What nbgrader gives: the points of every test cell without an error or stderr output."""
    score = 0.0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade"):
            bad = [o for o in cell.outputs if o.output_type == "error"
                   or (o.output_type == "stream" and o.name == "stderr")]
            score += 0.0 if bad else float(meta["points"])
    return score


def _with_hidden_tests(nb: nbformat.NotebookNode, lesson: str) -> nbformat.NotebookNode:
    """The locked cells as the grader runs them: from the source notebook, hidden tests included."""
    source = nbformat.read(SOLUTIONS / lesson / f"{lesson}.ipynb", as_version=4)
    locked = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
              if c.metadata.get("nbgrader", {}).get("locked")}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in locked:
            cell.source = locked[grade_id]
    return nb


@pytest.mark.parametrize("lesson", LESSONS)
def test_grades_do_not_change_with_the_librarys_draw_order(reordered_library, lesson, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    for student in STUDENTS:
        path = EXAMPLES / student / lesson / f"{lesson}.ipynb"
        nb = _with_hidden_tests(nbformat.read(path, as_version=4), lesson)
        nb.cells.insert(0, nbformat.v4.new_code_cell(_preamble(reordered_library)))
        NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        assert not any(o.output_type == "error" for o in nb.cells[0].outputs), (
            "the copy was not imported")
        assert _score(nb) == EXPECTED_SCORES[student][lesson], (
            f"{student}/{lesson}: {_score(nb)} with the reordered library, "
            f"{EXPECTED_SCORES[student][lesson]} with the real one")
