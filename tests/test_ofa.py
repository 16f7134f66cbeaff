"""minnas.nas.ofa: the space and its encoding, the dynamic layers (elastic kernel with its
transformation at identity, channel sorting that keeps the largest net's function), extraction
that equals the dynamic forward (1-D and 2-D), BN recalibration against statistics computed by
hand, progressive shrinking on a tiny synthetic task (each phase samples only what it may),
the accuracy predictor on a synthetic target, constraint validation, seeded evolution that
respects its constraint (on a made-up latency table, so nothing depends on this machine's
speed), and checkpoints."""

import numpy as np
import pytest
import torch

from minnas.data import Splits
from minnas.nas.latency import LatencyTable
from minnas.nas.ofa import (
    PHASES,
    Arch,
    OFANetwork,
    OFASpace,
    extract_subnet,
    phase_choices,
    recalibrate_bn,
    train_supernet,
)
from minnas.nas.ofa_search import (
    CONSTRAINTS,
    AccuracyPredictor,
    crossover,
    evolutionary_search,
    flops,
    mutate,
    predict_latency,
    random_search,
)
from minnas.nas.ops import MBConv, count_flops
from minnas.nas.pretrained import load_checkpoint, save_checkpoint, sha256

torch.set_num_threads(1)

SPACE_1D = OFASpace(in_shape=(1, 16), stem_channels=4, units=((4, 1), (8, 2)))
SPACE_2D = OFASpace(in_shape=(1, 8, 8), stem_channels=4, units=((4, 1), (8, 2)), depths=(1, 2))


def scrambled(space: OFASpace, seed: int = 0) -> OFANetwork:
    """A supernet with random weights, BN statistics and kernel transformations, so that a
    wrong slice or a missed copy shows in the outputs."""
    torch.manual_seed(seed)
    ofa = OFANetwork(space)
    with torch.no_grad():
        for name, t in ofa.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5 if "running_var" in name
                        else t + 0.3 * torch.randn_like(t))
    return ofa.eval()


def made_up_table(space: OFASpace) -> LatencyTable:
    """Latency grows with kernel * expansion; no measurement."""
    names = [f"k{k}_e{e}" for k in space.kernels for e in space.expands]
    entries = {str(layer): {n: float(int(n[1]) * int(n[-1])) for n in names}
               for layer in range(space.n_units * space.max_depth)}
    spread = {layer: {n: 0.0 for n in row} for layer, row in entries.items()}
    return LatencyTable(entries, spread, overhead_us=10.0)


def synthetic_score(space: OFASpace):
    """A made-up accuracy: bigger blocks help, with diminishing returns."""
    w = np.random.default_rng(0).uniform(0.5, 1.5, len(space.encode(space.largest())))
    w = w * np.arange(1, len(w) + 1).clip(max=5)
    return lambda arch: float(np.tanh(0.05 * space.encode(arch) @ w))


# ---------------------------------------------------------------------------------- space
def test_space_sample_encode_and_check():
    space = SPACE_1D
    largest, smallest = space.largest(), space.smallest()
    assert largest.depths == (3, 3) and largest.kernels == ((5, 5, 5),) * 2
    assert smallest.expands == ((2, 2, 2),) * 2
    assert space.sample(3) == space.sample(3)
    code = space.encode(space.sample(3))
    n_k, n_e, n_d = 2, 3, 3
    assert code.shape == (2 * 3 * (n_k + n_e) + 2 * n_d,)
    blocks = code[:2 * 3 * (n_k + n_e)].reshape(2, 3, n_k + n_e)
    arch = space.sample(3)
    for u in range(2):
        for i in range(3):
            active = i < arch.depths[u]
            assert blocks[u, i, :n_k].sum() == active and blocks[u, i, n_k:].sum() == active
    assert np.all(code[-2 * n_d:].reshape(2, n_d).sum(1) == 1)
    # entries beyond the depth are ignored by the encoding
    other = Arch(arch.depths, ((3, 3, 3), (3, 3, 3)), arch.expands)
    same = [all(arch.kernels[u][i] == 3 for i in range(arch.depths[u])) for u in range(2)]
    assert np.array_equal(space.encode(other), code) == all(same)
    with pytest.raises(ValueError, match="kernels must come from"):
        space.check_arch(Arch((1, 1), ((7, 3, 3), (3, 3, 3)), smallest.expands))
    with pytest.raises(ValueError, match="depths"):
        space.check_arch(Arch((4, 1), smallest.kernels, smallest.expands))
    with pytest.raises(ValueError, match="expands"):
        OFASpace(expands=(1, 2))


