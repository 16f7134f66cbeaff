"""The course's figures: small matplotlib functions that draw what the library returns.

Every function takes an optional ``ax`` (a new figure is made when it is ``None``) and returns
the axes it drew on, so that a lesson can put several figures side by side and add to them.

- :func:`plot_alpha_history` -- the softmax weights of DARTS' operations over the epochs of a
  search (``SearchResult.alpha_normal``), averaged over a cell's edges: a heat map with one row
  per operation and one column per epoch.
- :func:`plot_edge_weights` -- the weights of one cell after the search, one row per edge,
  optionally with the operations that the derived cell keeps outlined.
- :func:`draw_cell` -- a discrete cell (``Genotype.normal`` or ``.reduce``) as a graph: the two
  cell inputs, the intermediate nodes and the output, with each edge labelled by its operation.

In the heat maps the colour scale is centred on the uniform weight ``1 / |O|`` (white), where
DARTS starts: red means an operation gained weight during the search, blue that it lost weight.

This module needs only numpy and matplotlib; it sits below every algorithm in the library.
"""

from __future__ import annotations

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Circle, FancyArrowPatch, Rectangle

__all__ = ["plot_alpha_history", "plot_edge_weights", "draw_cell", "node_label"]


def node_label(i: int) -> str:
    """Name of input ``i`` of a cell, numbered as in ``minnas.nas.darts.edge_inputs``.

    Inputs 0 and 1 are the outputs of the two previous cells, ``c_{k-2}`` and ``c_{k-1}``;
    input ``i >= 2`` is intermediate node ``i - 2``.
    """
    if i < 0:
        raise ValueError(f"an input index is >= 0, got {i}")
    return ("c_{k-2}", "c_{k-1}")[i] if i < 2 else str(i - 2)


def _edges(n_nodes: int) -> list[tuple[int, int]]:
    # (node, input) in the row order of alpha: node j has the j + 2 inputs 0 .. j + 1.
    # The same list as minnas.nas.darts.edge_inputs, restated so that plotting needs no torch.
    return [(node, i) for node in range(n_nodes) for i in range(node + 2)]


def _n_nodes(n_edges: int) -> int:
    """The number of nodes of a cell with ``n_edges = n (n + 3) / 2`` edges, or ValueError."""
    n = int(round((np.sqrt(9 + 8 * n_edges) - 3) / 2))
    if n < 1 or n * (n + 3) // 2 != n_edges:
        raise ValueError(f"{n_edges} edges do not form a cell (expected n(n+3)/2 rows)")
    return n


def _uniform_norm(values: np.ndarray, n_ops: int) -> TwoSlopeNorm:
    """A colour scale with the uniform weight 1 / n_ops in the middle."""
    centre = 1.0 / n_ops
    low = min(float(values.min()), centre - 1e-3)
    high = max(float(values.max()), centre + 1e-3)
    return TwoSlopeNorm(vcenter=centre, vmin=low, vmax=high)


def _new_axes(ax: Axes | None, figsize: tuple[float, float], title: str | None = None) -> Axes:
    """``ax``, or the axes of a new figure of ``figsize``; with ``title`` when one is given."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    if title is not None:
        ax.set_title(title)
    return ax


def plot_alpha_history(alphas, primitives, ax: Axes | None = None,
                       title: str | None = None) -> Axes:
    """Heat map of the mean operation weight over a cell's edges, epoch by epoch.

    Parameters
    ----------
    alphas : sequence of array_like, each of shape (n_edges, n_ops)
        ``softmax(alpha)`` before the search and after every epoch, as in
        ``SearchResult.alpha_normal`` or ``.alpha_reduce``.
    primitives : sequence of str
        Operation names, in the column order of the arrays.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    title : str, optional
        Title of the axes.

    Returns
    -------
    matplotlib Axes
        One image: rows are operations, columns epochs (column 0 is the start), with a
        colour bar centred on the uniform weight ``1 / n_ops``.

    Raises
    ------
    ValueError
        If ``alphas`` is empty, the arrays differ in shape, or their columns do not match
        ``primitives``.
    """
    shapes = sorted({np.shape(a) for a in alphas})
    if len(shapes) != 1 or len(shapes[0]) != 2 or shapes[0][1] != len(primitives):
        raise ValueError(f"alphas must be a non-empty sequence of arrays of one shape (n_edges, "
                         f"{len(primitives)}), a column for each of the primitives; got shapes "
                         f"{shapes}")
    mean = np.asarray(alphas, dtype=float).mean(axis=1).T  # (n_ops, n_epochs + 1)
    ax = _new_axes(ax, (1.2 + 0.45 * mean.shape[1], 0.5 + 0.35 * len(primitives)), title)
    image = ax.imshow(mean, aspect="auto", cmap="RdBu_r",
                      norm=_uniform_norm(mean, len(primitives)))
    ax.figure.colorbar(image, ax=ax, label="mean weight over edges")
    ax.set_yticks(range(len(primitives)), list(primitives))
    ax.set_xticks(range(mean.shape[1]))
    ax.set_xlabel("epoch (0 = before the search)")
    return ax


def plot_edge_weights(weights, primitives, ax: Axes | None = None,
                      genes=None, annotate: bool = True) -> Axes:
    """Heat map of one cell's operation weights, one row per edge.

    Parameters
    ----------
    weights : array_like of shape (n_edges, n_ops)
        ``softmax(alpha)`` of one cell type, rows in the order of ``edge_inputs``.
    primitives : sequence of str
        Operation names, in the column order of ``weights``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    genes : sequence of (str, int), optional
        A derived cell (two ``(operation, input)`` pairs per node): the kept operation of every
        kept edge is outlined with a black rectangle.
    annotate : bool, default True
        Write every weight into its square.

    Returns
    -------
    matplotlib Axes
        One image; rows labelled ``"c_{k-1} -> 0"`` (input -> node).

    Raises
    ------
    ValueError
        If ``weights`` is not 2-D, its columns do not match ``primitives``, its rows do not
        form a cell, or ``genes`` does not fit it.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[1] != len(primitives):
        raise ValueError(f"weights must have shape (n_edges, {len(primitives)}), got {w.shape}")
    n_nodes = _n_nodes(w.shape[0])
    edges = _edges(n_nodes)
    ax = _new_axes(ax, (1.5 + 0.75 * len(primitives), 0.6 + 0.3 * len(edges)))
    image = ax.imshow(w, aspect="auto", cmap="RdBu_r", norm=_uniform_norm(w, len(primitives)))
    ax.figure.colorbar(image, ax=ax, label="weight")
    ax.set_yticks(range(len(edges)), [f"{node_label(i)} -> {node}" for node, i in edges])
    ax.set_xticks(range(len(primitives)), list(primitives), rotation=45, ha="right")
    if annotate:
        for (r, c), value in np.ndenumerate(w):
            ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=7)
    if genes is not None:
        if len(genes) != 2 * n_nodes:
            raise ValueError(f"genes must hold 2 (op, input) pairs per node, got {len(genes)}")
        row = {edge: r for r, edge in enumerate(edges)}
        for k, (op, i) in enumerate(genes):
            if op not in primitives or (k // 2, i) not in row:
                raise ValueError(f"gene {(op, i)} of node {k // 2} is not an edge of this cell")
            r, c = row[k // 2, i], list(primitives).index(op)
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="black", lw=2))
    return ax


