r"""FBNet: hardware-aware differentiable NAS (Wu et al., CVPR 2019, arXiv:1812.03443).

Written from the paper. The numbers (n) below are the paper's equations.

**Search space** (Sec. 3.2). The macro-architecture is fixed: a stem, ``L`` searchable layers
with given output channels and strides, and a head (global pooling and a linear classifier).
Each layer ``l`` picks one block :math:`b_l` from a small set: MBConv blocks with kernel
:math:`k \in \{3, 5\}` and expansion :math:`e \in \{1, 3, 6\}` (named ``"k3_e6"`` etc.), and
``"skip"``, which removes the layer and is allowed only where the layer keeps the shape
(stride 1 and :math:`C_{in} = C_{out}`). An architecture is a tuple of block names.

**Latency-aware loss** (Sec. 3.3), with LAT in microseconds:

.. math:: \mathcal L(a, w_a) = \mathrm{CE}(a, w_a) \cdot \alpha \log(\mathrm{LAT}(a))^\beta
                                                                                 \qquad (2)
.. math:: \mathrm{LAT}(a) = \sum_l \mathrm{LAT}(b_l^{(a)})                            \qquad (3)

with the lookup table of :mod:`minnas.nas.latency` (plus the stem and head as a constant).

**Stochastic supernet** (Sec. 3.4). Layer ``l`` holds every candidate block :math:`b_{l,i}` and
outputs :math:`x_{l+1} = \sum_i m_{l,i}\, b_{l,i}(x_l)` (4), the mask :math:`m_l` a one-hot
sample with :math:`P_\theta(b_l = b_{l,i}) = \operatorname{softmax}(\theta_{l,i}; \theta_l)` (5).
The search solves :math:`\min_\theta \min_{w_a} \mathbb E_{a \sim P_\theta}[\mathcal L(a, w_a)]`
(6). To differentiate through the sample, the one-hot mask is relaxed by Gumbel-softmax
(Jang et al., ICLR 2017; Maddison et al., ICLR 2017):

.. math:: m_{l,i} = \frac{\exp[(\theta_{l,i} + g_{l,i}) / \tau]}
                         {\sum_j \exp[(\theta_{l,j} + g_{l,j}) / \tau]},
          \qquad g_{l,i} = -\log(-\log u_{l,i}),\ u_{l,i} \sim U(0, 1)         \qquad (7)

As in the paper, every block is computed and mixed by the soft :math:`m` (``hard=False``).
With ``hard=True`` the forward pass uses the one-hot :math:`\arg\max_i m_{l,i}` (an exact
sample of (5), whatever :math:`\tau`) and the backward pass the gradient of the soft :math:`m`
("straight-through"); only the chosen block is computed, which is cheaper per step, but the
weights then train far more slowly (a new random path every batch). :math:`\tau` starts at 5.0
and is multiplied by :math:`e^{-0.045}` every epoch: :math:`\tau_t = 5 e^{-0.045 t}` (Sec. 4.1).
The paper makes the latency differentiable as :math:`\sum_l \sum_i m_{l,i} \mathrm{LAT}(b_{l,i})`
(8). We use the expected latency instead: the mean of (8) over one-hot samples of (5), free of
sampling noise and with a gradient for every :math:`\theta_{l,i}`:

.. math:: \mathbb E_{a \sim P_\theta}[\mathrm{LAT}(a)] = \sum_l \sum_i P_\theta(l, i)\,
          \mathrm{LAT}(b_{l,i})                                                  \qquad (E)

**Training** (Sec. 4.1): weights :math:`w_a` on 80% of the training data, :math:`\theta` on the
other 20%, alternating by epoch after a warm-up in which only :math:`w_a` trains. We do the same
with ``data``'s train and validation splits: each epoch one pass over the train split updates
:math:`w_a` (SGD), then one pass over the validation split updates :math:`\theta` (Adam). The final
architectures are *sampled* from :math:`P_\theta` (:func:`sample_architectures`) or taken as
the most likely one (:func:`derive`).

**Our addition: a latency target.** At the scale of a lesson the multiplicative loss (2)
barely changes the search: the factor :math:`\log(\mathrm{LAT})^{0.6}` grows slowly (doubling a
latency of 0.5 ms raises it by 7%), so the search finds about the network it finds without
latency. To trace an accuracy-latency trade-off we also offer a hinge on a target ``T``,

.. math:: \mathcal L_T(a, w_a) = \mathrm{CE}(a, w_a)
          + \lambda \max(0, \mathrm{LAT}(a) / T - 1),                             \qquad (T)

which costs nothing below the target and grows linearly above it.
"""

