"""minnas.hpo.metadataset: the shipped file loads, is consistent, and its recipe reproduces it."""

import shutil
import time

import numpy as np
import pytest

from minnas.hpo import metadataset as md
from minnas.hpo.metafeatures import compute_metafeatures


@pytest.fixture(scope="module")
def meta():
    return md.load_metadataset()


def test_load_is_fast_and_checks_the_hash(meta):
    start = time.perf_counter()
    md.load_metadataset()
    assert time.perf_counter() - start < 1.0  # generous; it takes a few milliseconds
    assert md._sha256(md.METADATASET_PATH.read_bytes()) == md.METADATASET_SHA256


def test_a_changed_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "metadataset.json"
    shutil.copy(md.METADATASET_PATH, copy)
    copy.write_bytes(copy.read_bytes().replace(b"0.", b"1.", 1))
    monkeypatch.setattr(md, "METADATASET_PATH", copy)
    with pytest.raises(ValueError, match="metadataset.json has SHA-256 [0-9a-f]{64}, but the "
                                         f"module records {md.METADATASET_SHA256}"):
        md.load_metadataset()


def test_shapes_and_types(meta):
    T, C = len(meta.task_names), len(meta.configs)
    assert T >= 30 and C >= 60
    assert (meta.n_tasks, meta.n_configs) == (T, C)
    assert meta.task_names == md.TASK_NAMES and len(set(meta.task_names)) == T
    assert meta.errors.shape == (T, C) and meta.errors.dtype == float
    assert meta.metafeatures.shape == (T, len(meta.metafeature_names))
    assert meta.space is md.SPACE
    assert all(isinstance(c, dict) for c in meta.configs)


def test_values_are_sane(meta):
    assert np.all((meta.errors >= 0) & (meta.errors <= 1))
    assert np.all(np.isfinite(meta.metafeatures))
    assert np.array_equal(meta.errors, np.round(meta.errors, 6))
    # the configurations matter: on every task the best is clearly better than the worst
    spread = meta.errors.max(axis=1) - meta.errors.min(axis=1)
    assert np.all(spread > 0.05)
    # meta-features are the raw ones of compute_metafeatures, in its order
    col = meta.metafeature_names.index("nr_inst")
    assert meta.metafeatures[meta.task_names.index("sklearn:iris"), col] == 150


def test_configs_are_points_of_the_space_and_the_sobol_design(meta):
    for c in meta.configs:
        assert md.SPACE.validate(c) == c
    assert meta.configs == md.sample_configs(len(meta.configs), seed=0)
    assert len({tuple(c.values()) for c in meta.configs}) == len(meta.configs)
    U = md.SPACE.to_unit(meta.configs)
    assert U[:, 0].min() < 0.05 and U[:, 0].max() > 0.95  # the design covers each range


def test_make_task_is_deterministic_and_offline():
    for name in ["sklearn:digits_n600", "synth:moons_n300_noise0.2_x4_s23",
                 "synth:xor_n400_d6_rel2_flip0.1_s52"]:
        X1, y1 = md.make_task(name)
        X2, y2 = md.make_task(name)
        assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
        assert X1.dtype == float and y1.dtype.kind == "i" and y1.min() == 0
    with pytest.raises(ValueError, match="unknown task 'sklearn:mnist'"):
        md.make_task("sklearn:mnist")


def test_one_task_row_is_reproduced_exactly(meta):
    # The build's fast path (each fold scaled once) on the smallest task, all configurations:
    name = "synth:clf_n100_d4_inf4_k2_sep1.0_flip0.0_s11"
    t = meta.task_names.index(name)
    X, y = md.make_task(name)
    assert md._task_errors(X, y, meta.configs, seed=0) == meta.errors[t].tolist()
    mf = compute_metafeatures(X, y, seed=0)
    np.testing.assert_array_equal([round(v, 6) for v in mf.values()], meta.metafeatures[t])
    assert list(mf) == meta.metafeature_names


def test_cv_error_with_a_sklearn_pipeline_equals_the_stored_errors(meta):
    # An independent route to equation (1): Pipeline + cross_val_score, on some configurations.
    t = meta.task_names.index("sklearn:iris")
    X, y = md.make_task("sklearn:iris")
    for c in range(0, len(meta.configs), 8):
        assert md.cv_error(X, y, meta.configs[c]) == meta.errors[t, c]


def test_bad_config_raises():
    X, y = md.make_task("sklearn:iris")
    with pytest.raises(ValueError, match="gamma"):
        md.cv_error(X, y, {"C": 1.0, "gamma": 100.0, "class_weight": None})
