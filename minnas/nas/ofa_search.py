r"""Once-for-All, specialisation: find the best subnet of a trained supernet for a budget.

Cai, Gan, Wang, Zhang and Han, "Once-for-All: Train One Network and Specialize it for Efficient
Deployment", *ICLR* 2020, arXiv:1908.09791, Sec. 3.4. Written from the paper; the numbers (n)
continue those of :mod:`minnas.nas.ofa`, which holds the space, the supernet and its training
(equations 1-5). Here nothing is trained but a small predictor: a search only scores subnets.

(6) *Encoding* (:meth:`~minnas.nas.ofa.OFASpace.encode`): an architecture :math:`a` becomes
    one-hots :math:`\phi(a)`, the kernel and expansion of every block (zeros for blocks beyond
    its unit's depth) and the depth of every unit.
(7) *Accuracy predictor* (:class:`AccuracyPredictor`): an MLP :math:`\hat A(a) =
    \mathrm{MLP}(\phi(a))` fit on measured pairs by mean squared error,
    :math:`\min \sum_i (\hat A(a_i) - A(a_i))^2`.
(8) *Constrained search*: :math:`\max_a s(a)\ \text{s.t.}\ \mathrm{LAT}(a) \le T` and/or
    :math:`\mathrm{FLOPs}(a) \le F`, for a score :math:`s` (predicted or measured accuracy), with
(9) :math:`\mathrm{LAT}(a) = \mathrm{overhead} + \sum_{u} \sum_{i < d_u}
    \mathrm{LAT}(u, i, k_{u,i}, e_{u,i})`, a lookup table as in FBNet
    (:mod:`minnas.nas.latency`); FLOPs are :func:`minnas.nas.ops.count_flops` of the subnet,
    here in closed form (:func:`flops`).

:func:`evolutionary_search` solves (8): each generation keeps the best ``parents`` fraction,
adds children by mutation (every gene resampled with probability ``mutate_prob``) and by
uniform crossover of two parents, and only ever admits feasible children.
:func:`random_search` is its baseline at the same budget of scored subnets.

**Simplified for a CPU**: the predictor is a small MLP (two hidden layers of 64 units by
default) fit full-batch with Adam.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn
from tqdm.auto import tqdm

from minnas._validation import check_choice, check_int, check_number
from minnas.nas.latency import LatencyTable
from minnas.nas.ofa import Arch, OFASpace

__all__ = [
    "CONSTRAINTS", "AccuracyPredictor", "predict_latency", "flops", "evolutionary_search",
    "mutate", "crossover", "random_search", "SearchResult",
]

#: The constraint keys that the searches understand.
CONSTRAINTS: tuple[str, ...] = ("latency_us", "flops")


# ----------------------------------------------------------------------------------------------
# Accuracy predictor: equations (6) and (7)
# ----------------------------------------------------------------------------------------------
class AccuracyPredictor:
    """A small MLP from :meth:`OFASpace.encode` to accuracy, fit by mean squared error (7).

    Targets are standardised for training, so the MLP only learns the differences.
    """

    def __init__(self, space: OFASpace, hidden: int = 64, epochs: int = 400, lr: float = 3e-3,
                 weight_decay: float = 1e-4) -> None:
        self.space, self.hidden, self.epochs = space, hidden, epochs
        self.lr, self.weight_decay = lr, weight_decay
        self.net: nn.Module | None = None
        self.mean, self.std = 0.0, 1.0

    def _features(self, archs: Sequence[Arch]) -> torch.Tensor:
        """The encodings of equation (6), one row per architecture."""
        return torch.tensor(np.stack([self.space.encode(a) for a in archs]), dtype=torch.float32)

    def fit(self, archs: Sequence[Arch], accs: Sequence[float],
            seed: int = 0) -> AccuracyPredictor:
        """Fit the MLP on pairs ``(archs[i], accs[i])``, full-batch Adam; returns ``self``."""
        X, y = self._features(archs), torch.tensor(np.asarray(accs, dtype=np.float32))
        if y.shape != (len(X),) or not torch.isfinite(y).all():
            raise ValueError(f"accs must be {len(X)} finite numbers, got shape {tuple(y.shape)}")
        self.mean, self.std = y.mean().item(), max(y.std().item(), 1e-8) if len(y) > 1 else 1.0
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(X.shape[1], self.hidden), nn.ReLU(),
                                 nn.Linear(self.hidden, self.hidden), nn.ReLU(),
                                 nn.Linear(self.hidden, 1))
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        target = (y - self.mean) / self.std
        for _ in range(self.epochs):
            loss = F.mse_loss(self.net(X).squeeze(1), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return self

    @torch.no_grad()
    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        """Predicted accuracies of ``archs``."""
        if self.net is None:
            raise ValueError("call fit before predict")
        return self.net(self._features(archs)).squeeze(1).numpy() * self.std + self.mean

    def kendall_tau(self, archs: Sequence[Arch], accs: Sequence[float]) -> float:
        """Kendall's rank correlation of predicted and measured accuracies (held-out archs)."""
        return float(stats.kendalltau(self.predict(archs), np.asarray(accs)).statistic)