from __future__ import annotations

import math
import re
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

from minnas._validation import check_int, check_number
from minnas.data import Splits
from minnas.nas.latency import LatencyTable, build_table
from minnas.nas.ops import Identity, MBConv
from minnas.nas.space import SearchSpace, StemAndHead
from minnas.train import seed_everything

__all__ = [
    "BLOCKS", "FBNetSpace", "FBNetSupernet", "FBNetResult", "parse_block", "gumbel_softmax",
    "temperature", "fbnet_loss", "target_loss", "latency_matrix", "derive",
    "sample_architectures", "search",
]

#: The default candidate blocks: MBConv "k{kernel}_e{expansion}", and "skip".
BLOCKS: tuple[str, ...] = ("k3_e1", "k3_e3", "k3_e6", "k5_e3", "k5_e6", "skip")


def parse_block(name: str) -> tuple[int, int] | None:
    """``"k5_e3"`` -> ``(5, 3)`` (kernel, expansion); ``"skip"`` -> ``None``."""
    if name == "skip":
        return None
    match = re.fullmatch(r"k(\d+)_e(\d+)", str(name))
    if match is None or int(match[1]) % 2 == 0 or int(match[2]) < 1:
        raise ValueError(f"block names are 'skip' or 'k<odd kernel>_e<expansion >= 1>', "
                         f"got {name!r}")
    return int(match[1]), int(match[2])


# ----------------------------------------------------------------------------------------------
# The layer-wise search space
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FBNetSpace(SearchSpace):
    """A fixed macro-architecture with one block choice per searchable layer: a
    :class:`~minnas.nas.space.SearchSpace` (stem, layers, head) whose stages are the layers.

    Parameters
    ----------
    in_shape, n_classes, stem_channels
        As in :class:`~minnas.nas.space.SearchSpace`; by default the digits: ``(1, 8, 8)``,
        10 classes, a stem of 8 channels.
    layers : tuple of (int, int)
        ``(C_out, stride)`` of every searchable layer.
    blocks : tuple of str
        Candidate blocks, in the column order of the supernet's ``theta``.
    """

    layers: tuple[tuple[int, int], ...] = ((8, 1), (16, 2), (16, 1), (24, 2), (24, 1))
    blocks: tuple[str, ...] = BLOCKS
    stages_field: ClassVar[str] = "layers"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("blocks", tuple(self.blocks))
        if not self.blocks or len(set(self.blocks)) != len(self.blocks):
            raise ValueError(f"blocks must be non-empty and distinct, got {self.blocks}")
        for name in self.blocks:
            parse_block(name)
        for layer in range(self.n_layers):
            if not self.choices(layer):
                raise ValueError(f"layer {layer} changes the shape: it needs a block other "
                                 f"than skip")

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def input_shape(self, layer: int) -> tuple[int, ...]:
        """Per-sample input shape of ``layer``; ``layer = n_layers`` gives the head's input."""
        return self.stage_input(check_int(layer, "layer", 0, self.n_layers))

    def choices(self, layer: int) -> list[str]:
        """The blocks allowed at ``layer``: all of them, less "skip" where the shape changes."""
        C_out, stride = self.layers[check_int(layer, "layer", 0, self.n_layers - 1)]
        keeps_shape = stride == 1 and self.input_shape(layer)[0] == C_out
        return [b for b in self.blocks if b != "skip" or keeps_shape]

    def make_block(self, layer: int, choice: str) -> nn.Module:
        """A fresh block ``choice`` for position ``layer``."""
        self._check_block(layer, choice)
        if choice == "skip":
            return Identity()
        kernel, expand = parse_block(choice)
        C_out, stride = self.layers[layer]
        return MBConv(self.input_shape(layer)[0], C_out, kernel, expand, stride, self.dim)

    def build(self, arch: Sequence[str]) -> nn.Sequential:
        """The discrete network of ``arch``: stem, one block per layer, head."""
        arch = self.check_arch(arch)
        blocks = [self.make_block(layer, block) for layer, block in enumerate(arch)]
        return nn.Sequential(self.stem(), *blocks, self.head())

    def sample(self, seed: int = 0) -> tuple[str, ...]:
        """An architecture drawn uniformly: each layer's block uniformly from its choices."""
        rng = np.random.default_rng(seed)
        return tuple(str(rng.choice(self.choices(layer))) for layer in range(self.n_layers))

    def latency_table(self, **measure_kwargs) -> LatencyTable:
        """Measure every (layer, block) of this space on this machine, with the stem and head
        as the overhead; ``measure_kwargs`` go to :func:`minnas.nas.latency.build_table`."""
        positions = range(self.n_layers)
        return build_table(self.make_block, [self.input_shape(layer) for layer in positions],
                           [self.choices(layer) for layer in positions],
                           overhead_module=StemAndHead(self), overhead_shape=self.in_shape,
                           **measure_kwargs)

    def check_arch(self, arch: Sequence[str]) -> tuple[str, ...]:
        """``arch`` as a tuple, after checking one allowed block per layer."""
        arch = tuple(arch)
        if len(arch) != self.n_layers:
            raise ValueError(f"arch needs {self.n_layers} blocks, got {len(arch)}")
        for layer, block in enumerate(arch):
            self._check_block(layer, block)
        return arch

    def _check_block(self, layer: int, block: str) -> None:
        if block not in self.choices(layer):
            raise ValueError(f"block {block!r} is not allowed at layer {layer}; "
                             f"choose from {self.choices(layer)}")


