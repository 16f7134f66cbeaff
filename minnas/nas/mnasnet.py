r"""MnasNet: platform-aware architecture search with reinforcement learning (Tan et al.,
CVPR 2019, arXiv:1807.11626).

Written from the paper. Labels (1)-(5) are ours; the paper's numbers are given where they exist.

**Reward** (the paper's eq. 2). A network :math:`m` with accuracy :math:`\mathrm{ACC}(m)` and
measured latency :math:`\mathrm{LAT}(m)` on the target device, with target latency :math:`T`:

.. math:: R(m) = \mathrm{ACC}(m) \left[\frac{\mathrm{LAT}(m)}{T}\right]^{w},
          \qquad w = \begin{cases} \alpha & \mathrm{LAT}(m) \le T \\
                                   \beta  & \mathrm{LAT}(m) > T \end{cases}        \qquad (1)

*Soft* constraint: :math:`\alpha = \beta = -0.07` (the paper's choice: twice the latency costs
about 5% of the reward, :math:`2^{-0.07} \approx 0.953`), which traces a Pareto front.
*Hard* constraint: :math:`\alpha = 0, \beta = -1`: no gain for being faster than :math:`T`, a
steep penalty above it.

**Factorised hierarchical search space** (Sec. 4.1). The network is a stem, ``B`` blocks with
fixed output channels :math:`C_i` and strides :math:`s_i`, and a head (global pooling, linear).
Each block decides, for itself alone, its operation (MBConv or a plain convolution), kernel
:math:`k`, expansion :math:`e` (MBConv only; the convolution ignores it), number of layers
:math:`N_i`, and whether its layers carry an identity skip. All :math:`N_i` layers of a block
repeat the same choice; the first one carries the stride and the change of width, so the skip
exists only on layers that keep the shape. An architecture is the list of these decisions
:math:`a_1, \dots, a_D` (``D = 5B``). Different decisions can build the same network (a
convolution ignores the expansion; a one-layer block whose layer changes the shape ignores the
skip): :meth:`MnasSpace.canonical` picks one representative, and :meth:`MnasSpace.size` counts
distinct networks.

**Controller.** The paper samples the decisions from an RNN and trains it with PPO. We use the
simplest policy that the factorisation allows: one independent categorical distribution per
decision, with logits :math:`\theta_d`,

.. math:: \pi_\theta(a) = \prod_{d=1}^{D} \operatorname{softmax}(\theta_d)_{a_d},
          \qquad \log \pi_\theta(a) = \sum_d \log\operatorname{softmax}(\theta_d)_{a_d}  \qquad (2)

and train it with REINFORCE (Williams, 1992) to maximise :math:`J(\theta) =
\mathbb E_{a \sim \pi_\theta}[R(a)]`, whose gradient is
:math:`\mathbb E[(R(a) - b) \nabla_\theta \log \pi_\theta(a)]` for any baseline :math:`b`.
One sampled architecture per step gives the loss

.. math:: \mathcal L(\theta) = -(R(a) - b) \log \pi_\theta(a)                    \qquad (3)

and the baseline is a moving average of the rewards (decay :math:`\gamma = 0.9`), started at
the first reward:

.. math:: b \leftarrow \gamma b + (1 - \gamma) R(a)                                 \qquad (4)

The policy's entropy, :math:`H = -\sum_d \sum_i p_{d,i} \log p_{d,i}`, measures how far the
controller has committed (5). The baseline of the comparison is random search: the same loop
with a controller that never learns.

**Accuracy proxy.** The paper trains every sampled model for 5 epochs on ImageNet. We train for
a few epochs on a small dataset (:class:`Evaluator`) and cache the result per architecture: the
controller samples the same architecture again and again once it commits.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from minnas._validation import check_choice, check_int, check_number
from minnas.data import Splits
from minnas.nas.latency import measure_network
from minnas.nas.ops import MBConv, ReLUConvBN
from minnas.nas.space import SearchSpace
from minnas.train import evaluate as accuracy_of
from minnas.train import fit, seed_everything

__all__ = [
    "OPS", "FIELDS", "BlockChoice", "MnasSpace", "Residual", "reward", "reward_exponents",
    "Controller", "reinforce_step", "Evaluator", "MnasResult", "search", "random_search",
]

#: The operations a block may choose: an inverted residual block or a plain convolution.
OPS: tuple[str, ...] = ("mbconv", "conv")
#: The decisions of one block, in the order the controller takes them.
FIELDS: tuple[str, ...] = ("op", "kernel", "expand", "layers", "skip")


@dataclass(frozen=True)
class BlockChoice:
    """What one block chose; all of its ``layers`` layers repeat it."""

    op: str
    kernel: int
    expand: int
    layers: int
    skip: bool

    def __str__(self) -> str:
        name = f"MB{self.expand}" if self.op == "mbconv" else "conv"
        return f"{name} k{self.kernel} x{self.layers}" + (" +id" if self.skip else "")


Arch = tuple[BlockChoice, ...]


# ----------------------------------------------------------------------------------------------
# The factorised hierarchical search space
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MnasSpace(SearchSpace):
    """Stem, blocks with per-block decisions, head: a :class:`~minnas.nas.space.SearchSpace`
    whose stages are the blocks. ``in_shape``, ``n_classes`` and ``stem_channels`` are those of
    :class:`~minnas.nas.space.SearchSpace` (by default the digits: ``(1, 8, 8)``, 10 classes,
    8 channels).

    Parameters
    ----------
    blocks : tuple of (int, int)
        ``(C_out, stride)`` of every block; its first layer carries the stride.
    ops, kernels, expands, layers, skips : tuple
        The choices every block has for each of its decisions (:data:`FIELDS`). ``"mbconv"``
        is :class:`minnas.nas.ops.MBConv`; ``"conv"`` is a plain k x k convolution
        (:class:`minnas.nas.ops.ReLUConvBN`), which ignores the expansion.
    """

    blocks: tuple[tuple[int, int], ...] = ((8, 1), (16, 2), (24, 2))
    ops: tuple[str, ...] = OPS
    kernels: tuple[int, ...] = (3, 5)
    expands: tuple[int, ...] = (1, 3, 6)
    layers: tuple[int, ...] = (1, 2, 3)
    skips: tuple[bool, ...] = (False, True)
    stages_field: ClassVar[str] = "blocks"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("ops", "kernels", "expands", "layers", "skips"):
            values = tuple(getattr(self, name))
            self._set(name, values)
            if not values or len(set(values)) != len(values):
                raise ValueError(f"{name} must be non-empty and distinct, got {values}")
        for op in self.ops:
            check_choice(op, "op", OPS)
        if any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise ValueError(f"kernels must be positive odd integers, got {self.kernels}")
        for name in ("expands", "layers"):
            for value in getattr(self, name):
                check_int(value, f"every value of {name}", low=1)
        for skip in self.skips:
            check_choice(skip, "skip", (False, True))

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def options(self) -> tuple[tuple, ...]:
        """The choices of every decision of one block, in :data:`FIELDS` order."""
        return self.ops, self.kernels, self.expands, self.layers, self.skips

    def decisions(self) -> list[tuple[str, int]]:
        """``(name, number of choices)`` of every decision, block by block: ``"block0.op"``..."""
        return [(f"block{b}.{name}", len(values)) for b in range(self.n_blocks)
                for name, values in zip(FIELDS, self.options())]

    def decode(self, indices: Sequence[int]) -> Arch:
        """The architecture that the decision indices (one per :meth:`decisions`) describe.

        The result is in :meth:`canonical` form: a plain convolution has no expansion, so its
        ``expand`` is stored as 1 whatever was chosen, and a block whose skip exists on none of
        its layers stores the skip as ``False``; equal networks are then equal architectures.
        """
        indices = [int(i) for i in indices]
        n_choices = [n for _, n in self.decisions()]
        if len(indices) != len(n_choices):
            raise ValueError(f"need {len(n_choices)} decision indices, got {len(indices)}")
        if any(not 0 <= i < n for i, n in zip(indices, n_choices)):
            raise ValueError(f"decision indices {indices} out of range; choices {n_choices}")
        arch = []
        for b in range(self.n_blocks):
            picked = [values[i] for values, i in
                      zip(self.options(), indices[len(FIELDS) * b:len(FIELDS) * (b + 1)])]
            op, kernel, expand, layers, skip = picked
            arch.append(BlockChoice(op, kernel, expand if op == "mbconv" else 1, layers, skip))
        return self.canonical(arch)

    def sample(self, seed: int | np.random.Generator = 0) -> Arch:
        """An architecture with every decision drawn uniformly (what an untrained controller
        does). ``seed``: an integer, or a NumPy generator to draw a stream of architectures."""
        rng = np.random.default_rng(seed)
        return self.decode([rng.integers(n) for _, n in self.decisions()])

    def skip_matters(self, b: int, layers: int) -> bool:
        """Whether block ``b`` with ``layers`` layers has a layer that keeps the shape, so that
        its ``skip`` changes the network. The first layer carries the stride and the change of
        width; the others always keep the shape. So only a one-layer block whose layer changes
        the shape (stride 2, or other output channels than input channels) ignores its skip."""
        C_out, stride = self.blocks[b]
        return layers > 1 or (stride == 1 and self.block_input(b)[0] == C_out)

    def canonical(self, arch: Sequence[BlockChoice]) -> Arch:
        """The one representative of all the architectures that build the same network.

        :meth:`check_arch`, then the skip of every block that ignores it (:meth:`skip_matters`)
        is set to ``False`` (to ``True`` when the space offers only ``skips=(True,)``). A plain
        convolution's ``expand`` is already 1 (:meth:`check_arch` accepts nothing else). Two
        architectures build identical networks exactly when their canonical forms are equal;
        :class:`Evaluator` caches by it, :meth:`decode` returns it, :meth:`size` counts it."""
        arch = self.check_arch(arch)
        idle = min(self.skips)  # False if the space offers it
        return tuple(choice if choice.skip == idle or self.skip_matters(b, choice.layers)
                     else BlockChoice(choice.op, choice.kernel, choice.expand, choice.layers, idle)
                     for b, choice in enumerate(arch))

    def block_size(self, b: int) -> int:
        """Number of distinct choices of block ``b`` (distinct canonical forms of the block)."""
        skips = sum(len(self.skips) if self.skip_matters(b, n) else 1 for n in self.layers)
        expands = sum(len(self.expands) if op == "mbconv" else 1 for op in self.ops)
        return expands * len(self.kernels) * skips

    def size(self) -> int:
        """Number of distinct networks, the product of :meth:`block_size` over the blocks.

        Fewer than the product of all the decisions' choices: a convolution ignores the
        expansion, and a one-layer block whose layer changes the shape ignores the skip."""
        return math.prod(self.block_size(b) for b in range(self.n_blocks))

    def check_arch(self, arch: Sequence[BlockChoice]) -> Arch:
        """``arch`` as a tuple, after checking one allowed :class:`BlockChoice` per block."""
        arch = tuple(arch)
        if len(arch) != self.n_blocks:
            raise ValueError(f"arch needs {self.n_blocks} blocks, got {len(arch)}")
        for b, choice in enumerate(arch):
            expands = self.expands if getattr(choice, "op", None) == "mbconv" else (1,)
            allowed = (self.ops, self.kernels, expands, self.layers, self.skips)
            if not isinstance(choice, BlockChoice) or any(
                    getattr(choice, name) not in values for name, values in zip(FIELDS, allowed)):
                raise ValueError(f"block {b}: {choice!r} is not a choice of this space")
        return arch

    def block_input(self, b: int) -> tuple[int, ...]:
        """Per-sample input shape of block ``b``; ``b = n_blocks`` gives the head's input."""
        return self.stage_input(b)

    def build(self, arch: Sequence[BlockChoice]) -> nn.Sequential:
        """The network of ``arch``: stem, one ``nn.Sequential`` of layers per block, head."""
        arch = self.check_arch(arch)
        stem = self.stem()
        blocks = []
        for b, (choice, (C_out, stride)) in enumerate(zip(arch, self.blocks)):
            C_in = self.block_input(b)[0]
            blocks.append(nn.Sequential(*[
                _layer(choice, C_in if i == 0 else C_out, C_out, stride if i == 0 else 1, self.dim)
                for i in range(choice.layers)]))
        return nn.Sequential(stem, *blocks, self.head())


