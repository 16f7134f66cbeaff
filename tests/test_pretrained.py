"""minnas.nas.pretrained: the shipped OFA supernet matches its checksum, loads, and is accurate;
a changed copy of either shipped supernet (OFA, MetaNAS) is refused.

The recipe itself (``python -m minnas.nas.pretrained --check``, about 80 s) is not run here.
"""

import shutil

import pytest

from minnas.data import load_mnist1d
from minnas.nas import pretrained
from minnas.nas.ofa import OFANetwork, OFASpace, subnet_accuracy
from minnas.nas.pretrained import sha256


@pytest.fixture(scope="module")
def ofa():
    return pretrained.load_ofa()


def test_the_shipped_file_matches_the_recorded_checksum():
    assert pretrained.PATH.name == "ofa_mnist1d.pt" and pretrained.PATH.is_file()
    assert sha256(pretrained.PATH) == pretrained.SHA256
    assert pretrained.PATH.stat().st_size < 1_000_000


def test_load_ofa_returns_the_lesson_supernet(ofa):
    assert isinstance(ofa, OFANetwork) and not ofa.training
    assert ofa.space == OFASpace()
    assert ofa.active == ofa.space.largest()
    assert pretrained.SEED == 0 and len(pretrained.EPOCHS) == 4


def test_largest_and_smallest_subnets_are_accurate(ofa):
    # Measured on validation after BN recalibration: largest 0.977, smallest 0.948.
    data = load_mnist1d(**pretrained.DATA)
    space = ofa.space
    largest = subnet_accuracy(ofa, space.largest(), data, n_calib=pretrained.N_CALIB)
    smallest = subnet_accuracy(ofa, space.smallest(), data, n_calib=pretrained.N_CALIB)
    assert largest >= 0.95 and smallest >= 0.9
    # The checkpoint's batch norm was recalibrated for the largest subnet before saving, so it
    # needs no recalibration; the smallest does (measured 0.977 and 0.1 without).
    assert subnet_accuracy(ofa, space.largest(), data, recalibrate=False) >= 0.95
    assert subnet_accuracy(ofa, space.smallest(), data, recalibrate=False) < 0.5


@pytest.mark.parametrize("path, digest, load", [("PATH", "SHA256", "load_ofa"),
                                                 ("METANAS_PATH", "METANAS_SHA256",
                                                  "load_metanas")])
def test_a_corrupted_copy_is_refused(tmp_path, monkeypatch, path, digest, load):
    shipped = getattr(pretrained, path)
    copy = tmp_path / shipped.name
    shutil.copy(shipped, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(pretrained, path, copy)
    with pytest.raises(ValueError, match=f"{shipped.name} has SHA-256 {sha256(copy)}, but "
                                         f"minnas.nas.pretrained records "
                                         f"{getattr(pretrained, digest)}"):
        getattr(pretrained, load)()