# ----------------------------------------------------------------------------------------------
# Sampling, temperature, latency and the losses
# ----------------------------------------------------------------------------------------------
def gumbel_softmax(logits: torch.Tensor, tau: float = 1.0, *, hard: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """One Gumbel-softmax sample per row of ``logits``, equation (7).

    Parameters
    ----------
    logits : tensor of shape (..., n)
        Unnormalised log-probabilities :math:`\\theta`; ``-inf`` marks a choice never taken.
    tau : float, default 1.0
        Temperature > 0: large gives nearly uniform soft weights, small nearly one-hot ones.
    hard : bool, default False
        Return the one-hot ``argmax`` in the forward pass with the soft sample's gradient
        (straight-through); its rows are exact samples of ``softmax(logits)``.
    generator : torch.Generator, optional
        Source of the uniform noise: same seed, same sample.
    """
    check_number(tau, "tau", low=0, strict=True)
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype)
    u = u.clamp(min=torch.finfo(logits.dtype).tiny)  # log(0) would give an infinite g
    g = -torch.log(-torch.log(u))
    soft = torch.softmax((logits + g) / tau, dim=-1)
    if not hard:
        return soft
    one_hot = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
    return one_hot - soft.detach() + soft  # value: one_hot; gradient: that of soft


def temperature(epoch: int, tau0: float = 5.0, decay: float = 0.045) -> float:
    """The Gumbel-softmax temperature of ``epoch`` (0-based): ``tau0 * exp(-decay * epoch)``."""
    check_number(epoch, "epoch", low=0)
    check_number(tau0, "tau0", low=0, strict=True)
    check_number(decay, "decay", low=0)
    return tau0 * math.exp(-decay * epoch)


