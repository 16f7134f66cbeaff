"""Candidate operations for neural architecture search, and the MBConv block.

Two families of search spaces share these building blocks:

* **Cell-based search** (DARTS, Liu et al., ICLR 2019, arXiv:1806.09055, Sec. 3 and App. A.1).
  Every edge of a cell carries one operation from a small set: the zero operation (no edge),
  the identity (skip connection), 3x3 max and average pooling, separable convolutions
  (two stacks of depthwise + pointwise convolution) and dilated separable convolutions. We add a
  plain convolution as a familiar reference point. Convolutions follow the order
  ReLU -> conv -> batch norm, as in the paper's code.

* **Layer-wise search** (FBNet, MnasNet, Once-for-All). Every layer is an inverted residual
  block (MBConv, Sandler et al., MobileNetV2, CVPR 2018):

      x -> 1x1 conv (C_in -> e * C_in) -> BN -> ReLU6        (expansion, skipped when e = 1)
        -> k x k depthwise conv, stride s -> BN -> ReLU6
        -> 1x1 conv (e * C_in -> C_out) -> BN                  (linear projection)
      y = x + block(x)  when s = 1 and C_in = C_out            (residual)

  The kernel size k and the expansion ratio e are what these searches choose.

Every operation works on 1-D signals (``dim=1``, tensors ``(N, C, L)``, e.g. MNIST-1D) and on
images (``dim=2``, tensors ``(N, C, H, W)``, e.g. the 8x8 digits). Padding keeps the spatial
size at stride 1 and gives ``ceil(L / 2)`` at stride 2, so operations on the same edge agree on
their output shape.

:func:`count_params` and :func:`count_flops` give the two cheap cost proxies that
hardware-aware search compares with measured latency.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from minnas._validation import check_choice, check_int

__all__ = [
    "OPS",
    "PRIMITIVES",
    "Zero",
    "Identity",
    "FactorizedReduce",
    "ReLUConvBN",
    "SepConv",
    "DilConv",
    "Pool",
    "MBConv",
    "stem",
    "classifier",
    "conv_layer",
    "batch_norm",
    "count_params",
    "count_flops",
]


_DIMS = (1, 2)  # 1: signals (N, C, L); 2: images (N, C, H, W)


def conv_layer(dim: int) -> type[nn.Module]:
    """``nn.Conv1d`` for signals (``dim=1``), ``nn.Conv2d`` for images (``dim=2``)."""
    check_choice(dim, "dim", _DIMS)
    return nn.Conv1d if dim == 1 else nn.Conv2d


def batch_norm(dim: int) -> type[nn.Module]:
    """``nn.BatchNorm1d`` or ``nn.BatchNorm2d``, matching :func:`conv_layer`."""
    check_choice(dim, "dim", _DIMS)
    return nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d


def _every_other(x: torch.Tensor, stride: int, dim: int) -> torch.Tensor:
    """Subsample every spatial axis by ``stride`` (the shape a strided convolution gives)."""
    return x[(..., *([slice(None, None, stride)] * dim))]


class Zero(nn.Module):
    """The zero operation: "no edge". Outputs zeros of the shape the edge must produce."""

    def __init__(self, stride: int = 1, dim: int = 2) -> None:
        super().__init__()
        check_choice(dim, "dim", _DIMS)
        self.stride, self.dim = stride, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _every_other(x, self.stride, self.dim).mul(0.0)


class Identity(nn.Module):
    """The skip connection at stride 1: returns its input unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class FactorizedReduce(nn.Module):
    """A skip connection that halves the spatial size (DARTS' ``skip_connect`` at stride 2).

    Two 1x1 convolutions with stride 2, the second shifted by one position, each produce half of
    the output channels. On signals every input position reaches the output; on images the
    two paths see the (even, even) and (odd, odd) pixels, as in the DARTS code.
    """

    def __init__(self, C_in: int, C_out: int, dim: int = 2, affine: bool = True) -> None:
        super().__init__()
        if C_out % 2:
            raise ValueError(f"FactorizedReduce needs an even C_out, got {C_out}")
        Conv, BN = conv_layer(dim), batch_norm(dim)
        self.dim = dim
        self.relu = nn.ReLU()
        self.conv_even = Conv(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_odd = Conv(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = BN(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # Shift by one position and pad at the end, so both halves have ceil(L / 2) positions.
        shifted = x[(..., *([slice(1, None)] * self.dim))]
        shifted = nn.functional.pad(shifted, (0, 1) * self.dim)
        return self.bn(torch.cat([self.conv_even(x), self.conv_odd(shifted)], dim=1))


class ReLUConvBN(nn.Sequential):
    """ReLU -> k x k convolution -> batch norm: the plain convolution of the search space."""

    def __init__(
        self, C_in: int, C_out: int, kernel: int, stride: int = 1, dim: int = 2, affine: bool = True
    ) -> None:
        Conv, BN = conv_layer(dim), batch_norm(dim)
        super().__init__(
            nn.ReLU(),
            Conv(C_in, C_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            BN(C_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """Dilated separable convolution: ReLU -> depthwise k x k (dilation d) -> 1x1 -> BN.

    With dilation 2 a 3x3 kernel sees a 5x5 window at the cost of nine weights per channel.
    """

    def __init__(
        self, C_in: int, C_out: int, kernel: int, stride: int = 1, dilation: int = 2, dim: int = 2,
        affine: bool = True,
    ) -> None:
        Conv, BN = conv_layer(dim), batch_norm(dim)
        padding = dilation * (kernel - 1) // 2
        super().__init__(
            nn.ReLU(),
            Conv(C_in, C_in, kernel, stride, padding, dilation=dilation, groups=C_in, bias=False),
            Conv(C_in, C_out, 1, bias=False),
            BN(C_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Separable convolution, applied twice as in DARTS: (ReLU -> depthwise -> 1x1 -> BN) x 2.

    Only the first stack is strided.
    """

    def __init__(
        self, C_in: int, C_out: int, kernel: int, stride: int = 1, dim: int = 2, affine: bool = True
    ) -> None:
        super().__init__(
            DilConv(C_in, C_in, kernel, stride, dilation=1, dim=dim, affine=affine),
            DilConv(C_in, C_out, kernel, 1, dilation=1, dim=dim, affine=affine),
        )


class Pool(nn.Module):
    """3x3 max or average pooling with padding 1 (average over the valid positions only)."""

    def __init__(self, kind: str, stride: int = 1, dim: int = 2) -> None:
        super().__init__()
        check_choice(dim, "dim", _DIMS)
        check_choice(kind, "pooling kind", ("max", "avg"))
        if kind == "max":
            self.pool = (nn.MaxPool1d if dim == 1 else nn.MaxPool2d)(3, stride, padding=1)
        else:
            Avg = nn.AvgPool1d if dim == 1 else nn.AvgPool2d
            self.pool = Avg(3, stride, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


def _skip(C: int, stride: int, dim: int, affine: bool) -> nn.Module:
    check_choice(dim, "dim", _DIMS)
    check_choice(stride, "skip_connect stride", (1, 2))
    return Identity() if stride == 1 else FactorizedReduce(C, C, dim, affine)


#: name -> constructor ``(C, stride, dim, affine) -> nn.Module``; every operation maps
#: C channels to C channels (DARTS keeps the width fixed inside a cell).
OPS: dict[str, Callable[[int, int, int, bool], nn.Module]] = {
    "none": lambda C, stride, dim, affine: Zero(stride, dim),
    "skip_connect": _skip,
    "max_pool_3": lambda C, stride, dim, affine: Pool("max", stride, dim),
    "avg_pool_3": lambda C, stride, dim, affine: Pool("avg", stride, dim),
    "conv_3": lambda C, stride, dim, affine: ReLUConvBN(C, C, 3, stride, dim, affine),
    "sep_conv_3": lambda C, stride, dim, affine: SepConv(C, C, 3, stride, dim, affine),
    "sep_conv_5": lambda C, stride, dim, affine: SepConv(C, C, 5, stride, dim, affine),
    "dil_conv_3": lambda C, stride, dim, affine: DilConv(C, C, 3, stride, 2, dim, affine),
    "dil_conv_5": lambda C, stride, dim, affine: DilConv(C, C, 5, stride, 2, dim, affine),
}

#: The default DARTS search space of this course: seven operations, "none" first.
PRIMITIVES: tuple[str, ...] = (
    "none",
    "skip_connect",
    "max_pool_3",
    "avg_pool_3",
    "conv_3",
    "sep_conv_3",
    "dil_conv_3",
)


class MBConv(nn.Module):
    """Inverted residual block (MobileNetV2), the layer that FBNet, MnasNet and OFA search over.

    Parameters
    ----------
    C_in, C_out : int
        Input and output channels.
    kernel : int
        Odd size of the depthwise kernel (3, 5, 7, ...).
    expand : int
        Expansion ratio e: the hidden width is ``e * C_in``. With ``e = 1`` the 1x1 expansion
        is omitted.
    stride : int
        Stride of the depthwise convolution (1 or 2).
    dim : int
        1 for signals, 2 for images.
    """

    def __init__(
        self, C_in: int, C_out: int, kernel: int = 3, expand: int = 1, stride: int = 1, dim: int = 2
    ) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be a positive odd integer, got {kernel!r}")
        check_int(expand, "expand", low=1)
        check_choice(stride, "stride", (1, 2))
        Conv, BN = conv_layer(dim), batch_norm(dim)
        hidden = C_in * expand
        self.kernel, self.expand, self.stride = kernel, expand, stride
        self.use_residual = stride == 1 and C_in == C_out
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [Conv(C_in, hidden, 1, bias=False), BN(hidden), nn.ReLU6()]
        layers += [
            Conv(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            BN(hidden),
            nn.ReLU6(),
            Conv(hidden, C_out, 1, bias=False),
            BN(C_out),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_residual else y


def stem(in_channels: int, C: int, dim: int = 2) -> nn.Sequential:
    """The layer-wise spaces' stem: 3x3 convolution to ``C`` channels, batch norm, ReLU6 (stride
    1: the course's inputs are small)."""
    Conv, BN = conv_layer(dim), batch_norm(dim)
    return nn.Sequential(Conv(in_channels, C, 3, padding=1, bias=False), BN(C), nn.ReLU6())


def classifier(C: int, n_classes: int, dim: int = 2) -> nn.Sequential:
    """Global average pooling and a linear classifier."""
    pool = nn.AdaptiveAvgPool1d(1) if dim == 1 else nn.AdaptiveAvgPool2d(1)
    return nn.Sequential(pool, nn.Flatten(), nn.Linear(C, n_classes))


def count_params(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def count_flops(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulate operations of one forward pass on a single sample.

    Counts convolutions (``C_out * positions * C_in / groups * kernel volume``) and linear
    layers (``in * out``), the layers that dominate the cost; pooling, activations and batch
    norm are ignored, as is customary for this proxy.

    Parameters
    ----------
    module : nn.Module
        The network; it is run once in eval mode and its mode is restored afterwards.
    input_shape : tuple of int
        Shape of one sample without the batch axis, e.g. ``(1, 8, 8)``.
    """
    total = 0

    def conv_hook(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kernel_volume = int(torch.tensor(layer.kernel_size).prod())
        total += output.numel() * (layer.in_channels // layer.groups) * kernel_volume

    def linear_hook(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * layer.in_features

    handles = []
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
            handles.append(layer.register_forward_hook(conv_hook))
        elif isinstance(layer, nn.Linear):
            handles.append(layer.register_forward_hook(linear_hook))
    was_training = module.training
    module.eval()
    try:
        dtype = next(module.parameters(), torch.empty(0)).dtype
        module(torch.zeros(1, *input_shape, dtype=dtype))
    finally:
        module.train(was_training)
        for handle in handles:
            handle.remove()
    return total
