"""What every benchmark script reports the same way: quartiles, the machine, library versions,
and its own section of RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np


def quartiles(a: np.ndarray) -> tuple[float, float, float]:
    """Median, first and third quartile of ``a``."""
    q25, q50, q75 = np.percentile(a, [25, 50, 75])
    return float(q50), float(q25), float(q75)


def versions(names: list[str]) -> str:
    """``Python 3.11.7, numpy 2.4.6, ...``; a missing package is named as not installed."""
    out = [f"Python {platform.python_version()}"]
    for name in names:
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} not installed")
    return ", ".join(out)


def machine() -> str:
    """CPU model, logical cores and OS, for the record next to a timing."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}"


def write_section(path: Path, section: str, body: str) -> None:
    """Put ``body`` under the heading ``section`` in ``path``, replacing only that section."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = f"{section}\n\n{body.strip()}\n\n"
    text = (pattern.sub(lambda _: new, text) if pattern.search(text)
            else text.rstrip() + "\n\n" + new)
    path.write_text(text.rstrip() + "\n")


def settings(args, full: dict, quick: dict, names: tuple[str, ...]) -> dict:
    """A run's settings: ``full``, or ``quick`` under ``--quick``, with every flag of ``names``
    that was given on the command line on top."""
    cfg = dict(quick if args.quick else full)
    cfg.update({name: getattr(args, name) for name in names if getattr(args, name) is not None})
    return cfg
