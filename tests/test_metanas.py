"""minnas.nas.metanas: the task split against its definition, the Reptile update (3) against
NumPy, adaptation and meta-training's bookkeeping and reproducibility, the derived network as
an ``alpha`` against darts.derive_cell, and the warm start from the shipped checkpoint."""

from copy import deepcopy

import numpy as np
import pytest
import torch

from minnas.nas import darts, metanas, pretrained
from minnas.nas.pretrained import sha256
from minnas.train import evaluate

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def pools():
    return metanas.task_pools()


@pytest.fixture(scope="module")
def task(pools):
    (X, y), _ = pools
    return metanas.TaskDistribution(X, y, k_shot=3, n_query=2, n_test=4).sample(0)


def small_supernet(n_classes=5, seed=0):
    return metanas.supernet(n_classes, C=4, seed=seed)


def test_task_pools_are_disjoint_stratified_and_seeded(pools):
    (X, y), (X_h, y_h) = pools
    assert X.shape[1:] == (1, 40) and X.dtype == np.float32
    assert len(y) + len(y_h) == 5000 and len(y_h) == 2000
    assert np.all(np.bincount(y_h) == 200) and np.all(np.bincount(y) == 300)
    rows = {r.tobytes() for r in X[:, 0]}
    assert not rows & {r.tobytes() for r in X_h[:, 0]}, "a signal is in both pools"
    (_, y2), _ = metanas.task_pools(seed=1)
    again = metanas.task_pools(seed=0)
    assert np.array_equal(again[0][0], X) and not np.array_equal(y2, y)


def test_sample_task_is_an_n_way_k_shot_split():
    y = np.repeat(np.arange(6), 8)
    X = np.column_stack([y, np.arange(len(y))]).astype(np.float32)[:, None, :]
    task = metanas.sample_task(X, y, n_way=4, k_shot=2, n_query=3, n_test=1, seed=3)
    assert task.n_classes == 4 and task.input_shape == (1, 2)
    ids, mapping = [], {}
    for split, per_class in (("train", 2), ("val", 3), ("test", 1)):
        Xs, ys = task.tensors(split)
        assert np.array_equal(np.bincount(ys.numpy(), minlength=4), [per_class] * 4)
        ids += Xs[:, 0, 1].int().tolist()
        for original, label in zip(Xs[:, 0, 0].int().tolist(), ys.tolist()):
            assert mapping.setdefault(label, original) == original
    assert len(set(ids)) == len(ids), "a sample is used twice"
    assert len(set(mapping.values())) == 4
    same = metanas.sample_task(X, y, 4, 2, 3, 1, seed=3)
    assert torch.equal(same.X_train, task.X_train) and torch.equal(same.y_val, task.y_val)
    fixed = metanas.sample_task(X, y, 2, 1, 1, classes=[5, 0], seed=0)
    assert fixed.X_train[:, 0, 0].tolist() == [5.0, 0.0] and fixed.y_train.tolist() == [0, 1]


@pytest.mark.parametrize("kwargs", [dict(n_way=7), dict(n_way=1), dict(k_shot=0), dict(n_query=0),
                                    dict(k_shot=5, n_query=4), dict(n_test=0), dict(noise=-1.0),
                                    dict(classes=[0, 0, 1]), dict(classes=[0, 1])])
def test_sample_task_refuses_bad_input(kwargs):
    y = np.repeat(np.arange(6), 8)
    X = np.zeros((len(y), 1, 3), np.float32)
    args = dict(n_way=3, k_shot=2, n_query=2, seed=0) | kwargs
    with pytest.raises(ValueError):
        metanas.sample_task(X, y, **args)


def test_task_distribution_draws_noise_in_its_range(pools):
    (X, y), _ = pools
    clean = metanas.TaskDistribution(X, y, noise=(0.0, 0.0)).sample(4)
    rows = {r.tobytes() for r in X[:, 0]}
    assert all(r.numpy().tobytes() in rows for r in clean.X_train[:, 0])
    noisy = metanas.TaskDistribution(X, y, noise=(0.5, 0.5)).sample(4)
    residual = noisy.X_train - clean.X_train  # the same draws, then noise
    assert abs(residual.std().item() - 0.5) < 0.05
    assert torch.equal(metanas.TaskDistribution(X, y).sample(9).X_val,
                       metanas.TaskDistribution(X, y).sample(9).X_val)


