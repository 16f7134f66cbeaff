"""minnas.train: fit learns and is reproducible, evaluate agrees with numpy, inputs are checked."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minnas.data import load_digits
from minnas.train import History, accuracy, evaluate, fit, seed_everything

torch.set_num_threads(1)


def blobs(n=240, seed=0):
    """Three well separated Gaussian clusters in 2-D: a logistic regression solves them."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])
    return centres[y] + torch.randn(n, 2, generator=g), y


def loader(X, y, seed=0, batch_size=32):
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def without_time(history):
    return {k: v for k, v in dataclasses.asdict(history).items() if k != "seconds"}


# ------------------------------------------------------------------------------------ fit
def test_fit_logistic_regression_reduces_loss_and_fits_the_training_data():
    X, y = blobs()
    torch.manual_seed(0)
    model = nn.Linear(2, 3)
    h = fit(model, loader(X, y), epochs=8, lr=0.1)
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]
    assert h.train_acc[-1] >= 0.95
    assert evaluate(model, (X, y)) >= 0.95


def test_history_has_one_entry_per_epoch_and_val_acc_only_with_val_data():
    X, y = blobs()
    h = fit(mlp(), loader(X, y), epochs=3)
    assert isinstance(h, History)
    assert h.epoch == [1, 2, 3] and len(h.train_loss) == len(h.train_acc) == 3
    assert h.val_acc == [] and h.seconds > 0
    h = fit(mlp(), loader(X, y), epochs=2, val=blobs(seed=1))
    assert len(h.val_acc) == 2 and all(0 <= a <= 1 for a in h.val_acc)


def test_fit_is_reproducible_with_same_seeds_and_differs_with_another():
    X, y = blobs()
    runs = [fit(mlp(), loader(X, y), epochs=3, val=(X, y), seed=s) for s in (0, 0, 1)]
    assert without_time(runs[0]) == without_time(runs[1])  # identical, not just close
    assert without_time(runs[0]) != without_time(runs[2])  # the seed drives dropout


@pytest.mark.parametrize("options", [{"optimizer": "adam", "lr": 0.01},
                                     {"cosine": False, "grad_clip": None}])
def test_fit_options_also_learn(options):
    X, y = blobs()
    h = fit(mlp(), loader(X, y), epochs=5, **options)
    assert h.train_loss[-1] < h.train_loss[0] and h.train_acc[-1] >= 0.9


def test_fit_uses_a_custom_loss():
    X, y = blobs()
    calls = []

    def loss_fn(logits, target):
        calls.append(len(target))
        return nn.functional.cross_entropy(logits, target)

    fit(mlp(), loader(X, y, batch_size=100), epochs=2, loss_fn=loss_fn)
    assert calls == [100, 100, 40] * 2


def test_small_cnn_learns_digits():
    splits = load_digits(n_train=300, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, 10))
    h = fit(model, splits.loader("train", batch_size=32), epochs=5, val=splits.loader("val"))
    assert h.val_acc[-1] >= 0.85
    assert evaluate(model, (splits.X_test, splits.y_test)) >= 0.85


def test_progress_bar_writes_to_stdout_never_stderr(capsys):
    X, y = blobs()
    fit(mlp(), loader(X, y), epochs=2, val=(X, y), progress=True, desc="blobs")
    out, err = capsys.readouterr()
    assert "blobs" in out and err == ""
    fit(mlp(), loader(X, y), epochs=1)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs"),
    ({"epochs": 2.0}, "epochs"),
    ({"epochs": 1, "lr": 0.0}, "lr"),
    ({"epochs": 1, "lr": float("inf")}, "lr"),
    ({"epochs": 1, "optimizer": "rmsprop"}, "optimizer"),
    ({"epochs": 1, "grad_clip": 0.0}, "grad_clip"),
])
def test_fit_rejects_bad_arguments(kwargs, match):
    X, y = blobs()
    with pytest.raises(ValueError, match=match):
        fit(mlp(), loader(X, y), **kwargs)


def test_fit_rejects_an_empty_loader():
    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64)))
    with pytest.raises(ValueError, match="no batches"):
        fit(mlp(), empty, epochs=1)


# ------------------------------------------------------------------------------- evaluate
def test_evaluate_matches_numpy_for_pairs_and_loaders():
    X, y = blobs(n=203, seed=3)
    model = mlp(seed=5)  # untrained: accuracy somewhere strictly between 0 and 1
    model.eval()
    with torch.no_grad():
        logits = model(X).numpy()
    expected = np.mean(np.argmax(logits, axis=1) == y.numpy())
    assert 0 < expected < 1
    assert evaluate(model, (X, y), batch_size=50) == pytest.approx(expected, abs=1e-12)
    assert evaluate(model, loader(X, y, batch_size=64)) == pytest.approx(expected, abs=1e-12)
    assert accuracy(torch.from_numpy(logits), y) == pytest.approx(expected, abs=1e-6)


def test_evaluate_uses_eval_mode_and_restores_the_previous_mode():
    X, y = blobs()
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.99))
    model.train()
    a = evaluate(model, (X, y))
    assert model.training and all(m.training for m in model.modules())
    assert evaluate(model, (X, y)) == a  # dropout was off: deterministic
    model.eval()
    evaluate(model, (X, y))
    assert not model.training


def test_evaluate_and_accuracy_reject_bad_input():
    model = mlp()
    with pytest.raises(ValueError, match="no data"):
        evaluate(model, (torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64)))
    with pytest.raises(ValueError, match="pair"):
        evaluate(model, (torch.zeros(4, 2), torch.zeros(3, dtype=torch.int64)))
    with pytest.raises(ValueError, match="shape"):
        accuracy(torch.zeros(4, 3), torch.zeros(5, dtype=torch.int64))


def test_accuracy_counts_argmax_hits():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [0.1, 0.2]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 0])) == 0.5


def test_seed_everything_seeds_torch_and_returns_a_seeded_generator():
    g = seed_everything(11)
    a = torch.rand(3)
    assert g.initial_seed() == 11
    seed_everything(11)
    assert torch.equal(torch.rand(3), a)
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=seed_everything(11)))
