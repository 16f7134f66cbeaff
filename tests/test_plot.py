"""minnas.plot: each figure holds what it should, draws on the axes it is given, checks shapes."""

import matplotlib

matplotlib.use("Agg")

from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Circle, FancyArrowPatch, Rectangle

from minnas.nas import darts
from minnas.nas.ops import PRIMITIVES
from minnas.plot import draw_cell, node_label, plot_alpha_history, plot_edge_weights


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def softmax_rows(a):
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def alpha_history(n_nodes=4, epochs=5, seed=0):
    rng = np.random.default_rng(seed)
    return [softmax_rows(0.3 * e * rng.normal(size=(darts.n_edges(n_nodes), len(PRIMITIVES))))
            for e in range(epochs + 1)]


def tick_labels(ax, axis="y"):
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in ticks]


# ------------------------------------------------------------------------- node_label
def test_node_labels_follow_the_edge_numbering_of_darts():
    assert [node_label(i) for i in range(5)] == ["c_{k-2}", "c_{k-1}", "0", "1", "2"]
    with pytest.raises(ValueError):
        node_label(-1)


@pytest.mark.parametrize("n_nodes", [1, 2, 3, 4, 5])
def test_edge_order_matches_darts(n_nodes):
    # plot restates the edge order to stay free of torch; it must agree with the library
    from minnas.plot import _edges

    assert _edges(n_nodes) == darts.edge_inputs(n_nodes)


# ----------------------------------------------------------------- plot_alpha_history
def test_alpha_history_is_one_image_of_mean_weights_operations_by_epochs():
    alphas = alpha_history(epochs=5)
    fig, ax = plt.subplots()
    out = plot_alpha_history(alphas, PRIMITIVES, ax=ax, title="normal")
    assert out is ax
    assert len(ax.images) == 1
    data = np.asarray(ax.images[0].get_array())
    assert data.shape == (len(PRIMITIVES), 6)
    np.testing.assert_allclose(data, np.mean(alphas, axis=1).T)
    assert tick_labels(ax) == list(PRIMITIVES)
    assert ax.get_title() == "normal"
    assert "epoch" in ax.get_xlabel()
    assert len(fig.axes) == 2, "a colour bar next to the heat map"
    # the colour scale is centred on the uniform weight where the search starts
    assert ax.images[0].norm.vcenter == pytest.approx(1 / len(PRIMITIVES))


def test_alpha_history_makes_its_own_axes_and_accepts_a_single_epoch():
    ax = plot_alpha_history(alpha_history(epochs=0), PRIMITIVES)
    assert len(ax.images) == 1 and np.asarray(ax.images[0].get_array()).shape == (7, 1)
    assert ax.get_title() == ""


def test_alpha_history_rejects_bad_input():
    alphas = alpha_history(epochs=2)
    with pytest.raises(ValueError, match="empty"):
        plot_alpha_history([], PRIMITIVES)
    with pytest.raises(ValueError, match="primitives"):
        plot_alpha_history(alphas, PRIMITIVES[:-1])
    with pytest.raises(ValueError, match="shape"):
        plot_alpha_history(alphas + [alphas[0][:5]], PRIMITIVES)
    with pytest.raises(ValueError, match="shape"):
        plot_alpha_history([a.ravel() for a in alphas], PRIMITIVES)


# ------------------------------------------------------------------ plot_edge_weights
def test_edge_weights_label_every_edge_and_annotate_every_square():
    w = alpha_history(n_nodes=3)[-1]
    fig, ax = plt.subplots()
    assert plot_edge_weights(w, PRIMITIVES, ax=ax) is ax
    assert len(ax.images) == 1
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), w)
    expected = [f"{node_label(i)} -> {node}" for node, i in darts.edge_inputs(3)]
    assert tick_labels(ax) == expected
    assert tick_labels(ax)[:2] == ["c_{k-2} -> 0", "c_{k-1} -> 0"]
    assert tick_labels(ax, "x") == list(PRIMITIVES)
    assert len(ax.texts) == w.size
    assert [t.get_text() for t in ax.texts][:2] == [f"{w[0, 0]:.2f}", f"{w[0, 1]:.2f}"]
    assert not [p for p in ax.patches if isinstance(p, Rectangle)]


