"""minnas.nas.latency: timing statistics against NumPy, a fake clock for exact medians, the order
of the interleaved rounds, threads and modes restored, the lookup table's prediction, JSON round
trip and validation, the fidelity report against SciPy, the lower quartile and minimum as
statistics, and the busy verdict.
Nothing asserts on the machine's speed."""

import json

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from minnas.nas import latency
from minnas.nas.latency import (
    LatencyTable,
    Timing,
    build_table,
    busy_verdict,
    fidelity,
    measure,
    measure_network,
    measure_networks,
    proxies,
)
from minnas.nas.ops import count_flops, count_params

torch.set_num_threads(1)


class FakeClock:
    """A clock in nanoseconds that only moves when a fake module says so."""

    def __init__(self):
        self.now = 0

    def __call__(self):
        return self.now


class Costly(nn.Module):
    """Advances the fake clock by ``cost_us`` per call and logs its name."""

    def __init__(self, name, cost_us, clock, log):
        super().__init__()
        self.name, self.cost_us, self.clock, self.log = name, cost_us, clock, log

    def forward(self, x):
        self.clock.now += int(self.cost_us * 1000)
        self.log.append(self.name)
        return x


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(latency, "_clock", fake)
    return fake


def small_table():
    entries = {"0": {"a": 10.0, "b": 20.0}, "1": {"a": 5.0, "skip": 1.0}}
    spread = {"0": {"a": 1.0, "b": 2.0}, "1": {"a": 0.5, "skip": 0.1}}
    return LatencyTable(entries, spread, overhead_us=3.0)


# ------------------------------------------------------------------------------------ measure
def test_timing_statistics_match_numpy():
    timing = measure(nn.Linear(4, 4), (4,), warmup=2, repeats=15)
    s = np.array(timing.samples_us)
    assert len(s) == 15 and np.all(s >= 0)
    assert timing.median_us == pytest.approx(np.median(s))
    assert timing.q1_us == pytest.approx(np.percentile(s, 25))
    assert timing.q3_us == pytest.approx(np.percentile(s, 75))
    assert timing.iqr_us == pytest.approx(timing.q3_us - timing.q1_us)
    assert timing.q1_us <= timing.median_us <= timing.q3_us


def test_timing_from_samples_and_empty():
    t = Timing.from_samples([4.0, 1.0, 3.0, 2.0, 5.0])
    assert (t.median_us, t.q1_us, t.q3_us) == (3.0, 2.0, 4.0)
    with pytest.raises(ValueError, match="at least one sample"):
        Timing.from_samples([])


def test_fake_clock_gives_exact_median(clock):
    log = []
    timing = measure(Costly("m", 7.5, clock, log), (3,), warmup=4, repeats=6)
    assert timing.samples_us == [7.5] * 6 and timing.median_us == 7.5 and timing.iqr_us == 0
    assert len(log) == 10  # warm-up passes run but are not timed


