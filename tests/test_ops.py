"""minnas.nas.ops: shapes, oracles for pooling and the trivial operations, the MBConv residual
rule, parameter counts against closed forms and MAC counts against hand arithmetic."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minnas.nas.ops import (
    OPS,
    PRIMITIVES,
    FactorizedReduce,
    Identity,
    MBConv,
    Pool,
    Zero,
    batch_norm,
    conv_layer,
    count_flops,
    count_params,
)

torch.set_num_threads(1)

C = 4


def sample(dim, size, channels=C, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, *([size] * dim), generator=g)


def expected_shape(x, channels, stride):
    spatial = [math.ceil(s / stride) for s in x.shape[2:]]
    return (x.shape[0], channels, *spatial)


# ------------------------------------------------------------------------------- OPS shapes
def test_primitives_are_seven_known_operations_with_none_first():
    assert len(PRIMITIVES) == 7 and len(set(PRIMITIVES)) == 7
    assert PRIMITIVES[0] == "none"
    assert set(PRIMITIVES) <= set(OPS)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [8, 7, 5])
def test_every_op_keeps_channels_and_gives_the_documented_spatial_size(name, dim, stride, size):
    torch.manual_seed(0)
    for affine in (True, False):
        op = OPS[name](C, stride, dim, affine)
        x = sample(dim, size)
        y = op(x)
        # stride 1 keeps the size, stride 2 gives ceil(L / 2): every edge of a cell agrees
        assert tuple(y.shape) == expected_shape(x, C, stride)
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
def test_zero_outputs_zeros_of_the_strided_shape(dim, stride):
    x = sample(dim, 7)
    y = OPS["none"](C, stride, dim, True)(x)
    assert tuple(y.shape) == expected_shape(x, C, stride)
    assert torch.count_nonzero(y) == 0


@pytest.mark.parametrize("dim", [1, 2])
def test_skip_connect_at_stride_one_is_the_identity(dim):
    op = OPS["skip_connect"](C, 1, dim, True)
    assert isinstance(op, Identity)
    x = sample(dim, 7)
    assert torch.equal(op(x), x)
    assert count_params(op) == 0


@pytest.mark.parametrize("dim", [1, 2])
def test_skip_connect_at_stride_two_is_a_factorized_reduce(dim):
    assert isinstance(OPS["skip_connect"](C, 2, dim, True), FactorizedReduce)


def test_factorized_reduce_sees_every_position_of_a_signal():
    # The shifted second convolution covers the odd positions a stride-2 1x1 conv would drop.
    torch.manual_seed(0)
    op = FactorizedReduce(3, 4, dim=1)
    x = (torch.rand(2, 3, 9) + 0.1).requires_grad_()  # positive: the leading ReLU passes all
    y = op(x)
    (y * torch.randn_like(y)).sum().backward()
    assert (x.grad.abs().sum(dim=(0, 1)) > 0).all()


# ----------------------------------------------------------------------------------- pooling
def pool_oracle(x, kind, stride):
    """3x3 (or 3) pooling with padding 1 by explicit loops: max or mean over the valid cells."""
    x = x.numpy()
    spatial = x.shape[2:]
    out_shape = [math.ceil(s / stride) for s in spatial]
    out = np.empty(x.shape[:2] + tuple(out_shape))
    reduce = np.max if kind == "max" else np.mean
    for pos in itertools.product(*[range(s) for s in out_shape]):
        window = tuple(slice(max(p * stride - 1, 0), min(p * stride + 2, s))
                       for p, s in zip(pos, spatial))
        out[(..., *pos)] = reduce(x[(..., *window)], axis=tuple(range(2, x.ndim)))
    return torch.from_numpy(out)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [7, 6])
def test_pooling_matches_torch_functional_and_a_loop_oracle(kind, dim, stride, size):
    x = sample(dim, size, seed=size)
    y = Pool(kind, stride, dim)(x)
    functional = {
        ("max", 1): lambda: F.max_pool1d(x, 3, stride, 1),
        ("max", 2): lambda: F.max_pool2d(x, 3, stride, 1),
        ("avg", 1): lambda: F.avg_pool1d(x, 3, stride, 1, count_include_pad=False),
        ("avg", 2): lambda: F.avg_pool2d(x, 3, stride, 1, count_include_pad=False),
    }[kind, dim]()
    torch.testing.assert_close(y, functional, rtol=0, atol=0)
    torch.testing.assert_close(y.double(), pool_oracle(x, kind, stride), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["max_pool_3", "avg_pool_3"])
def test_pool_ops_in_OPS_are_pools(name):
    x = sample(2, 5)
    kind = name.split("_")[0]
    torch.testing.assert_close(OPS[name](C, 2, 2, True)(x), Pool(kind, 2, 2)(x))


# ------------------------------------------------------------------------------------ MBConv
@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("C_in, C_out", [(4, 4), (4, 6)])
@pytest.mark.parametrize("kernel, expand", [(3, 1), (5, 3), (7, 2)])
def test_mbconv_shapes_and_residual_rule(dim, stride, C_in, C_out, kernel, expand):
    torch.manual_seed(0)
    block = MBConv(C_in, C_out, kernel, expand, stride, dim)
    assert block.use_residual == (stride == 1 and C_in == C_out)
    for size in (7, 8):
        x = sample(dim, size, channels=C_in)
        assert tuple(block(x).shape) == expected_shape(x, C_out, stride)


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("stride, C_out", [(1, 4), (2, 4), (1, 6)])
@pytest.mark.parametrize("expand", [1, 3])
def test_mbconv_with_zeroed_last_bn_is_identity_or_zero(dim, stride, C_out, expand):
    # A zero last BN scale (and its zero bias) silences the block: the residual block is then
    # the identity, a block without residual outputs zeros.
    torch.manual_seed(0)
    block = MBConv(4, C_out, 3, expand, stride, dim)
    last_bn = block.block[-1]
    assert isinstance(last_bn, batch_norm(dim))
    with torch.no_grad():
        last_bn.weight.zero_()
    x = sample(dim, 7)
    for mode in (True, False):
        block.train(mode)
        y = block(x)
        if block.use_residual:
            torch.testing.assert_close(y, x, rtol=0, atol=0)
        else:
            assert tuple(y.shape) == expected_shape(x, C_out, stride)
            assert torch.count_nonzero(y) == 0


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("C_in, C_out, kernel, expand", [(4, 4, 3, 1), (4, 6, 5, 3), (3, 8, 7, 2)])
def test_mbconv_parameter_count_matches_closed_form(dim, C_in, C_out, kernel, expand):
    hidden = expand * C_in
    expected = (
        (C_in * hidden + 2 * hidden if expand > 1 else 0)  # 1x1 expansion + BN
        + hidden * kernel ** dim + 2 * hidden  # depthwise + BN
        + hidden * C_out + 2 * C_out  # 1x1 projection + BN
    )
    block = MBConv(C_in, C_out, kernel, expand, 1, dim)
    assert count_params(block) == expected
    n_convs = sum(isinstance(m, conv_layer(dim)) for m in block.modules())
    assert n_convs == (2 if expand == 1 else 3)


@pytest.mark.parametrize("kwargs", [
    dict(dim=3), dict(kernel=4), dict(kernel=2), dict(kernel=0), dict(kernel=-3),
    dict(expand=0), dict(expand=-1), dict(stride=3), dict(stride=0),
], ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_mbconv_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        MBConv(4, 4, **kwargs)


# ------------------------------------------------------------------------------ validation
def test_factories_reject_dim_3():
    for factory in (conv_layer, batch_norm):
        with pytest.raises(ValueError):
            factory(3)
    with pytest.raises(ValueError):
        Zero(1, dim=3)
    with pytest.raises(ValueError):
        Pool("max", 1, dim=3)
    with pytest.raises(ValueError):
        FactorizedReduce(4, 4, dim=3)


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_rejects_dim_3_at_stride_2(name):
    with pytest.raises(ValueError):
        OPS[name](C, 2, 3, True)


def test_factorized_reduce_rejects_odd_output_channels():
    with pytest.raises(ValueError):
        FactorizedReduce(4, 5)


@pytest.mark.parametrize("kind", ["min", "mean", "", "MAX"])
def test_pool_rejects_unknown_kind(kind):
    with pytest.raises(ValueError):
        Pool(kind)


def test_conv_layer_and_batch_norm_match_dim():
    assert conv_layer(1) is nn.Conv1d and conv_layer(2) is nn.Conv2d
    assert batch_norm(1) is nn.BatchNorm1d and batch_norm(2) is nn.BatchNorm2d


# ------------------------------------------------------------------------------ count_params
def op_params(name, C, stride, dim, affine):
    """Closed-form parameter count of each candidate operation (BN: 2 C when affine)."""
    bn = 2 * C if affine else 0
    sep = C * 3 ** dim + C * C + bn  # depthwise 3^d + pointwise + BN
    return {
        "none": 0,
        "skip_connect": 0 if stride == 1 else 2 * C * (C // 2) + bn,
        "max_pool_3": 0,
        "avg_pool_3": 0,
        "conv_3": C * C * 3 ** dim + bn,
        "sep_conv_3": 2 * sep,
        "sep_conv_5": 2 * (C * 5 ** dim + C * C + bn),
        "dil_conv_3": sep,
        "dil_conv_5": C * 5 ** dim + C * C + bn,
    }[name]


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("affine", [True, False])
def test_count_params_matches_closed_form_and_manual_sum(name, dim, stride, affine):
    op = OPS[name](6, stride, dim, affine)
    manual = sum(p.numel() for p in op.parameters())
    assert count_params(op) == manual == op_params(name, 6, stride, dim, affine)


def test_count_params_trainable_only():
    block = MBConv(4, 6, 3, 2, 1, 2)
    total = sum(p.numel() for p in block.parameters())
    frozen = block.block[0].weight
    frozen.requires_grad_(False)
    assert count_params(block) == total - frozen.numel()
    assert count_params(block, trainable_only=False) == total


# ------------------------------------------------------------------------------- count_flops
def tiny_net(dim, dtype=torch.float32):
    """Strided conv (with bias), depthwise conv, grouped 1x1 conv, linear head; input 2 x 7^d."""
    Conv = conv_layer(dim)
    torch.manual_seed(0)
    return nn.Sequential(
        Conv(2, 6, 3, stride=2, padding=1),  # 7 -> 4 positions per axis
        batch_norm(dim)(6),
        nn.ReLU(),
        Conv(6, 6, 3, padding=1, groups=6, bias=False),  # depthwise
        Conv(6, 4, 1, groups=2, bias=False),  # two groups of 3 -> 2
        nn.Flatten(),
        nn.Linear(4 * 4 ** dim, 10),
    ).to(dtype)


@pytest.mark.parametrize("dim", [1, 2])
def test_count_flops_matches_hand_computed_macs(dim):
    positions = 4 ** dim  # output positions of every conv after the stride-2 stem
    k = 3 ** dim  # kernel volume
    expected = (
        6 * positions * 2 * k  # dense conv: C_out * positions * C_in * k^d
        + 6 * positions * 1 * k  # depthwise: C_in / groups = 1
        + 4 * positions * 3 * 1  # grouped 1x1: C_in / groups = 3
        + (4 * positions) * 10  # linear: in * out
    )
    net = tiny_net(dim)
    assert count_flops(net, (2,) + (7,) * dim) == expected


@pytest.mark.parametrize("dim", [1, 2])
def test_count_flops_of_mbconv_matches_hand_computation(dim):
    # expansion runs on the 9^d input positions, depthwise and projection on the 5^d outputs
    block = MBConv(4, 6, kernel=3, expand=2, stride=2, dim=dim)
    expected = 8 * 9 ** dim * 4 + 8 * 5 ** dim * 1 * 3 ** dim + 6 * 5 ** dim * 8
    assert count_flops(block, (4,) + (9,) * dim) == expected


def test_count_flops_restores_mode_and_leaves_state_alone():
    net = tiny_net(2, torch.float64)  # also: the probe input follows the parameters' dtype
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    first = count_flops(net, (2, 7, 7))
    assert net.training
    net.eval()
    assert count_flops(net, (2, 7, 7)) == first
    assert not net.training
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # no hooks are left behind
    assert all(not m._forward_hooks for m in net.modules())


def test_count_flops_ignores_parameter_free_ops():
    assert count_flops(Pool("max", 2, 2), (3, 7, 7)) == 0
    assert count_flops(OPS["none"](3, 1, 1, True), (3, 7)) == 0


@pytest.mark.parametrize("stride", [0, 3])
def test_skip_connect_rejects_strides_it_cannot_honour(stride):
    with pytest.raises(ValueError, match="stride"):
        OPS["skip_connect"](4, stride, 1, True)


def test_skip_connect_rejects_dim_3():
    with pytest.raises(ValueError, match="dim"):
        OPS["skip_connect"](4, 1, 3, True)
