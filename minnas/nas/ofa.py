r"""Once-for-All: train one supernet whose every subnet works without retraining.

Cai, Gan, Wang, Zhang and Han, "Once-for-All: Train One Network and Specialize it for Efficient
Deployment", *ICLR* 2020, arXiv:1908.09791. Written from the paper; the numbers (n) are ours.
This file is the supernet and its training, equations (1)-(5); specialising it for a budget
(the accuracy predictor, the costs, the searches, equations (6)-(9)) is
:mod:`minnas.nas.ofa_search`, and the trained supernet of lesson 10 :mod:`minnas.nas.pretrained`.

**The space** (Sec. 3.1). A stem, ``U`` units of MBConv blocks (:class:`minnas.nas.ops.MBConv`)
with fixed output channels and strides (the first block of a unit strides), and a head. An
architecture :class:`Arch` picks per unit a depth :math:`d_u` and per block a kernel
:math:`k \in \{3, 5\}` and an expansion ratio :math:`e \in \{2, 3, 4\}`. The supernet
:class:`OFANetwork` stores only the largest of everything; every subnet is a slice of it:

(1) *Elastic kernel* (Sec. 3.3). The depthwise weight :math:`W_{K}` is kept at the largest
    kernel :math:`K`. A smaller kernel is the centre crop of the next larger one, times a
    learned *kernel transformation matrix* shared by all channels of the layer, initialised to
    the identity (so at first a small kernel is the plain centre crop):

    .. math:: W_{k} = \operatorname{reshape}\big(\operatorname{vec}(\operatorname{crop}_k
              W_{k'})\, M_{k' \to k}\big), \qquad M_{k' \to k} \in \mathbb R^{k^D \times k^D}

    with :math:`D` the number of spatial dimensions (a 3x3 matrix for 1-D, 9x9 for 2-D).
(2) *Elastic width* (Sec. 3.3): a block with ratio :math:`e` uses the first :math:`e\,C_{in}`
    hidden channels. Before width is made elastic, hidden channels are sorted by importance,
    the L1 norm of their projection weights, :math:`\lVert W_{proj}[:, j] \rVert_1`, in
    decreasing order, so the most important channels are the ones every width shares.
(3) *Elastic depth* (Sec. 3.3): a unit of depth :math:`d` runs its first :math:`d` blocks.

**Progressive shrinking** (Sec. 3.2, Fig. 3): train the largest network; then sample, at every
step, a random subnet from choices that grow phase by phase: kernel, then depth, then width
(:data:`PHASES`). Later phases distil from a frozen copy of the largest network :math:`T`:

(4) :math:`\mathcal L = \mathrm{CE}(f_a(x), y) + \lambda\, \big(-\sum_c
    \operatorname{softmax}(f_T(x))_c \log \operatorname{softmax}(f_a(x))_c\big)`.

**BN recalibration** (Sec. 3.4): the running statistics of the supernet belong to no subnet,
so after extracting one we recompute them on a few training batches as plain averages:

(5) :math:`\mu = \frac1B \sum_b \mu_b`, :math:`\sigma^2 = \frac1B \sum_b \sigma_b^2`
    (PyTorch's ``momentum=None``; :math:`\sigma_b^2` unbiased, as batch norm keeps it).

**Simplified for a CPU**: one stage per phase (the paper shrinks depth and width in two stages
each), one subnet per step (the paper accumulates several), distillation at temperature 1, and
the stem and head are not elastic.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from minnas._validation import check_choice, check_int, check_number
from minnas.data import Splits
from minnas.nas.latency import LatencyTable, build_table
from minnas.nas.ops import MBConv, batch_norm, conv_layer
from minnas.nas.space import SearchSpace, StemAndHead
from minnas.train import evaluate, seed_everything

__all__ = [
    "PHASES", "DynamicConv", "DynamicMBConv", "Arch", "OFASpace", "OFANetwork", "extract_subnet",
    "recalibrate_bn", "subnet_accuracy", "phase_choices", "ShrinkHistory", "train_supernet",
]

#: The phases of progressive shrinking, in order: what becomes elastic in each.
PHASES: tuple[str, ...] = ("largest", "kernel", "depth", "expand")


# ----------------------------------------------------------------------------------------------
# Dynamic layers: equations (1)-(3)
# ----------------------------------------------------------------------------------------------
class DynamicConv(nn.Module):
    """Depthwise convolution with an elastic kernel, equation (1), and elastic channels.

    The weight has the largest kernel; ``transforms["5to3"]`` maps a centre-cropped 5-kernel to
    a 3-kernel, one matrix per consecutive pair of kernel sizes, initialised to the identity.
    """

    def __init__(self, channels: int, kernels: Sequence[int], stride: int = 1,
                 dim: int = 2) -> None:
        super().__init__()
        self.kernels, self.stride = tuple(sorted(kernels, reverse=True)), stride
        K = self.kernels[0]
        self.weight = nn.Parameter(torch.empty(channels, 1, *[K] * dim))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # what nn.Conv does
        self.transforms = nn.ParameterDict({
            f"{big}to{small}": nn.Parameter(torch.eye(small ** dim))
            for big, small in zip(self.kernels, self.kernels[1:])})

    def weight_for(self, kernel: int, channels: int | None = None) -> torch.Tensor:
        """The weight of kernel size ``kernel`` for the first ``channels`` channels, eq. (1)."""
        kernel = check_choice(kernel, "kernel", self.kernels)
        w = _take_channels(self.weight, channels or len(self.weight))
        for big, small in zip(self.kernels, self.kernels[1:]):
            if small < kernel:
                break
            w = _crop_kernel(w, small)
            M = self.transforms[f"{big}to{small}"]
            w = (w.reshape(len(w), -1) @ M).reshape(w.shape)
        return w

    def forward(self, x: torch.Tensor, kernel: int) -> torch.Tensor:
        C = x.shape[1]
        return _conv(x, self.weight_for(kernel, C), stride=self.stride, padding=kernel // 2,
                     groups=C)


class DynamicMBConv(nn.Module):
    """An MBConv block (:class:`minnas.nas.ops.MBConv`) at its largest kernel and width, that
    runs as any smaller one: set :attr:`kernel` and :attr:`expand`, equations (1) and (2)."""

    def __init__(self, C_in: int, C_out: int, kernels: Sequence[int], expands: Sequence[int],
                 stride: int = 1, dim: int = 2) -> None:
        super().__init__()
        Conv, BN = conv_layer(dim), batch_norm(dim)
        hidden = C_in * max(expands)
        self.C_in, self.C_out, self.stride = C_in, C_out, stride
        self.kernel, self.expand = max(kernels), max(expands)
        self.use_residual = stride == 1 and C_in == C_out
        self.expand_conv, self.expand_bn = Conv(C_in, hidden, 1, bias=False), BN(hidden)
        self.depthwise, self.depthwise_bn = DynamicConv(hidden, kernels, stride, dim), BN(hidden)
        self.project, self.project_bn = Conv(hidden, C_out, 1, bias=False), BN(C_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand * self.C_in
        y = F.relu6(_bn(self.expand_bn, _conv(x, _take_channels(self.expand_conv.weight, h))))
        y = F.relu6(_bn(self.depthwise_bn, self.depthwise(y, self.kernel)))
        y = _bn(self.project_bn, _conv(y, _take_channels(self.project.weight, h, axis=1)))
        return x + y if self.use_residual else y

    @torch.no_grad()
    def sort_channels(self) -> torch.Tensor:
        """Reorder hidden channels by decreasing importance :math:`\\lVert W_{proj}[:, j]
        \\rVert_1`, eq. (2), in every layer that touches them. Returns the importances, sorted.
        The largest block computes the same function afterwards."""
        importance = self.project.weight.abs().sum(dim=[0, *range(2, self.project.weight.dim())])
        order = importance.argsort(descending=True, stable=True)
        self.project.weight.copy_(self.project.weight[:, order])
        for t in (self.expand_conv.weight, self.depthwise.weight):
            t.copy_(t[order])
        for bn in (self.expand_bn, self.depthwise_bn):
            for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
                t.copy_(t[order])
        return importance[order]


def _crop_kernel(w: torch.Tensor, k: int) -> torch.Tensor:
    """The centre ``k`` (x ``k``) of a conv weight ``(C_out, C_in, K[, K])``."""
    start = (w.shape[-1] - k) // 2
    return w[(slice(None), slice(None), *[slice(start, start + k)] * (w.dim() - 2))]


def _take_channels(t: torch.Tensor, n: int, axis: int = 0) -> torch.Tensor:
    """The first ``n`` channels of ``t`` along ``axis`` (elastic width)."""
    return t.narrow(axis, 0, n)


def _bn(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Batch norm ``bn`` on the first ``x.shape[1]`` of its channels. The slices are views, so
    running statistics update in place, with ``bn.momentum`` (None: cumulative average)."""
    n, factor = x.shape[1], 0.0
    if bn.training:
        bn.num_batches_tracked += 1
        factor = 1.0 / bn.num_batches_tracked.item() if bn.momentum is None else bn.momentum
    mean, var, weight, bias = (_take_channels(t, n) for t in (bn.running_mean, bn.running_var,
                                                               bn.weight, bn.bias))
    return F.batch_norm(x, mean, var, weight, bias, bn.training, factor, bn.eps)


