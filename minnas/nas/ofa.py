r"""Once-for-All: train one supernet, specialise it for any budget without retraining.

Cai, Gan, Wang, Zhang and Han, "Once-for-All: Train One Network and Specialize it for Efficient
Deployment", *ICLR* 2020, arXiv:1908.09791. Written from the paper; the numbers (n) are ours.

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

**Specialisation** (Sec. 3.4). An architecture is encoded as one-hots (6): kernel and expansion
per block (zeros for blocks beyond the unit's depth) and depth per unit. An MLP accuracy
predictor fits (encoding, accuracy) pairs by mean squared error (7). Evolutionary search
maximises a score (predicted or measured accuracy) subject to constraints

(8) :math:`\max_a s(a)\ \text{s.t.}\ \mathrm{LAT}(a) \le T` and/or
    :math:`\mathrm{FLOPs}(a) \le F`, with
(9) :math:`\mathrm{LAT}(a) = \mathrm{overhead} + \sum_{u} \sum_{i < d_u}
    \mathrm{LAT}(u, i, k_{u,i}, e_{u,i})`, a lookup table as in FBNet
    (:mod:`minnas.nas.latency`); FLOPs are :func:`minnas.nas.ops.count_flops` of the subnet.

Each generation keeps the best ``parents`` fraction, adds children by mutation (every gene
resampled with probability ``mutate_prob``) and by uniform crossover of two parents, and only
ever admits feasible children.

**Simplified for a CPU**: one stage per phase (the paper shrinks depth and width in two stages
each), one subnet per step (the paper accumulates several), distillation at temperature 1, and
the stem and head are not elastic.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from minnas.data import Splits
from minnas.nas.latency import LatencyTable, build_table
from minnas.nas import ops
from minnas.nas.ops import MBConv, batch_norm, conv_layer
from minnas.train import evaluate, seed_everything

__all__ = [
    "PHASES", "CONSTRAINTS", "Arch", "OFASpace", "DynamicConv", "DynamicMBConv", "OFANetwork",
    "extract_subnet", "recalibrate_bn", "subnet_accuracy", "ShrinkHistory", "train_supernet",
    "phase_choices", "AccuracyPredictor", "predict_latency", "flops", "mutate", "crossover",
    "SearchResult", "evolutionary_search", "random_search", "save_checkpoint",
    "load_checkpoint", "sha256",
]

#: The phases of progressive shrinking, in order: what becomes elastic in each.
PHASES: tuple[str, ...] = ("largest", "kernel", "depth", "expand")
#: The constraint keys that the searches understand.
CONSTRAINTS: tuple[str, ...] = ("latency_us", "flops")


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
class OFASpace:
    """The macro-architecture and the elastic choices; defaults: the MNIST-1D lesson.

    Parameters
    ----------
    in_shape : tuple of int
        One input sample: ``(C, L)`` for signals, ``(C, H, W)`` for images.
    n_classes : int
        Outputs of the head.
    stem_channels : int
        Channels of the stem (3-wide convolution, BN, ReLU6, stride 1).
    units : tuple of (int, int)
        ``(C_out, stride)`` of every unit; its first block strides.
    kernels, expands, depths : tuple of int
        The elastic choices: odd kernels, expansion ratios >= 2, depths >= 1.
    """

    in_shape: tuple[int, ...] = (1, 40)
    n_classes: int = 10
    stem_channels: int = 16
    units: tuple[tuple[int, int], ...] = ((16, 1), (24, 2), (32, 2))
    kernels: tuple[int, ...] = (3, 5)
    expands: tuple[int, ...] = (2, 3, 4)
    depths: tuple[int, ...] = (1, 2, 3)

    def __post_init__(self) -> None:
        fix = lambda name, f: object.__setattr__(self, name, f(getattr(self, name)))  # noqa: E731
        fix("in_shape", lambda s: tuple(int(v) for v in s))
        fix("units", lambda us: tuple((int(c), int(s)) for c, s in us))
        for name in ("kernels", "expands", "depths"):
            fix(name, lambda vs: tuple(sorted(int(v) for v in vs)))
        if len(self.in_shape) not in (2, 3) or min(self.in_shape) < 1:
            raise ValueError(f"in_shape must be (C, L) or (C, H, W), got {self.in_shape}")
        if self.n_classes < 2 or self.stem_channels < 1:
            raise ValueError(f"need n_classes >= 2 and stem_channels >= 1, "
                             f"got {self.n_classes}, {self.stem_channels}")
        if not self.units or any(c < 1 or s not in (1, 2) for c, s in self.units):
            raise ValueError(f"units must be non-empty, each (C_out >= 1, stride 1 or 2); "
                             f"got {self.units}")
        if not self.kernels or any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise ValueError(f"kernels must be positive odd integers, got {self.kernels}")
        if not self.expands or min(self.expands) < 2:  # MBConv drops its expansion at e = 1
            raise ValueError(f"expands must be integers >= 2, got {self.expands}")
        if not self.depths or min(self.depths) < 1:
            raise ValueError(f"depths must be integers >= 1, got {self.depths}")
        for name in ("kernels", "expands", "depths"):
            if len(set(getattr(self, name))) != len(getattr(self, name)):
                raise ValueError(f"{name} must be distinct, got {getattr(self, name)}")

    @property
    def dim(self) -> int:
        """Spatial dimensions: 1 for signals, 2 for images."""
        return len(self.in_shape) - 1

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def max_depth(self) -> int:
        return max(self.depths)

    def block_io(self, u: int, i: int) -> tuple[int, int, int]:
        """``(C_in, C_out, stride)`` of block ``i`` of unit ``u``."""
        C_out, stride = self.units[u]
        if i > 0:
            return C_out, C_out, 1
        return (self.units[u - 1][0] if u else self.stem_channels), C_out, stride

    def block_input(self, u: int, i: int) -> tuple[int, ...]:
        """Per-sample input shape of block ``i`` of unit ``u``."""
        spatial = list(self.in_shape[1:])
        for _, stride in self.units[:u + (i > 0)]:
            spatial = [math.ceil(s / stride) for s in spatial]
        return (self.block_io(u, i)[0], *spatial)

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
            if len(rows) != self.n_units or any(len(r) != self.max_depth for r in rows):
                raise ValueError(f"{name} must be {self.n_units} rows of {self.max_depth} "
                                 f"values, got {rows}")
            bad = [v for row in rows for v in row if v not in allowed]
            if bad:
                raise ValueError(f"{name} must come from {allowed}, got {bad[0]}")
        return arch

    def uniform(self, depth: int, kernel: int, expand: int) -> Arch:
        """The architecture with one depth, kernel and expansion everywhere."""
        rows = lambda v: ((v,) * self.max_depth,) * self.n_units  # noqa: E731
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
        pick = lambda vs: int(rng.choice(vs))  # noqa: E731
        ks, es, ds = (self.kernels if kernels is None else kernels,
                      self.expands if expands is None else expands,
                      self.depths if depths is None else depths)
        rows = lambda vs: tuple(tuple(pick(vs) for _ in range(self.max_depth))  # noqa: E731
                                for _ in range(self.n_units))
        return self.make_arch(tuple(pick(ds) for _ in range(self.n_units)), rows(ks), rows(es))

    def encode(self, arch: Arch) -> np.ndarray:
        """Equation (6): per block one-hot kernel and expansion (zeros beyond the depth), then
        per unit one-hot depth. Length ``U * max_depth * (n_k + n_e) + U * n_d``."""
        arch = self.check_arch(arch)
        nk, ne, nd = len(self.kernels), len(self.expands), len(self.depths)
        blocks = np.zeros((self.n_units, self.max_depth, nk + ne))
        for u, i, k, e in arch.blocks():
            blocks[u, i, self.kernels.index(k)] = blocks[u, i, nk + self.expands.index(e)] = 1
        depth = np.zeros((self.n_units, nd))
        depth[np.arange(self.n_units), [self.depths.index(d) for d in arch.depths]] = 1
        return np.concatenate([blocks.ravel(), depth.ravel()])

    # --- static networks
    def stem(self) -> nn.Module:
        return ops.stem(self.in_shape[0], self.stem_channels, self.dim)

    def head(self) -> nn.Module:
        return ops.classifier(self.units[-1][0], self.n_classes, self.dim)

    def make_block(self, u: int, i: int, kernel: int, expand: int) -> MBConv:
        C_in, C_out, stride = self.block_io(u, i)
        return MBConv(C_in, C_out, kernel, expand, stride, self.dim)

    def build(self, arch: Arch) -> nn.Sequential:
        """A fresh static network of ``arch`` (random weights): stem, MBConv blocks, head."""
        blocks = [self.make_block(u, i, k, e) for u, i, k, e in self.check_arch(arch).blocks()]
        return nn.Sequential(self.stem(), *blocks, self.head())

    def latency_table(self, **measure_kwargs) -> LatencyTable:
        """Measure every (unit, position, kernel, expand) block on this machine, equation (9).

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
                           [names] * len(positions), overhead_module=_StemAndHead(self),
                           overhead_shape=self.in_shape, **measure_kwargs)


