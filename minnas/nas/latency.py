r"""Latency on *this* CPU: measuring blocks, a lookup table, and how far to trust it.

Hardware-aware NAS (FBNet, Wu et al., CVPR 2019, arXiv:1812.03443, Sec. 3.3; MnasNet, Tan et
al., CVPR 2019) optimises the latency of a network on a target device. Measuring every candidate
network is far too slow, so FBNet measures every candidate *block* once, at every position of
the network, and predicts a network's latency as the sum of its blocks' entries:

.. math:: \mathrm{LAT}(a) = \sum_l \mathrm{LAT}(b_l^{(a)})                      \qquad (1)

(FBNet's eq. 3). We add the stem and the head, measured once, as a constant ``overhead``.
Eq. (1) assumes the blocks' latencies do not interact (no caching across layers, no fused
operators); :func:`fidelity` checks how well that holds here.

Measuring on a shared machine
-----------------------------
A single timing is noise: other processes, the CPU's clock, the memory caches. So

(2) every measurement is the *median* of ``repeats`` timed forward passes after ``warmup``
    untimed ones, with the spread reported as the quartiles :math:`q_1, q_3` (the interquartile
    range :math:`q_3 - q_1`): medians ignore the occasional slow outlier that a mean would not;
(3) the table is measured in *interleaved rounds*: round :math:`r` times every (layer, block)
    pair once before round :math:`r + 1` starts, and each entry is the median over all its
    rounds. A burst of load from another process then slows all entries a little rather than a
    few entries a lot, which would change their order;
(4) the thread count is fixed (``threads=1`` by default) and restored afterwards, so that the
    entries of a table, and the tables of one machine, are measured alike.

Other processes only ever *add* time to a pass (an interrupted pass, a cache refilled), never
remove it, so the samples are a floor plus a tail to the right. When more than half of the
passes are disturbed, the median measures the load rather than the network; the lower quartile
:math:`q_1` (or the minimum, which needs many samples to be stable) stays near the floor.
``statistic="q1"`` (or ``"min"``) in :func:`build_table` and :meth:`Timing.stat` selects it.

(6) :func:`busy_verdict` says when a machine was too busy to trust a measurement: the relative
    spread (median of :math:`(q_3 - q_1) / q_2` over the timings) above ``max_spread``, or the
    median ratio of measured to predicted latency outside
    :math:`[1 / \mathrm{max\_ratio}, \mathrm{max\_ratio}]`.

Fidelity of the table, over architectures with predicted :math:`p_k` and measured :math:`m_k`:

(5) Spearman's rank correlation :math:`\rho` and Kendall's :math:`\tau` (does the table order
    networks correctly? that is all a search needs), the relative error
    :math:`|p_k - m_k| / m_k` (mean and max), and the median ratio :math:`m_k / p_k`.

FLOPs and parameter counts (:func:`minnas.nas.ops.count_flops`, ``count_params``) are the cheap
proxies that latency is compared against; :func:`proxies` returns both.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn
from tqdm.auto import tqdm

from minnas._validation import as_float_array, check_int
from minnas.nas.ops import count_flops, count_params

__all__ = [
    "STATISTICS",
    "Timing",
    "LatencyTable",
    "measure",
    "measure_network",
    "measure_networks",
    "build_table",
    "fidelity",
    "proxies",
    "device_name",
    "busy_verdict",
]

STATISTICS = ("median", "q1", "min")  # what a Timing can report: Timing.stat(statistic)

_clock = time.perf_counter_ns  # the timer; a test may replace it by a fake clock


# ----------------------------------------------------------------------------------------------
# One module: equation (2)
# ----------------------------------------------------------------------------------------------
@dataclass
class Timing:
    """Timed forward passes of one module, in microseconds.

    Attributes
    ----------
    median_us : float
        Median of the samples: the latency we report.
    q1_us, q3_us : float
        First and third quartiles: the spread.
    samples_us : list of float
        Every timed forward pass, in the order measured.
    """

    median_us: float
    q1_us: float
    q3_us: float
    samples_us: list[float] = field(default_factory=list)

    @property
    def iqr_us(self) -> float:
        """Interquartile range ``q3 - q1``."""
        return self.q3_us - self.q1_us

    @property
    def min_us(self) -> float:
        """The fastest sample (``median_us`` when no samples are kept)."""
        return min(self.samples_us) if self.samples_us else self.median_us

    def stat(self, statistic: str = "median") -> float:
        """``"median"``, ``"q1"`` (lower quartile) or ``"min"``, in microseconds."""
        return getattr(self, f"{_check_statistic(statistic)}_us")  # median_us, q1_us or min_us

    @classmethod
    def from_samples(cls, samples_us: Sequence[float]) -> Timing:
        """Median and quartiles of ``samples_us``."""
        if len(samples_us) == 0:
            raise ValueError("a Timing needs at least one sample")
        q1, median, q3 = np.percentile(samples_us, [25, 50, 75])
        return cls(float(median), float(q1), float(q3), [float(s) for s in samples_us])


def _example_input(module: nn.Module, input_shape: tuple[int, ...], batch_size: int):
    dtype = next(module.parameters(), torch.empty(0)).dtype
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch_size, *input_shape, generator=generator, dtype=dtype)


@torch.no_grad()
def _time_once(module: nn.Module, x: torch.Tensor, warmup: int, repeats: int) -> list[float]:
    """``warmup`` untimed, then ``repeats`` timed forward passes; microseconds each."""
    for _ in range(warmup):
        module(x)
    samples = []
    for _ in range(repeats):
        start = _clock()
        module(x)
        samples.append((_clock() - start) / 1000.0)
    return samples


def _interleaved(modules: Sequence[tuple[nn.Module, tuple[int, ...]]], *, batch_size: int,
                 warmup: int, repeats: int, rounds: int, threads: int,
                 progress: bool = False, desc: str = "latency") -> list[Timing]:
    """Equations (2)-(4) for several modules: ``rounds`` rounds, each timing every module once.

    Every module runs in eval mode and without autograd; modes and the thread count are
    restored afterwards.
    """
    batch_size = check_int(batch_size, "batch_size", low=1)
    warmup = check_int(warmup, "warmup", low=0)
    repeats = check_int(repeats, "repeats", low=1)
    rounds = check_int(rounds, "rounds", low=1)
    threads = check_int(threads, "threads", low=1)
    inputs = [_example_input(m, _check_shape(shape), batch_size) for m, shape in modules]
    modes = [m.training for m, _ in modules]
    old_threads = torch.get_num_threads()
    samples: list[list[float]] = [[] for _ in modules]
    try:
        torch.set_num_threads(threads)
        for m, _ in modules:
            m.eval()
        bar = tqdm(total=rounds * len(modules), desc=desc, disable=not progress, file=sys.stdout)
        for _ in range(rounds):
            for k, ((module, _), x) in enumerate(zip(modules, inputs)):
                samples[k] += _time_once(module, x, warmup, repeats)
                bar.update()
        bar.close()
    finally:
        torch.set_num_threads(old_threads)
        for (m, _), mode in zip(modules, modes):
            m.train(mode)
    return [Timing.from_samples(s) for s in samples]


def measure(module: nn.Module, input_shape: Sequence[int], *, batch_size: int = 1,
            warmup: int = 10, repeats: int = 30, threads: int = 1) -> Timing:
    """Latency of one forward pass of ``module``, equation (2).

    Parameters
    ----------
    module : nn.Module
        Run in eval mode under ``torch.no_grad()``; its mode is restored afterwards.
    input_shape : tuple of int
        Shape of one sample, without the batch axis, e.g. ``(8, 8, 8)``.
    batch_size : int, default 1
        Samples per forward pass (1: the latency a single user waits for).
    warmup : int, default 10
        Untimed passes first (memory allocation, caches, lazy initialisation).
    repeats : int, default 30
        Timed passes.
    threads : int, default 1
        torch's intra-op thread count during the measurement; restored afterwards.

    Returns
    -------
    Timing
        Median, quartiles and all samples, in microseconds.
    """
    return _interleaved([(module, tuple(input_shape))], batch_size=batch_size, warmup=warmup,
                        repeats=repeats, rounds=1, threads=threads)[0]


def measure_network(net: nn.Module, input_shape: Sequence[int], *, batch_size: int = 1,
                    warmup: int = 10, repeats: int = 30, threads: int = 1) -> Timing:
    """End-to-end latency of a whole network: :func:`measure`, named for what it is used for,
    the measured side of :func:`fidelity`."""
    return measure(net, input_shape, batch_size=batch_size, warmup=warmup, repeats=repeats,
                   threads=threads)


def measure_networks(nets: Sequence[nn.Module], input_shape: Sequence[int], *,
                     batch_size: int = 1, warmup: int = 5, repeats: int = 10, rounds: int = 3,
                     threads: int = 1, progress: bool = False) -> list[Timing]:
    """End-to-end latency of several networks, measured in interleaved rounds, equation (3).

    Use it to compare networks with each other (or with the table): a burst of load from
    another process then affects all of them alike. Arguments as in :func:`build_table`.
    """
    if len(nets) == 0:
        raise ValueError("nets is empty")
    return _interleaved([(net, tuple(input_shape)) for net in nets], batch_size=batch_size,
                        warmup=warmup, repeats=repeats, rounds=rounds, threads=threads,
                        progress=progress, desc="networks")


def proxies(module: nn.Module, input_shape: Sequence[int]) -> dict[str, int]:
    """The cheap cost proxies of a network: ``{"flops": MACs per sample, "params": count}``."""
    return {"flops": count_flops(module, tuple(input_shape)), "params": count_params(module)}


def device_name() -> str:
    """What the table was measured on, e.g. ``"x86_64, 2 CPUs"``."""
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"


# ----------------------------------------------------------------------------------------------
# The lookup table: equation (1)
# ----------------------------------------------------------------------------------------------
@dataclass
class LatencyTable:
    """Measured latency of every (layer, block) pair of a layer-wise search space.

    Attributes
    ----------
    entries : dict of str -> dict of str -> float
        ``entries[str(layer)][block]``: latency in microseconds (the ``statistic`` of its
        samples); layers are ``"0"``, ``"1"``, ... (strings, so that the table is plain JSON).
    spread : dict of str -> dict of str -> float
        Interquartile range of every entry, same shape as ``entries``.
    overhead_us : float
        Latency of what every network has: the stem and the head.
    device, torch_version : str
        Where and with what the table was measured: a table is only valid there.
    batch_size, threads : int
        The measurement settings.
    statistic : str, default "median"
        Which statistic of each entry's samples the entries hold (:data:`STATISTICS`).
    """

    entries: dict[str, dict[str, float]]
    spread: dict[str, dict[str, float]]
    overhead_us: float = 0.0
    device: str = field(default_factory=device_name)
    torch_version: str = torch.__version__
    batch_size: int = 1
    threads: int = 1
    statistic: str = "median"

    @property
    def n_layers(self) -> int:
        return len(self.entries)

    def choices(self, layer: int) -> list[str]:
        """The blocks measured at ``layer``."""
        key = str(layer)
        if key not in self.entries:
            raise ValueError(f"layer {layer!r} is not in the table (layers 0..{self.n_layers - 1})")
        return list(self.entries[key])

    def latency(self, layer: int, block: str) -> float:
        """One entry, ``LAT(b_l)`` in equation (1)."""
        if block not in self.choices(layer):
            raise ValueError(f"block {block!r} was not measured at layer {layer}; "
                             f"measured: {self.choices(layer)}")
        return self.entries[str(layer)][block]

    def predict(self, arch: Sequence[str]) -> float:
        """Predicted latency of an architecture (one block per layer), equation (1) plus
        the overhead, in microseconds."""
        if len(arch) != self.n_layers:
            raise ValueError(f"arch has {len(arch)} blocks, the table {self.n_layers} layers")
        return self.overhead_us + sum(self.latency(layer, block)
                                      for layer, block in enumerate(arch))

    def save(self, path: str | Path) -> None:
        """Write the table as JSON."""
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        """Read a table written by :meth:`save`, checking every field."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    @classmethod
    def from_dict(cls, data: dict) -> LatencyTable:
        """A table from its JSON dictionary; ``ValueError`` naming the first problem found."""
        if not isinstance(data, dict):
            raise ValueError(f"a latency table must be a JSON object, got {type(data).__name__}")
        data = {"statistic": "median", **data}  # tables saved before the field existed
        missing = [name for name in cls.__dataclass_fields__ if name not in data]
        if missing:
            raise ValueError(f"latency table lacks the fields {missing}")
        _check_statistic(data["statistic"])
        for name in ("device", "torch_version"):
            if not isinstance(data[name], str):
                raise ValueError(f"{name} must be a string, got {data[name]!r}")
        for name in ("batch_size", "threads"):
            check_int(data[name], name)
        if not _is_number(data["overhead_us"]):
            raise ValueError(f"overhead_us must be a number, got {data['overhead_us']!r}")
        _check_nested(data["entries"], "entries")
        _check_nested(data["spread"], "spread")
        if {k: set(v) for k, v in data["spread"].items()} != \
                {k: set(v) for k, v in data["entries"].items()}:
            raise ValueError("spread must have the same layers and blocks as entries")
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def build_table(make_block: Callable[[int, str], nn.Module],
                input_shapes: Sequence[Sequence[int]], choices: Sequence[Sequence[str]], *,
                overhead_module: nn.Module | None = None,
                overhead_shape: Sequence[int] | None = None, batch_size: int = 1,
                warmup: int = 5, repeats: int = 20, rounds: int = 3, threads: int = 1,
                progress: bool = False, statistic: str = "median") -> LatencyTable:
    """Measure every (layer, block) pair in interleaved rounds, equations (2)-(4).

    Parameters
    ----------
    make_block : callable
        ``make_block(layer, block) -> nn.Module``; each block is built once.
    input_shapes : sequence of tuple of int
        ``input_shapes[layer]``: the per-sample input shape of that layer.
    choices : sequence of sequence of str
        ``choices[layer]``: the blocks to measure there.
    overhead_module : nn.Module, optional
        What every network adds to its blocks (stem and head), measured in the same rounds;
        its median is the table's ``overhead_us`` (0 without one).
    overhead_shape : tuple of int, optional
        Input shape of ``overhead_module``; required with it.
    batch_size, warmup, repeats, threads : int
        As in :func:`measure`; ``warmup`` passes precede every module's turn in every round.
    rounds : int, default 3
        Interleaved rounds; each entry is a statistic of ``rounds * repeats`` samples.
    progress : bool, default False
        Show a progress bar (a widget in Jupyter, else text on stdout).
    statistic : {"median", "q1", "min"}, default "median"
        What each entry (and the overhead) holds: the median, the lower quartile (robust on a
        busy machine, see the module's docstring) or the fastest sample.

    Returns
    -------
    LatencyTable
    """
    _check_statistic(statistic)
    if len(input_shapes) != len(choices) or not choices or not all(choices):
        raise ValueError(f"need one input shape per layer and at least one block to measure in "
                         f"every layer (of at least one); got {len(input_shapes)} shapes for the "
                         f"choices {[list(blocks) for blocks in choices]}")
    if (overhead_module is None) != (overhead_shape is None):
        raise ValueError("give overhead_module and overhead_shape together, or neither")
    keys = [(layer, block) for layer, blocks in enumerate(choices) for block in blocks]
    modules = [(make_block(layer, block), tuple(input_shapes[layer])) for layer, block in keys]
    if overhead_module is not None:
        modules.append((overhead_module, tuple(overhead_shape)))
    timings = _interleaved(modules, batch_size=batch_size, warmup=warmup, repeats=repeats,
                           rounds=rounds, threads=threads, progress=progress, desc="table")
    entries: dict[str, dict[str, float]] = {str(layer): {} for layer in range(len(choices))}
    spread: dict[str, dict[str, float]] = {str(layer): {} for layer in range(len(choices))}
    for (layer, block), timing in zip(keys, timings):
        entries[str(layer)][block] = timing.stat(statistic)
        spread[str(layer)][block] = timing.iqr_us
    overhead = timings[-1].stat(statistic) if overhead_module is not None else 0.0
    return LatencyTable(entries, spread, overhead, batch_size=batch_size, threads=threads,
                        statistic=statistic)


