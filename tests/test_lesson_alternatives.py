"""Tests of the lessons that once graded wrongly: every correct answer scores, the mistakes do not.

Each case takes the source notebook (reference solutions and hidden tests: what the grader runs
for a perfect student), adds a student's version of one exercise after the reference (so it
replaces the function), runs it up to the exercise's test cells as the grader would
(``NBGRADER_EXECUTION`` set) and checks which test cells pass, and that a failing one says what
the mistake is.
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from grader.course import SOLUTIONS

# -- lesson 04: random search must name the bad point in its error and keep the first of ties
_SEARCH = '''
def random_search(f, sampler, n, seed=0):
    rng = np.random.default_rng(seed)
    best_x, best_y, curve = None, np.inf, []
    for _ in range(n):
        x = sampler(rng)
        y = float(f(x))
        if not np.isfinite(y):
            raise ValueError({message})
        if y {compare} best_y:
            best_x, best_y = x, y
        curve.append(best_y)
    return best_x, best_y, np.array(curve)
'''
_SEARCH_ARGMIN = '''
def random_search(f, sampler, n, seed=0):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        xs.append(sampler(rng))
        ys.append(float(f(xs[-1])))
        if not np.isfinite(ys[-1]):
            raise ValueError("objective is " + str(ys[-1]) + " at "
                             + " ".join(str(v) for v in xs[-1].values()))
    ys = np.array(ys)
    best = int(np.argmin(ys))  # the first of equal minima
    return xs[best], float(ys[best]), np.minimum.accumulate(ys)
'''
# -- lesson 05: the predictive std of a noisy observation y instead of the latent f
_GP_NOISY_STD = '''
import scipy.linalg


def gp_posterior(X_train, y_train, X_test, lengthscale, variance, noise, kernel=None):
    kernel = kernel or rbf_kernel
    K = kernel(X_train, X_train, lengthscale, variance) + noise * np.eye(len(X_train))
    L = scipy.linalg.cholesky(K, lower=True)
    Ks = kernel(X_train, X_test, lengthscale, variance)
    mean = Ks.T @ scipy.linalg.cho_solve((L, True), np.asarray(y_train, float))
    v = scipy.linalg.solve_triangular(L, Ks, lower=True)
    return mean, np.sqrt(np.maximum(variance + noise - np.sum(v**2, axis=0), 0.0))
'''
# -- lesson 07: the stable softmax of lesson 03 in float32
_SOFTMAX_LSE = '''
def softmax(alpha):
    return torch.exp(alpha - torch.logsumexp(alpha, dim=-1, keepdim=True))
'''
_SOFTMAX_NAIVE = '''
def softmax(alpha):
    e = torch.exp(alpha)
    return e / e.sum(dim=-1, keepdim=True)
'''
# -- lesson 07: deriving the cell from softmax weights, another way of ranking the edges
_DERIVE_LEXSORT = '''
def derive_cell(weights, primitives):
    w = np.array(weights, dtype=np.float64)
    w[:, [k for k, p in enumerate(primitives) if p == "none"]] = -1.0
    n = int((np.sqrt(9 + 8 * len(w)) - 3) / 2 + 0.5)
    out, s = [], 0
    for j in range(n):
        block = w[s:s + j + 2]
        for i in np.sort(np.lexsort((np.arange(j + 2), -block.max(1)))[:2]):
            out.append((primitives[int(block[i].argmax())], int(i)))
        s += j + 2
    return tuple(out)
'''
# -- lesson 10: mutation drawing the same distribution in another order
_MUTATE_REORDERED = '''
def mutate_arch(space, arch, prob, rng):
    def gene(value, allowed):
        new = allowed[rng.integers(len(allowed))]  # the new value first, then the coin
        return int(new) if rng.random() < prob else value
    e = [[gene(v, space.expands) for v in row] for row in arch.expands]  # expansions first
    k = [[gene(v, space.kernels) for v in row] for row in arch.kernels]
    d = [gene(v, space.depths) for v in arch.depths]
    return ofa.Arch(d, k, e)
'''
_MUTATE_ALWAYS_CHANGES = '''
def mutate_arch(space, arch, prob, rng):
    def gene(value, allowed):
        if rng.random() < prob:
            return int(rng.choice([v for v in allowed if v != value]))
        return value
    return ofa.Arch([gene(d, space.depths) for d in arch.depths],
                    [[gene(k, space.kernels) for k in row] for row in arch.kernels],
                    [[gene(e, space.expands) for e in row] for row in arch.expands])
'''

# (lesson, exercise cell, the student's code, {test cell: words of its failure, or None: passes})
CASES = {
    "04 message with the point's coordinates": (
        "04_hyperparameter_search", "random_search",
        _SEARCH.format(message='f"f(x) = {y} at " + ", ".join(f"{k}={v}" for k, v in x.items())',
                       compare="<"),
        {"test_random_search": None}),
    "04 message as plain numbers, ties by argmin": (
        "04_hyperparameter_search", "random_search", _SEARCH_ARGMIN, {"test_random_search": None}),
    "04 message naming no point": (
        "04_hyperparameter_search", "random_search",
        _SEARCH.format(message='"f(x) is not finite"', compare="<"),
        {"test_random_search": "point"}),
    "04 last of ties wins": (
        "04_hyperparameter_search", "random_search",
        _SEARCH.format(message='f"f returned {y} at {x}"', compare="<="),
        {"test_random_search": "ties"}),
    "05 std of y, not of f": (
        "05_bayesian_optimization", "gp_posterior", _GP_NOISY_STD,
        {"test_gp_posterior_mean": None, "test_gp_posterior_std": "noise variance added"}),
    "07 softmax through logsumexp": (
        "07_darts", "softmax", _SOFTMAX_LSE,
        {"test_softmax": None, "test_softmax_stability": None}),
    "07 softmax overflowing": (
        "07_darts", "softmax", _SOFTMAX_NAIVE,
        {"test_softmax": None, "test_softmax_stability": "maximum"}),
    "07 derive_cell ranked by lexsort": (
        "07_darts", "derive_cell", _DERIVE_LEXSORT,
        {"test_derive_cell": None, "test_derive_cell_edge_cases": None}),
    "10 mutation in another draw order": (
        "10_once_for_all", "evolutionary_step", _MUTATE_REORDERED,
        {"test_mutate": None, "test_next_generation": None}),
    "10 a mutated gene always changes": (
        "10_once_for_all", "evolutionary_step", _MUTATE_ALWAYS_CHANGES,
        {"test_mutate": "all", "test_next_generation": None}),
}


def _failure(cell: nbformat.NotebookNode) -> str | None:
    """The error a test cell raised (name and message), or None when it passed."""
    for out in cell.outputs:
        if out.output_type == "error":
            return f"{out.ename}: {out.evalue}"
        if out.output_type == "stream" and out.name == "stderr":
            return f"stderr: {out.text}"
    return None


@pytest.mark.parametrize("case", list(CASES))
def test_a_students_version_is_graded_as_it_deserves(case, monkeypatch):
    lesson, exercise, code, expected = CASES[case]
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    path = SOLUTIONS / lesson / f"{lesson}.ipynb"
    nb = nbformat.read(path, as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    nb.cells[ids.index(exercise)].source += "\n\n" + code
    last = max(ids.index(test) for test in expected)
    nb.cells = nb.cells[:last + 1]
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for test, words in expected.items():
        failure = _failure(nb.cells[ids.index(test)])
        if words is None:
            assert failure is None, f"{case}: {test} should pass, failed with {failure}"
        else:
            assert failure is not None, f"{case}: {test} should fail"
            assert failure.startswith("AssertionError") and words in failure, (
                f"{case}: {test} should fail with a message about {words!r}, got {failure}")