class _StemAndHead(nn.Module):
    """The part every subnet runs: the stem, then the head on a last-unit-sized feature map."""

    def __init__(self, space: OFASpace) -> None:
        super().__init__()
        self.stem, self.head = space.stem(), space.head()
        spatial = space.block_input(space.n_units - 1, 1)[1:]
        self.head_shape = (space.units[-1][0], *spatial)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.stem(x)
        return self.head(x.new_zeros(len(x), *self.head_shape))


# ----------------------------------------------------------------------------------------------
# Dynamic layers: equations (1)-(3)
# ----------------------------------------------------------------------------------------------
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
    take = lambda t: _take_channels(t, n)  # noqa: E731
    return F.batch_norm(x, take(bn.running_mean), take(bn.running_var), take(bn.weight),
                        take(bn.bias), bn.training, factor, bn.eps)


def _conv(x: torch.Tensor, w: torch.Tensor, **kwargs) -> torch.Tensor:
    return (F.conv1d if x.dim() == 3 else F.conv2d)(x, w, **kwargs)


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
        if kernel not in self.kernels:
            raise ValueError(f"kernel must be one of {self.kernels}, got {kernel!r}")
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

    def set_active(self, arch: Arch) -> "OFANetwork":
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
@torch.no_grad()
def _copy_bn(src: nn.modules.batchnorm._BatchNorm, dst: nn.modules.batchnorm._BatchNorm) -> None:
    """Copy the first ``dst.num_features`` channels of ``src``: affine and running stats."""
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst, name).copy_(_take_channels(getattr(src, name), dst.num_features))
    dst.num_batches_tracked.copy_(src.num_batches_tracked)


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