def draw_cell(genes, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Draw a discrete cell as an arc diagram: inputs, intermediate nodes, output, left to right.

    Parameters
    ----------
    genes : sequence of (str, int)
        ``(operation, input)`` pairs, two per intermediate node, as in ``Genotype.normal``;
        inputs are numbered as in ``edge_inputs`` (0: ``c_{k-2}``, 1: ``c_{k-1}``, ``i >= 2``:
        node ``i - 2``).
    ax, title
        As in :func:`plot_alpha_history`.

    Returns
    -------
    matplotlib Axes
        One circle per node (``n_nodes + 3``), one labelled arrow per gene (an arc above the
        nodes) and an unlabelled, dashed arrow from every intermediate node to the output
        ``c_{k}``, the concatenation (an arc below).

    Raises
    ------
    ValueError
        If ``genes`` is empty, has an odd length, or a node takes an input that is not earlier
        in the cell.
    """
    genes = [(str(op), int(i)) for op, i in genes]
    if not genes or len(genes) % 2:
        raise ValueError(f"genes must hold 2 (op, input) pairs per node, got {len(genes)}")
    n_nodes = len(genes) // 2
    for k, (_, i) in enumerate(genes):
        if not 0 <= i < k // 2 + 2:
            raise ValueError(f"node {k // 2} cannot take input {i} (inputs 0 .. {k // 2 + 1})")

    # An arc diagram: all nodes on one line in topological order, every labelled edge an arc
    # above it whose height grows with the distance it spans, the output edges arcs below.
    step, radius, bend, bend_out = 2.6, 0.45, 0.5, 0.25
    keys = [0, 1, *range(2, n_nodes + 2), "out"]
    pos = {key: (step * k, 0.0) for k, key in enumerate(keys)}
    top = bend * (pos[n_nodes + 1][0] - pos[0][0]) / 2 + 0.5
    bottom = bend_out * (pos["out"][0] - pos[2][0]) / 2 + 0.5
    right = pos["out"][0] + 0.6
    ax = _new_axes(ax, (0.45 * (right + 0.6), 0.45 * (top + bottom) + 0.5), title)
    colours = {0: "#a6cee3", 1: "#a6cee3", "out": "#fdbf6f"}
    circles = {}
    for key, (x, y) in pos.items():
        circle = Circle((x, y), radius, fc=colours.get(key, "#b2df8a"), ec="black", zorder=3)
        ax.add_patch(circle)
        circles[key] = circle
        label = "c_{k}" if key == "out" else node_label(key)
        ax.text(x, y, f"${label}$", ha="center", va="center", fontsize=9, zorder=4)

    def arrow(src, dst, rad, **style):
        ax.add_patch(FancyArrowPatch(pos[src], pos[dst], connectionstyle=f"arc3,rad={rad}",
                                     arrowstyle="-|>", mutation_scale=14, patchA=circles[src],
                                     patchB=circles[dst], zorder=2, **style))

    for k, (op, i) in enumerate(genes):
        node = k // 2 + 2
        arrow(i, node, -bend, color="black", lw=1.2)
        # The top of the arc: arc3 bends a straight edge of length d by rad * d / 2 at its
        # middle (the aspect is equal, so data and display units agree).
        span = pos[node][0] - pos[i][0]
        ax.text(pos[i][0] + span / 2, bend * span / 2, op, ha="center", va="center", fontsize=8,
                zorder=5, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))
    for j in range(n_nodes):
        arrow(j + 2, "out", bend_out, color="grey", lw=0.8, ls="--")
    ax.set_xlim(-0.6, right)
    ax.set_ylim(-bottom, top)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax
