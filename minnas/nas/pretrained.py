r"""A pretrained Once-for-All supernet for lesson 10, shipped with its recipe and checksum.

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
from minnas.nas.ofa import OFANetwork, OFASpace, recalibrate_bn, subnet_accuracy, train_supernet

__all__ = ["PATH", "SHA256", "SEED", "EPOCHS", "DATA", "N_CALIB", "load_ofa", "train",
           "save_checkpoint", "load_checkpoint", "sha256", "main"]

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
    if verify:
        digest = sha256(PATH)
        if digest != SHA256:
            raise ValueError(f"{PATH} has SHA-256 {digest}, but minnas.nas.pretrained records "
                             f"{SHA256}; the file is corrupted or was changed. Restore it from "
                             "the package, or retrain it with `python -m minnas.nas.pretrained` "
                             "and update SHA256 to the digest it prints")
    return load_checkpoint(PATH)


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

    Saved through a buffer: ``torch.save`` to a file names the archive's folder after the file,
    so the bytes (and :func:`sha256`) would depend on the file name."""
    buffer = io.BytesIO()
    torch.save({"space": json.dumps(asdict(ofa.space)), "state_dict": ofa.state_dict()}, buffer)
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


def main(argv: list[str] | None = None) -> int:
    """``python -m minnas.nas.pretrained [--check | --out PATH] [--quiet]``."""
    parser = argparse.ArgumentParser(prog="python -m minnas.nas.pretrained",
                                     description="Retrain the shipped OFA supernet.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true",
                       help="retrain into a temporary file and compare its SHA-256 with SHA256")
    group.add_argument("--out", type=Path, default=PATH, metavar="PATH",
                       help="where to write the checkpoint (default: the shipped one)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ofa_mnist1d.pt" if args.check else args.out
        start, cpu = time.perf_counter(), time.process_time()
        ofa = train(out, progress=not args.quiet)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        digest = sha256(out)
        size = out.stat().st_size
    largest, smallest = _accuracies(ofa, load_mnist1d(**DATA))
    print(f"trained in {seconds:.1f} s wall, {cpu:.1f} s CPU (1 thread); validation accuracy: "
          f"largest {largest:.3f}, smallest {smallest:.3f}")
    print(f"sha256   {digest}")
    if args.check:
        same = digest == SHA256
        print(f"recorded {SHA256}")
        print("matches SHA256" if same else "DIFFERS from SHA256: another CPU, thread count or "
              "PyTorch build? Compare the accuracies above with benchmarks/RESULTS.md")
        return 0 if same else 1
    print(f"wrote {out} ({size / 1e3:.0f} kB); set SHA256 = {digest!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
