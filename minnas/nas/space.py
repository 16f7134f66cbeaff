"""The skeleton that FBNet, MnasNet and Once-for-All search in: stem -> searchable stages -> head.

In this course a NAS *search space* is a fixed macro-architecture. A stem (a 3x3 convolution,
batch norm, ReLU6; stride 1, as the inputs are small) turns the input into ``stem_channels``
feature maps; a list of *stages*, each with a fixed output width ``C_out`` and stride, holds what
the search chooses; a head (global average pooling and a linear layer) gives ``n_classes``
logits. The methods differ only in what a stage may be: one block per layer in FBNet
(:mod:`minnas.nas.fbnet`), a block of repeated layers with its own decisions in MnasNet
(:mod:`minnas.nas.mnasnet`), a unit of elastic depth, kernel and width in Once-for-All
(:mod:`minnas.nas.ofa`). Each method keeps those choices in its own file; what all three share
lives here: the input and the classes, the stem and the head, the feature-map shape between
stages, and the check that a dataset fits the space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from minnas._validation import check_int
from minnas.data import Splits
from minnas.nas import ops

__all__ = ["SearchSpace", "StemAndHead"]


@dataclass(frozen=True)
class SearchSpace:
    """Stem, stages, head; a method's space adds its stages and their choices as fields.

    Parameters
    ----------
    in_shape : tuple of int
        Shape of one input sample: ``(C, H, W)`` for images, ``(C, L)`` for signals.
    n_classes : int
        Outputs of the head, >= 2.
    stem_channels : int
        Channels of the stem (3x3 convolution, batch norm, ReLU6; stride 1).

    A subclass sets :attr:`stages_field` to the name of its field of ``(C_out, stride)`` pairs,
    one per stage, and calls ``super().__post_init__()`` first in its own ``__post_init__``.
    """

    in_shape: tuple[int, ...] = (1, 8, 8)
    n_classes: int = 10
    stem_channels: int = 8
    #: The name of the subclass's field of stages: ``"layers"``, ``"blocks"``, ``"units"``.
    stages_field: ClassVar[str]

    def __post_init__(self) -> None:
        """Make ``in_shape`` and the stages tuples of int (a frozen dataclass is hashable only
        then), and check them."""
        self._set("in_shape", tuple(int(s) for s in self.in_shape))
        self._set(self.stages_field, tuple((int(c), int(s)) for c, s in self.stages))
        if len(self.in_shape) not in (2, 3) or min(self.in_shape) < 1:
            raise ValueError(f"in_shape must be (C, L) or (C, H, W), got {self.in_shape}")
        self._set("n_classes", check_int(self.n_classes, "n_classes", low=2))
        self._set("stem_channels", check_int(self.stem_channels, "stem_channels", low=1))
        if not self.stages or any(c < 1 or s not in (1, 2) for c, s in self.stages):
            raise ValueError(f"{self.stages_field} must be non-empty, each (C_out >= 1, stride 1 "
                             f"or 2); got {self.stages}")

    def _set(self, name: str, value: Any) -> None:
        """Set a field of the frozen instance (for ``__post_init__`` only)."""
        object.__setattr__(self, name, value)

    @property
    def stages(self) -> tuple[tuple[int, int], ...]:
        """``(C_out, stride)`` of every stage: the field named by :attr:`stages_field`."""
        return getattr(self, self.stages_field)

    @property
    def dim(self) -> int:
        """Spatial dimensions: 1 for signals, 2 for images."""
        return len(self.in_shape) - 1

    def stage_input(self, n: int) -> tuple[int, ...]:
        """Per-sample shape after the stem and the first ``n`` stages, the input of stage ``n``;
        ``n = len(stages)`` gives the head's input. A stride ``s`` maps a length ``L`` to
        ``ceil(L / s)`` (padded convolutions)."""
        channels, spatial = self.stem_channels, list(self.in_shape[1:])
        for C_out, stride in self.stages[:n]:
            channels, spatial = C_out, [math.ceil(s / stride) for s in spatial]
        return (channels, *spatial)

    def stem(self) -> nn.Module:
        """3x3 convolution to ``stem_channels``, batch norm, ReLU6 (stride 1: inputs are small)."""
        return ops.stem(self.in_shape[0], self.stem_channels, self.dim)

    def head(self) -> nn.Module:
        """Global average pooling and a linear classifier on the last stage's channels."""
        return ops.classifier(self.stages[-1][0], self.n_classes, self.dim)

    def check_data(self, data: Splits) -> None:
        """``ValueError`` unless ``data`` has inputs of shape ``in_shape`` and ``n_classes``
        classes: a network of the space would fail on other inputs, or silently score a
        different number of classes."""
        if tuple(data.input_shape) != self.in_shape or data.n_classes != self.n_classes:
            raise ValueError(f"space expects inputs {self.in_shape} and {self.n_classes} "
                             f"classes; data has {data.input_shape} and {data.n_classes}")


class StemAndHead(nn.Module):
    """What every network of a space runs besides its stages: the stem, then the head on a
    feature map of the last stage's shape. A latency table's overhead
    (:func:`minnas.nas.latency.build_table`)."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.stem, self.head = space.stem(), space.head()
        self.head_shape = space.stage_input(len(space.stages))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.stem(x)
        return self.head(x.new_zeros(len(x), *self.head_shape))
