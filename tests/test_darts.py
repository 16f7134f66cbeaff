"""minnas.nas.darts: cell topology, the mixed operation (eq. 1) against an explicit sum, the
discretisation against a brute-force oracle, the architecture gradient (eqs. 6-8) against
autograd and finite differences, and the search loop's bookkeeping and reproducibility."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from minnas.data import Splits, load_digits
from minnas.nas.darts import (
    Architect,
    DiscreteNetwork,
    Genotype,
    MixedOp,
    Network,
    SearchResult,
    derive_cell,
    edge_inputs,
    n_edges,
    random_genotype,
    search,
    skip_share,
)
from minnas.nas.ops import OPS, PRIMITIVES

torch.set_num_threads(1)

N_CLASSES = 3


def batch(dim, n=6, size=None, seed=0, dtype=torch.float32):
    size = size or (12 if dim == 1 else 8)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, *([size] * dim), generator=g, dtype=dtype)
    return x, torch.randint(0, N_CLASSES, (n,), generator=g)


def tiny_network(dim=1, seed=0, primitives=PRIMITIVES, n_cells=3, dtype=torch.float32,
                 alpha_scale=0.5):
    """C=4, two nodes; alpha spread out (not near-uniform) so that its gradient is informative."""
    torch.manual_seed(seed)
    net = Network(1, N_CLASSES, C=4, n_cells=n_cells, n_nodes=2, primitives=primitives,
                  dim=dim).to(dtype)
    with torch.no_grad():
        for alpha in net.arch_parameters():
            alpha.normal_(0.0, alpha_scale)
    return net.train()


def relative_error(a, b):
    return ((a - b).norm() / b.norm()).item()


def flat(tensors):
    return torch.cat([t.flatten() for t in tensors])


# ---------------------------------------------------------------------------- cell topology
@pytest.mark.parametrize("n_nodes", [1, 2, 3, 4, 5])
def test_edge_inputs_enumerate_every_earlier_state_in_alpha_row_order(n_nodes):
    edges = edge_inputs(n_nodes)
    assert len(edges) == n_edges(n_nodes) == sum(j + 2 for j in range(n_nodes))
    expected = [(j, i) for j in range(n_nodes) for i in range(j + 2)]
    assert edges == expected
    assert len(set(edges)) == len(edges)


# -------------------------------------------------------------------------- MixedOp, eq. (1)
@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_op_is_the_weighted_sum_of_its_operations(dim, stride):
    torch.manual_seed(0)
    mixed = MixedOp(4, stride, PRIMITIVES, dim).train()
    ops = list(mixed._ops)
    assert len(ops) == len(PRIMITIVES)
    x = torch.randn(3, 4, *([7] * dim))
    weights = F.softmax(torch.randn(len(PRIMITIVES)), dim=0)
    out = mixed(x, weights)
    oracle = torch.zeros_like(out)
    for w, op in zip(weights, ops):
        oracle = oracle + w * op(x)
    torch.testing.assert_close(out, oracle, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_op_with_one_hot_weights_is_that_operation(dim, stride):
    torch.manual_seed(1)
    mixed = MixedOp(4, stride, PRIMITIVES, dim).train()
    x = torch.randn(3, 4, *([7] * dim))
    for k, op in enumerate(mixed._ops):
        one_hot = F.one_hot(torch.tensor(k), len(PRIMITIVES)).float()
        torch.testing.assert_close(mixed(x, one_hot), op(x), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------- Network
@pytest.mark.parametrize("dim", [1, 2])
def test_network_forward_shape_and_gradient_reaches_both_alphas(dim):
    net = tiny_network(dim)
    x, y = batch(dim)
    logits = net(x)
    assert logits.shape == (len(x), N_CLASSES)
    assert torch.isfinite(logits).all()
    F.cross_entropy(logits, y).backward()
    for alpha in net.arch_parameters():
        assert alpha.shape == (n_edges(2), len(PRIMITIVES))
        assert alpha.grad is not None and alpha.grad.abs().sum() > 0


def test_arch_and_weight_parameters_partition_all_parameters():
    net = tiny_network()
    arch = {id(p) for p in net.arch_parameters()}
    weights = {id(p) for p in net.weight_parameters()}
    everything = {id(p) for p in net.parameters()}
    assert arch.isdisjoint(weights)
    assert arch | weights == everything
    assert len(net.weight_parameters()) == len(list(net.parameters())) - 2
    assert net.arch_parameters()[0] is net.alpha_normal
    assert net.arch_parameters()[1] is net.alpha_reduce


def test_network_genotype_is_derived_from_softmax_alpha():
    net = tiny_network()
    genotype = net.genotype()
    assert genotype.n_nodes == 2
    assert genotype.normal == derive_cell(F.softmax(net.alpha_normal, -1), PRIMITIVES)
    assert genotype.reduce == derive_cell(F.softmax(net.alpha_reduce, -1), PRIMITIVES)


@pytest.mark.parametrize("kwargs", [
    dict(primitives=("none", "no_such_op")), dict(primitives=()), dict(n_cells=0),
    dict(n_nodes=0), dict(C=1),
], ids=["unknown-op", "no-ops", "n_cells=0", "n_nodes=0", "C=1"])
def test_network_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        Network(1, N_CLASSES, **{"C": 4, **kwargs})


# ------------------------------------------------------------------------------ derive_cell
def test_derive_cell_on_a_hand_made_matrix():
    P = PRIMITIVES
    w = np.full((n_edges(2), len(P)), 0.001)
    # node 0 has only two inputs: both kept; 'none' is never chosen even when largest
    w[0, P.index("none")], w[0, P.index("sep_conv_3")] = 0.9, 0.05
    w[1, P.index("skip_connect")] = 0.6
    # node 1: input 0 has by far the largest weight, but on 'none', so its strength is tiny
    w[2, P.index("none")], w[2, P.index("conv_3")] = 0.99, 0.002
    w[3, P.index("max_pool_3")] = 0.3
    w[4, P.index("dil_conv_3")] = 0.5
    assert derive_cell(w, P) == (("sep_conv_3", 0), ("skip_connect", 1),
                                 ("max_pool_3", 1), ("dil_conv_3", 2))
    # k = 1: the single strongest edge of each node
    assert derive_cell(w, P, k=1) == (("skip_connect", 1), ("dil_conv_3", 2))
    # a tensor gives the same as an array
    assert derive_cell(torch.tensor(w, requires_grad=True), P) == derive_cell(w, P)


def test_derive_cell_breaks_ties_towards_the_lower_input():
    P = PRIMITIVES
    w = np.zeros((n_edges(2), len(P)))
    w[:, P.index("conv_3")] = 0.4  # all three edges of node 1 equally strong
    assert [i for _, i in derive_cell(w, P)[2:]] == [0, 1]
    w[3, P.index("conv_3")] = 0.5  # input 1 strongest; inputs 0 and 2 tie: 0 wins
    assert [i for _, i in derive_cell(w, P)[2:]] == [0, 1]
    w[4, P.index("conv_3")] = 0.6
    assert [i for _, i in derive_cell(w, P)[2:]] == [1, 2]


def derive_oracle(w, primitives, k):
    """Brute force: the k-subset of a node's edges all of whose strengths beat every dropped one."""
    allowed = [j for j, name in enumerate(primitives) if name != "none"]
    genes, start = [], 0
    n_nodes = next(n for n in range(1, 20) if n_edges(n) == len(w))
    for node in range(n_nodes):
        rows = w[start:start + node + 2]
        strength = [max(row[j] for j in allowed) for row in rows]
        kept = [
            subset for subset in itertools.combinations(range(node + 2), k)
            if min(strength[i] for i in subset)
            > max([strength[i] for i in range(node + 2) if i not in subset], default=-np.inf)
        ]
        assert len(kept) == 1  # random continuous weights: no ties
        for i in kept[0]:
            genes.append((primitives[max(allowed, key=lambda j: rows[i][j])], i))
        start += node + 2
    return tuple(genes)


