r"""Pretrained supernets for lessons 10 and 11, shipped with their recipes and checksums.

Lesson 11's meta-learned DARTS supernet (MetaNAS, :mod:`minnas.nas.metanas`) is shipped the same
way as lesson 10's, below: ``metanas_mnist1d.pt`` (:data:`METANAS_PATH`), made by
:func:`train_metanas` with :data:`METANAS` from :func:`~minnas.nas.metanas.meta_train` on the
meta-training pool of ``task_pools(seed=0)`` on one thread, read by :func:`load_metanas` and
checked against :data:`METANAS_SHA256`; ``--model metanas`` on the command line retrains it.

Progressive shrinking (:func:`minnas.nas.ofa.train_supernet`) takes over a minute on a CPU, too
long to repeat in every lesson run. So the package ships the result, ``ofa_mnist1d.pt`` next to
this module (package data, 263 kB): the default :class:`~minnas.nas.ofa.OFASpace` (MNIST-1D,
3 units x up to 3 MBConv blocks, kernel {3, 5}, expansion {2, 3, 4}) trained by :func:`train`
with the constants below. :func:`load_ofa` reads it and checks its SHA-256 against
:data:`SHA256`.

The recipe (:func:`train`)
--------------------------
``load_mnist1d(**DATA)`` (3000 training, 1000 validation, 1000 test signals, split seed 0, as in
the lesson), one thread (``torch.set_num_threads(1)``), then
``train_supernet(OFASpace(), data, epochs=EPOCHS, seed=SEED)``: 8 epochs of the largest
network, then 4 each of elastic kernel, depth and width (:data:`EPOCHS`), every other setting
at its default. Last, the batch norm of the largest subnet is recalibrated on the first
:data:`N_CALIB` training inputs (training leaves statistics that belong to no subnet), and
:func:`save_checkpoint` writes the supernet.

So the largest subnet runs as loaded; every other subnet needs its own BN recalibration
(:func:`~minnas.nas.ofa.subnet_accuracy` does it). The accuracies the recipe reaches, how its
epochs were chosen and how long it trains are recorded in ``benchmarks/RESULTS.md``.

Retrain (on one thread)::

    python -m minnas.nas.pretrained --check     # retrain into a temporary file, compare with SHA256
    python -m minnas.nas.pretrained             # retrain, write ofa_mnist1d.pt, print its sha256
    python -m minnas.nas.pretrained --out PATH  # retrain and write PATH instead
    python -m minnas.nas.pretrained --model metanas --check   # the same for lesson 11's

Determinism: the training is bit-for-bit reproducible on the course machine: ``--check``
reproduced :data:`SHA256` exactly. Everything random is seeded (initialisation, batch order,
subnet sampling, the data split), the checkpoint holds no time stamps, and
:func:`save_checkpoint` writes through a buffer so that the archive does not name the file.
One thread is part of the recipe: another thread count, CPU (vector instructions) or PyTorch
build may sum floating-point numbers in another order and so change the bytes. Then
``--check`` reports a mismatch although the retrained supernet is as good: compare the
accuracies it prints with the ones in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from minnas.data import Splits, load_mnist1d
from minnas.nas import darts, metanas
from minnas.nas.ofa import OFANetwork, OFASpace, recalibrate_bn, subnet_accuracy, train_supernet
from minnas.train import evaluate

__all__ = ["PATH", "SHA256", "SEED", "EPOCHS", "DATA", "N_CALIB", "load_ofa", "train",
           "save_checkpoint", "load_checkpoint", "sha256", "METANAS_PATH", "METANAS_SHA256",
           "METANAS", "load_metanas", "train_metanas", "main"]

#: The shipped checkpoint, next to this module (package data).
PATH = Path(__file__).with_name("ofa_mnist1d.pt")

#: SHA-256 of the shipped checkpoint; ``python -m minnas.nas.pretrained`` prints a new one.
SHA256 = "2cc1563c6d89af1ae9d60f35dbb2614ff47cd2f4a941f16f427dc59d46d0ae41"

#: Seed of :func:`~minnas.nas.ofa.train_supernet` (initialisation, batch order, subnet sampling).
SEED = 0
#: Epochs of the phases largest, kernel, depth, expand (:data:`minnas.nas.ofa.PHASES`).
EPOCHS = (8, 4, 4, 4)
#: Arguments of :func:`minnas.data.load_mnist1d`: the lesson's split.
DATA = dict(seed=0)
#: Training inputs for batch-norm recalibration (during training and of the saved supernet).
N_CALIB = 1000


#: Lesson 11's meta-learned supernet (package data).
METANAS_PATH = Path(__file__).with_name("metanas_mnist1d.pt")
#: SHA-256 of :data:`METANAS_PATH`.
METANAS_SHA256 = "3e90cbed9483a27feb0d163df9ed1c21b2bcd9c58a000bc1abe83559d0e63d71"
#: Arguments of :func:`minnas.nas.metanas.meta_train` (the rest at their defaults), on the
#: default :class:`~minnas.nas.metanas.TaskDistribution` of the meta-training pool.
METANAS = dict(iterations=300, seed=0)


def _verified(path: Path, recorded: str) -> Path:
    """``path``, after checking that its SHA-256 is ``recorded``."""
    digest = sha256(path)
    if digest != recorded:
        raise ValueError(f"{path} has SHA-256 {digest}, but minnas.nas.pretrained records "
                         f"{recorded}; the file is corrupted or was changed. Restore it from "
                         "the package, or retrain it with `python -m minnas.nas.pretrained` "
                         "and update the recorded digest to the one it prints")
    return path


def load_ofa(verify: bool = True) -> OFANetwork:
    """The shipped supernet (largest subnet active, eval mode).

    Parameters
    ----------
    verify : bool, default True
        Check the file's SHA-256 against :data:`SHA256` first.

    Raises
    ------
    ValueError
        If ``verify`` and the checksum differs: the file is corrupted or was changed.
    """
    return load_checkpoint(_verified(PATH, SHA256) if verify else PATH)


def load_metanas(verify: bool = True) -> darts.Network:
    """Lesson 11's meta-learned supernet :math:`\\theta^*` (5-way tasks); ``verify`` as in
    :func:`load_ofa`."""
    path = _verified(METANAS_PATH, METANAS_SHA256) if verify else METANAS_PATH
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or set(data) != {"n_classes", "state_dict"}:
        raise ValueError(f"{path} is not a MetaNAS checkpoint (expected n_classes, state_dict)")
    model = metanas.supernet(int(data["n_classes"]))
    model.load_state_dict(data["state_dict"])
    return model


def train_metanas(path: str | Path, progress: bool = False) -> darts.Network:
    """The recipe of :data:`METANAS_PATH`: meta-train on one thread, write ``path``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        (X, y), _ = metanas.task_pools()
        model = metanas.meta_train(metanas.TaskDistribution(X, y), **METANAS,
                                   progress=progress).model
    finally:
        torch.set_num_threads(threads)
    _save({"n_classes": model.classifier.out_features, "state_dict": model.state_dict()}, path)
    return model