# ----------------------------------------------------------------------------------------------
# Costs and constraints: equations (8) and (9)
# ----------------------------------------------------------------------------------------------
def predict_latency(arch: Arch, table: LatencyTable) -> float:
    """Equation (9): the table's overhead plus the entries of the blocks that run, in
    microseconds. Table layer ``u * max_depth + i`` is block ``i`` of unit ``u``."""
    max_depth = len(arch.kernels[0])
    if table.n_layers != len(arch.depths) * max_depth:
        raise ValueError(f"the table has {table.n_layers} layers, the arch "
                         f"{len(arch.depths)} units x {max_depth} blocks")
    return table.overhead_us + sum(table.latency(u * max_depth + i, f"k{k}_e{e}")
                                   for u, i, k, e in arch.blocks())


def flops(space: OFASpace, arch: Arch) -> int:
    """Multiply-accumulates of one sample through ``arch``, counted as
    :func:`minnas.nas.ops.count_flops` counts them, without building the network: per block
    with :math:`h = e C_{in}` hidden channels, :math:`P_{in} C_{in} h` (expansion)
    :math:`+ P_{out} h k^D` (depthwise) :math:`+ P_{out} h C_{out}` (projection), where
    :math:`P` counts positions; plus the stem and the classifier."""
    def positions(shape: tuple[int, ...]) -> int:
        return math.prod(shape[1:])

    total = positions(space.in_shape) * space.in_shape[0] * space.stem_channels * 3 ** space.dim
    for u, i, k, e in space.check_arch(arch).blocks():
        C_in, C_out, _ = space.block_io(u, i)
        h, P_in = e * C_in, positions(space.block_input(u, i))
        P_out = positions(space.block_input(u, 1))  # after the unit's stride
        total += P_in * C_in * h + P_out * h * (k ** space.dim + C_out)
    return total + space.units[-1][0] * space.n_classes