def _conv(x: torch.Tensor, w: torch.Tensor, **kwargs) -> torch.Tensor:
    """``conv1d`` for signals ``(N, C, L)``, ``conv2d`` for images ``(N, C, H, W)``."""
    return (F.conv1d if x.dim() == 3 else F.conv2d)(x, w, **kwargs)


# ----------------------------------------------------------------------------------------------
# The space and its architectures
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arch:
    """One subnet: a depth per unit, and a kernel and expansion per block position.

    ``kernels[u]`` and ``expands[u]`` have one entry per block of the largest unit; entries
    from ``depths[u]`` on are ignored (the blocks are not run).
    """

    depths: tuple[int, ...]
    kernels: tuple[tuple[int, ...], ...]
    expands: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:  # lists (from JSON) become tuples, so Arch is hashable
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        for name in ("kernels", "expands"):
            object.__setattr__(self, name, tuple(tuple(int(v) for v in row)
                                                 for row in getattr(self, name)))

    def blocks(self) -> Iterator[tuple[int, int, int, int]]:
        """``(unit, position, kernel, expand)`` of every block that runs."""
        for u, d in enumerate(self.depths):
            for i in range(d):
                yield u, i, self.kernels[u][i], self.expands[u][i]


@dataclass(frozen=True)
class OFASpace(SearchSpace):
    """The macro-architecture and the elastic choices: a :class:`~minnas.nas.space.SearchSpace`
    (stem, units, head) whose stages are the units; defaults: the MNIST-1D lesson.

    Parameters
    ----------
    in_shape, n_classes, stem_channels
        As in :class:`~minnas.nas.space.SearchSpace`; by default MNIST-1D: ``(1, 40)``,
        10 classes, a stem of 16 channels.
    units : tuple of (int, int)
        ``(C_out, stride)`` of every unit; its first block strides.
    kernels, expands, depths : tuple of int
        The elastic choices: odd kernels, expansion ratios >= 2, depths >= 1.
    """

    in_shape: tuple[int, ...] = (1, 40)
    stem_channels: int = 16
    units: tuple[tuple[int, int], ...] = ((16, 1), (24, 2), (32, 2))
    kernels: tuple[int, ...] = (3, 5)
    expands: tuple[int, ...] = (2, 3, 4)
    depths: tuple[int, ...] = (1, 2, 3)
    stages_field: ClassVar[str] = "units"

    def __post_init__(self) -> None:
        super().__post_init__()
        # the choices are sorted; MBConv drops its expansion layer at e = 1, hence expands >= 2
        for name, low in (("kernels", 1), ("expands", 2), ("depths", 1)):
            values = tuple(sorted(int(v) for v in getattr(self, name)))
            self._set(name, values)
            if (not values or values[0] < low or len(set(values)) < len(values)
                    or (name == "kernels" and any(k % 2 == 0 for k in values))):
                kind = "odd integers" if name == "kernels" else "integers"
                raise ValueError(f"{name} must be distinct {kind} >= {low}, got {values}")

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def max_depth(self) -> int:
        return max(self.depths)

    def block_io(self, u: int, i: int) -> tuple[int, int, int]:
        """``(C_in, C_out, stride)`` of block ``i`` of unit ``u``; only a unit's first block
        strides."""
        C_out, stride = self.units[u]
        return self.block_input(u, i)[0], C_out, stride if i == 0 else 1

    def block_input(self, u: int, i: int) -> tuple[int, ...]:
        """Per-sample input shape of block ``i`` of unit ``u``: after the unit's stride if
        ``i > 0``."""
        return self.stage_input(u + (i > 0))

    # --- architectures
    def make_arch(self, depths: Sequence[int], kernels: Sequence[Sequence[int]],
                  expands: Sequence[Sequence[int]]) -> Arch:
        """An :class:`Arch`, checked against the space."""
        return self.check_arch(Arch(tuple(depths), tuple(kernels), tuple(expands)))

    def check_arch(self, arch: Arch) -> Arch:
        """``arch`` itself, after checking that it fits the space (``ValueError`` if not)."""
        if not isinstance(arch, Arch):
            raise ValueError(f"expected an Arch, got {type(arch).__name__}")
        if len(arch.depths) != self.n_units or any(d not in self.depths for d in arch.depths):
            raise ValueError(f"depths must be {self.n_units} values from {self.depths}, "
                             f"got {arch.depths}")
        for name, allowed in (("kernels", self.kernels), ("expands", self.expands)):
            rows = getattr(arch, name)
            if (len(rows) != self.n_units or any(len(r) != self.max_depth for r in rows)
                    or any(v not in allowed for row in rows for v in row)):
                raise ValueError(f"{name} must come from {allowed}, {self.max_depth} per unit "
                                 f"for {self.n_units} units; got {rows}")
        return arch

    def uniform(self, depth: int, kernel: int, expand: int) -> Arch:
        """The architecture with one depth, kernel and expansion everywhere."""
        def rows(value: int) -> tuple[tuple[int, ...], ...]:
            return ((value,) * self.max_depth,) * self.n_units

        return self.make_arch((depth,) * self.n_units, rows(kernel), rows(expand))

    def largest(self) -> Arch:
        return self.uniform(max(self.depths), max(self.kernels), max(self.expands))

    def smallest(self) -> Arch:
        return self.uniform(min(self.depths), min(self.kernels), min(self.expands))

    def sample(self, seed: int | np.random.Generator = 0, *, kernels: Sequence[int] | None = None,
               expands: Sequence[int] | None = None,
               depths: Sequence[int] | None = None) -> Arch:
        """An architecture with every choice uniform over the space's values, or over the given
        subsets (progressive shrinking). ``seed``: an integer or a NumPy generator."""
        rng = np.random.default_rng(seed)
        ks, es, ds = (self.kernels if kernels is None else kernels,
                      self.expands if expands is None else expands,
                      self.depths if depths is None else depths)

        def pick(values: Sequence[int]) -> int:
            return int(rng.choice(values))

        def rows(values: Sequence[int]) -> tuple[tuple[int, ...], ...]:
            return tuple(tuple(pick(values) for _ in range(self.max_depth))
                         for _ in range(self.n_units))

        # drawn in this order: the depths, then every kernel, then every expansion
        return self.make_arch(tuple(pick(ds) for _ in range(self.n_units)), rows(ks), rows(es))

    def encode(self, arch: Arch) -> np.ndarray:
        """The encoding of equation (6) of :mod:`minnas.nas.ofa_search`: per block one-hot
        kernel and expansion (zeros beyond the depth), then per unit one-hot depth. Length
        ``U * max_depth * (n_k + n_e) + U * n_d``."""
        arch = self.check_arch(arch)
        nk, ne, nd = len(self.kernels), len(self.expands), len(self.depths)
        blocks = np.zeros((self.n_units, self.max_depth, nk + ne))
        for u, i, k, e in arch.blocks():
            blocks[u, i, self.kernels.index(k)] = blocks[u, i, nk + self.expands.index(e)] = 1
        depth = np.zeros((self.n_units, nd))
        depth[np.arange(self.n_units), [self.depths.index(d) for d in arch.depths]] = 1
        return np.concatenate([blocks.ravel(), depth.ravel()])

    # --- static networks
    def make_block(self, u: int, i: int, kernel: int, expand: int) -> MBConv:
        C_in, C_out, stride = self.block_io(u, i)
        return MBConv(C_in, C_out, kernel, expand, stride, self.dim)

    def build(self, arch: Arch) -> nn.Sequential:
        """A fresh static network of ``arch`` (random weights): stem, MBConv blocks, head."""
        blocks = [self.make_block(u, i, k, e) for u, i, k, e in self.check_arch(arch).blocks()]
        return nn.Sequential(self.stem(), *blocks, self.head())

    def latency_table(self, **measure_kwargs) -> LatencyTable:
        """Measure every (unit, position, kernel, expand) block on this machine, for equation
        (9) (:func:`minnas.nas.ofa_search.predict_latency`).

        Layer ``u * max_depth + i`` of the table is block ``i`` of unit ``u``; its blocks are
        named ``"k{kernel}_e{expand}"``; the stem and head are the overhead.
        ``measure_kwargs`` go to :func:`minnas.nas.latency.build_table`.
        """
        positions = [(u, i) for u in range(self.n_units) for i in range(self.max_depth)]
        names = [f"k{k}_e{e}" for k in self.kernels for e in self.expands]

        def make(layer: int, name: str) -> nn.Module:
            k, e = (int(v) for v in name[1:].split("_e"))
            return self.make_block(*positions[layer], k, e)

        return build_table(make, [self.block_input(u, i) for u, i in positions],
                           [names] * len(positions), overhead_module=StemAndHead(self),
                           overhead_shape=self.in_shape, **measure_kwargs)