class Recorder(nn.Module):
    """Records the thread count, mode, autograd state and input shape it runs under."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append((torch.get_num_threads(), self.training, torch.is_grad_enabled(),
                          tuple(x.shape)))
        return x


def test_measure_sets_and_restores_threads_mode_and_grad():
    torch.set_num_threads(1)
    module = Recorder().train()
    measure(module, (2, 5), batch_size=3, warmup=1, repeats=2, threads=2)
    assert set(module.seen) == {(2, False, False, (3, 2, 5))}
    assert torch.get_num_threads() == 1 and module.training and torch.is_grad_enabled()


def test_threads_restored_after_an_error():
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    torch.set_num_threads(1)
    with pytest.raises(RuntimeError, match="boom"):
        measure(Broken(), (2,), threads=2)
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(repeats=0), "repeats"), (dict(warmup=-1), "warmup"), (dict(threads=0), "threads"),
    (dict(batch_size=True), "batch_size"), (dict(input_shape=()), "input_shape"),
    (dict(input_shape=(3, 0)), "input_shape"),
])
def test_measure_rejects_bad_arguments(kwargs, message):
    shape = kwargs.pop("input_shape", (3,))
    with pytest.raises(ValueError, match=message):
        measure(nn.Identity(), shape, **kwargs)


def test_measure_network_and_networks(clock):
    log = []
    nets = [Costly(name, cost, clock, log) for name, cost in [("x", 2.0), ("y", 4.0)]]
    assert measure_network(nets[0], (1,), warmup=0, repeats=3).median_us == 2.0
    log.clear()
    timings = measure_networks(nets, (1,), warmup=1, repeats=2, rounds=3)
    assert [t.median_us for t in timings] == [2.0, 4.0]
    assert [len(t.samples_us) for t in timings] == [6, 6]
    assert log == (["x"] * 3 + ["y"] * 3) * 3  # round by round
    with pytest.raises(ValueError, match="empty"):
        measure_networks([], (1,))


def test_proxies_reuse_ops_counts():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    assert proxies(net, (1, 8, 8)) == {"flops": count_flops(net, (1, 8, 8)),
                                       "params": count_params(net)}


# ---------------------------------------------------------------------------------- the table
def fake_space(clock, log):
    costs = {(0, "a"): 10.0, (0, "b"): 20.0, (1, "a"): 5.0, (1, "skip"): 1.0}

    def make_block(layer, block):
        return Costly(f"{layer}{block}", costs[layer, block], clock, log)

    return make_block, [(2,), (3,)], [["a", "b"], ["a", "skip"]], costs


def test_build_table_interleaves_rounds(clock):
    log = []
    make_block, shapes, choices, _ = fake_space(clock, log)
    overhead = Costly("stem+head", 3.0, clock, log)
    build_table(make_block, shapes, choices, overhead_module=overhead, overhead_shape=(2,),
                warmup=1, repeats=2, rounds=3)
    one_round = [name for name in ["0a", "0b", "1a", "1skip", "stem+head"] for _ in range(3)]
    assert log == one_round * 3


def test_build_table_entries_and_prediction(clock):
    make_block, shapes, choices, costs = fake_space(clock, [])
    table = build_table(make_block, shapes, choices, overhead_module=Costly("o", 3.0, clock, []),
                        overhead_shape=(2,), warmup=0, repeats=2, rounds=2, threads=1)
    assert table.entries == {"0": {"a": 10.0, "b": 20.0}, "1": {"a": 5.0, "skip": 1.0}}
    assert table.spread == {"0": {"a": 0.0, "b": 0.0}, "1": {"a": 0.0, "skip": 0.0}}
    assert table.overhead_us == 3.0 and table.batch_size == 1 and table.threads == 1
    assert table.torch_version == torch.__version__ and table.device
    assert table.predict(("b", "skip")) == 3.0 + 20.0 + 1.0
    assert table.choices(1) == ["a", "skip"]


def test_build_table_without_overhead_and_bad_arguments(clock):
    make_block, shapes, choices, _ = fake_space(clock, [])
    assert build_table(make_block, shapes, choices, warmup=0, repeats=1, rounds=1).overhead_us == 0
    with pytest.raises(ValueError, match="one input shape per layer"):
        build_table(make_block, shapes[:1], choices)
    with pytest.raises(ValueError, match="together"):
        build_table(make_block, shapes, choices, overhead_module=nn.Identity())
    with pytest.raises(ValueError, match="at least one block"):
        build_table(make_block, shapes, [["a"], []])


def test_build_table_measures_real_blocks():
    table = build_table(lambda layer, block: nn.Conv1d(2, 2, int(block), padding="same"),
                        [(2, 10)], [["1", "3"]], warmup=0, repeats=2, rounds=1)
    assert set(table.entries["0"]) == {"1", "3"}
    assert all(v >= 0 for v in table.entries["0"].values())


def test_predict_is_overhead_plus_sum():
    table = small_table()
    for arch in [("a", "a"), ("a", "skip"), ("b", "a"), ("b", "skip")]:
        assert table.predict(arch) == pytest.approx(
            3.0 + table.entries["0"][arch[0]] + table.entries["1"][arch[1]])
    with pytest.raises(ValueError, match="2 layers"):
        table.predict(("a",))
    with pytest.raises(ValueError, match="was not measured at layer 0"):
        table.predict(("skip", "a"))
    with pytest.raises(ValueError, match="not in the table"):
        table.choices(2)


def test_save_load_round_trip(tmp_path):
    table = small_table()
    path = tmp_path / "table.json"
    table.save(path)
    data = json.loads(path.read_text())
    assert data["device"] == table.device and data["torch_version"] == torch.__version__
    assert LatencyTable.load(path) == table


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("overhead_us"), "lacks the fields"),
    (lambda d: d.update(device=3), "device must be a string"),
    (lambda d: d.update(threads=1.5), "threads must be an integer"),
    (lambda d: d.update(batch_size=True), "batch_size must be an integer"),
    (lambda d: d.update(overhead_us="3"), "overhead_us must be a number"),
    (lambda d: d.update(entries=[]), "entries must be a non-empty object"),
    (lambda d: d["entries"].update({"5": {"a": 1.0}}), "layers '0'"),
    (lambda d: d["entries"]["0"].update(a="fast"), r"entries\['0'\]\['a'\]"),
    (lambda d: d["entries"]["0"].update(a=-1.0), ">= 0"),
    (lambda d: d["entries"].update({"1": {}}), "non-empty object of blocks"),
    (lambda d: d["spread"]["1"].pop("skip"), "same layers and blocks"),
])
def test_load_rejects_broken_tables(tmp_path, change, message):
    path = tmp_path / "table.json"
    small_table().save(path)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        LatencyTable.load(path)


def test_load_rejects_non_objects(tmp_path):
    path = tmp_path / "table.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        LatencyTable.load(path)
    path.write_text("{not json")
    with pytest.raises(ValueError):
        LatencyTable.load(path)


# ------------------------------------------------------------------------------------ fidelity
def test_fidelity_against_scipy():
    rng = np.random.default_rng(0)
    predicted = rng.uniform(100, 1000, 25)
    measured = predicted * rng.uniform(0.8, 1.5, 25)
    report = fidelity(predicted, measured)
    assert report["spearman"] == pytest.approx(stats.spearmanr(predicted, measured).statistic)
    assert report["kendall"] == pytest.approx(stats.kendalltau(predicted, measured).statistic)
    rel = np.abs(predicted - measured) / measured
    assert report["mean_rel_error"] == pytest.approx(rel.mean())
    assert report["max_rel_error"] == pytest.approx(rel.max())
    assert report["ratio"] == pytest.approx(np.median(measured / predicted))
    assert report["n"] == 25


def test_fidelity_of_a_perfect_and_a_reversed_table():
    p = [1.0, 2.0, 3.0, 4.0]
    assert fidelity(p, p) == {"spearman": 1.0, "kendall": 1.0, "mean_rel_error": 0.0,
                              "max_rel_error": 0.0, "ratio": 1.0, "n": 4}
    assert fidelity(p, [2.0 * x for x in p])["ratio"] == 2.0
    assert fidelity(p, p[::-1])["spearman"] == pytest.approx(-1.0)


@pytest.mark.parametrize("predicted, measured, message", [
    ([1, 2, 3], [1, 2], "equal length"),
    ([1, 2], [1, 2], "at least 3"),
    ([1, 2, 3], [1, 0, 3], "positive"),
    ([1, 2, np.nan], [1, 2, 3], "finite"),
])
def test_fidelity_rejects_bad_input(predicted, measured, message):
    with pytest.raises(ValueError, match=message):
        fidelity(predicted, measured)


# --------------------------------------------------------------------- statistics and busy verdict
def test_timing_stat_and_min():
    t = Timing.from_samples([4.0, 1.0, 3.0, 2.0, 50.0])
    assert t.min_us == 1.0 and t.stat("min") == 1.0
    assert t.stat("q1") == t.q1_us == 2.0 and t.stat("median") == t.stat() == 3.0
    assert Timing(5.0, 4.0, 6.0).min_us == 5.0  # no samples kept: the median
    with pytest.raises(ValueError, match="statistic must be one of"):
        t.stat("mean")


def test_build_table_with_the_lower_quartile(clock):
    class Alternating(nn.Module):
        """Costs 10 us, then 30 us, alternately: q1 and median differ."""

        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            clock.now += 10_000 if self.calls % 2 == 0 else 30_000
            self.calls += 1
            return x

    kwargs = dict(warmup=0, repeats=4, rounds=1)
    table = build_table(lambda layer, block: Alternating(), [(1,)], [["a"]], statistic="q1",
                        overhead_module=Alternating(), overhead_shape=(1,), **kwargs)
    samples = [10.0, 30.0, 10.0, 30.0]
    assert table.entries["0"]["a"] == pytest.approx(np.percentile(samples, 25))
    assert table.overhead_us == pytest.approx(np.percentile(samples, 25))
    assert table.statistic == "q1"
    assert build_table(lambda layer, block: Alternating(), [(1,)], [["a"]], statistic="min",
                       **kwargs).entries["0"]["a"] == 10.0
    assert build_table(lambda layer, block: Alternating(), [(1,)], [["a"]],
                       **kwargs).entries["0"]["a"] == 20.0  # the default stays the median
    with pytest.raises(ValueError, match="statistic"):
        build_table(lambda layer, block: Alternating(), [(1,)], [["a"]], statistic="mean")


def test_statistic_round_trip_and_old_tables(tmp_path):
    table = small_table()
    table.statistic = "q1"
    path = tmp_path / "table.json"
    table.save(path)
    assert LatencyTable.load(path).statistic == "q1"
    data = json.loads(path.read_text())
    del data["statistic"]  # a table saved before the field existed
    path.write_text(json.dumps(data))
    assert LatencyTable.load(path).statistic == "median"
    data["statistic"] = "mean"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="statistic must be one of"):
        LatencyTable.load(path)


def quiet(value, spread=0.1):
    """A Timing with median ``value``, q1 ``value``, IQR ``spread * value``."""
    return Timing(value, value, value * (1 + spread))


def test_busy_verdict_quiet_machine():
    timings = [quiet(100.0), quiet(200.0), quiet(300.0)]
    verdict = busy_verdict(timings, [80.0, 170.0, 250.0])
    assert verdict["busy"] is False and verdict["reasons"] == []
    assert verdict["spread"] == pytest.approx(0.1)
    assert verdict["ratio"] == pytest.approx(np.median([100 / 80, 200 / 170, 300 / 250]))
    assert busy_verdict(timings)["ratio"] is None


def test_busy_verdict_flags_spread_and_ratio():
    noisy = [Timing.from_samples([100.0, 110.0, 400.0, 900.0]) for _ in range(3)]
    verdict = busy_verdict(noisy)
    assert verdict["busy"] and "spread" in verdict["reasons"][0]
    assert verdict["spread"] == pytest.approx(noisy[0].iqr_us / noisy[0].median_us)
    slow = [quiet(940.0), quiet(1880.0), quiet(2820.0)]
    verdict = busy_verdict(slow, [100.0, 200.0, 300.0])  # 9.4 x the table
    assert verdict["busy"] and verdict["ratio"] == pytest.approx(9.4)
    assert len(verdict["reasons"]) == 1 and "9.40" in verdict["reasons"][0]
    assert busy_verdict(slow, [10_000.0] * 3)["busy"]  # the table was measured while busy
    assert not busy_verdict(slow, [100.0, 200.0, 300.0], max_ratio=10.0)["busy"]
    verdict = busy_verdict([Timing.from_samples([10.0, 30.0, 30.0, 30.0])], [10.0],
                           statistic="min")
    assert verdict["ratio"] == 1.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(timings=[]), "at least one"),
    (dict(predicted=[1.0, 2.0]), "predicted must hold 1"),
    (dict(predicted=[0.0]), "positive"),
    (dict(max_ratio=1.0), "max_ratio > 1"),
    (dict(max_spread=0.0), "max_spread > 0"),
    (dict(statistic="mean"), "statistic"),
])
def test_busy_verdict_rejects_bad_input(kwargs, message):
    kwargs = {"timings": [quiet(10.0)], **kwargs}
    with pytest.raises(ValueError, match=message):
        busy_verdict(**kwargs)
