r"""DARTS: Differentiable Architecture Search (Liu, Simonyan and Yang, ICLR 2019, arXiv:1806.09055).

A *cell* is a directed acyclic graph of ``n_nodes`` intermediate nodes. Its two inputs are the
outputs of the two previous cells; node ``j`` sums one operation applied to every earlier node,

.. math:: x_j = \sum_{i < j} o^{(i, j)}(x_i)                                    \qquad (2)

and the cell's output concatenates the intermediate nodes. Choosing each edge's operation
``o^{(i,j)}`` from a set ``O`` is a discrete search. DARTS relaxes it: every edge computes a
softmax-weighted *mixture* of all candidate operations, with architecture weights
``alpha^{(i,j)}``,

.. math:: \bar o^{(i,j)}(x) = \sum_{o \in O}
          \frac{\exp \alpha_o^{(i,j)}}{\sum_{o'} \exp \alpha_{o'}^{(i,j)}} \, o(x).   \qquad (1)

The architecture ``alpha`` and the network weights ``w`` are found by bilevel optimisation,

.. math:: \min_\alpha L_{val}(w^*(\alpha), \alpha)
          \quad \text{s.t.} \quad w^*(\alpha) = \arg\min_w L_{train}(w, \alpha),     \qquad (3, 4)

alternating one step on ``w`` (training split) with one step on ``alpha`` (validation split).
The inner optimum is approximated by a single gradient step of size ``xi``,

.. math:: \nabla_\alpha L_{val}(w - \xi \nabla_w L_{train}(w, \alpha), \alpha)    \qquad (6)

whose chain rule gives, with ``w' = w - xi grad_w L_train(w, alpha)``,

.. math:: \nabla_\alpha L_{val}(w', \alpha)
          - \xi \nabla^2_{\alpha, w} L_{train}(w, \alpha) \nabla_{w'} L_{val}(w', \alpha).
          \qquad (7)

The matrix-vector product is a central finite difference with ``w^\pm = w \pm \epsilon
\nabla_{w'} L_{val}(w', \alpha)`` and ``epsilon = 0.01 / ||grad_{w'} L_val||``:

.. math:: \frac{\nabla_\alpha L_{train}(w^+, \alpha) - \nabla_\alpha L_{train}(w^-, \alpha)}
               {2 \epsilon}.                                                      \qquad (8)

The finite difference assumes a smooth loss. With ReLU and max pooling the step of norm 0.01
crosses kinks, so (8) is a noisy estimate of (7) for such networks, as for the paper's.

``xi = 0`` gives the *first-order* approximation: ``grad_alpha L_val(w, alpha)``, cheaper and,
in the paper, somewhat worse. The architecture step uses Adam (paper: learning rate 3e-4,
betas (0.5, 0.999), weight decay 1e-3).

After the search the cell is *discretised* (Sec. 2.4): every node keeps its two strongest
incoming edges, an edge's strength being its largest non-zero operation weight, and each kept
edge its strongest operation other than ``none``.

A known failure: as the search runs long, parameter-free operations (skip connections above
all) win more and more edges, because they make the supernet easy to train early, while the
derived network then lacks capacity ("skip-connection collapse", Zela et al., ICLR 2020;
Chu et al., DARTS-, 2021). :func:`skip_share` measures it in a genotype.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from tqdm.auto import tqdm

from minnas._validation import check_int, check_number
from minnas.data import Splits
from minnas.nas.ops import OPS, PRIMITIVES, FactorizedReduce, ReLUConvBN, batch_norm, conv_layer
from minnas.train import evaluate, seed_everything

__all__ = [
    "Genotype",
    "MixedOp",
    "Cell",
    "Network",
    "Architect",
    "DiscreteCell",
    "DiscreteNetwork",
    "SearchResult",
    "n_edges",
    "edge_inputs",
    "derive_cell",
    "random_genotype",
    "skip_share",
    "search",
]


# ----------------------------------------------------------------------------------------------
# Cell topology
# ----------------------------------------------------------------------------------------------
def n_edges(n_nodes: int) -> int:
    """Edges of a cell: node ``j`` (0-based) has ``j + 2`` inputs, so ``n (n + 3) / 2`` in all."""
    return n_nodes * (n_nodes + 3) // 2


def edge_inputs(n_nodes: int) -> list[tuple[int, int]]:
    """``(node, input)`` of every edge, in the row order of ``alpha``.

    Inputs 0 and 1 are the cell's inputs (the outputs of cells k-2 and k-1); input ``i >= 2``
    is intermediate node ``i - 2``.
    """
    return [(node, i) for node in range(n_nodes) for i in range(node + 2)]


@dataclass(frozen=True)
class Genotype:
    """A discrete architecture: for each cell type, the ``(operation, input)`` pairs of each node.

    ``normal[2 * j]`` and ``normal[2 * j + 1]`` are the two edges entering node ``j``; inputs are
    numbered as in :func:`edge_inputs`. All intermediate nodes are concatenated as the output.
    """

    normal: tuple[tuple[str, int], ...]
    reduce: tuple[tuple[str, int], ...]

    @property
    def n_nodes(self) -> int:
        return len(self.normal) // 2


def derive_cell(
    weights: np.ndarray | torch.Tensor, primitives: tuple[str, ...] = PRIMITIVES, k: int = 2
) -> tuple[tuple[str, int], ...]:
    """Discretise one cell: keep each node's ``k`` strongest incoming edges (Sec. 2.4).

    Parameters
    ----------
    weights : array of shape (n_edges, n_ops)
        Operation weights of each edge, ``softmax(alpha)``. (Raw ``alpha`` picks the same
        operation per edge, but may rank a node's edges differently, since each edge has its
        own softmax normaliser.)
    primitives : tuple of str
        Operation names, in the column order of ``weights``. ``"none"`` is never chosen.
    k : int
        Incoming edges kept per node.

    Returns
    -------
    tuple of (str, int)
        ``(operation, input)`` pairs, ``k`` per node, each node's edges in input order.
    """
    w = np.asarray(weights.detach() if isinstance(weights, torch.Tensor) else weights, float)
    if w.ndim != 2 or w.shape[1] != len(primitives):
        raise ValueError(f"weights must have shape (n_edges, {len(primitives)}), got {w.shape}")
    n_nodes = int(round((np.sqrt(9 + 8 * w.shape[0]) - 3) / 2))
    if n_edges(n_nodes) != w.shape[0]:
        raise ValueError(f"{w.shape[0]} edges do not form a cell (expected n(n+3)/2 rows)")
    k = check_int(k, "k", 1, 2)  # a node has at least two inputs
    allowed = np.array([name != "none" for name in primitives])
    if not allowed.any():
        raise ValueError("primitives must contain an operation other than 'none'")
    masked = np.where(allowed, w, -np.inf)
    genes: list[tuple[str, int]] = []
    start = 0
    for node in range(n_nodes):
        rows = masked[start : start + node + 2]
        strength = rows.max(axis=1)
        # A stable sort keeps the lower input on ties, so the result does not depend on luck.
        kept = sorted(np.argsort(-strength, kind="stable")[:k])
        genes += [(primitives[int(rows[i].argmax())], int(i)) for i in kept]
        start += node + 2
    return tuple(genes)


def random_genotype(
    n_nodes: int = 4, primitives: tuple[str, ...] = PRIMITIVES, seed: int = 0
) -> Genotype:
    """A cell drawn uniformly from the discrete space: two distinct inputs per node, each edge an
    operation other than ``none`` (the baseline every NAS method must beat)."""
    n_nodes = check_int(n_nodes, "n_nodes", low=1)
    ops = [name for name in primitives if name != "none"]
    if not ops:
        raise ValueError("primitives must contain an operation other than 'none'")
    rng = np.random.default_rng(seed)

    def cell() -> tuple[tuple[str, int], ...]:
        genes = []
        for node in range(n_nodes):
            inputs = sorted(rng.choice(node + 2, size=2, replace=False))
            genes += [(ops[rng.integers(len(ops))], int(i)) for i in inputs]
        return tuple(genes)

    return Genotype(normal=cell(), reduce=cell())


def skip_share(genotype: Genotype, cell: str = "normal") -> float:
    """Share of a cell's edges that are parameter-free (skip or pooling): the collapse symptom."""
    genes = getattr(genotype, cell)
    free = sum(op == "skip_connect" or "pool" in op for op, _ in genes)
    return free / len(genes)