# ----------------------------------------------------------------------------------------------
# Fidelity: equation (5)
# ----------------------------------------------------------------------------------------------
def fidelity(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """How well predicted latencies match measured ones, equation (5).

    Parameters
    ----------
    predicted, measured : sequence of float
        One value per architecture, at least three, measured values positive.

    Returns
    -------
    dict
        ``spearman``, ``kendall`` (rank correlations), ``mean_rel_error``, ``max_rel_error``
        (of ``|pred - meas| / meas``), ``ratio`` (median of ``meas / pred``) and ``n``.
    """
    p = as_float_array(predicted, "predicted", ndim=1)
    m = as_float_array(measured, "measured", ndim=1)
    if len(p) != len(m) or len(p) < 3:
        raise ValueError(f"fidelity needs predicted and measured of equal length, at least 3 "
                         f"architectures; got {len(p)} and {len(m)}")
    if np.any(m <= 0) or np.any(p <= 0):
        raise ValueError("latencies must be positive")
    rel = np.abs(p - m) / m
    return {
        "spearman": float(stats.spearmanr(p, m).statistic),
        "kendall": float(stats.kendalltau(p, m).statistic),
        "mean_rel_error": float(rel.mean()),
        "max_rel_error": float(rel.max()),
        "ratio": float(np.median(m / p)),
        "n": len(p),
    }


# ----------------------------------------------------------------------------------------------
# Was the machine too busy? (6)
# ----------------------------------------------------------------------------------------------
def busy_verdict(timings: Sequence[Timing], predicted: Sequence[float] | None = None, *,
                 statistic: str = "q1", max_spread: float = 0.5,
                 max_ratio: float = 2.0) -> dict:
    """Whether timings look disturbed by other processes, equation (6).

    Parameters
    ----------
    timings : sequence of Timing
        At least one, e.g. from :func:`measure_networks`.
    predicted : sequence of float, optional
        The table's prediction for each timing; adds the ratio test.
    statistic : {"median", "q1", "min"}, default "q1"
        The measured side of the ratio, :meth:`Timing.stat`.
    max_spread : float, default 0.5
        Largest acceptable median over the timings of ``iqr_us / median_us``.
    max_ratio : float, default 2.0
        Largest acceptable factor between measured and predicted (either way), > 1.

    Returns
    -------
    dict
        ``busy`` (bool), ``spread`` (the median relative spread), ``ratio`` (median of
        measured / predicted, ``None`` without ``predicted``) and ``reasons`` (a sentence per
        failed test, empty when not busy).
    """
    if len(timings) == 0:
        raise ValueError("busy_verdict needs at least one timing")
    if not (max_spread > 0 and max_ratio > 1):
        raise ValueError(f"need max_spread > 0 and max_ratio > 1, got {max_spread}, {max_ratio}")
    measured = np.array([t.stat(statistic) for t in timings], dtype=float)
    spread = float(np.median([t.iqr_us / t.median_us if t.median_us > 0 else np.inf
                              for t in timings]))
    reasons = []
    if spread > max_spread:
        reasons.append(f"the spread (IQR / median, median over {len(timings)} timings) is "
                       f"{spread:.0%} > {max_spread:.0%}")
    ratio = None
    if predicted is not None:
        p = np.asarray(predicted, dtype=float)
        if p.shape != measured.shape or np.any(~np.isfinite(p)) or np.any(p <= 0):
            raise ValueError(f"predicted must hold {len(measured)} positive finite values, "
                             f"got shape {p.shape}")
        ratio = float(np.median(measured / p))
        if not 1 / max_ratio <= ratio <= max_ratio:
            reasons.append(f"measured / predicted ({statistic}) is {ratio:.2f}, outside "
                           f"[{1 / max_ratio:.2f}, {max_ratio:.2f}]")
    return {"busy": bool(reasons), "spread": spread, "ratio": ratio, "reasons": reasons}


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------
def _check_statistic(statistic: str) -> str:
    """``statistic`` itself, after checking that it is one of :data:`STATISTICS`."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    return statistic


def _check_shape(shape: Sequence[int], name: str = "input_shape") -> tuple[int, ...]:
    shape = tuple(shape)
    if not shape or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in shape):
        raise ValueError(f"{name} must be a non-empty tuple of positive integers, got {shape!r}")
    return tuple(int(s) for s in shape)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)


def _check_nested(table: object, name: str) -> None:
    """``table`` must map "0", "1", ... to non-empty {block: finite number} dictionaries."""
    if not isinstance(table, dict) or not table:
        raise ValueError(f"{name} must be a non-empty object of layers")
    if sorted(table) != sorted(str(layer) for layer in range(len(table))):
        raise ValueError(f"{name} must have the layers '0'..'{len(table) - 1}', got {list(table)}")
    for layer, row in table.items():
        if not isinstance(row, dict) or not row:
            raise ValueError(f"{name}[{layer!r}] must be a non-empty object of blocks")
        for block, value in row.items():
            if not _is_number(value) or value < 0:
                raise ValueError(f"{name}[{layer!r}][{block!r}] must be a number >= 0, "
                                 f"got {value!r}")