@pytest.mark.parametrize("n_nodes", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("primitives", [
    PRIMITIVES,
    ("sep_conv_3", "avg_pool_3", "none", "skip_connect"),  # 'none' not first
    ("conv_3", "skip_connect", "max_pool_3"),  # no 'none' at all
], ids=["default", "none-inside", "no-none"])
def test_derive_cell_agrees_with_brute_force(n_nodes, k, primitives):
    rng = np.random.default_rng(100 * n_nodes + k)
    for _ in range(20):
        alpha = rng.standard_normal((n_edges(n_nodes), len(primitives))) * 2
        weights = np.exp(alpha) / np.exp(alpha).sum(axis=1, keepdims=True)
        assert derive_cell(weights, primitives, k) == derive_oracle(weights, primitives, k)


@pytest.mark.parametrize("bad", [
    dict(weights=np.zeros((5, 6))),  # wrong number of columns
    dict(weights=np.zeros((4, 7))),  # 4 rows do not form a cell
    dict(weights=np.zeros(7)),
    dict(weights=np.zeros((5, 7)), k=0),
    dict(weights=np.zeros((5, 7)), k=3),
    dict(weights=np.zeros((5, 2)), primitives=("none", "none")),
], ids=["columns", "rows", "1-D", "k=0", "k=3", "only-none"])
def test_derive_cell_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        derive_cell(**{"primitives": PRIMITIVES, **bad})


# -------------------------------------------------------------------------- random_genotype
def assert_valid_genotype(genotype, n_nodes, primitives):
    assert isinstance(genotype, Genotype) and genotype.n_nodes == n_nodes
    for cell in (genotype.normal, genotype.reduce):
        assert len(cell) == 2 * n_nodes
        for node in range(n_nodes):
            (op_a, a), (op_b, b) = cell[2 * node], cell[2 * node + 1]
            assert 0 <= a < b < node + 2  # two distinct earlier states, in input order
            for op in (op_a, op_b):
                assert op in primitives and op != "none"


@pytest.mark.parametrize("n_nodes", [1, 2, 4, 5])
def test_random_genotype_is_valid_and_deterministic(n_nodes):
    for seed in range(5):
        genotype = random_genotype(n_nodes, seed=seed)
        assert_valid_genotype(genotype, n_nodes, PRIMITIVES)
        assert random_genotype(n_nodes, seed=seed) == genotype
    if n_nodes > 1:
        assert len({random_genotype(n_nodes, seed=s) for s in range(5)}) > 1


def test_random_genotype_uses_only_the_given_primitives():
    primitives = ("none", "sep_conv_5", "dil_conv_5")
    seen = set()
    for seed in range(10):
        genotype = random_genotype(3, primitives, seed=seed)
        assert_valid_genotype(genotype, 3, primitives)
        seen |= {op for op, _ in genotype.normal + genotype.reduce}
    assert seen == {"sep_conv_5", "dil_conv_5"}


def test_random_genotype_rejects_bad_arguments():
    with pytest.raises(ValueError):
        random_genotype(0)
    with pytest.raises(ValueError):
        random_genotype(2, ("none",))


# -------------------------------------------------------------------------- DiscreteNetwork
@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_discrete_network_builds_and_trains_for_random_genotypes(dim, seed):
    n_nodes = 2 + seed % 2
    genotype = random_genotype(n_nodes, tuple(OPS), seed=seed)  # every operation of OPS
    torch.manual_seed(seed)
    net = DiscreteNetwork(genotype, 1, N_CLASSES, C=4, n_cells=3, dim=dim)
    x, y = batch(dim, seed=seed)
    logits = net(x)
    assert logits.shape == (len(x), N_CLASSES) and torch.isfinite(logits).all()
    F.cross_entropy(logits, y).backward()
    assert all(p.grad is not None for p in net.classifier.parameters())


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("n_cells", [1, 2])
def test_discrete_network_with_few_cells(dim, n_cells):
    net = DiscreteNetwork(random_genotype(2, seed=3), 1, N_CLASSES, C=4, n_cells=n_cells, dim=dim)
    assert net(batch(dim)[0]).shape == (6, N_CLASSES)


def test_discrete_network_from_a_supernet_genotype():
    net = tiny_network(dim=2)
    derived = DiscreteNetwork(net.genotype(), 1, N_CLASSES, C=4, n_cells=3, dim=2)
    assert derived(batch(2)[0]).shape == (6, N_CLASSES)


def test_discrete_network_rejects_unknown_operations():
    genotype = Genotype(normal=(("warp_drive", 0), ("skip_connect", 1)),
                        reduce=(("skip_connect", 0), ("skip_connect", 1)))
    with pytest.raises(ValueError):
        DiscreteNetwork(genotype, 1, N_CLASSES, C=4)


def test_skip_share_counts_parameter_free_edges():
    genotype = Genotype(
        normal=(("skip_connect", 0), ("max_pool_3", 1), ("sep_conv_3", 0), ("avg_pool_3", 2),
                ("conv_3", 1), ("dil_conv_3", 3)),
        reduce=(("sep_conv_3", 0), ("conv_3", 1), ("dil_conv_3", 0), ("skip_connect", 2),
                ("sep_conv_5", 1), ("conv_3", 3)),
    )
    assert skip_share(genotype) == pytest.approx(3 / 6)
    assert skip_share(genotype, "normal") == pytest.approx(3 / 6)
    assert skip_share(genotype, "reduce") == pytest.approx(1 / 6)
    for seed in range(5):
        genotype = random_genotype(3, seed=seed)
        free = sum(op in ("skip_connect", "max_pool_3", "avg_pool_3") for op, _ in genotype.normal)
        assert skip_share(genotype) == pytest.approx(free / 6)


# -------------------------------------------------------------------- Architect: first order
def test_first_order_gradient_is_autograd_of_the_validation_loss():
    net = tiny_network(dtype=torch.float64)
    x_t, y_t = batch(1, seed=1, dtype=torch.float64)
    x_v, y_v = batch(1, seed=2, dtype=torch.float64)
    oracle = torch.autograd.grad(F.cross_entropy(net(x_v), y_v), net.arch_parameters())
    for arch in (Architect(net), Architect(net, second_order=True)):
        for xi in ((0.0, 0.1) if not arch.second_order else (0.0,)):
            # first order ignores xi; second order at xi = 0 is first order
            grads = arch.alpha_gradient(x_t, y_t, x_v, y_v, xi)
            assert len(grads) == 2
            for g, o in zip(grads, oracle):
                torch.testing.assert_close(g, o, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------- Architect: second order
SMOOTH_PRIMITIVES = tuple(p for p in PRIMITIVES if p != "max_pool_3")


def smooth_network(seed):
    """A float64 supernet without kinks: ReLU/ReLU6 swapped for SiLU and no max pooling.

    Equation (8) differences grad_alpha L_train at w +- eps d with ||eps d|| = 0.01. In a
    piecewise-linear network (ReLU, max pooling) that step crosses activation kinks, whose
    gradient jumps dominate the difference quotient: measured relative errors against the exact
    eq. (7) gradient are O(1) there (0.5-1.7 on this tiny net). With smooth activations the
    quotient has its O(eps^2) error only, which is what this test checks.
    """
    net = tiny_network(dim=1, seed=seed, primitives=SMOOTH_PRIMITIVES, dtype=torch.float64)
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, (nn.ReLU, nn.ReLU6)):
                setattr(module, name, nn.SiLU())
    assert not any(isinstance(m, (nn.ReLU, nn.ReLU6, nn.MaxPool1d)) for m in net.modules())
    return net


def unrolled_validation_loss(net, x_t, y_t, x_v, y_v, xi):
    """f(alpha) = L_val(w - xi grad_w L_train(w, alpha), alpha), equation (6), via functional_call.

    Returns f and the alpha names; ``f(alphas, create_graph=True)`` is differentiable in alpha
    through the virtual step (the exact gradient, eq. 7 with the exact Hessian product).
    """
    params = {n: p.detach() for n, p in net.named_parameters()}
    arch = ["alpha_normal", "alpha_reduce"]
    names = [n for n in params if n not in arch]

    def loss(p, x, y):
        return F.cross_entropy(functional_call(net, p, (x,)), y)

    def f(alphas, create_graph=False):
        w = [params[n].clone().requires_grad_() for n in names]
        p = {**params, **dict(zip(arch, alphas)), **dict(zip(names, w))}
        g = torch.autograd.grad(loss(p, x_t, y_t), w, create_graph=create_graph)
        return loss({**p, **{n: wi - xi * gi for n, wi, gi in zip(names, w, g)}}, x_v, y_v)

    return f, [params[n] for n in arch]


@pytest.mark.parametrize("seed", [0, 3])
def test_second_order_gradient_matches_finite_differences(seed):
    xi, h = 0.05, 1e-5
    net = smooth_network(seed)
    x_t, y_t = batch(1, n=8, seed=seed + 1, dtype=torch.float64)
    x_v, y_v = batch(1, n=8, seed=seed + 2, dtype=torch.float64)
    f, alpha0 = unrolled_validation_loss(net, x_t, y_t, x_v, y_v, xi)

    ours = flat(Architect(net, second_order=True).alpha_gradient(x_t, y_t, x_v, y_v, xi))
    first = flat(Architect(net).alpha_gradient(x_t, y_t, x_v, y_v, xi))

    # Central differences of f along random directions in alpha-space (the oracle).
    g = torch.Generator().manual_seed(seed)
    directions = [flat(torch.randn(a.shape, generator=g, dtype=torch.float64) for a in alpha0)
                  for _ in range(4)]
    fd = []
    for v in directions:
        step = [h * u.view_as(a) for a, u in zip(alpha0, v.split([a.numel() for a in alpha0]))]
        up = f([a + s for a, s in zip(alpha0, step)])
        down = f([a - s for a, s in zip(alpha0, step)])
        fd.append(((up - down) / (2 * h)).item())
    fd, V = torch.tensor(fd, dtype=torch.float64), torch.stack(directions)

    # The full gradient through the virtual step by double backprop; it must agree with the
    # finite differences to their own accuracy before it can serve as a second oracle.
    alphas = [a.clone().requires_grad_() for a in alpha0]
    exact = flat(torch.autograd.grad(f(alphas, create_graph=True), alphas))
    assert relative_error(V @ exact, fd) < 1e-6

    # Eq. (8)'s own finite difference (eps = 0.01 / ||grad||) limits the agreement: measured
    # 1e-4 .. 3e-3 relative over a dozen seeds; first order is 0.2 .. 0.7 away.
    assert relative_error(V @ ours, fd) < 2e-2
    assert relative_error(ours, exact) < 2e-2
    assert relative_error(V @ first, fd) > 0.1
    assert relative_error(first, exact) > 0.1


def test_second_order_implements_equation_8_on_the_default_relu_supernet():
    # Independent implementation of eqs. (7) and (8) with the same eps: agreement up to rounding
    # even where kinks make eq. (8) a poor estimate of the true derivative.
    xi = 0.05
    net = tiny_network(dtype=torch.float64)
    x_t, y_t = batch(1, n=8, seed=5, dtype=torch.float64)
    x_v, y_v = batch(1, n=8, seed=6, dtype=torch.float64)
    params = {n: p.detach() for n, p in net.named_parameters()}
    arch = ["alpha_normal", "alpha_reduce"]
    names = [n for n in params if n not in arch]

    def loss(p, x, y):
        return F.cross_entropy(functional_call(net, p, (x,)), y)

    def grads(p, x, y, wrt):
        leaves = {n: p[n].clone().requires_grad_() for n in wrt}
        return torch.autograd.grad(loss({**p, **leaves}, x, y), list(leaves.values()))

    g_w = grads(params, x_t, y_t, names)
    w_prime = {**params, **{n: params[n] - xi * g for n, g in zip(names, g_w)}}
    d = grads(w_prime, x_v, y_v, arch + names)
    d_alpha, d_w = d[:2], d[2:]
    eps = 0.01 / flat(d_w).norm()
    plus = grads({**params, **{n: params[n] + eps * g for n, g in zip(names, d_w)}},
                 x_t, y_t, arch)
    minus = grads({**params, **{n: params[n] - eps * g for n, g in zip(names, d_w)}},
                  x_t, y_t, arch)
    oracle = [a - xi * (p - m) / (2 * eps) for a, p, m in zip(d_alpha, plus, minus)]

    ours = Architect(net, second_order=True).alpha_gradient(x_t, y_t, x_v, y_v, xi)
    for o, r in zip(ours, oracle):
        torch.testing.assert_close(o, r, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n_cells", [1, 2])
def test_supernet_needs_both_cell_types(n_cells):
    # With fewer than 3 cells every cell would be a reduction cell and alpha_normal unused.
    with pytest.raises(ValueError, match="n_cells >= 3"):
        Network(1, 3, C=4, n_cells=n_cells, n_nodes=2, dim=1)


# --------------------------------------------------------------------------- Architect.step
@pytest.mark.parametrize("second_order", [False, True])
def test_architect_step_moves_only_alpha_by_one_adam_step(second_order):
    net = tiny_network()
    x_t, y_t = batch(1, seed=1)
    x_v, y_v = batch(1, seed=2)
    xi = 0.05
    weights_before = [p.detach().clone() for p in net.weight_parameters()]
    alphas_before = [a.detach().clone() for a in net.arch_parameters()]

    # the reference: the same gradient through a fresh Adam with the same settings
    kwargs = dict(lr=0.02, betas=(0.5, 0.999), weight_decay=1e-3)
    grads = Architect(net, second_order=second_order).alpha_gradient(x_t, y_t, x_v, y_v, xi)
    reference = [a.clone().requires_grad_() for a in alphas_before]
    opt = torch.optim.Adam(reference, **kwargs)
    for r, g in zip(reference, grads):
        r.grad = g.clone()
    opt.step()

    Architect(net, second_order=second_order, **kwargs).step(x_t, y_t, x_v, y_v, xi)
    for before, p in zip(weights_before, net.weight_parameters()):
        assert torch.equal(before, p)
        assert p.grad is None
    for before, alpha, ref in zip(alphas_before, net.arch_parameters(), reference):
        assert not torch.equal(before, alpha)
        torch.testing.assert_close(alpha.detach(), ref.detach(), rtol=1e-5, atol=1e-6)
        assert alpha.grad is None


def test_architect_rejects_non_positive_learning_rate():
    for lr in (0.0, -1e-3):
        with pytest.raises(ValueError):
            Architect(tiny_network(), lr=lr)


# ---------------------------------------------------------------------------------- search
SEARCH = dict(C=4, n_cells=3, n_nodes=2, batch_size=50)


@pytest.fixture(scope="module")
def digits():
    return load_digits(n_train=100, n_val=100, n_test=50)


@pytest.fixture(scope="module")
def two_epochs(digits):
    return search(digits, epochs=2, seed=0, **SEARCH)


def test_search_result_structure(two_epochs):
    result = two_epochs
    assert isinstance(result, SearchResult) and isinstance(result.model, Network)
    shape = (n_edges(2), len(PRIMITIVES))
    for history in (result.alpha_normal, result.alpha_reduce):
        assert len(history) == 2 + 1
        for weights in history:
            assert weights.shape == shape
            np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
            assert (weights > 0).all()
        # starts near uniform, then the architecture steps move it
        np.testing.assert_allclose(history[0], 1 / len(PRIMITIVES), atol=1e-2)
        assert not np.array_equal(history[0], history[-1])
    assert len(result.genotypes) == len(result.train_acc) == len(result.val_acc) == 2
    assert result.genotype == result.genotypes[-1] == result.model.genotype()
    for genotype in result.genotypes:
        assert_valid_genotype(genotype, 2, PRIMITIVES)
    assert all(0.0 <= a <= 1.0 for a in result.train_acc + result.val_acc)
    assert result.seconds >= 0.0
    # the last recorded weights are the model's
    np.testing.assert_allclose(
        result.alpha_normal[-1], F.softmax(result.model.alpha_normal, -1).detach().numpy())


def test_search_is_reproducible(digits, two_epochs):
    again = search(digits, epochs=2, seed=0, **SEARCH)
    for a, b in zip(two_epochs.alpha_normal + two_epochs.alpha_reduce,
                    again.alpha_normal + again.alpha_reduce):
        np.testing.assert_array_equal(a, b)
    assert again.genotypes == two_epochs.genotypes
    assert again.val_acc == two_epochs.val_acc and again.train_acc == two_epochs.train_acc


def test_search_warmup_keeps_alpha_fixed(digits):
    result = search(digits, epochs=2, warmup_epochs=1, seed=1, **SEARCH)
    for history in (result.alpha_normal, result.alpha_reduce):
        np.testing.assert_array_equal(history[1], history[0])
        assert not np.array_equal(history[2], history[1])


def test_second_order_search_runs_on_signals():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(90, 1, 12, generator=g)
    y = torch.arange(90) % N_CLASSES
    X[:, 0, :4] += y[:, None].float()  # a little signal
    data = Splits("synthetic", X[:40], y[:40], X[40:70], y[40:70], X[70:], y[70:], N_CLASSES)
    assert data.dim == 1
    result = search(data, epochs=1, second_order=True, seed=0, **{**SEARCH, "batch_size": 20})
    assert len(result.alpha_normal) == 2
    assert not np.array_equal(result.alpha_normal[0], result.alpha_normal[1])
    assert_valid_genotype(result.genotype, 2, PRIMITIVES)


@pytest.mark.parametrize("epochs, warmup", [(0, 0), (-1, 0), (2, 3), (2, -1)])
def test_search_rejects_bad_epochs(digits, epochs, warmup):
    with pytest.raises(ValueError):
        search(digits, epochs=epochs, warmup_epochs=warmup, **SEARCH)