# ----------------------------------------------------------------------------------------------
# Searches
# ----------------------------------------------------------------------------------------------
def evolutionary_search(space: OFASpace, score_fn: Callable[[Arch], float], *, constraint: dict,
                        latency_table: LatencyTable | None = None, population: int = 20,
                        generations: int = 10, mutate_prob: float = 0.1,
                        mutation_ratio: float = 0.5, parents: float = 0.25, seed: int = 0,
                        progress: bool = False) -> SearchResult:
    """Maximise ``score_fn`` over feasible subnets, equation (8), by evolution.

    Parameters
    ----------
    space : OFASpace
    score_fn : callable
        ``score_fn(arch) -> float``, higher is better (e.g. a predictor's accuracy); called
        once per distinct subnet.
    constraint : dict
        Upper bounds by key of :data:`CONSTRAINTS`: ``{"latency_us": 600}`` (needs
        ``latency_table``), ``{"flops": 2e5}``, or both. Any other key is a ``ValueError``.
    latency_table : LatencyTable, optional
        From :meth:`OFASpace.latency_table`, for equation (9).
    population, generations : int, default 20 and 10
        Population size, and generations after the random initial population. The defaults
        (with ``mutate_prob`` and ``parents``) were chosen from a grid on tuning seeds, by the
        validation accuracy of the chosen subnet against random search at an equal number of
        scored subnets (the protocol of ``benchmarks/README.md``, ``benchmarks/ofa.py``).
    mutate_prob : float, default 0.1
        Probability of resampling each gene of a mutated child.
    mutation_ratio : float, default 0.5
        Fraction of the population made by mutation each generation; crossover makes the rest.
    parents : float, default 0.25
        Fraction of the population kept as parents.
    seed : int, default 0
    progress : bool, default False
        Progress bar over the generations (a widget in Jupyter, else text on stdout).
    """
    costs = _Costs(space, constraint, latency_table)
    population = check_int(population, "population", low=2)
    generations = check_int(generations, "generations", low=0)
    mutate_prob = check_number(mutate_prob, "mutate_prob", low=0, high=1)
    mutation_ratio = check_number(mutation_ratio, "mutation_ratio", low=0, high=1)
    parents = check_number(parents, "parents", low=0, high=1)
    rng, score, start = np.random.default_rng(seed), _Scorer(space, score_fn), time.perf_counter()
    n_parents = max(2, int(round(parents * population)))
    n_mutants = int(round(mutation_ratio * population))
    pool = [costs.sample(rng) for _ in range(population)]
    best = []
    # ticked by hand: the last generation is scored but breeds no children (the loop breaks)
    bar = tqdm(total=generations + 1, desc="evolution", unit="generation", disable=not progress,
               file=sys.stdout)
    for _ in range(generations + 1):
        distinct = {space.encode(a).tobytes(): a for a in pool}.values()
        pool = sorted(distinct, key=score, reverse=True)[:n_parents]
        best.append(score(pool[0]))
        bar.update()
        bar.set_postfix(best=f"{best[-1]:.4g}", scored=len(score.archs))
        if len(best) == generations + 1:
            break
        children: list[Arch] = []
        for _ in range(1000 * population):  # feasible parents make feasible children often
            if len(children) == population - len(pool):
                break
            if len(children) < n_mutants:
                child = mutate(space, pool[rng.integers(len(pool))], mutate_prob, rng)
            elif len(pool) > 1:
                i, j = rng.choice(len(pool), 2, replace=False)
                child = crossover(pool[i], pool[j], rng)
            else:
                child = costs.sample(rng)
            if costs.feasible(child):
                children.append(child)
        pool = pool + children
    bar.close()
    return score.result(costs, best, start)


def mutate(space: OFASpace, arch: Arch, prob: float, rng: np.random.Generator) -> Arch:
    """Resample every gene (depth, kernel, expansion) with probability ``prob``."""
    def gene(value: int, values: Sequence[int]) -> int:  # the coin first, then the new value
        return int(rng.choice(values)) if rng.random() < prob else value

    def rows(genes: tuple[tuple[int, ...], ...], values: Sequence[int]) -> tuple:
        return tuple(tuple(gene(v, values) for v in row) for row in genes)

    # drawn in this order: the depths, then every kernel, then every expansion
    return Arch(tuple(gene(d, space.depths) for d in arch.depths),
                rows(arch.kernels, space.kernels), rows(arch.expands, space.expands))