# ----------------------------------------------------------------------------------------------
# The supernet: mixed operations, search cells and the architecture parameters
# ----------------------------------------------------------------------------------------------
class MixedOp(nn.Module):
    """All candidate operations on one edge, mixed by softmax weights: equation (1)."""

    def __init__(self, C: int, stride: int, primitives: tuple[str, ...] = PRIMITIVES, dim: int = 2):
        super().__init__()
        ops = []
        for name in primitives:
            op = OPS[name](C, stride, dim, False)
            if "pool" in name:
                # As in the paper's code: normalise pooling so its scale matches the convolutions'.
                op = nn.Sequential(op, batch_norm(dim)(C, affine=False))
            ops.append(op)
        self._ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self._ops))


def _preprocess(C_pp: int, C_p: int, C: int, reduction_prev: bool, dim: int, affine: bool):
    """1x1 convolutions that bring both cell inputs to C channels (and to the same size)."""
    pre0 = (
        FactorizedReduce(C_pp, C, dim, affine)
        if reduction_prev
        else ReLUConvBN(C_pp, C, 1, 1, dim, affine)
    )
    return pre0, ReLUConvBN(C_p, C, 1, 1, dim, affine)


class Cell(nn.Module):
    """A search cell: every edge a :class:`MixedOp`, every node equation (2)."""

    def __init__(
        self,
        n_nodes: int,
        C_pp: int,
        C_p: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        primitives: tuple[str, ...] = PRIMITIVES,
        dim: int = 2,
    ) -> None:
        super().__init__()
        self.n_nodes, self.reduction = n_nodes, reduction
        self.pre0, self.pre1 = _preprocess(C_pp, C_p, C, reduction_prev, dim, affine=False)
        self.edges = nn.ModuleList(
            MixedOp(C, 2 if reduction and i < 2 else 1, primitives, dim)
            for _, i in edge_inputs(n_nodes)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        e = 0
        for node in range(self.n_nodes):
            states.append(
                sum(self.edges[e + i](h, weights[e + i]) for i, h in enumerate(states))
            )
            e += node + 2
        return torch.cat(states[2:], dim=1)


def _reduction_cells(n_cells: int) -> set[int]:
    """DARTS places reduction cells at 1/3 and 2/3 of the depth."""
    return {n_cells // 3, 2 * n_cells // 3}


class _Backbone(nn.Module):
    """Stem, a stack of cells and a classifier: what the supernet and a derived network share."""

    def _build(self, in_channels: int, n_classes: int, C: int, n_cells: int, n_nodes: int,
               dim: int, stem_multiplier: int, make_cell) -> None:
        check_int(n_cells, "n_cells", low=1)
        check_int(n_nodes, "n_nodes", low=1)
        check_int(C, "C", low=2)
        Conv, BN = conv_layer(dim), batch_norm(dim)
        C_stem = stem_multiplier * C
        self.stem = nn.Sequential(Conv(in_channels, C_stem, 3, padding=1, bias=False), BN(C_stem))
        C_pp, C_p, C_cur = C_stem, C_stem, C
        reductions, reduction_prev = _reduction_cells(n_cells), False
        self.cells = nn.ModuleList()
        for k in range(n_cells):
            reduction = k in reductions
            if reduction:
                C_cur *= 2
            self.cells.append(make_cell(C_pp, C_p, C_cur, reduction, reduction_prev))
            reduction_prev = reduction
            C_pp, C_p = C_p, n_nodes * C_cur
        self.classifier = nn.Linear(C_p, n_classes)

    def _head(self, s1: torch.Tensor) -> torch.Tensor:
        return self.classifier(s1.flatten(2).mean(dim=2))


class Network(_Backbone):
    """The DARTS supernet: stem, search cells (normal and reduction) and a linear classifier.

    The architecture is two parameter matrices of shape ``(n_edges, n_ops)``, ``alpha_normal``
    and ``alpha_reduce``, shared by all cells of a type. They are kept apart from the network
    weights: :meth:`weight_parameters` trains on the training split, :meth:`arch_parameters`
    on the validation split.

    Parameters
    ----------
    in_channels, n_classes : int
        Input channels and number of classes.
    C : int
        Channels per node in the first cell; doubled at each reduction cell.
    n_cells : int
        Cells in the stack; reduction cells sit at ``n_cells // 3`` and ``2 * n_cells // 3``.
    n_nodes : int
        Intermediate nodes per cell.
    primitives : tuple of str
        Candidate operations (keys of :data:`minnas.nas.ops.OPS`).
    dim : int
        1 for signals, 2 for images.
    stem_multiplier : int
        The stem outputs ``stem_multiplier * C`` channels.
    """

    def __init__(self, in_channels: int, n_classes: int, C: int = 8, n_cells: int = 3,
                 n_nodes: int = 4, primitives: tuple[str, ...] = PRIMITIVES, dim: int = 2,
                 stem_multiplier: int = 3) -> None:
        super().__init__()
        if n_cells < 3:
            # With fewer cells every cell is a reduction cell and alpha_normal would be unused.
            raise ValueError(f"the supernet needs n_cells >= 3 (normal and reduction), "
                             f"got {n_cells}")
        unknown = [name for name in primitives if name not in OPS]
        if unknown or not primitives:
            raise ValueError(f"unknown primitives {unknown}; choose from {sorted(OPS)}")
        self.primitives, self.n_nodes = tuple(primitives), n_nodes
        self._build(
            in_channels, n_classes, C, n_cells, n_nodes, dim, stem_multiplier,
            lambda C_pp, C_p, C_cur, red, red_prev: Cell(
                n_nodes, C_pp, C_p, C_cur, red, red_prev, self.primitives, dim
            ),
        )
        shape = (n_edges(n_nodes), len(primitives))
        # Near-uniform start (paper: small random values), so no operation is favoured at first.
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(shape))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(shape))

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture ``alpha``: ``[alpha_normal, alpha_reduce]``."""
        return [self.alpha_normal, self.alpha_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        """The network weights ``w``: every parameter except ``alpha``."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w_normal = F.softmax(self.alpha_normal, dim=-1)
        w_reduce = F.softmax(self.alpha_reduce, dim=-1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        return self._head(s1)

    def genotype(self, k: int = 2) -> Genotype:
        """The discrete architecture that the current ``alpha`` encodes (Sec. 2.4)."""
        return Genotype(
            normal=derive_cell(F.softmax(self.alpha_normal, dim=-1), self.primitives, k),
            reduce=derive_cell(F.softmax(self.alpha_reduce, dim=-1), self.primitives, k),
        )


# ----------------------------------------------------------------------------------------------
# The architecture step: equations (6)-(8)
# ----------------------------------------------------------------------------------------------
class Architect:
    """Updates ``alpha`` on validation batches, first order (``xi = 0``) or second order.

    Parameters
    ----------
    model : Network
        The supernet.
    lr, betas, weight_decay : float, tuple, float
        Adam on ``alpha``. The paper's 3e-4 is tuned for 50 epochs of CIFAR-10 (tens of
        thousands of steps); with a few hundred steps ``alpha`` would barely leave its uniform
        start, so the default is 100 times larger.
    second_order : bool
        Use equation (7) with the finite-difference product (8) instead of equation (6) at
        ``xi = 0``.
    """

    def __init__(
        self,
        model: Network,
        lr: float = 3e-2,
        betas: tuple[float, float] = (0.5, 0.999),
        weight_decay: float = 1e-3,
        second_order: bool = False,
    ) -> None:
        check_number(lr, "lr", low=0, strict=True)
        self.model, self.second_order = model, second_order
        self.optimizer = torch.optim.Adam(
            model.arch_parameters(), lr=lr, betas=betas, weight_decay=weight_decay
        )

    def _loss(self, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor):
        return F.cross_entropy(functional_call(self.model, params, (x,)), y)

    def alpha_gradient(
        self,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        x_val: torch.Tensor,
        y_val: torch.Tensor,
        xi: float,
    ) -> list[torch.Tensor]:
        """``grad_alpha`` of the validation loss after a virtual weight step of size ``xi``.

        ``xi = 0`` (or ``second_order=False``) is equation (6) at first order; otherwise
        equation (7) with the finite-difference Hessian-vector product (8).
        """
        names = [n for n, _ in self.model.named_parameters()]
        params = dict(self.model.named_parameters())
        arch_names = [n for n in names if n.startswith("alpha_")]
        w_names = [n for n in names if n not in arch_names]
        alphas = [params[n] for n in arch_names]
        if not self.second_order or xi == 0:
            return list(torch.autograd.grad(self._loss(params, x_val, y_val), alphas))

        # w' = w - xi * grad_w L_train(w, alpha): one virtual step, kept out of the graph.
        weights = [params[n] for n in w_names]
        g_train = torch.autograd.grad(self._loss(params, x_train, y_train), weights)
        w_prime = [(w - xi * g).detach().requires_grad_() for w, g in zip(weights, g_train)]
        loss_val = self._loss({**params, **dict(zip(w_names, w_prime))}, x_val, y_val)
        grads = torch.autograd.grad(loss_val, alphas + w_prime)
        d_alpha, d_w = grads[: len(alphas)], grads[len(alphas) :]

        # Equation (8): central difference of grad_alpha L_train along d_w.
        eps = 0.01 / torch.cat([g.flatten() for g in d_w]).norm()

        def grad_alpha_train(sign: float) -> tuple[torch.Tensor, ...]:
            shifted = {n: (w + sign * eps * g).detach() for n, w, g in zip(w_names, weights, d_w)}
            return torch.autograd.grad(self._loss({**params, **shifted}, x_train, y_train), alphas)

        g_plus, g_minus = grad_alpha_train(+1.0), grad_alpha_train(-1.0)
        return [da - xi * (gp - gm) / (2 * eps) for da, gp, gm in zip(d_alpha, g_plus, g_minus)]

    def step(
        self,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        x_val: torch.Tensor,
        y_val: torch.Tensor,
        xi: float = 0.0,
    ) -> None:
        """One Adam step on ``alpha``; ``xi`` is the weights' current learning rate."""
        grads = self.alpha_gradient(x_train, y_train, x_val, y_val, xi)
        for alpha, g in zip(self.model.arch_parameters(), grads):
            alpha.grad = g
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


# ----------------------------------------------------------------------------------------------
# The derived (discrete) network
# ----------------------------------------------------------------------------------------------
class DiscreteCell(nn.Module):
    """A cell with one fixed operation per kept edge: node ``j`` adds its two operations."""

    def __init__(
        self,
        genes: tuple[tuple[str, int], ...],
        C_pp: int,
        C_p: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        dim: int = 2,
    ) -> None:
        super().__init__()
        self.inputs = [i for _, i in genes]
        self.pre0, self.pre1 = _preprocess(C_pp, C_p, C, reduction_prev, dim, affine=True)
        self.ops = nn.ModuleList(
            OPS[name](C, 2 if reduction and i < 2 else 1, dim, True) for name, i in genes
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for a, b in zip(range(0, len(self.ops), 2), range(1, len(self.ops), 2)):
            states.append(
                self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]])
            )
        return torch.cat(states[2:], dim=1)