def test_edge_weights_outline_the_derived_operations():
    w = alpha_history(n_nodes=4, seed=1)[-1]
    genes = darts.derive_cell(w, PRIMITIVES)
    ax = plot_edge_weights(w, PRIMITIVES, genes=genes, annotate=False)
    assert len(ax.texts) == 0
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(boxes) == len(genes) == 8
    edges = darts.edge_inputs(4)
    expected = {(PRIMITIVES.index(op), edges.index((k // 2, i))) for k, (op, i) in enumerate(genes)}
    corners = {(round(b.get_x() + 0.5), round(b.get_y() + 0.5)) for b in boxes}
    assert corners == expected


def test_edge_weights_reject_bad_input():
    w = alpha_history(n_nodes=2)[-1]
    with pytest.raises(ValueError, match="shape"):
        plot_edge_weights(w, PRIMITIVES[:3])
    with pytest.raises(ValueError, match="shape"):
        plot_edge_weights(w.ravel(), PRIMITIVES)
    with pytest.raises(ValueError, match="edges"):
        plot_edge_weights(np.ones((6, 7)) / 7, PRIMITIVES)  # 6 is no n(n+3)/2
    with pytest.raises(ValueError, match="genes"):
        plot_edge_weights(w, PRIMITIVES, genes=[("conv_3", 0), ("conv_3", 1)])
    with pytest.raises(ValueError, match="not an edge"):
        plot_edge_weights(w, PRIMITIVES, genes=[("conv_3", 0), ("conv_3", 2)] * 2)
    with pytest.raises(ValueError, match="not an edge"):
        plot_edge_weights(w, PRIMITIVES, genes=[("conv_9", 0), ("conv_3", 1)] * 2)


# -------------------------------------------------------------------------- draw_cell
@pytest.mark.parametrize("n_nodes", [1, 2, 4, 5])
def test_draw_cell_has_a_circle_per_node_and_a_labelled_arrow_per_gene(n_nodes):
    genes = darts.random_genotype(n_nodes, seed=n_nodes).normal
    fig, ax = plt.subplots()
    assert draw_cell(genes, ax=ax, title="cell") is ax
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(circles) == n_nodes + 3  # two inputs, the nodes, the output
    assert len(arrows) == 2 * n_nodes + n_nodes  # one per gene, one per node into the output
    texts = Counter(t.get_text() for t in ax.texts)
    assert texts == Counter(op for op, _ in genes) + Counter(
        ["$c_{k-2}$", "$c_{k-1}$", "$c_{k}$"] + [f"${j}$" for j in range(n_nodes)])
    assert ax.get_title() == "cell"
    fig.canvas.draw()  # the arrows clip against the circles at draw time


def test_draw_cell_edges_start_and_end_at_the_right_nodes():
    genes = (("conv_3", 0), ("skip_connect", 1), ("max_pool_3", 1), ("sep_conv_3", 2))
    fig, ax = plt.subplots()
    draw_cell(genes, ax=ax)
    fig.canvas.draw()
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    ends = [(i, k // 2 + 2) for k, (_, i) in enumerate(genes)] + [(2, 4), (3, 4)]
    for arrow, (src, dst) in zip(arrows, ends):
        # the drawn path (data coordinates) is clipped by the two circles it connects
        path = arrow.get_path().vertices
        r_src, r_dst = circles[src].get_radius(), circles[dst].get_radius()
        # (plus the arrow's small default shrink of 2 points); nodes are far apart, so a
        # tolerance of 0.2 data units tells them apart
        assert r_src <= np.linalg.norm(path[0] - circles[src].center) <= r_src + 0.2
        assert np.min(np.linalg.norm(path - circles[dst].center, axis=1)) <= r_dst + 0.2


def test_draw_cell_rejects_bad_genes():
    with pytest.raises(ValueError, match="2"):
        draw_cell(())
    with pytest.raises(ValueError, match="2"):
        draw_cell((("conv_3", 0), ("conv_3", 1), ("conv_3", 0)))
    with pytest.raises(ValueError, match="input 2"):
        draw_cell((("conv_3", 0), ("conv_3", 2)))  # node 0 sees only the two cell inputs
    with pytest.raises(ValueError, match="input -1"):
        draw_cell((("conv_3", -1), ("conv_3", 1)))