def fbnet_loss(ce: torch.Tensor | float, lat: torch.Tensor | float, alpha: float = 0.2,
               beta: float = 0.6) -> torch.Tensor:
    """The paper's latency-aware loss, equation (2): ``ce * alpha * log(lat) ** beta``.

    ``lat`` in microseconds must exceed 1 (so that its logarithm is positive); ``alpha``
    scales the loss, ``beta`` sets how strongly latency counts.
    """
    ce, lat = torch.as_tensor(ce, dtype=torch.float32), torch.as_tensor(lat, dtype=torch.float32)
    if not torch.all(lat > 1):
        raise ValueError(f"lat must be > 1 microsecond, got {lat}")
    _check_paper_loss(alpha, beta)
    return ce * alpha * torch.log(lat) ** beta


def target_loss(ce: torch.Tensor | float, lat: torch.Tensor | float, target: float,
                lam: float = 1.0) -> torch.Tensor:
    """Our hinge on a latency target, equation (T): ``ce + lam * relu(lat / target - 1)``."""
    _check_target_loss(target, lam)
    ce, lat = torch.as_tensor(ce, dtype=torch.float32), torch.as_tensor(lat, dtype=torch.float32)
    return ce + lam * F.relu(lat / target - 1)


def latency_matrix(table: LatencyTable, space: FBNetSpace) -> torch.Tensor:
    """The table as a tensor of shape (n_layers, n_blocks) in ``space.blocks`` order; 0 where a
    block is not allowed. ``ValueError`` if the table lacks an allowed (layer, block)."""
    if table.n_layers != space.n_layers:
        raise ValueError(f"the table has {table.n_layers} layers, the space {space.n_layers}")
    lat = torch.zeros(space.n_layers, len(space.blocks))
    for layer in range(space.n_layers):
        for i, block in enumerate(space.blocks):
            if block in space.choices(layer):
                lat[layer, i] = table.latency(layer, block)
    return lat