def train(path: str | Path, progress: bool = False) -> OFANetwork:
    """The recipe: train the supernet from scratch with the module's constants on one thread,
    recalibrate its batch norm for the largest subnet on :data:`N_CALIB` training inputs, and
    write it to ``path`` with :func:`save_checkpoint`. Returns it (largest
    subnet active, eval mode)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_mnist1d(**DATA)
        ofa = train_supernet(OFASpace(), data, epochs=EPOCHS, seed=SEED, n_calib=N_CALIB,
                             progress=progress).model
        recalibrate_bn(ofa.set_active(ofa.space.largest()), data.X_train[:N_CALIB])
    finally:
        torch.set_num_threads(threads)
    save_checkpoint(ofa, path)
    return ofa


def save_checkpoint(ofa: OFANetwork, path: str | Path) -> None:
    """Write the supernet's weights and its space (as JSON) with ``torch.save``.

    Saved through a buffer (:func:`_save`)."""
    _save({"space": json.dumps(asdict(ofa.space)), "state_dict": ofa.state_dict()}, path)


def _save(checkpoint: dict, path: str | Path) -> None:
    """``torch.save`` through a buffer: saved to a file, the archive's folder is named after the
    file, so the bytes (and :func:`sha256`) would depend on the file name."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    Path(path).write_bytes(buffer.getvalue())


