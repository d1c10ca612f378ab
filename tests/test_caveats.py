"""Caveats: a valid file's warnings are printed, located, by validate, run and sweep."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import EXPERIMENTS
from typer.testing import CliRunner

from canary_mc.cli.app import app
from canary_mc.model import caveats as caveats_module
from canary_mc.model.caveats import Caveat, experiment_caveats

runner = CliRunner()


@pytest.fixture
def scale_caveat() -> Iterator[None]:
    """A temporary check: warn on policy.error_threshold_scale whenever it is 1."""

    def check(experiment) -> Iterator[Caveat]:
        if experiment.policy.error_threshold_scale == 1:
            yield Caveat(("policy", "error_threshold_scale"), "is 1 (test caveat)")

    caveats_module._CHECKS.append(check)
    try:
        yield
    finally:
        caveats_module._CHECKS.remove(check)


def _scale_line(text: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if "error_threshold_scale" in line)


def test_validate_and_run_print_located_warnings_and_exit_zero(scale_caveat, tmp_path):
    text = (EXPERIMENTS / "seed.yaml").read_text()
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    line = _scale_line(text)
    for args in (["validate", str(path)], ["run", str(path), "--rollouts", "100", "--quiet"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert f"warning: {path}:{line}:" in result.stderr
        assert "policy.error_threshold_scale: is 1 (test caveat)" in result.stderr


def test_the_seed_policy_has_no_caveat():
    from canary_mc.io.experiment_file import load_experiment

    assert experiment_caveats(load_experiment(EXPERIMENTS / "seed.yaml")) == ()
