"""pyproject.toml and environment.yml must pin the same packages to the same versions."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins(lines: list[str]) -> dict[str, str]:
    reqs = [Requirement(line) for line in lines]
    return {canonicalize_name(r.name): str(r.specifier) for r in reqs}


def pyproject_pins() -> dict[str, str]:
    project = _pyproject()["project"]
    return _pins(project["dependencies"] + project["optional-dependencies"]["dev"])


def environment_yml() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def environment_pins() -> dict[str, str]:
    pip_section = next(d["pip"] for d in environment_yml()["dependencies"] if isinstance(d, dict))
    # Options (--extra-index-url) and the editable install of the package itself are not pins.
    return _pins([line for line in pip_section if not line.startswith("-")])


def test_environment_pins_match_pyproject():
    ours, theirs = pyproject_pins(), environment_pins()
    different = {k: (ours[k], theirs[k]) for k in ours.keys() & theirs.keys()
                 if ours[k] != theirs[k]}
    assert ours == theirs, (
        f"only in pyproject: {sorted(ours.keys() - theirs.keys())}; "
        f"only in environment.yml: {sorted(theirs.keys() - ours.keys())}; "
        f"different pins: {different}"
    )


def test_every_dependency_is_pinned():
    loose = [name for name, spec in pyproject_pins().items() if not spec.startswith("==")]
    assert not loose, f"unpinned dependencies (use ==X.Y.*): {loose}"


def test_torch_is_pinned_to_the_cpu_release_line():
    assert pyproject_pins()["torch"] == "==2.13.*"
    pip_section = next(d["pip"] for d in environment_yml()["dependencies"] if isinstance(d, dict))
    assert any("download.pytorch.org/whl/cpu" in line for line in pip_section), (
        "environment.yml must install torch from PyTorch's CPU index"
    )


def test_python_version_matches():
    conda = [d for d in environment_yml()["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in conda
    assert _pyproject()["project"]["requires-python"] == "==3.11.*"


def test_environment_installs_the_package():
    pip_section = next(d["pip"] for d in environment_yml()["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section