class Residual(nn.Module):
    """``x + body(x)``: the identity skip of a layer that keeps the shape."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _layer(choice: BlockChoice, C_in: int, C_out: int, stride: int, dim: int) -> nn.Module:
    """One layer of a block; the skip only where the layer keeps the shape."""
    keeps_shape = stride == 1 and C_in == C_out
    if choice.op == "mbconv":
        layer = MBConv(C_in, C_out, choice.kernel, choice.expand, stride, dim)
        layer.use_residual = choice.skip and keeps_shape  # MBConv adds x itself when True
        return layer
    layer = ReLUConvBN(C_in, C_out, choice.kernel, stride, dim)
    return Residual(layer) if choice.skip and keeps_shape else layer


# ----------------------------------------------------------------------------------------------
# Reward, controller, REINFORCE
# ----------------------------------------------------------------------------------------------
def reward_exponents(w: float | None = None, hard: bool = False, alpha: float | None = None,
                     beta: float | None = None) -> tuple[float, float]:
    """``(alpha, beta)`` of equation (1): explicit ones, else hard ``(0, -1)``, else ``(w, w)``
    with ``w = -0.07`` unless given. Conflicting choices are an error, never silently dropped."""
    if (alpha is None) != (beta is None):
        raise ValueError("give alpha and beta together, or neither")
    if sum([w is not None, hard, alpha is not None]) > 1:
        raise ValueError("choose one of w (soft), hard=True, or explicit alpha and beta")
    if alpha is None:
        alpha, beta = (0.0, -1.0) if hard else (w, w) if w is not None else (-0.07, -0.07)
    if not (math.isfinite(alpha) and math.isfinite(beta)):
        raise ValueError(f"the exponents must be finite, got alpha={alpha}, beta={beta}")
    return float(alpha), float(beta)


def reward(acc: float | np.ndarray, latency: float | np.ndarray, target: float,
           w: float | None = None, *, hard: bool = False, alpha: float | None = None,
           beta: float | None = None) -> float | np.ndarray:
    r"""The MnasNet reward, equation (1): ``acc * (latency / target) ** (alpha or beta)``.

    Parameters
    ----------
    acc : float or array
        Accuracy, in [0, 1].
    latency : float or array
        Latency, positive, in the unit of ``target`` (microseconds in this course).
    target : float
        Target latency :math:`T > 0`.
    w : float, optional
        Soft constraint: :math:`\alpha = \beta = w`; -0.07 (the paper's) when no exponent is given.
    hard : bool, default False
        Hard constraint: :math:`\alpha = 0, \beta = -1`.
    alpha, beta : float, optional
        Explicit exponents below / above the target (instead of ``w`` or ``hard``).

    Returns
    -------
    float, or an array for array inputs.
    """
    alpha, beta = reward_exponents(w, hard, alpha, beta)
    acc, latency = np.asarray(acc, dtype=float), np.asarray(latency, dtype=float)
    check_number(target, "target", low=0, strict=True)
    if not np.all(np.isfinite(latency) & (latency > 0)):
        raise ValueError(f"latency must be positive, got {latency}")
    if not np.all((acc >= 0) & (acc <= 1)):
        raise ValueError(f"acc must lie in [0, 1], got {acc}")
    exponent = np.where(latency <= target, alpha, beta)
    r = acc * (latency / target) ** exponent
    return float(r) if r.ndim == 0 else r


class Controller(nn.Module):
    """A categorical distribution per decision, equation (2): logits ``theta[d]``, zero at first
    (uniform).

    Parameters
    ----------
    decisions : sequence of (str, int)
        ``(name, number of choices)`` per decision, e.g. :meth:`MnasSpace.decisions`.
    """

    def __init__(self, decisions: Sequence[tuple[str, int]]) -> None:
        super().__init__()
        if not decisions or any(n < 1 for _, n in decisions):
            raise ValueError(f"need at least one decision, each with >= 1 choice; got {decisions}")
        self.names = [name for name, _ in decisions]
        self.theta = nn.ParameterList([nn.Parameter(torch.zeros(n)) for _, n in decisions])

    def log_prob(self, indices: Sequence[int]) -> torch.Tensor:
        """:math:`\\log \\pi_\\theta(a)`, equation (2), differentiable in ``theta``."""
        if len(indices) != len(self.theta):
            raise ValueError(f"need {len(self.theta)} indices, got {len(indices)}")
        return sum(F.log_softmax(theta, dim=0)[i] for theta, i in zip(self.theta, indices))

    def sample(self, generator: torch.Generator | None = None) -> tuple[tuple[int, ...],
                                                                        torch.Tensor]:
        """Draw every decision; returns the indices and their log-probability (with gradient)."""
        with torch.no_grad():
            indices = tuple(int(torch.multinomial(F.softmax(theta, dim=0), 1, generator=generator))
                            for theta in self.theta)
        return indices, self.log_prob(indices)

    def entropy(self) -> torch.Tensor:
        """Entropy of the policy (5): the sum of the decisions' entropies, in nats."""
        return sum(-(F.softmax(t, dim=0) * F.log_softmax(t, dim=0)).sum() for t in self.theta)

    def probabilities(self) -> list[np.ndarray]:
        """``softmax(theta[d])`` of every decision."""
        return [F.softmax(theta.detach(), dim=0).numpy() for theta in self.theta]

    def most_likely(self) -> tuple[int, ...]:
        """The most likely choice of every decision."""
        return tuple(int(theta.argmax()) for theta in self.theta)


def reinforce_step(optimizer: torch.optim.Optimizer, log_prob: torch.Tensor, reward: float,
                   baseline: float | None = None, decay: float = 0.9) -> float:
    """One REINFORCE update of the controller, equations (3) and (4); returns the new baseline.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Over the controller's logits ``theta``.
    log_prob : tensor
        :math:`\\log \\pi_\\theta(a)` of the sampled architecture, from :meth:`Controller.sample`.
    reward : float
        Its reward :math:`R(a)`, equation (1).
    baseline : float, optional
        The moving average :math:`b`; ``None`` at the first step, where it starts at ``reward``
        (so that step does not move the policy).
    decay : float, default 0.9
        :math:`\\gamma` of equation (4), in [0, 1).
    """
    if not 0 <= decay < 1:
        raise ValueError(f"decay must lie in [0, 1), got {decay}")
    baseline = reward if baseline is None else baseline
    loss = -(reward - baseline) * log_prob  # (3)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return decay * baseline + (1 - decay) * reward  # (4)


# ----------------------------------------------------------------------------------------------
# The accuracy proxy and the latency, cached
# ----------------------------------------------------------------------------------------------
class Evaluator:
    """``evaluator(arch) -> (accuracy, latency_us)``, computed once per distinct network.

    Architectures are cached by their :meth:`MnasSpace.canonical` form, so twins (different
    decisions, same network) are trained and measured once and share one cache entry.

    Parameters
    ----------
    space : MnasSpace
    data : Splits, optional
        Train on its train split, score on its val split; needed unless ``accuracy_fn`` is given.
    epochs, batch_size, lr : int, int, float
        The few-epoch training of :func:`minnas.train.fit`: the cheap accuracy proxy.
    seed : int, default 0
        Seeds the weights and the batch order: one architecture, one accuracy.
    accuracy_fn, latency_fn : callable, optional
        ``fn(arch) -> float`` replacing the training or the measurement (tests, fast lessons).
    measure_kwargs : dict, optional
        Passed to :func:`minnas.nas.latency.measure_network` (batch size 1, median, 1 thread).

    Attributes
    ----------
    hits, misses : int
        Calls answered from the cache, and calls that trained and measured.
    """

    def __init__(self, space: MnasSpace, data: Splits | None = None, *, epochs: int = 3,
                 batch_size: int = 32, lr: float = 0.05, seed: int = 0,
                 accuracy_fn: Callable[[Arch], float] | None = None,
                 latency_fn: Callable[[Arch], float] | None = None,
                 measure_kwargs: dict | None = None) -> None:
        if data is None and accuracy_fn is None:
            raise ValueError("give data to train on, or an accuracy_fn")
        if data is not None:
            space.check_data(data)
        self.space, self.data = space, data
        self.epochs, self.batch_size, self.lr, self.seed = epochs, batch_size, lr, seed
        self.accuracy_fn = accuracy_fn or self.train_accuracy
        self.latency_fn = latency_fn or self.measure_latency
        self.measure_kwargs = dict(measure_kwargs or {})
        self.cache: dict[Arch, tuple[float, float]] = {}
        self.hits = self.misses = 0

    def train_accuracy(self, arch: Arch) -> float:
        """Validation accuracy after ``epochs`` epochs of training from scratch."""
        seed_everything(self.seed)
        model = self.space.build(arch)
        fit(model, self.data.loader("train", self.batch_size, seed=self.seed),
            epochs=self.epochs, lr=self.lr, seed=self.seed)
        return accuracy_of(model, self.data.tensors("val"))

    def measure_latency(self, arch: Arch) -> float:
        """Median latency of the whole network at batch size 1, in microseconds."""
        net = self.space.build(arch)
        return measure_network(net, self.space.in_shape, **self.measure_kwargs).median_us

    def __call__(self, arch: Sequence[BlockChoice]) -> tuple[float, float]:
        arch = self.space.canonical(arch)  # twins (same network) share one entry
        if arch in self.cache:
            self.hits += 1
            return self.cache[arch]
        self.misses += 1
        acc, lat = float(self.accuracy_fn(arch)), float(self.latency_fn(arch))
        if not 0 <= acc <= 1 or not (math.isfinite(lat) and lat > 0):
            raise ValueError(f"need an accuracy in [0, 1] and a positive latency, "
                             f"got {acc} and {lat} for {arch}")
        self.cache[arch] = (acc, lat)
        return acc, lat


# ----------------------------------------------------------------------------------------------
# The search, and random search as its baseline
# ----------------------------------------------------------------------------------------------
@dataclass
class MnasResult:
    """What :func:`search` and :func:`random_search` return, one entry per step.

    Attributes
    ----------
    archs, rewards, accuracies, latencies : list
        The sampled architecture of every step, its reward (1), accuracy and latency (us).
    baselines : list of float
        The baseline (4) after every step (empty for random search).
    probabilities : list of list of ndarray
        The controller's per-decision probabilities before every step and after the last
        (empty for random search).
    entropies : list of float
        The policy's entropy (5) at the same times (empty for random search).
    seconds : float
        Wall time.
    controller : Controller or None
        The trained controller (None for random search).
    """

    archs: list[Arch] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    baselines: list[float] = field(default_factory=list)
    probabilities: list[list[np.ndarray]] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    controller: Controller | None = None

    @property
    def best_so_far(self) -> np.ndarray:
        """The best reward among the first ``t + 1`` samples, for every step ``t``."""
        return np.maximum.accumulate(self.rewards)

    @property
    def best_reward(self) -> float:
        return float(max(self.rewards))

    @property
    def best_arch(self) -> Arch:
        """The first sampled architecture with the best reward."""
        return self.archs[int(np.argmax(self.rewards))]

    def add(self, arch: Arch, acc: float, latency: float, r: float) -> None:
        self.archs.append(arch)
        self.accuracies.append(acc)
        self.latencies.append(latency)
        self.rewards.append(r)


def _scorer(steps: int, target_us: float, w: float | None, hard: bool, alpha: float | None,
            beta: float | None) -> Callable[[float, float], float]:
    """:func:`reward` with a search's settings; the settings (and ``steps``) are checked here,
    once, before the first step."""
    check_int(steps, "steps", low=1)
    check_number(target_us, "target_us", low=0, strict=True)
    reward_exponents(w, hard, alpha, beta)
    return lambda acc, lat: reward(acc, lat, target_us, w, hard=hard, alpha=alpha, beta=beta)


def search(space: MnasSpace, evaluate: Callable[[Arch], tuple[float, float]], *, steps: int,
           target_us: float, w: float | None = None, hard: bool = False, alpha: float | None = None,
           beta: float | None = None, lr: float = 0.2, baseline_decay: float = 0.9,
           seed: int = 0, progress: bool = False) -> MnasResult:
    """MnasNet's search: sample, evaluate, reward (1), REINFORCE (3, 4), ``steps`` times.

    Parameters
    ----------
    space : MnasSpace
    evaluate : callable
        ``evaluate(arch) -> (accuracy, latency_us)``, e.g. an :class:`Evaluator`.
    steps : int
        Sampled architectures (one controller update each).
    target_us, w, hard, alpha, beta
        The reward, as in :func:`reward`.
    lr : float, default 0.2
        Adam's learning rate on the controller's logits. The default was chosen from
        {0.05, 0.1, 0.2, 0.4} on tuning seeds by the protocol of ``benchmarks/README.md``
        (``benchmarks/hw_nas.py``, part 3); larger rates commit sooner and explore less.
    baseline_decay : float, default 0.9
        :math:`\\gamma` of equation (4).
    seed : int, default 0
        Seeds the controller's sampling: same seed and evaluator, same search.
    progress : bool, default False
        Progress bar over the steps (a widget in Jupyter, else text on stdout).
    """
    score = _scorer(steps, target_us, w, hard, alpha, beta)
    controller = Controller(space.decisions())
    optimizer = torch.optim.Adam(controller.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    result, baseline, start = MnasResult(controller=controller), None, time.perf_counter()
    for _ in tqdm(range(steps), desc="MnasNet", disable=not progress, file=sys.stdout):
        result.probabilities.append(controller.probabilities())
        result.entropies.append(controller.entropy().item())
        indices, log_prob = controller.sample(generator)
        arch = space.decode(indices)
        acc, lat = evaluate(arch)
        r = score(acc, lat)  # (1)
        baseline = reinforce_step(optimizer, log_prob, r, baseline, baseline_decay)
        result.add(arch, acc, lat, r)
        result.baselines.append(baseline)
    result.probabilities.append(controller.probabilities())
    result.entropies.append(controller.entropy().item())
    result.seconds = time.perf_counter() - start
    return result


def random_search(space: MnasSpace, evaluate: Callable[[Arch], tuple[float, float]], *,
                  steps: int, target_us: float, w: float | None = None, hard: bool = False,
                  alpha: float | None = None, beta: float | None = None, seed: int = 0,
                  progress: bool = False) -> MnasResult:
    """The baseline: ``steps`` architectures drawn uniformly (:meth:`MnasSpace.sample`), scored
    with the same reward as :func:`search`."""
    score = _scorer(steps, target_us, w, hard, alpha, beta)
    rng = np.random.default_rng(seed)
    result, start = MnasResult(), time.perf_counter()
    for _ in tqdm(range(steps), desc="random", disable=not progress, file=sys.stdout):
        arch = space.sample(rng)
        acc, lat = evaluate(arch)
        result.add(arch, acc, lat, score(acc, lat))
    result.seconds = time.perf_counter() - start
    return result