class OFANetwork(nn.Module):
    """The supernet: every unit at its largest depth, every block at its largest kernel and
    width. :meth:`set_active` chooses the subnet that :meth:`forward` runs, equation (3)."""

    def __init__(self, space: OFASpace) -> None:
        super().__init__()
        self.space = space
        self.stem, self.head = space.stem(), space.head()
        self.units = nn.ModuleList(
            nn.ModuleList(DynamicMBConv(*space.block_io(u, i)[:2], space.kernels, space.expands,
                                        space.block_io(u, i)[2], space.dim)
                          for i in range(space.max_depth))
            for u in range(space.n_units))
        self.set_active(space.largest())

    def set_active(self, arch: Arch) -> OFANetwork:
        """Run the subnet ``arch`` from now on; returns the network."""
        self.active = self.space.check_arch(arch)
        for u, unit in enumerate(self.units):
            for i, block in enumerate(unit):
                block.kernel, block.expand = arch.kernels[u][i], arch.expands[u][i]
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for unit, depth in zip(self.units, self.active.depths):
            for block in unit[:depth]:  # elastic depth, equation (3)
                x = block(x)
        return self.head(x)

    def sort_channels(self) -> None:
        """:meth:`DynamicMBConv.sort_channels` on every block, equation (2)."""
        for unit in self.units:
            for block in unit:
                block.sort_channels()