def crossover(a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
    """Uniform crossover: every gene from ``a`` or ``b`` with probability 1/2."""
    def gene(x: int, y: int) -> int:
        return x if rng.random() < 0.5 else y

    def rows(rows_a: tuple[tuple[int, ...], ...], rows_b: tuple[tuple[int, ...], ...]) -> tuple:
        return tuple(tuple(map(gene, x, y)) for x, y in zip(rows_a, rows_b))

    # drawn in this order: the depths, then every kernel, then every expansion
    return Arch(tuple(map(gene, a.depths, b.depths)), rows(a.kernels, b.kernels),
                rows(a.expands, b.expands))


def random_search(space: OFASpace, score_fn: Callable[[Arch], float], *, constraint: dict,
                  latency_table: LatencyTable | None = None, n_samples: int = 100,
                  seed: int = 0) -> SearchResult:
    """The baseline: score ``n_samples`` distinct random feasible subnets, keep the best.
    Give it ``evolutionary_search(...).n_scored`` for an equal budget."""
    costs = _Costs(space, constraint, latency_table)
    n_samples = check_int(n_samples, "n_samples", low=1)
    rng, score, start = np.random.default_rng(seed), _Scorer(space, score_fn), time.perf_counter()
    best: list[float] = []
    for _ in range(100 * n_samples):
        if len(score.archs) == n_samples:
            break
        score(costs.sample(rng))
        best.append(max(score.cache.values()))
    return score.result(costs, best, start)


@dataclass
class SearchResult:
    """What :func:`evolutionary_search` and :func:`random_search` return.

    Attributes
    ----------
    arch : Arch
        The best feasible architecture found; ``score`` its score and ``cost`` its costs
        under the constraint's keys.
    archs, scores : list
        Every distinct architecture scored, in order, and its score.
    best : list of float
        Best score after the initial population and every generation (random search: after
        every sample).
    seconds : float
    """

    arch: Arch
    score: float
    cost: dict[str, float]
    archs: list[Arch] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    best: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def n_scored(self) -> int:
        """Calls of the score function: the search's budget."""
        return len(self.archs)


class _Costs:
    """Cached costs of architectures under a constraint, and whether they satisfy it (8)."""

    def __init__(self, space: OFASpace, constraint: dict, table: LatencyTable | None) -> None:
        self.space, self.constraint, self.table = space, _check_constraint(constraint, table), table
        self.cache: dict[bytes, dict[str, float]] = {}

    def __call__(self, arch: Arch) -> dict[str, float]:
        key = self.space.encode(arch).tobytes()
        if key not in self.cache:
            cost = {}
            if "latency_us" in self.constraint:
                cost["latency_us"] = predict_latency(arch, self.table)
            if "flops" in self.constraint:
                cost["flops"] = float(flops(self.space, arch))
            self.cache[key] = cost
        return self.cache[key]

    def feasible(self, arch: Arch) -> bool:
        return all(v <= self.constraint[k] for k, v in self(arch).items())

    def sample(self, rng: np.random.Generator, max_tries: int = 1000) -> Arch:
        """A uniformly random feasible architecture (rejection sampling)."""
        for _ in range(max_tries):
            arch = self.space.sample(rng)
            if self.feasible(arch):
                return arch
        raise ValueError(f"no feasible architecture in {max_tries} samples under "
                         f"{self.constraint}; the smallest costs {self(self.space.smallest())}")


class _Scorer:
    """``score_fn`` with a cache keyed by the encoding (equal subnets are scored once)."""

    def __init__(self, space: OFASpace, score_fn: Callable[[Arch], float]) -> None:
        self.space, self.score_fn, self.cache = space, score_fn, {}
        self.archs: list[Arch] = []

    def __call__(self, arch: Arch) -> float:
        key = self.space.encode(arch).tobytes()
        if key not in self.cache:
            self.cache[key] = float(self.score_fn(arch))
            self.archs.append(arch)
        return self.cache[key]

    def result(self, costs: _Costs, best: list[float], start: float) -> SearchResult:
        scores = [self(a) for a in self.archs]
        top = self.archs[int(np.argmax(scores))]
        return SearchResult(top, max(scores), costs(top), list(self.archs), scores, best,
                            time.perf_counter() - start)


def _check_constraint(constraint: dict, table: LatencyTable | None) -> dict[str, float]:
    """The bounds of ``constraint`` as floats, after checking its keys and values."""
    if not isinstance(constraint, dict):
        raise ValueError(f"constraint must be a dict, got {type(constraint).__name__}")
    for key, value in constraint.items():
        check_choice(key, "constraint key", CONSTRAINTS)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"constraint {key!r} must be a positive number, got {value!r}")
    if "latency_us" in constraint and table is None:
        raise ValueError("constraint 'latency_us' needs a latency_table")
    return {key: float(value) for key, value in constraint.items()}