def test_the_supernet_normalises_with_batch_statistics(task):
    model = small_supernet()
    x = task.X_test
    model.train()
    train_out = model(x)
    model.eval()
    assert torch.allclose(model(x), train_out), "eval mode must use the batch's own statistics"
    assert not any(b is not None and b.numel() for b in model.buffers())


def test_reptile_update_moves_towards_the_mean_of_the_adapted_points():
    theta = small_supernet(seed=0)
    phis = [small_supernet(seed=s) for s in (1, 2, 3)]
    start = {n: p.detach().clone() for n, p in theta.named_parameters()}
    metanas.reptile_update(theta, phis, 0.25)
    for name, p in theta.named_parameters():
        mean = np.mean([dict(phi.named_parameters())[name].detach().numpy() for phi in phis], 0)
        expected = start[name].numpy() + 0.25 * (mean - start[name].numpy())
        assert np.allclose(p.detach().numpy(), expected, atol=1e-6), name
    alpha = theta.alpha_normal.detach().clone()
    metanas.reptile_update(theta, phis, 1.0, include_alpha=False)
    assert torch.equal(theta.alpha_normal, alpha)
    with pytest.raises(ValueError):
        metanas.reptile_update(theta, [], 0.5)
    with pytest.raises(ValueError):
        metanas.reptile_update(theta, phis, 1.5)


def test_adapt_runs_darts_on_a_copy(task):
    model = small_supernet()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    run = metanas.adapt(model, task, 3)
    assert run.model is not model and len(run.val_acc) == 3
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert not torch.equal(run.model.alpha_normal, model.alpha_normal)
    fixed = metanas.adapt(model, task, 2, train_alpha=False)
    assert torch.equal(fixed.model.alpha_normal, model.alpha_normal)
    assert not torch.equal(fixed.model.stem[0].weight, model.stem[0].weight)
    again = metanas.adapt(model, task, 3)
    assert torch.equal(again.model.alpha_reduce, run.model.alpha_reduce)


