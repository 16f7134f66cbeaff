"""The course's one configuration: ``nbgrader_config.py`` at the repository root.

nbgrader reads that file itself (its commands and JupyterLab extensions, started from the
repository root); :func:`load` reads the same file for ``python -m grader``, so the cell time
limit of Validate and of autograde, the other limits, the grading folder and the exchange are
set in one place.
"""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config, PyFileConfigLoader

from grader.execute import Limits

REPO = Path(__file__).resolve().parents[1]
CONFIG_FILE = REPO / "nbgrader_config.py"


def load() -> Config:
    """The course configuration, as nbgrader would read it now (``$MINNAS_GRADING_DIR`` and
    ``$MINNAS_EXCHANGE_DIR`` are read at each call)."""
    return PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()


def limits(cfg: Config | None = None) -> Limits:
    """The grading limits: the cell limit from ``Execute.timeout`` (shared with Validate), the
    rest from the ``Limits`` section, each field as :class:`grader.execute.Limits` names it."""
    cfg = load() if cfg is None else cfg
    values = dict(cfg.Limits)
    unknown = sorted(set(values) - set(Limits.__dataclass_fields__) | ({"cell_s"} & set(values)))
    if unknown:
        raise ValueError(f"{CONFIG_FILE.name}: unknown Limits setting(s) {', '.join(unknown)} "
                         f"(the cell limit is Execute.timeout)")
    if "timeout" in cfg.Execute:
        values["cell_s"] = cfg.Execute.timeout
    return Limits(**values)


def grading_dir(cfg: Config | None = None) -> Path:
    """The grading working folder: where the configuration keeps the gradebook."""
    cfg = load() if cfg is None else cfg
    url = cfg.CourseDirectory.db_url
    if not url.startswith("sqlite:///"):
        raise ValueError(f"{CONFIG_FILE.name}: CourseDirectory.db_url must be a sqlite:/// "
                         f"URL, got {url!r}")
    return Path(url.removeprefix("sqlite:///")).parent