def load_checkpoint(path: str | Path) -> OFANetwork:
    """The supernet written by :func:`save_checkpoint` (largest subnet active, eval mode)."""
    data = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or set(data) != {"space", "state_dict"}:
        raise ValueError(f"{path} is not an OFA checkpoint (expected keys space, state_dict)")
    ofa = OFANetwork(OFASpace(**json.loads(data["space"])))
    ofa.load_state_dict(data["state_dict"])
    return ofa.eval()


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, to check a shipped artifact."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _accuracies(ofa: OFANetwork, data: Splits) -> tuple[float, float]:
    """Validation accuracy of the largest and smallest subnet, BN recalibrated."""
    return tuple(subnet_accuracy(ofa, arch, data, n_calib=N_CALIB)
                 for arch in (ofa.space.largest(), ofa.space.smallest()))


def _metanas_accuracy(model: darts.Network, n_tasks: int = 5) -> float:
    """Mean test accuracy of the supernet on held-out tasks 0 .. n_tasks - 1 after 10
    adaptation steps."""
    _, (X, y) = metanas.task_pools()
    tasks = metanas.TaskDistribution(X, y)
    accuracies = []
    for seed in range(n_tasks):
        task = tasks.sample(seed)
        accuracies.append(evaluate(metanas.adapt(model, task, 10).model, task.tensors("test")))
    return sum(accuracies) / n_tasks


def main(argv: list[str] | None = None) -> int:
    """``python -m minnas.nas.pretrained [--model {ofa,metanas}] [--check | --out PATH]
    [--quiet]``."""
    parser = argparse.ArgumentParser(prog="python -m minnas.nas.pretrained",
                                     description="Retrain a shipped supernet.")
    parser.add_argument("--model", choices=("ofa", "metanas"), default="ofa",
                        help="lesson 10's OFA supernet (default) or lesson 11's MetaNAS one")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true",
                       help="retrain into a temporary file and compare its SHA-256 with the "
                            "recorded one")
    group.add_argument("--out", type=Path, metavar="PATH",
                       help="where to write the checkpoint (default: the shipped one)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    ofa = args.model == "ofa"
    shipped, recorded = (PATH, SHA256) if ofa else (METANAS_PATH, METANAS_SHA256)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / shipped.name if args.check else (args.out or shipped)
        start, cpu = time.perf_counter(), time.process_time()
        model = (train if ofa else train_metanas)(out, progress=not args.quiet)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        digest = sha256(out)
        size = out.stat().st_size
    if ofa:
        largest, smallest = _accuracies(model, load_mnist1d(**DATA))
        quality = f"validation accuracy: largest {largest:.3f}, smallest {smallest:.3f}"
    else:
        quality = (f"held-out tasks' test accuracy after 10 steps: "
                   f"{_metanas_accuracy(model):.3f}")
    print(f"trained in {seconds:.1f} s wall, {cpu:.1f} s CPU (1 thread); {quality}")
    print(f"sha256   {digest}")
    if args.check:
        same = digest == recorded
        print(f"recorded {recorded}")
        print("matches the recorded digest" if same else "DIFFERS from the recorded digest: "
              "another CPU, thread count or PyTorch build? Compare the accuracies above with "
              "benchmarks/RESULTS.md")
        return 0 if same else 1
    print(f"wrote {out} ({size / 1e3:.0f} kB); record its digest {digest!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