# ----------------------------------------------------------------------------------------------
# Extraction and BN recalibration: equation (5)
# ----------------------------------------------------------------------------------------------
def extract_subnet(ofa: OFANetwork, arch: Arch | None = None) -> nn.Sequential:
    """The subnet ``arch`` (default: the active one) as a standalone network of
    :class:`minnas.nas.ops.MBConv` blocks with copied weights: cropped and transformed kernels,
    the first ``e * C_in`` hidden channels, the first ``d`` blocks of every unit. In eval mode
    it computes what ``ofa.set_active(arch)`` computes. ``ofa``'s active subnet is unchanged."""
    arch = ofa.space.check_arch(ofa.active if arch is None else arch)
    net = ofa.space.build(arch)
    previous = ofa.active
    ofa.set_active(arch)
    net[0].load_state_dict(ofa.stem.state_dict())
    net[-1].load_state_dict(ofa.head.state_dict())
    for b, (u, i, _, _) in enumerate(arch.blocks(), start=1):
        _copy_block(ofa.units[u][i], net[b])
    ofa.set_active(previous)
    return net.train(ofa.training)


@torch.no_grad()
def recalibrate_bn(net: nn.Module, data: DataLoader | torch.Tensor, n_batches: int | None = None,
                   batch_size: int = 250) -> nn.Module:
    """Reset every batch norm's running statistics and recompute them, equation (5).

    Parameters
    ----------
    net : nn.Module
        A subnet from :func:`extract_subnet`, or an :class:`OFANetwork` (its active subnet).
    data : DataLoader or Tensor
        Training inputs: a loader of ``(x, y)`` batches, or a tensor ``X`` cut into batches.
    n_batches : int, optional
        Use at most this many batches (default: all).
    batch_size : int, default 250
        Batch size when ``data`` is a tensor.

    Returns
    -------
    nn.Module
        ``net``, in eval mode; momenta are restored.
    """
    n_batches = None if n_batches is None else check_int(n_batches, "n_batches", low=1)
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    net.train()
    seen = 0
    try:
        for x in _input_batches(data, batch_size):
            if n_batches is not None and seen == n_batches:
                break
            if len(x) == 0:
                continue
            net(x)
            seen += 1
    finally:
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum
        net.eval()
    if seen == 0:
        raise ValueError("recalibrate_bn got no batches")
    return net


