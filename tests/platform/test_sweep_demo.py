"""``geoarena demo``, shortened: every stage runs for real, down to the leaderboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from optuna.trial import TrialState

from geoarena.evaluator import score
from geoarena.platform.config import load_sweep
from geoarena.platform.demo import run_demo
from geoarena.platform.results import load_study

pytestmark = pytest.mark.slow


def test_demo_runs_sweep_predicts_and_posts_to_leaderboard(tmp_path: Path) -> None:
    from rich.console import Console

    console = Console(record=True, width=120)
    work = tmp_path / "demo"
    short = {"epochs": 2, "max_train_batches_per_epoch": 2}
    summary = run_demo(work, trials=3, train=short, console=console)
    text = console.export_text()

    sweep = load_sweep(work / "sweep.yaml")
    trials = load_study(sweep).get_trials()
    assert len(trials) == 3
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert summary["trials"].get("COMPLETE", 0) >= 1
    assert trials[0].user_attrs["seed_trial"] is True

    # the best trial's predictions of the test split, scored by the leaderboard next to
    # the baseline (the seed trial), with the same F1 the evaluator gives
    assert (work / "best.csv").read_text().startswith("ImageId,BuildingId,PolygonWKT_Pix")
    board = summary["leaderboard"]
    assert [r["team"] for r in board["rows"]] == ["sweep-best"]
    assert board["rows"][0]["f1"] == pytest.approx(summary["test_f1"])
    assert len(board["baselines"]) == 1
    baseline = score(work / "data" / "test" / "truth.csv", work / "baseline.csv")
    assert board["baselines"][0]["f1"] == pytest.approx(baseline.micro.f1)

    exp = MlflowClient(sweep.tracking_uri).get_experiment_by_name("demo")
    runs = MlflowClient(sweep.tracking_uri).search_runs([exp.experiment_id])
    assert len(runs) == 4  # the parent and one child per trial
    assert "geoarena demo summary" in text and "mlflow ui --backend-store-uri" in text


def test_demo_cli_help_is_cheap() -> None:
    from geoarena.platform.cli import demo

    result = CliRunner().invoke(demo, ["--help"])
    assert result.exit_code == 0 and "--trials" in result.output