def test_sample_respects_restricted_choices():
    arch = SPACE_1D.sample(0, **phase_choices(SPACE_1D, "kernel"))
    assert arch.depths == (3, 3) and {e for row in arch.expands for e in row} == {4}
    with pytest.raises(ValueError, match="phase"):
        phase_choices(SPACE_1D, "width")


# --------------------------------------------------------------------------- dynamic layers
@pytest.mark.parametrize("dim", [1, 2])
def test_kernel_transform_starts_at_identity(dim):
    space = SPACE_1D if dim == 1 else SPACE_2D
    block = OFANetwork(space).units[0][0]
    w5 = block.depthwise.weight
    w3 = block.depthwise.weight_for(3)
    centre = w5[:, :, 1:4] if dim == 1 else w5[:, :, 1:4, 1:4]
    assert torch.equal(w3, centre)
    M = block.depthwise.transforms["5to3"]
    assert M.shape == (3 ** dim, 3 ** dim) and torch.equal(M, torch.eye(3 ** dim))
    with torch.no_grad():  # a learned transformation changes the small kernel only
        M.add_(0.1)
    assert not torch.allclose(block.depthwise.weight_for(3), centre)
    assert torch.equal(block.depthwise.weight_for(5), w5)


@pytest.mark.parametrize("space", [SPACE_1D, SPACE_2D], ids=["1d", "2d"])
def test_extracted_subnet_equals_dynamic_forward(space):
    ofa = scrambled(space)
    with torch.no_grad():
        for unit in ofa.units:
            for block in unit:
                block.depthwise.transforms["5to3"].add_(0.1 * torch.randn(3 ** space.dim,
                                                                          3 ** space.dim))
    x = torch.randn(8, *space.in_shape)
    for seed in range(6):
        arch = space.sample(seed)
        net = extract_subnet(ofa, arch).eval()
        blocks = [m for m in net if isinstance(m, MBConv)]
        assert len(blocks) == sum(arch.depths)
        assert [b.kernel for b in blocks] == [k for _, _, k, _ in arch.blocks()]
        with torch.no_grad():
            torch.testing.assert_close(net(x), ofa.set_active(arch)(x), atol=1e-5, rtol=0)


def test_channel_sorting_keeps_the_largest_network():
    ofa = scrambled(SPACE_1D)
    x = torch.randn(8, *SPACE_1D.in_shape)
    with torch.no_grad():
        before = ofa.set_active(SPACE_1D.largest())(x)
        block = ofa.units[1][0]
        importance = block.sort_channels()
        ofa.sort_channels()
        after = ofa(x)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    assert torch.all(importance[:-1] >= importance[1:])
    l1 = block.project.weight.abs().sum(dim=(0, 2))
    assert torch.all(l1[:-1] >= l1[1:])  # hidden channels now in decreasing importance