def subnet_accuracy(ofa: OFANetwork, arch: Arch, data: Splits, *, split: str = "val",
                    recalibrate: bool = True, n_calib: int = 1000) -> float:
    """Accuracy of the extracted subnet ``arch`` on ``split``, after recalibrating its batch norm
    on the first ``n_calib`` training inputs (or with the supernet's statistics)."""
    net = extract_subnet(ofa, arch)
    if recalibrate:
        recalibrate_bn(net, data.X_train[:n_calib])
    return evaluate(net, data.tensors(split))


@torch.no_grad()
def _copy_block(src: DynamicMBConv, dst: MBConv) -> None:
    """Weights of the active sub-block of ``src`` into the static block ``dst``."""
    h = src.expand * src.C_in
    expand_conv, expand_bn, _, depthwise, depthwise_bn, _, project, project_bn = dst.block
    expand_conv.weight.copy_(_take_channels(src.expand_conv.weight, h))
    depthwise.weight.copy_(src.depthwise.weight_for(src.kernel, h))
    project.weight.copy_(_take_channels(src.project.weight, h, axis=1))
    for s, d in ((src.expand_bn, expand_bn), (src.depthwise_bn, depthwise_bn),
                 (src.project_bn, project_bn)):
        _copy_bn(s, d)


@torch.no_grad()
def _copy_bn(src: nn.modules.batchnorm._BatchNorm, dst: nn.modules.batchnorm._BatchNorm) -> None:
    """Copy the first ``dst.num_features`` channels of ``src``: affine and running stats."""
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst, name).copy_(_take_channels(getattr(src, name), dst.num_features))
    dst.num_batches_tracked.copy_(src.num_batches_tracked)


