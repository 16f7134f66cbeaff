r"""MetaNAS: meta-learning an architecture and its weights over tasks, and warm-started DARTS.

Sources: T. Elsken, B. Staffler, J. H. Metzen and F. Hutter, "Meta-Learning of Neural
Architectures for Few-Shot Learning", *CVPR* 2020 (arXiv:1911.11090); J. Grobelnik and
J. Vanschoren, "Warm-starting DARTS using meta-learning", arXiv:2205.06355, 2022; A. Nichol,
J. Achiam and J. Schulman, "On First-Order Meta-Learning Algorithms" (Reptile),
arXiv:1803.02999, 2018.

DARTS (:mod:`minnas.nas.darts`) searches one dataset from scratch: random weights ``w`` and a
uniform architecture ``alpha``. Many small datasets (*tasks*) that resemble each other invite a
better start. A task :math:`\mathcal T` is an N-way K-shot classification problem: N classes,
relabelled ``0 .. N-1``, with K training (*support*) samples per class for the weights, a
*query* set for ``alpha`` and a test set for judging. Write :math:`\theta = (w, \alpha)`.

Task adaptation is a few DARTS steps from :math:`\theta`, alternating a first-order ``alpha``
step on the query set with a ``w`` step on the support set (darts.py's equation (6) at
:math:`\xi = 0`),

.. math:: \phi_{\mathcal T} = U^k_{\mathcal T}(\theta)
          \quad\text{(k steps of DARTS on } \mathcal T \text{ from } \theta).        \qquad (1)

Meta-learning looks for the starting point from which adaptation works best on average over
the task distribution :math:`p(\mathcal T)`,

.. math:: \min_\theta \; \mathbb E_{\mathcal T \sim p(\mathcal T)}
          \big[ L_{\mathcal T}\big(U^k_{\mathcal T}(\theta)\big) \big].                  \qquad (2)

MAML differentiates (2) through the k steps, second derivatives included. MetaNAS uses the
first-order *Reptile* update instead: adapt to a batch of m tasks and move :math:`\theta` part
of the way towards the adapted points, weights and architecture alike,

.. math:: \theta \leftarrow \theta + \varepsilon \,
          \frac{1}{m} \sum_{i=1}^{m} \big(\phi_{\mathcal T_i} - \theta\big),             \qquad (3)

with a meta step size :math:`\varepsilon` annealed linearly to 0. For one inner step (3) is
a step on the expected task loss; for k > 1 a Taylor expansion (Nichol et al., Sec. 5) shows it
also contains a term that maximises the inner product of the gradients of different
mini-batches of a task, the term MAML's second derivatives produce: so it learns a point from
which a few steps *generalise*, not only a point of low average loss.

Warm-started DARTS on a new task is DARTS started from the meta-learned point,

.. math:: \theta_0 = \theta^* \quad\text{instead of}\quad
          \theta_0 = (w_{\text{random}}, \alpha \approx 0),                            \qquad (4)

and its result is discretised as in DARTS (:func:`~minnas.nas.darts.derive_cell`). The derived
network keeps the adapted weights of its operations: :func:`genotype_alpha` writes a genotype
as an ``alpha`` whose softmax is one-hot, so the supernet computes exactly the derived network
(the edges not kept compute ``none``).

Simplified for a CPU: MNIST-1D instead of Omniglot and miniImageNet; a supernet of 36,000
weights (3 cells of 2 nodes); no soft-pruning of ``alpha`` during meta-training (MetaNAS anneals a
temperature so that the derived network needs no retraining; here it is judged after the same
adaptation as the others, see ``benchmarks/RESULTS.md``); batch norm uses the statistics of the
batch it normalises, in training and evaluation alike (*transductive*, as in the few-shot code
of MAML and Reptile), since a task is too small to estimate running statistics.

A task differs from its neighbours in its classes (a subset of the ten digits, in a random
label order), its samples, and its noise level. :func:`task_pools` keeps the samples of
held-out tasks apart from those of meta-training: a held-out task is new data of digits that
meta-training has seen in other combinations (the setting of warm-starting across datasets; the
few-shot benchmarks of MetaNAS also hold out the classes).
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from minnas._validation import check_int, check_number
from minnas.data import Splits, _mnist1d_arrays
from minnas.nas import darts

__all__ = [
    "PRIMITIVES",
    "TaskDistribution",
    "task_pools",
    "sample_task",
    "supernet",
    "adapt",
    "reptile_update",
    "MetaResult",
    "meta_train",
    "genotype_alpha",
    "with_genotype",
    "derive",
    "steps_to_reach",
]


#: The candidate operations: darts.py's, less the max pooling and the separable convolution,
#: which cost CPU time without adding a kind of operation the others lack.
PRIMITIVES: tuple[str, ...] = ("none", "skip_connect", "avg_pool_3", "conv_3", "dil_conv_3")


# ----------------------------------------------------------------------------------------------
# Tasks
# ----------------------------------------------------------------------------------------------
def task_pools(seed: int = 0, held_out: float = 0.4) -> tuple[tuple[np.ndarray, np.ndarray],
                                                              tuple[np.ndarray, np.ndarray]]:
    """MNIST-1D's 5000 signals cut into a meta-training pool and a held-out pool ``(X, y)``,
    stratified, ``held_out`` of them held out. ``X`` has shape ``(n, 1, 40)``."""
    held_out = check_number(held_out, "held_out", 0, 1, strict=True)
    X, y = _mnist1d_arrays()
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        test[rng.choice(members, int(round(held_out * len(members))), replace=False)] = True
    X = X[:, None, :].astype(np.float32)
    return (X[~test], y[~test]), (X[test], y[test])


def sample_task(X: np.ndarray, y: np.ndarray, n_way: int, k_shot: int, n_query: int,
                n_test: int = 1, noise: float = 0.0, classes=None, seed: int = 0) -> Splits:
    """An N-way K-shot task drawn from ``(X, y)``.

    ``n_way`` classes are drawn (or taken from ``classes``, in that order), relabelled
    ``0 .. n_way - 1`` in the order drawn, and from each class ``k_shot + n_query + n_test``
    distinct samples: the first ``k_shot`` are the support (``train``) split, the next
    ``n_query`` the query (``val``) split, the rest the ``test`` split. ``noise`` adds Gaussian
    noise of that standard deviation to every input. Returns a :class:`~minnas.data.Splits`
    named ``"task"``, each split ordered by class.
    """
    n_way = check_int(n_way, "n_way", low=2)
    k_shot = check_int(k_shot, "k_shot", low=1)
    n_query = check_int(n_query, "n_query", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    noise = check_number(noise, "noise", low=0)
    rng = np.random.default_rng(seed)
    labels = np.unique(y)
    if classes is None:
        if n_way > len(labels):
            raise ValueError(f"n_way={n_way} exceeds the {len(labels)} classes of the pool")
        classes = rng.choice(labels, n_way, replace=False)
    elif len(classes) != n_way or len(set(np.asarray(classes).tolist())) != n_way:
        raise ValueError(f"classes must be {n_way} distinct labels, got {classes}")
    per_class = k_shot + n_query + n_test
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    for label, c in enumerate(classes):
        members = np.flatnonzero(y == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} samples, fewer than {per_class}")
        chosen = rng.choice(members, per_class, replace=False)
        bounds = {"train": chosen[:k_shot], "val": chosen[k_shot:k_shot + n_query],
                  "test": chosen[k_shot + n_query:]}
        for split, idx in bounds.items():
            parts[split].append((X[idx], np.full(len(idx), label)))
    tensors = []
    for split in ("train", "val", "test"):
        X_part = np.concatenate([a for a, _ in parts[split]]).astype(np.float32)
        if noise > 0:
            X_part = X_part + noise * rng.standard_normal(X_part.shape).astype(np.float32)
        y_part = np.concatenate([b for _, b in parts[split]])
        tensors += [torch.tensor(X_part), torch.tensor(y_part, dtype=torch.int64)]
    return Splits("task", *tensors, n_classes=n_way)


@dataclass(frozen=True, eq=False)  # it holds arrays: compared and hashed by identity
class TaskDistribution:
    r""":math:`p(\mathcal T)`: N-way K-shot tasks from one pool of samples.

    Each task draws its classes, its samples and a noise level uniform in ``noise``.
    """

    X: np.ndarray
    y: np.ndarray
    n_way: int = 5
    k_shot: int = 10
    n_query: int = 10
    n_test: int = 20
    noise: tuple[float, float] = (0.0, 0.3)

    def sample(self, seed: int) -> Splits:
        """The task of ``seed``: same seed, same task."""
        rng = np.random.default_rng(seed)
        classes = rng.choice(np.unique(self.y), self.n_way, replace=False)
        noise = rng.uniform(*self.noise)
        return sample_task(self.X, self.y, self.n_way, self.k_shot, self.n_query, self.n_test,
                           noise=noise, classes=classes, seed=int(rng.integers(2**31)))


# ----------------------------------------------------------------------------------------------
# The supernet, adaptation (1) and the Reptile update (3)
# ----------------------------------------------------------------------------------------------
def supernet(n_classes: int, *, C: int = 8, n_cells: int = 3, n_nodes: int = 2,
             primitives: tuple[str, ...] = PRIMITIVES, seed: int = 0) -> darts.Network:
    """A DARTS supernet for MNIST-1D tasks whose batch norm always uses batch statistics."""
    torch.manual_seed(seed)
    model = darts.Network(1, n_classes, C, n_cells, n_nodes, primitives, dim=1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            # A few-shot task cannot estimate running statistics: normalise every batch by its own.
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None
    return model


def adapt(model: darts.Network, task: Splits, steps: int, *, w_lr: float = 0.1,
          arch_lr: float = 3e-2, train_alpha: bool = True, seed: int = 0) -> darts.SearchResult:
    """Equation (1): ``steps`` DARTS steps on ``task`` from ``model``, which is left unchanged.

    Each step is one ``alpha`` step on the whole query set and one ``w`` step on the whole
    support set (:func:`minnas.nas.darts.search` with one batch per epoch); with
    ``train_alpha=False`` only the weights train. Returns the search's result, whose ``model``
    is the adapted copy and whose ``val_acc`` is the query accuracy after every step.
    """
    steps = check_int(steps, "steps", low=1)
    batch = max(len(task.y_train), len(task.y_val))
    return darts.search(task, epochs=steps, batch_size=batch, w_lr=w_lr, arch_lr=arch_lr,
                        warmup_epochs=0 if train_alpha else steps, model=copy.deepcopy(model),
                        seed=seed)


@torch.no_grad()
def reptile_update(theta: nn.Module, phis: list[nn.Module], epsilon: float,
                   include_alpha: bool = True) -> None:
    r"""Equation (3) in place: :math:`\theta \leftarrow \theta + \varepsilon\,
    (\bar\phi - \theta)`, :math:`\bar\phi` the mean of the adapted models' parameters.

    ``include_alpha=False`` leaves the architecture parameters (names starting ``alpha``) alone:
    meta-learning of the weights only.
    """
    epsilon = check_number(epsilon, "epsilon", 0, 1)
    if not phis:
        raise ValueError("reptile_update needs at least one adapted model")
    adapted = [dict(phi.named_parameters()) for phi in phis]
    for name, p in theta.named_parameters():
        if name.startswith("alpha") and not include_alpha:
            continue
        mean = torch.stack([a[name] for a in adapted]).mean(dim=0)
        p += epsilon * (mean - p)


@dataclass
class MetaResult:
    """What :func:`meta_train` returns.

    Attributes
    ----------
    model : darts.Network
        The meta-learned supernet :math:`\\theta^*`.
    alpha_normal, alpha_reduce : list of ndarray
        ``softmax(alpha)`` of each cell type before meta-training and after every
        ``record_every`` meta-iterations.
    query_acc : list of float
        Query accuracy of each adapted task, after its ``k`` steps: the meta-training curve.
    seconds : float
        Wall time.
    """

    model: darts.Network
    alpha_normal: list[np.ndarray] = field(default_factory=list)
    alpha_reduce: list[np.ndarray] = field(default_factory=list)
    query_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0


def meta_train(tasks: TaskDistribution, *, iterations: int = 300, meta_batch: int = 2,
               k: int = 5, epsilon: float = 1.0, include_alpha: bool = True,
               model: darts.Network | None = None, record_every: int = 25,
               w_lr: float = 0.1, arch_lr: float = 3e-2, seed: int = 0,
               progress: bool = False) -> MetaResult:
    """Reptile over DARTS (MetaNAS, first order): ``iterations`` meta-updates (3), each after
    adapting (1) to ``meta_batch`` tasks for ``k`` steps; ``epsilon`` is annealed linearly
    from its value to 0. ``include_alpha=False`` meta-learns the weights of a supernet whose
    ``alpha`` stays at its start. ``model`` (default: ``supernet(tasks.n_way, seed=seed)``) is
    meta-trained in place. The tasks are ``tasks.sample`` of seeds drawn from ``seed``."""
    iterations = check_int(iterations, "iterations", low=1)
    meta_batch = check_int(meta_batch, "meta_batch", low=1)
    theta = supernet(tasks.n_way, seed=seed) if model is None else model
    rng = np.random.default_rng(seed)
    result = MetaResult(model=theta)

    def record() -> None:
        for name, history in (("alpha_normal", result.alpha_normal),
                              ("alpha_reduce", result.alpha_reduce)):
            history.append(torch.softmax(getattr(theta, name), -1).detach().numpy().copy())

    record()
    start = time.perf_counter()
    for t in tqdm(range(iterations), desc="MetaNAS", disable=not progress, file=sys.stdout):
        phis = []
        for _ in range(meta_batch):
            task_seed = int(rng.integers(2**31))
            run = adapt(theta, tasks.sample(task_seed), k, w_lr=w_lr, arch_lr=arch_lr,
                        train_alpha=include_alpha, seed=task_seed)
            phis.append(run.model)
            result.query_acc.append(run.val_acc[-1])
        reptile_update(theta, phis, epsilon * (1 - t / iterations), include_alpha)
        if (t + 1) % record_every == 0:
            record()
    result.seconds = time.perf_counter() - start
    return result


# ----------------------------------------------------------------------------------------------
# The derived network and the measures of the benchmark
# ----------------------------------------------------------------------------------------------
def genotype_alpha(genotype: darts.Genotype, primitives: tuple[str, ...] = PRIMITIVES,
                   big: float = 1e4) -> tuple[torch.Tensor, torch.Tensor]:
    """``(alpha_normal, alpha_reduce)`` whose softmax is one-hot on each kept edge's operation
    and on ``none`` for every other edge: the supernet then computes the derived network."""
    if "none" not in primitives:
        raise ValueError("genotype_alpha needs 'none' among the primitives to drop an edge")

    def cell(genes) -> torch.Tensor:
        n_nodes = len(genes) // 2
        alpha = torch.full((darts.n_edges(n_nodes), len(primitives)), -big)
        alpha[:, primitives.index("none")] = 0.0
        start = 0
        for node in range(n_nodes):
            for op, i in genes[2 * node:2 * node + 2]:
                alpha[start + i] = -big
                alpha[start + i, primitives.index(op)] = 0.0
            start += node + 2
        return alpha

    return cell(genotype.normal), cell(genotype.reduce)


def with_genotype(model: darts.Network, genotype: darts.Genotype) -> darts.Network:
    """A copy of ``model`` computing the derived network of ``genotype`` (its weights kept)."""
    derived = copy.deepcopy(model)
    with torch.no_grad():
        for alpha, value in zip(derived.arch_parameters(),
                                genotype_alpha(genotype, derived.primitives)):
            alpha.copy_(value)
    return derived


def derive(model: darts.Network, task: Splits, fine_tune: int = 10,
           genotype: darts.Genotype | None = None, w_lr: float = 0.1,
           seed: int = 0) -> darts.Network:
    """The derived network, with ``model``'s weights: the cell derived from ``model``'s
    ``alpha`` (or ``genotype``), its weights then trained ``fine_tune`` steps on the support
    set (0: as they are). ``model`` is left unchanged."""
    fine_tune = check_int(fine_tune, "fine_tune", low=0)
    derived = with_genotype(model, model.genotype() if genotype is None else genotype)
    if fine_tune:
        derived = adapt(derived, task, fine_tune, w_lr=w_lr, train_alpha=False, seed=seed).model
    return derived


def steps_to_reach(curve, target: float) -> int | None:
    """The first step (1-based) at which ``curve`` (accuracy after each step) reaches
    ``target``; ``None`` if it never does."""
    hits = np.flatnonzero(np.asarray(curve, float) >= target)
    return int(hits[0]) + 1 if len(hits) else None