def test_one_reptile_step_of_size_one_lands_on_the_adapted_point(pools):
    (X, y), _ = pools
    tasks = metanas.TaskDistribution(X, y, k_shot=2, n_query=2, n_test=1)
    start = small_supernet()
    result = metanas.meta_train(tasks, iterations=1, meta_batch=1, k=2, epsilon=1.0,
                                model=deepcopy(start), seed=5)
    # The task meta_train drew: the first seed of its generator.
    task_seed = int(np.random.default_rng(5).integers(2**31))
    adapted = metanas.adapt(start, tasks.sample(task_seed), 2, seed=task_seed).model
    for (name, p), q in zip(result.model.named_parameters(), adapted.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name
    assert len(result.query_acc) == 1 and len(result.alpha_normal) == 1


def test_meta_train_is_reproducible_and_can_freeze_alpha(pools):
    (X, y), _ = pools
    tasks = metanas.TaskDistribution(X, y, k_shot=2, n_query=2, n_test=1)
    runs = [metanas.meta_train(tasks, iterations=2, meta_batch=2, k=1, record_every=1,
                               model=small_supernet(), seed=1) for _ in range(2)]
    assert all(torch.equal(p, q) for p, q in zip(runs[0].model.parameters(),
                                                 runs[1].model.parameters()))
    assert len(runs[0].alpha_normal) == 3 and len(runs[0].query_acc) == 4
    start = small_supernet()
    frozen = metanas.meta_train(tasks, iterations=2, meta_batch=1, k=1, include_alpha=False,
                                model=deepcopy(start), seed=1)
    assert torch.equal(frozen.model.alpha_normal, start.alpha_normal)
    assert not torch.equal(frozen.model.classifier.weight, start.classifier.weight)


@pytest.mark.parametrize("seed", range(4))
def test_genotype_alpha_encodes_the_derived_cell(seed):
    genotype = darts.random_genotype(3, metanas.PRIMITIVES, seed=seed)
    normal, reduce = metanas.genotype_alpha(genotype)
    for alpha, genes in ((normal, genotype.normal), (reduce, genotype.reduce)):
        weights = torch.softmax(alpha, -1)
        assert torch.equal(weights.max(dim=1).values, torch.ones(len(alpha)))
        assert darts.derive_cell(weights, metanas.PRIMITIVES) == genes
    with pytest.raises(ValueError, match="none"):
        metanas.genotype_alpha(genotype, ("skip_connect",) + metanas.PRIMITIVES[2:])


def test_the_derived_network_ignores_the_operations_it_dropped(task):
    model = small_supernet()
    genotype = darts.random_genotype(model.n_nodes, model.primitives, seed=3)
    derived = metanas.with_genotype(model, genotype)
    x = task.X_test
    out = derived(x)
    kept = {(k // 2, i): op for k, (op, i) in enumerate(genotype.normal)}
    first_normal = next(c for c in derived.cells if not c.reduction)
    dropped = next((e, k) for e, (node, i) in enumerate(darts.edge_inputs(model.n_nodes))
                   for k, op in enumerate(model.primitives)
                   if op == "conv_3" and kept.get((node, i)) != op)
    with torch.no_grad():
        for p in first_normal.edges[dropped[0]]._ops[dropped[1]].parameters():
            p.add_(1.0)
    assert torch.allclose(derived(x), out), "a dropped operation changed the output"
    assert torch.equal(model.alpha_normal, small_supernet().alpha_normal), "model was changed"
    net = metanas.derive(model, task, fine_tune=2, genotype=genotype)
    assert torch.equal(net.alpha_normal, derived.alpha_normal)
    assert 0.0 <= evaluate(net, task.tensors("test")) <= 1.0


def test_steps_to_reach():
    assert metanas.steps_to_reach([0.1, 0.5, 0.9], 0.5) == 2
    assert metanas.steps_to_reach([0.1, np.nan], 0.5) is None
    assert metanas.steps_to_reach(np.array([0.7]), 0.2) == 1


def test_darts_search_warm_starts_from_a_given_supernet(task):
    model = small_supernet()
    result = darts.search(task, epochs=2, batch_size=50, model=model)
    assert result.model is model
    fixed_alpha = model.alpha_reduce.detach().clone()
    darts.search(task, epochs=2, warmup_epochs=2, batch_size=50, model=model)
    assert torch.equal(model.alpha_reduce, fixed_alpha), "warmup_epochs = epochs trains w only"
    with pytest.raises(ValueError, match="darts.Network"):
        darts.search(task, epochs=1, model=torch.nn.Linear(2, 2))


# ------------------------------------------------------------------ the shipped checkpoint
def test_the_shipped_checkpoint_matches_its_checksum_and_loads():
    assert pretrained.METANAS_PATH.is_file()
    assert sha256(pretrained.METANAS_PATH) == pretrained.METANAS_SHA256
    assert pretrained.METANAS_PATH.stat().st_size < 1_000_000
    model = pretrained.load_metanas()
    assert isinstance(model, darts.Network) and model.primitives == metanas.PRIMITIVES
    assert model.classifier.out_features == 5


def test_the_meta_learned_start_beats_scratch_on_held_out_tasks(pools):
    """The method's claim on three held-out tasks: after 5 DARTS steps the warm start's query
    accuracy is higher than scratch's on average (the benchmark measures it properly)."""
    theta = pretrained.load_metanas()
    held_out = metanas.TaskDistribution(*pools[1])
    warm, cold = [], []
    for i in range(3):
        task = held_out.sample(1000 + i)
        warm.append(metanas.adapt(theta, task, 5, seed=i).val_acc[-1])
        cold.append(metanas.adapt(metanas.supernet(5, seed=100 + i), task, 5, seed=i).val_acc[-1])
    assert np.mean(warm) > np.mean(cold) + 0.05, (warm, cold)