def _input_batches(data: DataLoader | torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        yield from data.split(batch_size)
    else:
        for batch in data:
            yield batch[0] if isinstance(batch, (tuple, list)) else batch


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
    if n_batches is not None and (isinstance(n_batches, bool) or n_batches < 1):
        raise ValueError(f"n_batches must be a positive integer or None, got {n_batches!r}")
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


# ----------------------------------------------------------------------------------------------
# Progressive shrinking: equation (4)
# ----------------------------------------------------------------------------------------------
def phase_choices(space: OFASpace, phase: str) -> dict[str, tuple[int, ...]]:
    """The choices sampled in ``phase`` (:data:`PHASES`): what is elastic so far is free, the
    rest stays at its largest value."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    level = PHASES.index(phase)
    return {name: values if level >= PHASES.index(elastic_from) else (max(values),)
            for name, values, elastic_from in (("kernels", space.kernels, "kernel"),
                                                ("depths", space.depths, "depth"),
                                                ("expands", space.expands, "expand"))}


def _soft_cross_entropy(logits: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """The distillation term of equation (4)."""
    return -(teacher.softmax(1) * logits.log_softmax(1)).sum(1).mean()


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


def _optimizer(ofa: OFANetwork, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """SGD with momentum; no weight decay on the kernel transformations (they start at I)."""
    named = list(ofa.named_parameters())
    decay = [p for n, p in named if "transforms" not in n]
    keep = [p for n, p in named if "transforms" in n]
    return torch.optim.SGD([{"params": decay, "weight_decay": weight_decay},
                            {"params": keep, "weight_decay": 0.0}], lr=lr, momentum=0.9)


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
    if tuple(data.input_shape) != space.in_shape or data.n_classes != space.n_classes:
        raise ValueError(f"space expects inputs {space.in_shape} and {space.n_classes} classes; "
                         f"data has {data.input_shape} and {data.n_classes}")
    epochs = tuple(epochs)
    if len(epochs) != len(PHASES) or any(not isinstance(e, int) or e < 0 for e in epochs):
        raise ValueError(f"epochs needs {len(PHASES)} integers >= 0 for {PHASES}, got {epochs}")
    if distill < 0:
        raise ValueError(f"distill must be >= 0, got {distill}")
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
        if len(archs) == 0:
            raise ValueError("need at least one architecture")
        return torch.tensor(np.stack([self.space.encode(a) for a in archs]), dtype=torch.float32)

    def fit(self, archs: Sequence[Arch], accs: Sequence[float],
            seed: int = 0) -> "AccuracyPredictor":
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
    positions = lambda shape: math.prod(shape[1:])  # noqa: E731
    total = positions(space.in_shape) * space.in_shape[0] * space.stem_channels * 3 ** space.dim
    for u, i, k, e in space.check_arch(arch).blocks():
        C_in, C_out, _ = space.block_io(u, i)
        h, P_in = e * C_in, positions(space.block_input(u, i))
        P_out = positions(space.block_input(u, 1))  # after the unit's stride
        total += P_in * C_in * h + P_out * h * (k ** space.dim + C_out)
    return total + space.units[-1][0] * space.n_classes


def _check_constraint(constraint: dict, table: LatencyTable | None) -> dict[str, float]:
    if not isinstance(constraint, dict):
        raise ValueError(f"constraint must be a dict, got {type(constraint).__name__}")
    for key, value in constraint.items():
        if key not in CONSTRAINTS:
            raise ValueError(f"unknown constraint key {key!r}; allowed keys: {CONSTRAINTS}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"constraint {key!r} must be a positive number, got {value!r}")
    if "latency_us" in constraint and table is None:
        raise ValueError("constraint 'latency_us' needs a latency_table")
    return {key: float(value) for key, value in constraint.items()}


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


# ----------------------------------------------------------------------------------------------
# Searches
# ----------------------------------------------------------------------------------------------
def mutate(space: OFASpace, arch: Arch, prob: float, rng: np.random.Generator) -> Arch:
    """Resample every gene (depth, kernel, expansion) with probability ``prob``."""
    gene = lambda v, vs: int(rng.choice(vs)) if rng.random() < prob else v  # noqa: E731
    rows = lambda rs, vs: tuple(tuple(gene(v, vs) for v in r) for r in rs)  # noqa: E731
    return Arch(tuple(gene(d, space.depths) for d in arch.depths),
                rows(arch.kernels, space.kernels), rows(arch.expands, space.expands))


def crossover(a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
    """Uniform crossover: every gene from ``a`` or ``b`` with probability 1/2."""
    gene = lambda x, y: x if rng.random() < 0.5 else y  # noqa: E731
    rows = lambda ra, rb: tuple(tuple(map(gene, x, y)) for x, y in zip(ra, rb))  # noqa: E731
    return Arch(tuple(map(gene, a.depths, b.depths)), rows(a.kernels, b.kernels),
                rows(a.expands, b.expands))


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


def evolutionary_search(space: OFASpace, score_fn: Callable[[Arch], float], *, constraint: dict,
                        latency_table: LatencyTable | None = None, population: int = 50,
                        generations: int = 20, mutate_prob: float = 0.1,
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
    population, generations : int
        Population size, and generations after the random initial population.
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
    if population < 2 or generations < 0:
        raise ValueError(f"need population >= 2 and generations >= 0, "
                         f"got {population}, {generations}")
    for name, value in (("mutate_prob", mutate_prob), ("mutation_ratio", mutation_ratio),
                        ("parents", parents)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {value}")
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


def random_search(space: OFASpace, score_fn: Callable[[Arch], float], *, constraint: dict,
                  latency_table: LatencyTable | None = None, n_samples: int = 100,
                  seed: int = 0) -> SearchResult:
    """The baseline: score ``n_samples`` distinct random feasible subnets, keep the best.
    Give it ``evolutionary_search(...).n_scored`` for an equal budget."""
    costs = _Costs(space, constraint, latency_table)
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    rng, score, start = np.random.default_rng(seed), _Scorer(space, score_fn), time.perf_counter()
    best: list[float] = []
    for _ in range(100 * n_samples):
        if len(score.archs) == n_samples:
            break
        score(costs.sample(rng))
        best.append(max(score.cache.values()))
    return score.result(costs, best, start)


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------
def save_checkpoint(ofa: OFANetwork, path: str | Path) -> None:
    """Write the supernet's weights and its space (as JSON) with ``torch.save``.

    Saved through a buffer: ``torch.save`` to a file names the archive's folder after the file,
    so the bytes (and :func:`sha256`) would depend on the file name."""
    buffer = io.BytesIO()
    torch.save({"space": json.dumps(asdict(ofa.space)), "state_dict": ofa.state_dict()}, buffer)
    Path(path).write_bytes(buffer.getvalue())


def load_checkpoint(path: str | Path) -> OFANetwork:
    """The supernet written by :func:`save_checkpoint` (largest subnet active, eval mode)."""
    data = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or set(data) != {"space", "state_dict"}:
        raise ValueError(f"{path} is not an OFA checkpoint (expected keys space, state_dict)")
    ofa = OFANetwork(OFASpace(**json.loads(data["space"])))
    ofa.load_state_dict(data["state_dict"])
    return ofa.eval()


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, to check a shipped artifact."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