def _softmax_rows(theta: np.ndarray | torch.Tensor,
                  blocks: Sequence[str] | None = None) -> np.ndarray:
    """Row-wise softmax of a (n_layers, n_blocks) array that may hold ``-inf``; with ``blocks``,
    after checking one column per block."""
    theta = np.asarray(theta.detach() if isinstance(theta, torch.Tensor) else theta, dtype=float)
    if theta.ndim != 2 or not np.all(np.isfinite(theta.max(axis=1))):
        raise ValueError(f"theta must be 2-D with a finite entry in every row, got {theta.shape}")
    if blocks is not None and theta.shape[1] != len(blocks):
        raise ValueError(f"theta has {theta.shape[1]} columns but there are {len(blocks)} blocks")
    e = np.exp(theta - theta.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def derive(theta: np.ndarray | torch.Tensor, blocks: Sequence[str] = BLOCKS) -> tuple[str, ...]:
    """The most likely architecture under :math:`P_\\theta`: the argmax of every row."""
    p = _softmax_rows(theta, blocks)
    return tuple(blocks[i] for i in p.argmax(axis=1))


def sample_architectures(theta: np.ndarray | torch.Tensor, n: int, seed: int = 0,
                         blocks: Sequence[str] = BLOCKS) -> list[tuple[str, ...]]:
    """``n`` architectures drawn from :math:`P_\\theta`, equation (5), independently per layer."""
    p = _softmax_rows(theta, blocks)
    n = check_int(n, "n", low=1)
    rng = np.random.default_rng(seed)
    return [tuple(blocks[rng.choice(len(blocks), p=row)] for row in p) for _ in range(n)]


# ----------------------------------------------------------------------------------------------
# The stochastic supernet
# ----------------------------------------------------------------------------------------------
class FBNetSupernet(nn.Module):
    """Every candidate block at every layer, and the architecture distribution ``theta``.

    ``theta`` has shape (n_layers, n_blocks), columns in ``space.blocks`` order, initialised to
    zero (uniform :math:`P_\\theta`). Blocks not allowed at a layer are masked to ``-inf`` in
    :attr:`logits`, so they are never sampled and get no gradient.
    """

    def __init__(self, space: FBNetSpace) -> None:
        super().__init__()
        self.space = space
        self.stem, self.head = space.stem(), space.head()
        self.candidates = nn.ModuleList(
            nn.ModuleDict({b: space.make_block(layer, b) for b in space.choices(layer)})
            for layer in range(space.n_layers)
        )
        allowed = [[b in space.choices(layer) for b in space.blocks]
                   for layer in range(space.n_layers)]
        self.register_buffer("allowed", torch.tensor(allowed))
        self.theta = nn.Parameter(torch.zeros(space.n_layers, len(space.blocks)))

    @property
    def logits(self) -> torch.Tensor:
        """``theta`` with the disallowed blocks at ``-inf``."""
        return self.theta.masked_fill(~self.allowed, float("-inf"))

    def probabilities(self) -> torch.Tensor:
        """:math:`P_\\theta(l, i)`, equation (5): a softmax over each layer's blocks."""
        return torch.softmax(self.logits, dim=-1)

    def weight_parameters(self) -> list[nn.Parameter]:
        """The network weights :math:`w_a`: everything except ``theta``."""
        return [p for name, p in self.named_parameters() if name != "theta"]

    def sample_weights(self, tau: float, hard: bool = False,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """One mask per layer, equation (7): shape (n_layers, n_blocks), rows summing to 1."""
        return gumbel_softmax(self.logits, tau, hard=hard, generator=generator)

    def forward(self, x: torch.Tensor, tau: float = 1.0, hard: bool = False,
                generator: torch.Generator | None = None,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the network under a mask ``weights`` (sampled if not given), eq. (4).

        One mask is drawn per call, so the whole batch shares one architecture.
        """
        m = self.sample_weights(tau, hard, generator) if weights is None else weights
        if m.shape != self.theta.shape:
            raise ValueError(f"weights must have shape {tuple(self.theta.shape)}, "
                             f"got {tuple(m.shape)}")
        x = self.stem(x)
        for layer in range(self.space.n_layers):
            x = self._layer(layer, x, m[layer], hard)
        return self.head(x)

    def _layer(self, layer: int, x: torch.Tensor, m: torch.Tensor, hard: bool) -> torch.Tensor:
        """Equation (4), :math:`x_{l+1} = \\sum_i m_{l,i} b_{l,i}(x_l)`; hard: one block only."""
        blocks = self.candidates[layer]
        if hard:
            i = int(m.argmax())
            return m[i] * blocks[self.space.blocks[i]](x)
        return sum(m[i] * blocks[b](x) for i, b in enumerate(self.space.blocks) if b in blocks)

    def expected_latency(self, table: LatencyTable) -> torch.Tensor:
        """:math:`\\mathbb E_{a \\sim P_\\theta}[\\mathrm{LAT}(a)]`, equation (E), plus the
        table's overhead; differentiable in ``theta``."""
        return table.overhead_us + (self.probabilities() * latency_matrix(table, self.space)).sum()

    def derive(self) -> tuple[str, ...]:
        """The most likely architecture, :func:`derive` of :attr:`logits`."""
        return derive(self.logits, self.space.blocks)

    def one_hot(self, arch: Sequence[str]) -> torch.Tensor:
        """The hard mask that selects ``arch``."""
        arch = self.space.check_arch(arch)
        m = torch.zeros(self.space.n_layers, len(self.space.blocks))
        for layer, block in enumerate(arch):
            m[layer, self.space.blocks.index(block)] = 1.0
        return m


# ----------------------------------------------------------------------------------------------
# The search
# ----------------------------------------------------------------------------------------------
@dataclass
class FBNetResult:
    """What :func:`search` returns.

    Attributes
    ----------
    arch : tuple of str
        The most likely architecture after the search (:func:`derive`).
    theta : list of ndarray
        ``theta`` (disallowed blocks at ``-inf``) before the search and after every epoch.
    archs : list of tuple of str
        The most likely architecture after every epoch.
    expected_latency : list of float
        Equation (E) before the search and after every epoch, microseconds.
    predicted_latency : float
        ``table.predict(arch)``.
    tau : list of float
        The temperature of every epoch.
    train_loss, train_acc, val_acc : list of float
        Per epoch: the loss and accuracy of the supernet on the training split (running), and
        its accuracy on the validation split under one mask drawn as in training. The supernet's
        weights are trained as a mixture: a single path inherits them badly, so judge a derived
        architecture by training it from scratch, as the paper does.
    seconds : float
        Wall time of the search.
    model : FBNetSupernet
        The trained supernet.
    """

    arch: tuple[str, ...]
    theta: list[np.ndarray] = field(default_factory=list)
    archs: list[tuple[str, ...]] = field(default_factory=list)
    expected_latency: list[float] = field(default_factory=list)
    predicted_latency: float = 0.0
    tau: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0
    model: FBNetSupernet | None = None

    @property
    def probabilities(self) -> list[np.ndarray]:
        """:math:`P_\\theta` before the search and after every epoch."""
        return [_softmax_rows(t) for t in self.theta]


def _objective(loss: str, alpha: float, beta: float, target_us: float | None,
               lam: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(ce, lat) -> loss``: equation (2) for ``"paper"``, (T) for ``"target"``; its settings
    are checked here, before the search, not at its first step."""
    if loss == "paper":
        _check_paper_loss(alpha, beta)
        return lambda ce, lat: fbnet_loss(ce, lat, alpha, beta)
    if loss == "target":
        if target_us is None:
            raise ValueError("loss='target' needs target_us")
        _check_target_loss(target_us, lam)
        return lambda ce, lat: target_loss(ce, lat, target_us, lam)
    raise ValueError(f"loss must be 'paper' or 'target', got {loss!r}")


@torch.no_grad()
def _accuracy(model: FBNetSupernet, X: torch.Tensor, y: torch.Tensor, tau: float, hard: bool,
              generator: torch.Generator) -> float:
    """Accuracy of the supernet on ``(X, y)`` under one mask drawn as in training (eval mode)."""
    was_training = model.training
    model.eval()
    try:
        return (model(X, tau, hard, generator).argmax(1) == y).float().mean().item()
    finally:
        model.train(was_training)


def _epoch(model: FBNetSupernet, loader, params: list[nn.Parameter],
           optimizer: torch.optim.Optimizer, objective, table: LatencyTable, tau: float,
           hard: bool, generator: torch.Generator, scheduler=None, bar=None) -> tuple[float, float]:
    """One pass over ``loader`` updating ``params`` only; returns mean loss and accuracy.
    ``bar``: a progress bar, ticked once per step."""
    model.train()
    loss_sum = correct = seen = 0.0
    for x, y in loader:
        logits = model(x, tau, hard, generator)
        loss = objective(F.cross_entropy(logits, y), model.expected_latency(table))
        optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=params)
        nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
        if bar is not None:
            bar.update()
    return loss_sum / seen, correct / seen


def search(data: Splits, space: FBNetSpace, table: LatencyTable, *, epochs: int = 10,
           loss: str = "paper", target_us: float | None = None, alpha: float = 0.2,
           beta: float = 0.6, lam: float = 1.0, w_lr: float = 0.05, w_momentum: float = 0.9,
           w_weight_decay: float = 3e-4, theta_lr: float = 0.05,
           theta_weight_decay: float = 5e-4, batch_size: int = 64, warmup_epochs: int = 1,
           hard: bool = False, tau0: float = 5.0, tau_decay: float = 0.045, seed: int = 0,
           progress: bool = False) -> FBNetResult:
    """Run FBNet's search: train the supernet's weights and ``theta``, alternating by epoch.

    Both steps minimise the same loss, (2) or (T), with the expected latency (E); each step
    updates only its own parameters, and gradients are clipped to norm 5.

    Parameters
    ----------
    data : Splits
        Weights train on its train split, ``theta`` on its validation split.
    space : FBNetSpace
        Must match ``data``'s input shape and number of classes.
    table : LatencyTable
        Latency of every allowed (layer, block) of ``space`` (measured or made up).
    epochs : int, default 10
        Epochs; in each, one pass over the train split, then (after the warm-up) one over the
        validation split.
    loss : {"paper", "target"}
        Equation (2) with ``alpha``, ``beta``; or our hinge (T) with ``target_us``, ``lam``.
    w_lr, w_momentum, w_weight_decay : float
        SGD on the weights, cosine-annealed over the search.
    theta_lr, theta_weight_decay : float
        Adam on ``theta``. The paper uses 0.01 and 5e-4 for 90 epochs of ImageNet-100; a lesson
        has far fewer steps, hence the larger default rate.
    batch_size : int, default 64
    warmup_epochs : int, default 1
        Epochs at the start in which only the weights train.
    hard : bool, default False
        Soft masks, every block computed (the paper), or straight-through one-hot masks, one
        block per layer computed (cheaper, but the weights train much more slowly).
    tau0, tau_decay : float
        The temperature schedule, :func:`temperature`.
    seed : int, default 0
        Seeds the weights' initialisation, the batch order and the Gumbel noise.
    progress : bool, default False
        Show a progress bar over the training steps (a widget in Jupyter, else text on stdout).

    Returns
    -------
    FBNetResult
    """
    space.check_data(data)
    epochs = check_int(epochs, "epochs", low=1)
    if not 0 <= warmup_epochs < epochs:
        raise ValueError(f"need 0 <= warmup_epochs < epochs, got {warmup_epochs}, {epochs}")
    objective = _objective(loss, alpha, beta, target_us, lam)
    latency_matrix(table, space)  # raises now, not mid-search, if the table does not fit

    seed_everything(seed)
    model = FBNetSupernet(space)
    generator = torch.Generator().manual_seed(seed)
    eval_generator = torch.Generator().manual_seed(seed + 1)
    train = data.loader("train", batch_size, seed=seed)
    val = data.loader("val", batch_size, seed=seed + 1)
    w_params, theta_params = model.weight_parameters(), [model.theta]
    w_opt = torch.optim.SGD(w_params, lr=w_lr, momentum=w_momentum, weight_decay=w_weight_decay)
    w_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, epochs * len(train))
    theta_opt = torch.optim.Adam(theta_params, lr=theta_lr, weight_decay=theta_weight_decay)

    result = FBNetResult(arch=model.derive(), model=model)

    def record() -> None:
        result.theta.append(model.logits.detach().numpy().copy())
        result.expected_latency.append(model.expected_latency(table).item())

    record()
    start = time.perf_counter()
    # one tick per step (weights, then theta after the warm-up), so the bar moves within an epoch
    n_steps = epochs * len(train) + max(epochs - warmup_epochs, 0) * len(val)
    bar = tqdm(total=n_steps, desc="FBNet", unit="step", disable=not progress, file=sys.stdout)
    for epoch in range(epochs):
        tau = temperature(epoch, tau0, tau_decay)
        bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", tau=f"{tau:.2f}", refresh=False)
        loss_w, acc = _epoch(model, train, w_params, w_opt, objective, table, tau, hard,
                             generator, w_schedule, bar=bar)
        if epoch >= warmup_epochs:
            _epoch(model, val, theta_params, theta_opt, objective, table, tau, hard, generator,
                   bar=bar)
        record()
        result.tau.append(tau)
        result.train_loss.append(loss_w)
        result.train_acc.append(acc)
        result.archs.append(model.derive())
        result.val_acc.append(_accuracy(model, *data.tensors("val"), tau, hard, eval_generator))
    bar.close()
    result.seconds = time.perf_counter() - start
    result.arch = result.archs[-1]
    result.predicted_latency = table.predict(result.arch)
    return result


# ----------------------------------------------------------------------------------------------
# The settings of the losses (2) and (T), checked by them and, before any work, by search
# ----------------------------------------------------------------------------------------------
def _check_paper_loss(alpha: float, beta: float) -> None:
    """``alpha`` and ``beta`` of equation (2)."""
    if not alpha > 0 or beta < 0:
        raise ValueError(f"need alpha > 0 and beta >= 0, got {alpha}, {beta}")


def _check_target_loss(target: float, lam: float) -> None:
    """``target`` and ``lam`` of equation (T)."""
    if not target > 0 or lam < 0:
        raise ValueError(f"need target > 0 and lam >= 0, got {target}, {lam}")
