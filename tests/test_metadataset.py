"""minnas.hpo.metadataset: the shipped file loads, is consistent, and its recipe reproduces it."""

import json
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
    errors, misclassified, sizes = md._task_errors(X, y, meta.configs, seed=0)
    assert errors == meta.errors[t].tolist()
    assert sizes == meta.fold_sizes[t].tolist()
    np.testing.assert_array_equal(np.array(misclassified) / np.array(sizes), meta.fold_errors[t])
    mf = compute_metafeatures(X, y, seed=0)
    np.testing.assert_array_equal([round(v, 6) for v in mf.values()], meta.metafeatures[t])
    assert list(mf) == meta.metafeature_names


def test_cv_error_with_a_sklearn_pipeline_equals_the_stored_errors(meta):
    # An independent route to equation (1): Pipeline + cross_val_score, on some configurations.
    t = meta.task_names.index("sklearn:iris")
    X, y = md.make_task("sklearn:iris")
    for c in range(0, len(meta.configs), 8):
        assert md.cv_error(X, y, meta.configs[c]) == meta.errors[t, c]


def test_fold_errors_are_consistent_with_the_errors(meta):
    T, C = meta.errors.shape
    F, n = meta.fold_errors, meta.fold_sizes
    assert F.shape == (T, C, md.N_FOLDS) and n.shape == (T, md.N_FOLDS)
    assert np.all((F >= 0) & (F <= 1))
    # eq. (2): the stored error is the mean of the fold errors (stored to 6 decimals)
    np.testing.assert_allclose(F.mean(axis=2), meta.errors, rtol=0, atol=5e-7)
    # each fold error counts whole samples, and the folds partition the task
    counts = F * n[:, None, :]
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    col = meta.metafeature_names.index("nr_inst")
    np.testing.assert_array_equal(n.sum(axis=1), meta.metafeatures[:, col])


def test_fold_errors_equal_sklearn_cross_val_score(meta):
    # An independent route to the five terms of eq. (2): cross_val_score's per-fold accuracies.
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    t = meta.task_names.index("sklearn:wine")
    X, y = md.make_task("sklearn:wine")
    for c in range(3, len(meta.configs), 37):
        model = make_pipeline(StandardScaler(), md._svc(meta.configs[c]))
        accuracy = cross_val_score(model, X, y, cv=md._folds(0))
        np.testing.assert_allclose(1 - accuracy, meta.fold_errors[t, c], atol=1e-12)


def _near_optimal_oracle(errors, folds, n_se):
    out = np.zeros(errors.shape, dtype=bool)
    for t in range(len(errors)):
        best = np.flatnonzero(errors[t] == errors[t].min())
        se = min(np.std(folds[t, c], ddof=1) / np.sqrt(folds.shape[2]) for c in best)
        out[t] = errors[t] <= errors[t].min() + n_se * se + 1e-9
    return out


def test_near_optimal_is_within_one_standard_error_of_the_best(meta):
    near = meta.near_optimal()
    np.testing.assert_array_equal(near, _near_optimal_oracle(meta.errors, meta.fold_errors, 1.0))
    assert near[np.arange(meta.n_tasks), meta.errors.argmin(axis=1)].all()
    # n_se = 0: only the configurations of the lowest error; more n_se, more configurations
    exact = meta.errors == meta.errors.min(axis=1, keepdims=True)
    np.testing.assert_array_equal(meta.near_optimal(0.0), exact)
    assert np.all(meta.near_optimal(2.0) >= near) and near.sum() > exact.sum()
    se = meta.best_standard_error()
    assert se.shape == (meta.n_tasks,) and np.all(se >= 0)


def test_near_optimal_on_a_hand_made_example():
    # two tasks, three configurations, folds chosen so that the SE is easy to compute
    folds = np.array([[[0.1, 0.1, 0.3, 0.3, 0.2], [0.3] * 5, [0.2, 0.25, 0.25, 0.25, 0.25]],
                      [[0.0] * 5, [0.0, 0.0, 0.0, 0.0, 0.1], [0.5] * 5]])
    errors = folds.mean(axis=2)
    meta = md.MetaDataset(task_names=["a", "b"], space=md.SPACE, configs=[{}] * 3, errors=errors,
                          metafeatures=np.zeros((2, 1)), metafeature_names=["x"],
                          fold_errors=folds)
    se_a = 0.1 / np.sqrt(5)  # sample std of task a's best folds is 0.1: 0.24 <= 0.2 + 0.0447
    np.testing.assert_allclose(meta.best_standard_error(), [se_a, 0.0])
    np.testing.assert_array_equal(meta.near_optimal(), [[True, False, True], [True, False, False]])
    with pytest.raises(ValueError, match="n_se"):
        meta.near_optimal(-1.0)


def test_a_format_1_file_still_loads(meta, tmp_path):
    raw = json.loads(md.METADATASET_PATH.read_bytes())
    del raw["fold_sizes"], raw["fold_misclassified"]
    raw["format"] = 1
    old = tmp_path / "old.json"
    old.write_text(json.dumps(raw))
    loaded = md.load_metadataset(old)
    np.testing.assert_array_equal(loaded.errors, meta.errors)
    assert loaded.fold_errors is None and loaded.fold_sizes is None
    with pytest.raises(ValueError, match="no fold errors"):
        loaded.near_optimal()


def test_fold_errors_that_disagree_with_the_errors_are_refused(tmp_path):
    raw = json.loads(md.METADATASET_PATH.read_bytes())
    raw["fold_misclassified"][0][0][0] += 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="the mean of the fold errors differs from errors"):
        md.load_metadataset(bad)


def test_bad_config_raises():
    X, y = md.make_task("sklearn:iris")
    with pytest.raises(ValueError, match="gamma"):
        md.cv_error(X, y, {"C": 1.0, "gamma": 100.0, "class_weight": None})
