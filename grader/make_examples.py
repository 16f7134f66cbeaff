"""Regenerate the sample class in ``grader/examples/`` from ``lessons/`` and ``solutions/``.

    python -m grader.make_examples

Four students, each submitting every lesson, as a student would: the release notebook with
the exercise cells edited.

- ``perfect``: every exercise cell holds the reference solution.
- ``partial``: the reference solution, except one exercise per lesson with a typical mistake
  (listed in ``MISTAKES``), which loses that exercise's tests.
- ``blank``: the untouched release.
- ``broken``: the reference solution, but the first exercise cell of each lesson raises
  (a misspelt import), so the functions defined there do not exist and their tests fail.

Run it after changing a lesson, then update the expected totals in ``tests/test_grading.py``.
"""

from __future__ import annotations

import re
import shutil

import nbformat

from grader.course import EXAMPLES, LESSONS, SOLUTIONS, lesson_names

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
}

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


def main() -> None:
    lessons = lesson_names()
    missing = [lesson for lesson in lessons if lesson not in MISTAKES]
    if missing:
        raise SystemExit(f"add a typical mistake to MISTAKES for: {missing}")
    for student in ("perfect", "partial", "blank", "broken"):
        shutil.rmtree(EXAMPLES / student, ignore_errors=True)
        for lesson in lessons:
            path = EXAMPLES / student / lesson / f"{lesson}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(submission(lesson, student), path)
            print(f"wrote {path.relative_to(EXAMPLES.parent.parent)}")


if __name__ == "__main__":
    main()