# ---------------------------------------------------------------------------- recalibration
def test_recalibration_equals_statistics_by_hand():
    space = SPACE_1D
    ofa = scrambled(space)
    net = extract_subnet(ofa, space.sample(1)).train()
    X = torch.randn(120, *space.in_shape)
    net = recalibrate_bn(net, X, batch_size=40)  # three equal batches: plain averages, eq. (5)
    assert not net.training
    conv, bn = net[0][0], net[0][1]
    with torch.no_grad():
        h = conv(X)
    batches = h.split(40)
    mean = torch.stack([b.mean(dim=(0, 2)) for b in batches]).mean(0)
    var = torch.stack([b.transpose(0, 1).reshape(len(mean), -1).var(dim=1, unbiased=True)
                       for b in batches]).mean(0)
    torch.testing.assert_close(bn.running_mean, mean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(bn.running_var, var, atol=1e-5, rtol=1e-5)
    assert bn.momentum == 0.1  # restored
    # a dynamic supernet recalibrates its active subnet the same way
    ofa.set_active(space.sample(1))
    recalibrate_bn(ofa, X, batch_size=40)
    torch.testing.assert_close(ofa.stem[1].running_mean, mean, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="no batches"):
        recalibrate_bn(net, X[:0])


# ---------------------------------------------------------------------- progressive shrinking
def tiny_splits(space: OFASpace, n: int = 96, seed: int = 0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(3 * n, *space.in_shape, generator=g)
    y = (X.mean(dim=tuple(range(1, X.dim()))) > 0).long()  # a learnable rule
    return Splits("tiny", X[:n], y[:n], X[n:2 * n], y[n:2 * n], X[2 * n:], y[2 * n:], 2)


def test_progressive_shrinking_samples_only_allowed_choices():
    space = OFASpace(in_shape=(1, 16), n_classes=2, stem_channels=4, units=((4, 1), (8, 2)))
    h = train_supernet(space, tiny_splits(space), epochs=(1, 1, 1, 2), batch_size=16, seed=0)
    assert h.phase == ["largest", "kernel", "depth", "expand", "expand"]
    assert set(h.seconds) == set(PHASES)
    assert len(h.val_largest) == len(h.val_smallest) == 5
    seen = {}
    for phase, arch in h.samples:
        allowed = phase_choices(space, phase)
        assert set(arch.depths) <= set(allowed["depths"])
        assert {k for row in arch.kernels for k in row} <= set(allowed["kernels"])
        assert {e for row in arch.expands for e in row} <= set(allowed["expands"])
        seen.setdefault(phase, set()).add(space.encode(arch).tobytes())
    assert len(seen["largest"]) == 1 and all(len(seen[p]) > 1 for p in PHASES[1:])
    assert h.model.active == space.largest()
    h2 = train_supernet(space, tiny_splits(space), epochs=(1, 1, 1, 2), batch_size=16, seed=0)
    assert h2.samples == h.samples and h2.train_loss == h.train_loss  # seeded
    with pytest.raises(ValueError, match="epochs"):
        train_supernet(space, tiny_splits(space), epochs=(1, 1))


# ------------------------------------------------------------------------------- predictor
def test_predictor_ranks_a_synthetic_function():
    space, score = SPACE_1D, synthetic_score(SPACE_1D)
    archs = [space.sample(s) for s in range(200)]
    accs = [score(a) for a in archs]
    predictor = AccuracyPredictor(space).fit(archs[:150], accs[:150], seed=0)
    assert predictor.kendall_tau(archs[150:], accs[150:]) > 0.7
    assert predictor.predict(archs[:3]).shape == (3,)
    with pytest.raises(ValueError, match="accs"):
        AccuracyPredictor(space).fit(archs[:3], [0.1, 0.2])


# ----------------------------------------------------------------------------------- search
def test_constraint_keys_are_validated():
    space, score = SPACE_1D, synthetic_score(SPACE_1D)
    with pytest.raises(ValueError, match=r"'latency'.*latency_us.*flops"):
        evolutionary_search(space, score, constraint={"latency": 100})
    with pytest.raises(ValueError, match="'params'"):
        random_search(space, score, constraint={"flops": 1e5, "params": 10})
    with pytest.raises(ValueError, match="latency_table"):
        evolutionary_search(space, score, constraint={"latency_us": 100})
    with pytest.raises(ValueError, match="positive"):
        random_search(space, score, constraint={"flops": -1})
    with pytest.raises(ValueError, match="no feasible"):
        random_search(space, score, constraint={"flops": 1})
    assert CONSTRAINTS == ("latency_us", "flops")


def test_latency_prediction_sums_active_blocks():
    space, table = SPACE_1D, made_up_table(SPACE_1D)
    arch = space.sample(4)
    assert predict_latency(arch, table) == 10.0 + sum(k * e for _, _, k, e in arch.blocks())
    for s in range(5):  # the closed form counts what ops.count_flops counts
        arch = space.sample(s)
        assert flops(space, arch) == count_flops(space.build(arch), space.in_shape)
        arch2d = SPACE_2D.sample(s)
        assert flops(SPACE_2D, arch2d) == count_flops(SPACE_2D.build(arch2d), (1, 8, 8))
    assert flops(space, space.smallest()) < flops(space, space.largest())


def test_mutation_and_crossover_stay_in_the_space():
    rng = np.random.default_rng(0)
    a, b = SPACE_1D.smallest(), SPACE_1D.largest()
    assert mutate(SPACE_1D, a, 0.0, rng) == a
    for _ in range(20):
        SPACE_1D.check_arch(mutate(SPACE_1D, a, 0.5, rng))
        child = crossover(a, b, rng)
        assert all(d in (1, 3) for d in child.depths)


@pytest.mark.parametrize("constraint", [{"latency_us": 80.0}, {"flops": 6000}])
def test_evolution_respects_the_constraint_and_is_seeded(constraint):
    space, table, score = SPACE_1D, made_up_table(SPACE_1D), synthetic_score(SPACE_1D)
    run = lambda seed: evolutionary_search(space, score, constraint=constraint,
                                           latency_table=table, population=12, generations=5,
                                           seed=seed)
    result = run(0)
    key, bound = next(iter(constraint.items()))
    cost = (lambda a: predict_latency(a, table)) if key == "latency_us" else \
        (lambda a: flops(space, a))
    assert all(cost(a) <= bound for a in result.archs)
    assert result.cost[key] == pytest.approx(cost(result.arch)) and result.cost[key] <= bound
    assert result.score == max(result.scores) == score(result.arch)
    assert np.all(np.diff(result.best) >= 0)  # parents survive: the best never gets worse
    again = run(0)
    assert again.archs == result.archs and again.scores == result.scores
    baseline = random_search(space, score, constraint=constraint, latency_table=table,
                             n_samples=result.n_scored, seed=0)
    assert baseline.n_scored == result.n_scored
    assert all(cost(a) <= bound for a in baseline.archs)


def test_evolution_with_its_defaults_beats_random_search_at_an_equal_budget():
    # The defaults (population 20, 10 generations) on a made-up score: at least as good as the
    # best of as many random feasible subnets, for every seed, and better in median.
    space, table, score = SPACE_1D, made_up_table(SPACE_1D), synthetic_score(SPACE_1D)
    constraint = dict(constraint={"latency_us": 80.0}, latency_table=table)
    evolved, rand = [], []
    for seed in range(5):
        result = evolutionary_search(space, score, seed=seed, **constraint)
        evolved.append(result.score)
        rand.append(random_search(space, score, n_samples=result.n_scored, seed=seed,
                                  **constraint).score)
    assert np.all(np.array(evolved) >= np.array(rand))
    assert np.median(evolved) > np.median(rand)


# ------------------------------------------------------------------------------ checkpoints
def test_checkpoint_round_trip(tmp_path):
    ofa = scrambled(SPACE_2D)
    save_checkpoint(ofa, tmp_path / "a.pt")
    save_checkpoint(ofa, tmp_path / "b.pt")  # the bytes do not depend on the file name
    assert sha256(tmp_path / "a.pt") == sha256(tmp_path / "b.pt")
    assert len(sha256(tmp_path / "a.pt")) == 64
    loaded = load_checkpoint(tmp_path / "a.pt")
    assert loaded.space == SPACE_2D and not loaded.training
    x, arch = torch.randn(4, *SPACE_2D.in_shape), SPACE_2D.sample(2)
    with torch.no_grad():
        torch.testing.assert_close(loaded.set_active(arch)(x), ofa.set_active(arch)(x))
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not an OFA checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
