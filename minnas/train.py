r"""The one training loop of the NAS lessons: seeded mini-batch training and evaluation.

Every NAS method in the course ends the same way: train a network on the training split and
measure its accuracy on held-out data. :func:`fit` does the first, :func:`evaluate` the second.

Equations implemented
---------------------
(1) Empirical risk over mini-batches :math:`B`: the loss of a step is
    :math:`L_B(w) = \frac{1}{|B|} \sum_{(x, y) \in B} \ell(f_w(x), y)`, with :math:`\ell` the
    cross-entropy :math:`-\log \operatorname{softmax}(f_w(x))_y` by default.
(2) SGD with (heavy-ball) momentum :math:`\mu` and weight decay :math:`\lambda`:
    :math:`v \leftarrow \mu v + \nabla L_B(w) + \lambda w`, :math:`w \leftarrow w - \eta_t v`.
(3) Gradient clipping by global norm: if :math:`\|g\| > c`, then :math:`g \leftarrow c\, g / \|g\|`.
(4) Cosine annealing of the learning rate over :math:`T` epochs, as in DARTS' retraining,
    :math:`\eta_t = \tfrac{\eta}{2} \left(1 + \cos(\pi t / T)\right)` in epoch
    :math:`t = 0, \dots, T - 1`: it starts at :math:`\eta` and would reach 0 after the last epoch.
(5) Accuracy: :math:`\frac{1}{n} \sum_i [\arg\max_c f_w(x_i)_c = y_i]`.

Sources
-------
- I. Loshchilov and F. Hutter, "SGDR: Stochastic gradient descent with warm restarts",
  *ICLR* 2017: the cosine schedule (4).
- H. Liu, K. Simonyan and Y. Yang, "DARTS: Differentiable architecture search", *ICLR* 2019:
  the defaults (SGD, momentum 0.9, weight decay 3e-4, gradient clipping at 5, cosine schedule).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from minnas._validation import check_choice, check_int, check_number

__all__ = ["History", "accuracy", "evaluate", "fit", "seed_everything"]

Batches = DataLoader | tuple[Tensor, Tensor]


@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch.

    Attributes
    ----------
    epoch : list of int
        Epoch numbers 1, 2, ..., epochs.
    train_loss : list of float
        Mean training loss over the epoch's mini-batches (weighted by batch size).
    train_acc : list of float
        Training accuracy measured on the fly, while the weights still change during the epoch.
    val_acc : list of float
        Validation accuracy after each epoch; empty if no validation data was given.
    seconds : float
        Wall-clock time of the whole fit.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global generator, and return a new generator seeded with ``seed``.

    The global generator drives weight initialisation and dropout; pass the returned one to
    anything that takes a ``generator`` (a ``DataLoader``, ``torch.randn``). The global
    ``random`` and ``numpy.random`` states are left alone.
    """
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Fraction of rows of ``logits`` (shape ``(n, classes)``) whose argmax is ``y``, eq. (5)."""
    if logits.ndim != 2 or y.ndim != 1 or len(logits) != len(y) or len(y) == 0:
        raise ValueError(f"need logits of shape (n, classes) and y of shape (n,) with n >= 1, "
                         f"got {tuple(logits.shape)} and {tuple(y.shape)}")
    return (logits.argmax(dim=1) == y).float().mean().item()


@torch.no_grad()
def evaluate(model: nn.Module, data: Batches, batch_size: int = 512) -> float:
    """Accuracy in [0, 1] of ``model`` on ``data``, a ``DataLoader`` or a pair ``(X, y)``.

    The model runs in eval mode (dropout off, batch norm with its running statistics) and is put
    back into the mode it had. A pair ``(X, y)`` is cut into batches of ``batch_size``.
    """
    correct, total = 0, 0
    was_training = model.training
    model.eval()
    try:
        for x, y in _batches(data, batch_size):
            x, y = _to_device(model, x, y)
            correct += (model(x).argmax(dim=1) == y).sum().item()
            total += len(y)
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("evaluate got no data")
    return correct / total


def fit(model: nn.Module, train: DataLoader, *, epochs: int,
        val: Batches | None = None, lr: float = 0.05, momentum: float = 0.9,
        weight_decay: float = 3e-4, optimizer: str = "sgd", cosine: bool = True,
        grad_clip: float | None = 5.0, loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
        seed: int = 0, progress: bool = False, desc: str = "train") -> History:
    r"""Train ``model`` on the mini-batches of ``train`` for ``epochs`` epochs.

    Parameters
    ----------
    model : nn.Module
        Trained in place; it maps a batch of inputs to logits of shape ``(n, classes)``.
    train : DataLoader
        Yields ``(x, y)`` batches, e.g. ``splits.loader("train", seed=0)``.
    epochs : int
        Passes over ``train``, at least 1.
    val : DataLoader or (X, y), optional
        Validation data, evaluated after every epoch.
    lr : float, default 0.05
        Initial learning rate :math:`\eta`.
    momentum : float, default 0.9
        Momentum :math:`\mu` of SGD, equation (2); ignored by Adam.
    weight_decay : float, default 3e-4
        L2 penalty :math:`\lambda`, equation (2).
    optimizer : {"sgd", "adam"}, default "sgd"
        The update rule.
    cosine : bool, default True
        Anneal the learning rate with equation (4); otherwise keep it constant.
    grad_clip : float or None, default 5.0
        Clip the global gradient norm to this value, equation (3); None: no clipping.
    loss_fn : callable, optional
        ``loss_fn(logits, y) -> scalar``; default the cross-entropy.
    seed : int, default 0
        Seeds torch's global generator before training (dropout, and shuffling by a loader
        without its own generator). Same model initialisation, same loader seed, same seed:
        same history.
    progress : bool, default False
        Show a progress bar over epochs with loss and accuracies: a widget in Jupyter, else text
        on stdout, since nbgrader fails a cell that writes to stderr.
    desc : str, default "train"
        Label of the progress bar.

    Returns
    -------
    History
        Loss and accuracies per epoch, and the time taken.
    """
    epochs = check_int(epochs, "epochs", low=1)
    lr = check_number(lr, "lr", low=0, strict=True)
    check_choice(optimizer, "optimizer", ("sgd", "adam"))
    if grad_clip is not None:
        check_number(grad_clip, "grad_clip", low=0, strict=True, finite=False)
    seed_everything(seed)
    opt = _make_optimizer(model, optimizer, lr, momentum, weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs) if cosine else None
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn

    history, start = History(), time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not progress, leave=False,
               file=sys.stdout)
    for epoch in bar:
        loss, acc = _train_epoch(model, train, opt, loss_fn, grad_clip)
        if schedule is not None:
            schedule.step()
        history.epoch.append(epoch)
        history.train_loss.append(loss)
        history.train_acc.append(acc)
        stats = {"loss": loss, "acc": acc}
        if val is not None:
            history.val_acc.append(evaluate(model, val))
            stats["val"] = history.val_acc[-1]
        bar.set_postfix({key: f"{value:.3f}" for key, value in stats.items()})
    bar.close()
    history.seconds = time.perf_counter() - start
    return history


# ------------------------------------------------------------------------------- internals
def _make_optimizer(model: nn.Module, name: str, lr: float, momentum: float,
                    weight_decay: float) -> torch.optim.Optimizer:
    """SGD with momentum, equation (2), or Adam, over the trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _train_epoch(model: nn.Module, train: DataLoader, opt: torch.optim.Optimizer,
                 loss_fn: Callable[[Tensor, Tensor], Tensor],
                 grad_clip: float | None) -> tuple[float, float]:
    """One pass over ``train``; returns the mean loss and the accuracy seen on the way."""
    model.train()
    loss_sum, correct, total = 0.0, 0, 0
    for x, y in train:
        x, y = _to_device(model, x, y)
        logits = model(x)
        loss = loss_fn(logits, y)  # equation (1)
        opt.zero_grad()
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)  # equation (3)
        opt.step()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(dim=1) == y).sum().item()
        total += len(y)
    if total == 0:
        raise ValueError("the train loader yielded no batches")
    return loss_sum / total, correct / total


def _batches(data: Batches, batch_size: int) -> Iterable[tuple[Tensor, Tensor]]:
    """The batches of a DataLoader as they are, or a pair ``(X, y)`` cut into ``batch_size``."""
    if not isinstance(data, tuple):
        return data
    if len(data) != 2 or len(data[0]) != len(data[1]):
        raise ValueError("data must be a DataLoader or a pair (X, y) of equal length")
    batch_size = check_int(batch_size, "batch_size", low=1)
    X, y = data
    return ((X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size))


def _to_device(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Move a batch to the device of the model's parameters (the CPU for a parameter-less model)."""
    param = next(model.parameters(), None)
    if param is None or x.device == param.device:
        return x, y
    return x.to(param.device), y.to(param.device)