def _input_batches(data: DataLoader | torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        yield from data.split(batch_size)
    else:
        for batch in data:
            yield batch[0] if isinstance(batch, (tuple, list)) else batch


# ----------------------------------------------------------------------------------------------
# Progressive shrinking: equation (4)
# ----------------------------------------------------------------------------------------------
def phase_choices(space: OFASpace, phase: str) -> dict[str, tuple[int, ...]]:
    """The choices sampled in ``phase`` (:data:`PHASES`): what is elastic so far is free, the
    rest stays at its largest value."""
    level = PHASES.index(check_choice(phase, "phase", PHASES))
    return {name: values if level >= PHASES.index(elastic_from) else (max(values),)
            for name, values, elastic_from in (("kernels", space.kernels, "kernel"),
                                                ("depths", space.depths, "depth"),
                                                ("expands", space.expands, "expand"))}


@dataclass
class ShrinkHistory:
    """What :func:`train_supernet` measured.

    Attributes
    ----------
    phase : list of str
        The phase of every epoch.
    train_loss, train_acc : list of float
        Per epoch, of the sampled subnets, on the fly.
    val_largest, val_smallest : list of float
        Per epoch, validation accuracy of the largest and smallest subnet after BN
        recalibration.
    samples : list of (str, Arch)
        The subnet sampled at every step, with its phase.
    seconds : dict of str -> float
        Wall time per phase.
    model : OFANetwork
        The trained supernet (its largest subnet active).
    """

    phase: list[str] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_largest: list[float] = field(default_factory=list)
    val_smallest: list[float] = field(default_factory=list)
    samples: list[tuple[str, Arch]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    model: OFANetwork | None = None


def train_supernet(space: OFASpace, data: Splits, *, epochs: Sequence[int] = (10, 4, 4, 4),
                   distill: float = 1.0, lr: float = 0.05, shrink_lr: float = 0.02,
                   weight_decay: float = 1e-4, batch_size: int = 64, n_calib: int = 1000,
                   seed: int = 0, progress: bool = False) -> ShrinkHistory:
    """Train an :class:`OFANetwork` by progressive shrinking, equation (4).

    Parameters
    ----------
    space : OFASpace
        Must match ``data``'s input shape and classes.
    data : Splits
        Train split for training and BN recalibration, validation split for the history.
    epochs : 4 ints
        Epochs of each phase of :data:`PHASES` (largest, kernel, depth, expand); 0 skips one.
    distill : float, default 1.0
        :math:`\\lambda`: weight of the distillation from the largest network after phase 0.
    lr, shrink_lr : float
        Initial learning rate of the first phase and of the later ones (a fine-tune, as in the
        paper), each cosine-annealed within its phase.
    weight_decay : float, default 1e-4
    batch_size : int, default 64
    n_calib : int, default 1000
        Training inputs used to recalibrate BN for the validation accuracies.
    seed : int, default 0
        Seeds the initialisation, batch order and subnet sampling.
    progress : bool, default False
        Progress bar over epochs (a widget in Jupyter, else text on stdout).
    """
    space.check_data(data)
    epochs = tuple(epochs)
    if len(epochs) != len(PHASES) or any(not isinstance(e, int) or e < 0 for e in epochs):
        raise ValueError(f"epochs needs {len(PHASES)} integers >= 0 for {PHASES}, got {epochs}")
    distill = check_number(distill, "distill", low=0)
    seed_everything(seed)
    ofa, rng = OFANetwork(space), np.random.default_rng(seed)
    train, X_calib = data.loader("train", batch_size, seed=seed), data.X_train[:n_calib]
    history, teacher = ShrinkHistory(model=ofa), None
    bar = tqdm(total=sum(epochs), desc="OFA", disable=not progress, file=sys.stdout)
    for phase, n_epochs in zip(PHASES, epochs):
        if n_epochs == 0:
            continue
        start = time.perf_counter()
        if phase != "largest" and teacher is None:  # freeze the teacher after phase 0
            teacher = copy.deepcopy(recalibrate_bn(ofa.set_active(space.largest()), X_calib))
            teacher.requires_grad_(False)
        if phase == "expand":
            ofa.sort_channels()
        opt = _optimizer(ofa, lr if phase == "largest" else shrink_lr, weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_epochs * len(train))
        for _ in range(n_epochs):
            loss, acc = _shrink_epoch(ofa, train, opt, schedule, phase, teacher, distill, rng,
                                      history.samples)
            history.phase.append(phase)
            history.train_loss.append(loss)
            history.train_acc.append(acc)
            for arch, accs in ((space.largest(), history.val_largest),
                               (space.smallest(), history.val_smallest)):
                accs.append(_dynamic_accuracy(ofa, arch, X_calib, data.tensors("val")))
            bar.update()
            bar.set_postfix(phase=phase, loss=f"{loss:.3f}", val=f"{history.val_largest[-1]:.3f}")
        history.seconds[phase] = time.perf_counter() - start
    bar.close()
    ofa.set_active(space.largest())
    return history


def _shrink_epoch(ofa: OFANetwork, train: DataLoader, opt: torch.optim.Optimizer, schedule,
                  phase: str, teacher: OFANetwork | None, distill: float,
                  rng: np.random.Generator, samples: list) -> tuple[float, float]:
    """One pass over ``train``, one random subnet of ``phase`` per step, equation (4)."""
    choices = phase_choices(ofa.space, phase)
    ofa.train()
    loss_sum = correct = seen = 0.0
    for x, y in train:
        arch = ofa.space.sample(rng, **choices)
        samples.append((phase, arch))
        logits = ofa.set_active(arch)(x)
        loss = F.cross_entropy(logits, y)
        if teacher is not None and distill > 0:
            with torch.no_grad():
                soft = teacher(x)
            loss = loss + distill * _soft_cross_entropy(logits, soft)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(ofa.parameters(), 5.0)
        opt.step()
        schedule.step()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
    return loss_sum / seen, correct / seen


def _dynamic_accuracy(ofa: OFANetwork, arch: Arch, X_calib: torch.Tensor,
                      val: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Validation accuracy of a subnet after BN recalibration, leaving ``ofa`` in train mode."""
    previous = ofa.active
    acc = evaluate(recalibrate_bn(ofa.set_active(arch), X_calib), val)
    ofa.set_active(previous).train()
    return acc


def _soft_cross_entropy(logits: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """The distillation term of equation (4)."""
    return -(teacher.softmax(1) * logits.log_softmax(1)).sum(1).mean()


def _optimizer(ofa: OFANetwork, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """SGD with momentum; no weight decay on the kernel transformations (they start at I)."""
    named = list(ofa.named_parameters())
    decay = [p for n, p in named if "transforms" not in n]
    keep = [p for n, p in named if "transforms" in n]
    return torch.optim.SGD([{"params": decay, "weight_decay": weight_decay},
                            {"params": keep, "weight_decay": 0.0}], lr=lr, momentum=0.9)
