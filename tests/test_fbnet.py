"""minnas.nas.fbnet: the layer-wise space (where skip is allowed, shapes in 1-D and 2-D), seeded
Gumbel-softmax sampling (eq. 7) with its straight-through gradient and its frequencies against
softmax(theta) (eq. 5), the supernet (eq. 4), the expected latency (E) and its gradient against
hand computation, the losses (2) and (T), the temperature schedule, and the search on a made-up
latency table, so that nothing depends on this machine's speed."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from minnas.data import load_digits
from minnas.nas.fbnet import (
    BLOCKS,
    FBNetResult,
    FBNetSpace,
    FBNetSupernet,
    derive,
    fbnet_loss,
    gumbel_softmax,
    latency_matrix,
    parse_block,
    sample_architectures,
    search,
    target_loss,
    temperature,
)
from minnas.nas.latency import LatencyTable
from minnas.nas.ops import Identity, MBConv

torch.set_num_threads(1)

SMALL = FBNetSpace(stem_channels=4, layers=((4, 1), (8, 2), (8, 1)))


def fake_cost(block):
    """A made-up latency: big kernels and expansions cost a lot, skip almost nothing."""
    if block == "skip":
        return 1.0
    kernel, expand = parse_block(block)
    return 10.0 * kernel * kernel * expand


def fake_table(space=SMALL, overhead=10.0):
    entries = {str(layer): {b: fake_cost(b) for b in space.choices(layer)}
               for layer in range(space.n_layers)}
    spread = {layer: {b: 0.0 for b in row} for layer, row in entries.items()}
    return LatencyTable(entries, spread, overhead_us=overhead)


@pytest.fixture(scope="module")
def digits():
    return load_digits(n_train=120, n_val=60, n_test=20, seed=0)


# ---------------------------------------------------------------------------------- the space
def test_parse_block():
    assert parse_block("k5_e3") == (5, 3) and parse_block("skip") is None
    for bad in ["k5", "e3_k5", "conv", "", "k4_e3", "k3_e0"]:
        with pytest.raises(ValueError, match="block names"):
            parse_block(bad)


def test_skip_only_where_the_shape_is_kept():
    space = FBNetSpace(stem_channels=8, layers=((8, 1), (8, 2), (16, 1), (16, 1), (16, 2)))
    for layer, (C_out, stride) in enumerate(space.layers):
        keeps = stride == 1 and space.input_shape(layer)[0] == C_out
        assert ("skip" in space.choices(layer)) == keeps
        assert [b for b in space.choices(layer) if b != "skip"] == list(BLOCKS[:-1])
    assert ["skip" in space.choices(layer)
            for layer in range(5)] == [True, False, False, True, False]


def test_input_shapes_in_2d_and_1d():
    assert [SMALL.input_shape(layer)
            for layer in range(4)] == [(4, 8, 8), (4, 8, 8), (8, 4, 4), (8, 4, 4)]
    signal = FBNetSpace(in_shape=(1, 40), stem_channels=4, layers=((8, 2), (8, 2), (8, 2)))
    assert [signal.input_shape(layer) for layer in range(4)] == [(4, 40), (8, 20), (8, 10), (8, 5)]
    with pytest.raises(ValueError, match="layer"):
        SMALL.input_shape(4)


@pytest.mark.parametrize("in_shape", [(1, 8, 8), (1, 9, 9), (1, 40)])
def test_every_block_maps_to_the_next_layers_shape(in_shape):
    space = FBNetSpace(in_shape=in_shape, stem_channels=4, layers=((4, 1), (8, 2), (8, 1)))
    for layer in range(space.n_layers):
        x = torch.randn(2, *space.input_shape(layer))
        for block in space.choices(layer):
            module = space.make_block(layer, block)
            assert isinstance(module, Identity if block == "skip" else MBConv)
            assert module(x).shape == (2, *space.input_shape(layer + 1))


@pytest.mark.parametrize("in_shape", [(1, 8, 8), (1, 40)])
def test_build_gives_class_logits(in_shape):
    space = FBNetSpace(in_shape=in_shape, n_classes=7, stem_channels=4,
                       layers=((4, 1), (8, 2), (8, 1)))
    for seed in range(3):
        net = space.build(space.sample(seed))
        assert net(torch.randn(5, *in_shape)).shape == (5, 7)
    assert len(space.build(("skip", "k3_e1", "skip"))) == 5  # stem, 3 layers, head


def test_build_and_make_block_reject_bad_architectures():
    with pytest.raises(ValueError, match="needs 3 blocks"):
        SMALL.build(("k3_e1",))
    with pytest.raises(ValueError, match="not allowed at layer 1"):
        SMALL.build(("k3_e1", "skip", "k3_e1"))
    with pytest.raises(ValueError, match="not allowed at layer 0"):
        SMALL.make_block(0, "k7_e9")


@pytest.mark.parametrize("kwargs, message", [
    (dict(in_shape=(8,)), "in_shape"),
    (dict(n_classes=1), "n_classes"),
    (dict(layers=()), "layers"),
    (dict(layers=((8, 3),)), "stride 1 or 2"),
    (dict(blocks=("k3_e1", "k3_e1")), "distinct"),
    (dict(blocks=("conv3",)), "block names"),
    (dict(blocks=("skip",), layers=((16, 2),)), "needs a block other than skip"),
])
def test_space_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FBNetSpace(**kwargs)


def test_uniform_sampling_is_seeded_and_allowed():
    archs = [SMALL.sample(seed) for seed in range(200)]
    assert SMALL.sample(3) == SMALL.sample(3)
    assert len(set(archs)) > 100
    for layer in range(SMALL.n_layers):
        assert {a[layer] for a in archs} == set(SMALL.choices(layer))


def test_latency_table_of_a_space_has_its_layers_and_choices():
    table = SMALL.latency_table(warmup=0, repeats=1, rounds=1)
    assert ([table.choices(layer) for layer in range(3)]
            == [SMALL.choices(layer) for layer in range(3)])
    assert table.overhead_us >= 0
    assert table.predict(SMALL.sample(0)) >= table.overhead_us


# ---------------------------------------------------------------------------- Gumbel-softmax
def test_gumbel_softmax_is_seeded():
    logits = torch.randn(4, 6)

    def draw(seed):
        return gumbel_softmax(logits, 1.0, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(0), draw(0)) and not torch.equal(draw(0), draw(1))


def test_soft_sample_is_a_distribution_and_matches_the_formula():
    logits = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, float("-inf")]])
    g = torch.Generator().manual_seed(5)
    m = gumbel_softmax(logits, 2.0, generator=g)
    u = torch.rand(logits.shape, generator=torch.Generator().manual_seed(5))
    expected = torch.softmax((logits - torch.log(-torch.log(u))) / 2.0, dim=-1)
    assert torch.allclose(m, expected)
    assert torch.allclose(m.sum(-1), torch.ones(2)) and m[1, 2] == 0


def test_hard_sample_is_one_hot_with_the_soft_gradient():
    logits = torch.randn(3, 5, requires_grad=True)
    c = torch.randn(3, 5)
    hard = gumbel_softmax(logits, 0.7, hard=True, generator=torch.Generator().manual_seed(1))
    soft = gumbel_softmax(logits, 0.7, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(hard, torch.nn.functional.one_hot(soft.argmax(-1), 5).float())
    (g_hard,) = torch.autograd.grad((hard * c).sum(), logits)
    (g_soft,) = torch.autograd.grad((soft * c).sum(), logits)
    assert torch.allclose(g_hard, g_soft) and g_hard.abs().sum() > 0


def test_hard_frequencies_follow_softmax_theta():
    """Every hard sample is an exact draw of softmax(theta), at any temperature (chi-square)."""
    theta = torch.tensor([1.0, 0.0, -1.0, 0.5, float("-inf")])
    n = 20000
    for tau in (5.0, 0.5):
        draws = gumbel_softmax(theta.expand(n, 5), tau, hard=True,
                               generator=torch.Generator().manual_seed(0))
        counts = draws.sum(0).numpy()
        p = torch.softmax(theta, 0).numpy()
        assert counts[4] == 0
        assert stats.chisquare(counts[:4], n * p[:4]).pvalue > 1e-3


def test_low_temperature_soft_sample_approaches_one_hot():
    logits = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))

    def draw(tau, hard=False):
        return gumbel_softmax(logits, tau, hard=hard, generator=torch.Generator().manual_seed(2))

    assert torch.equal(draw(1e-3).argmax(-1), draw(1e-3, hard=True).argmax(-1))
    assert torch.all(draw(1e-3).max(-1).values > 0.99)
    assert torch.all(draw(100.0).max(-1).values < 0.3)  # high temperature: nearly uniform
    with pytest.raises(ValueError, match="tau"):
        gumbel_softmax(logits, 0.0)


# --------------------------------------------------------------------------------- supernet
def test_supernet_theta_mask_and_forward():
    net = FBNetSupernet(SMALL)
    assert net.theta.shape == (3, len(BLOCKS)) and torch.all(net.theta == 0)
    p = net.probabilities()
    assert torch.allclose(p[1, :5], torch.full((5,), 0.2)) and p[1, 5] == 0
    assert torch.allclose(p[0], torch.full((6,), 1 / 6))
    x = torch.randn(4, 1, 8, 8)
    for hard in (False, True):
        assert net(x, 1.0, hard, torch.Generator().manual_seed(0)).shape == (4, 10)
    with pytest.raises(ValueError, match="weights must have shape"):
        net(x, weights=torch.ones(3, 5))
    assert {id(q) for q in net.weight_parameters()} | {id(net.theta)} == \
        {id(q) for q in net.parameters()}


def calls_per_block(net):
    counts = {}
    for i, layer in enumerate(net.candidates):
        for name, block in layer.items():
            block.register_forward_hook(
                lambda *_, key=(i, name): counts.__setitem__(key, counts.get(key, 0) + 1))
    return counts


def test_hard_mask_runs_one_block_per_layer_soft_runs_all():
    net = FBNetSupernet(SMALL)
    counts = calls_per_block(net)
    net(torch.randn(2, 1, 8, 8), 1.0, True, torch.Generator().manual_seed(0))
    assert len(counts) == 3 and sorted(k[0] for k in counts) == [0, 1, 2]
    counts.clear()
    net(torch.randn(2, 1, 8, 8), 1.0, False, torch.Generator().manual_seed(0))
    assert len(counts) == sum(len(SMALL.choices(layer)) for layer in range(3))


def test_soft_forward_is_the_weighted_sum_of_blocks():
    torch.manual_seed(0)
    net = FBNetSupernet(SMALL).eval()
    x = torch.randn(3, 1, 8, 8)
    m = net.sample_weights(2.0, generator=torch.Generator().manual_seed(3))
    h = net.stem(x)
    for i, layer in enumerate(net.candidates):
        h = sum(m[i, BLOCKS.index(name)] * block(h) for name, block in layer.items())
    assert torch.allclose(net(x, weights=m), net.head(h), atol=1e-6)
    arch = ("k5_e6", "k3_e1", "skip")
    assert torch.allclose(net(x, weights=net.one_hot(arch), hard=True),
                          torch.nn.Sequential(net.stem, net.candidates[0]["k5_e6"],
                                              net.candidates[1]["k3_e1"], net.head)(x))


@pytest.mark.parametrize("hard", [False, True])
def test_theta_gets_a_gradient_but_not_where_masked(hard):
    net = FBNetSupernet(SMALL)
    out = net(torch.randn(4, 1, 8, 8), 1.0, hard, torch.Generator().manual_seed(0))
    torch.nn.functional.cross_entropy(out, torch.arange(4)).backward()
    assert torch.isfinite(net.theta.grad).all()
    assert net.theta.grad.abs().sum() > 0
    assert torch.all(net.theta.grad[~net.allowed] == 0)


def test_expected_latency_is_the_hand_sum_and_has_the_right_gradient():
    net = FBNetSupernet(SMALL)
    with torch.no_grad():
        net.theta.copy_(torch.randn(net.theta.shape, generator=torch.Generator().manual_seed(0)))
    table = fake_table()
    p = net.probabilities().detach()
    hand = table.overhead_us + sum(p[layer, BLOCKS.index(b)].item() * fake_cost(b)
                                   for layer in range(3) for b in SMALL.choices(layer))
    lat = net.expected_latency(table)
    assert lat.item() == pytest.approx(hand, rel=1e-6)
    lat.backward()
    L = latency_matrix(table, SMALL)
    layer_mean = (p * L).sum(1, keepdim=True)
    # d/d theta_li sum_j P_lj L_lj = P_li (L_li - E_l[L])
    assert torch.allclose(net.theta.grad, p * (L - layer_mean), atol=1e-3)


def test_expected_latency_of_a_deterministic_theta_is_the_table_prediction():
    net = FBNetSupernet(SMALL)
    arch = ("k5_e3", "k3_e6", "skip")
    with torch.no_grad():
        net.theta.copy_(100.0 * net.one_hot(arch))
    assert net.derive() == arch
    assert net.expected_latency(fake_table()).item() == pytest.approx(fake_table().predict(arch))


def test_latency_matrix_rejects_a_table_of_another_space():
    with pytest.raises(ValueError, match="2 layers"):
        latency_matrix(fake_table(FBNetSpace(layers=((8, 1), (8, 1)))), SMALL)
    table = fake_table()
    del table.entries["2"]["skip"]
    with pytest.raises(ValueError, match="not measured at layer 2"):
        latency_matrix(table, SMALL)


# ------------------------------------------------------------------------- losses, schedule
def test_paper_loss_matches_hand_computation_and_gradient():
    ce = torch.tensor(1.3, requires_grad=True)
    lat = torch.tensor(850.0, requires_grad=True)
    loss = fbnet_loss(ce, lat, alpha=0.2, beta=0.6)
    assert loss.item() == pytest.approx(1.3 * 0.2 * math.log(850.0) ** 0.6, rel=1e-6)
    loss.backward()
    assert ce.grad.item() == pytest.approx(0.2 * math.log(850.0) ** 0.6, rel=1e-6)
    assert lat.grad.item() == pytest.approx(
        1.3 * 0.2 * 0.6 * math.log(850.0) ** -0.4 / 850.0, rel=1e-5)
    assert fbnet_loss(2.0, 1000.0, beta=0.0).item() == pytest.approx(0.4)
    for kwargs in [dict(lat=1.0), dict(lat=100.0, alpha=0.0), dict(lat=100.0, beta=-1.0)]:
        with pytest.raises(ValueError):
            fbnet_loss(1.0, **kwargs)


def test_target_loss_is_a_hinge():
    assert target_loss(0.7, 500.0, target=1000.0, lam=3.0).item() == pytest.approx(0.7)
    assert target_loss(0.7, 1500.0, target=1000.0, lam=3.0).item() == pytest.approx(0.7 + 1.5)
    lat = torch.tensor(1200.0, requires_grad=True)
    target_loss(0.7, lat, target=1000.0, lam=3.0).backward()
    assert lat.grad.item() == pytest.approx(3.0 / 1000.0)
    for kwargs in [dict(target=0.0), dict(target=10.0, lam=-1.0)]:
        with pytest.raises(ValueError):
            target_loss(1.0, 100.0, **kwargs)


def test_temperature_schedule():
    assert temperature(0) == 5.0
    assert temperature(1) == pytest.approx(5.0 * math.exp(-0.045))
    assert temperature(20) == pytest.approx(5.0 * math.exp(-0.9))
    taus = [temperature(t) for t in range(10)]
    assert all(a > b for a, b in zip(taus, taus[1:]))
    assert temperature(3, tau0=2.0, decay=0.0) == 2.0
    for args in [(-1,), (0, 0.0), (0, 5.0, -0.1)]:
        with pytest.raises(ValueError):
            temperature(*args)


# --------------------------------------------------------------------- deriving architectures
def test_derive_takes_the_argmax_and_never_a_masked_block():
    inf = float("-inf")
    theta = np.array([[0.1, 2.0, 0.0, 0.0, 0.0, 3.0], [1.0, 0.0, 0.0, 0.0, 0.0, inf]])
    assert derive(theta) == ("skip", "k3_e1")
    assert derive(torch.tensor(theta)) == ("skip", "k3_e1")
    with pytest.raises(ValueError, match="columns"):
        derive(theta, blocks=("a", "b"))
    with pytest.raises(ValueError, match="finite entry"):
        derive(np.full((1, 6), inf))


def test_sample_architectures_follow_p_theta():
    theta = np.array([[2.0, 0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0, -1.0, float("-inf")]])
    archs = sample_architectures(theta, 4000, seed=0)
    assert archs == sample_architectures(theta, 4000, seed=0)
    assert archs[:20] != sample_architectures(theta, 20, seed=1)
    for layer in range(2):
        p = np.exp(theta[layer] - theta[layer].max())
        p /= p.sum()
        freq = np.array([sum(a[layer] == b for a in archs) for b in BLOCKS]) / 4000
        assert np.allclose(freq, p, atol=0.03)
    assert all(a[1] != "skip" for a in archs)
    with pytest.raises(ValueError, match="n must be"):
        sample_architectures(theta, 0)


# ----------------------------------------------------------------------------------- search
def run(digits, seed=0, epochs=3, **kwargs):
    return search(digits, SMALL, fake_table(), epochs=epochs, warmup_epochs=1, batch_size=32,
                  seed=seed, **kwargs)


@pytest.fixture(scope="module")
def tight(digits):
    return run(digits, loss="target", target_us=150.0, lam=1.0)


@pytest.fixture(scope="module")
def loose(digits):
    return run(digits, loss="target", target_us=1e6, lam=1.0)


def test_search_records_its_history(tight):
    assert isinstance(tight, FBNetResult) and isinstance(tight.model, FBNetSupernet)
    assert len(tight.theta) == len(tight.expected_latency) == 4
    assert len(tight.archs) == len(tight.tau) == len(tight.val_acc) == len(tight.train_acc) == 3
    assert tight.tau == pytest.approx([temperature(t) for t in range(3)])
    assert tight.arch == tight.archs[-1] == tight.model.derive()
    assert tight.predicted_latency == fake_table().predict(tight.arch)
    assert np.array_equal(tight.theta[0], tight.theta[1])  # warm-up: theta untouched
    assert not np.array_equal(tight.theta[1], tight.theta[2])
    assert all(np.allclose(p.sum(1), 1.0) for p in tight.probabilities)
    assert all(0.0 <= a <= 1.0 for a in tight.val_acc + tight.train_acc)


def test_search_is_reproducible(digits, tight):
    again = run(digits, loss="target", target_us=150.0, lam=1.0)
    assert all(np.array_equal(x, y) for x, y in zip(again.theta, tight.theta))
    assert again.val_acc == tight.val_acc and again.train_loss == tight.train_loss


def test_tight_target_gives_a_faster_architecture(tight, loose):
    assert tight.predicted_latency < loose.predicted_latency
    assert tight.expected_latency[-1] < loose.expected_latency[-1]
    assert tight.expected_latency[-1] < tight.expected_latency[0]  # latency pulls theta down
    assert tight.arch == ("skip", "k3_e1", "skip")  # the fastest architecture of the space


def test_larger_beta_gives_a_faster_architecture(digits):
    flat = run(digits, loss="paper", beta=0.0)
    steep = run(digits, loss="paper", beta=2.0)
    assert flat.arch != steep.arch
    assert steep.expected_latency[-1] < flat.expected_latency[-1]


def test_hard_search_runs(digits):
    result = run(digits, epochs=2, hard=True, loss="target", target_us=150.0, lam=1.0)
    assert result.expected_latency[-1] < result.expected_latency[0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(loss="mnas"), "'paper' or 'target'"),
    (dict(loss="target"), "needs target_us"),
    (dict(loss="target", target_us=-5.0), "target > 0"),
    (dict(epochs=2, warmup_epochs=2), "warmup_epochs < epochs"),
    (dict(beta=-1.0), "beta >= 0"),
])
def test_search_rejects_bad_settings(digits, kwargs, message):
    kwargs = {"epochs": 1, "warmup_epochs": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        search(digits, SMALL, fake_table(), **kwargs)


def test_search_rejects_mismatched_data_or_table(digits):
    with pytest.raises(ValueError, match="space expects"):
        search(digits, FBNetSpace(in_shape=(1, 40)), fake_table(), epochs=1, warmup_epochs=0)
    other = FBNetSpace(stem_channels=4, layers=((4, 1), (8, 2)))
    with pytest.raises(ValueError, match="layers"):
        search(digits, SMALL, fake_table(other), epochs=1, warmup_epochs=0)