class DiscreteNetwork(_Backbone):
    """The network a :class:`Genotype` describes, built to be trained from scratch."""

    def __init__(self, genotype: Genotype, in_channels: int, n_classes: int, C: int = 8,
                 n_cells: int = 3, dim: int = 2, stem_multiplier: int = 3) -> None:
        super().__init__()
        for name, _ in genotype.normal + genotype.reduce:
            if name not in OPS:
                raise ValueError(f"unknown operation {name!r} in genotype")
        self.genotype = genotype
        self._build(
            in_channels, n_classes, C, n_cells, genotype.n_nodes, dim, stem_multiplier,
            lambda C_pp, C_p, C_cur, red, red_prev: DiscreteCell(
                genotype.reduce if red else genotype.normal, C_pp, C_p, C_cur, red, red_prev, dim
            ),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self._head(s1)


# ----------------------------------------------------------------------------------------------
# The search loop
# ----------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """What :func:`search` returns.

    Attributes
    ----------
    genotype : Genotype
        The derived architecture after the last epoch.
    alpha_normal, alpha_reduce : list of ndarray
        ``softmax(alpha)`` of each cell type before the search and after every epoch,
        each of shape (n_edges, n_ops): the history to plot.
    genotypes : list of Genotype
        The derived architecture after every epoch.
    train_acc, val_acc : list of float
        Supernet accuracy on the training split (running) and the validation split, per epoch.
    seconds : float
        Wall time of the search.
    model : Network
        The trained supernet.
    """

    genotype: Genotype
    alpha_normal: list[np.ndarray] = field(default_factory=list)
    alpha_reduce: list[np.ndarray] = field(default_factory=list)
    genotypes: list[Genotype] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0
    model: Network | None = None


def search(
    data: Splits,
    *,
    epochs: int = 10,
    C: int = 8,
    n_cells: int = 3,
    n_nodes: int = 4,
    primitives: tuple[str, ...] = PRIMITIVES,
    batch_size: int = 64,
    w_lr: float = 0.05,
    w_momentum: float = 0.9,
    w_weight_decay: float = 3e-4,
    arch_lr: float = 3e-2,
    arch_weight_decay: float = 1e-3,
    second_order: bool = False,
    warmup_epochs: int = 0,
    model: Network | None = None,
    seed: int = 0,
    progress: bool = False,
) -> SearchResult:
    """Run DARTS: alternate an ``alpha`` step on a validation batch with a ``w`` step on a
    training batch, for ``epochs`` passes over the training split.

    The weights use SGD with momentum and a cosine learning-rate schedule, as in the paper; in
    the second-order variant ``xi`` equals the current weight learning rate. During the first
    ``warmup_epochs`` only the weights train, so that ``alpha`` is not judged on an untrained
    supernet (a common remedy for the early advantage of parameter-free operations);
    ``warmup_epochs = epochs`` trains the weights of a fixed ``alpha``.

    ``model`` warm-starts the search: instead of a new supernet (random weights, near-uniform
    ``alpha``) it continues from the given one, which it trains in place; its shape settings
    (``C``, ``n_cells``, ``n_nodes``, ``primitives``) are then its own and those arguments are
    ignored. :mod:`minnas.nas.metanas` starts from a meta-learned supernet this way.

    The weights train on ``data``'s training split, ``alpha`` on its validation split; the
    test split is left for judging the derived network. Returns a :class:`SearchResult`.
    """
    epochs = check_int(epochs, "epochs", low=1)
    warmup_epochs = check_int(warmup_epochs, "warmup_epochs", 0, epochs)
    seed_everything(seed)
    train = data.loader("train", batch_size, seed=seed)
    val = data.loader("val", batch_size, seed=seed + 1)
    if model is None:
        model = Network(data.in_channels, data.n_classes, C, n_cells, n_nodes, primitives,
                        data.dim)
    elif not isinstance(model, Network):
        raise ValueError(f"model must be a darts.Network to warm-start from, got "
                         f"{type(model).__name__}")
    w_optimizer = torch.optim.SGD(model.weight_parameters(), lr=w_lr, momentum=w_momentum,
                                  weight_decay=w_weight_decay)
    steps_per_epoch = len(train)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(w_optimizer, epochs * steps_per_epoch)
    architect = Architect(model, arch_lr, weight_decay=arch_weight_decay, second_order=second_order)

    result = SearchResult(genotype=model.genotype(), model=model)

    def record() -> None:
        result.alpha_normal.append(F.softmax(model.alpha_normal, -1).detach().numpy().copy())
        result.alpha_reduce.append(F.softmax(model.alpha_reduce, -1).detach().numpy().copy())

    record()
    start = time.perf_counter()
    model.train()
    # one tick per training step, so the bar moves (and estimates the time left) within an epoch
    bar = tqdm(total=epochs * steps_per_epoch, desc="DARTS", unit="step", disable=not progress,
               file=sys.stdout)
    postfix: dict[str, str] = {}
    for epoch in range(epochs):
        correct = seen = 0
        val_batches = iter(val)
        postfix["epoch"] = f"{epoch + 1}/{epochs}"
        bar.set_postfix(postfix, refresh=False)
        for x, y in train:
            if epoch >= warmup_epochs:
                x_v, y_v = next(val_batches, (None, None))
                if x_v is None:  # the validation split is smaller: start another pass
                    val_batches = iter(val)
                    x_v, y_v = next(val_batches)
                architect.step(x, y, x_v, y_v, xi=schedule.get_last_lr()[0])
            w_optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            F.cross_entropy(logits, y).backward()
            nn.utils.clip_grad_norm_(model.weight_parameters(), 5.0)
            w_optimizer.step()
            schedule.step()
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.update()
        record()
        result.genotypes.append(model.genotype())
        result.train_acc.append(correct / seen)
        result.val_acc.append(evaluate(model, data.tensors("val")))
        postfix["val"] = f"{result.val_acc[-1]:.3f}"
        bar.set_postfix(postfix)
    bar.close()
    result.seconds = time.perf_counter() - start
    result.genotype = result.genotypes[-1]
    return result
