"""nbgrader_config.py: the one configuration that nbgrader's tools and the grader both read."""

from __future__ import annotations

import dataclasses

import pytest
from traitlets.config import Config

from grader import config, course
from grader.execute import Limits


def test_the_grader_reads_the_limits_of_the_config():
    cfg = config.load()
    limits = config.limits(cfg)
    assert limits.cell_s == cfg.Execute.timeout, (
        "the cell limit is nbgrader's Execute.timeout (Validate's too)")
    for name, value in cfg.Limits.items():
        assert getattr(limits, name) == value, f"Limits.{name} of the config is not the grader's"


def test_an_unknown_or_misplaced_limit_is_an_error():
    cfg = Config()
    cfg.Limits.notebook_secs = 10
    with pytest.raises(ValueError, match="notebook_secs"):
        config.limits(cfg)
    cfg = Config()
    cfg.Limits.cell_s = 10
    with pytest.raises(ValueError, match="Execute.timeout"):
        config.limits(cfg)
    cfg = Config()
    cfg.Limits.notebook_s = -1
    with pytest.raises(ValueError, match="notebook_s"):
        config.limits(cfg)


def test_without_settings_the_limits_are_the_defaults():
    assert config.limits(Config()) == Limits(), "an empty config should leave the grader's defaults"


def test_the_grading_folder_and_exchange_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MINNAS_GRADING_DIR", str(tmp_path / "grading"))
    monkeypatch.delenv("MINNAS_EXCHANGE_DIR", raising=False)
    cfg = config.load()
    grading = (tmp_path / "grading").resolve()
    assert config.grading_dir(cfg) == grading == course.default_workdir()
    assert cfg.CourseDirectory.submitted_directory == str(grading / "submitted")
    assert cfg.Exchange.root == str(grading / "exchange") and (grading / "exchange").is_dir(), (
        "the course-local exchange should exist, or Formgrader cannot release or collect")
    monkeypatch.setenv("MINNAS_EXCHANGE_DIR", str(tmp_path / "shared"))
    assert config.load().Exchange.root == str(tmp_path / "shared")


def test_a_grading_run_keeps_the_course_settings_in_its_own_folder(tmp_path):
    api_config = course.nbgrader_api(tmp_path, tmp_path / "release").config
    assert api_config.CourseDirectory.db_url == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"
    assert api_config.CourseDirectory.autograded_directory == str(tmp_path.resolve() / "autograded")
    assert api_config.Execute.timeout == config.limits().cell_s
    assert api_config.CourseDirectory.course_id == config.load().CourseDirectory.course_id


def test_command_line_options_override_the_config_for_one_run():
    from grader.__main__ import _limits

    class Args:
        cell_timeout, notebook_timeout, memory_gb = 7, 70, 1.0

    limits = _limits(Args())
    expected = dataclasses.replace(config.limits(), cell_s=7, notebook_s=70, memory_bytes=2**30)
    assert limits == expected, f"options should change only what they name: {limits}"
