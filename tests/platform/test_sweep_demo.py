"""``geoarena demo``, shortened: every stage runs for real, down to the leaderboard."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from optuna.trial import TrialState
from rich.console import Console

from geoarena.evaluator import PreparedTruth, read_truth, score
from geoarena.leaderboard import BoardRow
from geoarena.platform import load_study, load_sweep, run_demo
from geoarena.platform.cli import demo

pytestmark = pytest.mark.slow


def test_demo_runs_sweep_predicts_and_posts_to_leaderboard(tmp_path: Path) -> None:

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
    # the baseline (the seed trial), with the counts the evaluator gives on the board's
    # public split (a salted random subset of the test tiles, found here by trying them)
    assert (work / "best.csv").read_text().startswith("ImageId,BuildingId,PolygonWKT_Pix")
    board = summary["leaderboard"]
    assert [r.team for r in board.rows] == ["sweep-best"]
    assert len(board.baselines) == 1
    truth_csv = work / "data" / "test" / "truth.csv"
    assert summary["test_f1"] == score(truth_csv, work / "best.csv").micro.f1
    truth = read_truth(truth_csv)
    tiles = truth.image_ids
    subsets = [s for n in range(1, len(tiles)) for s in itertools.combinations(tiles, n)]

    def counts(csv: Path, public: tuple[str, ...]) -> tuple[int, int, int]:
        micro = PreparedTruth(truth, image_ids=public).score(csv).micro
        return micro.tp, micro.fp, micro.fn

    def row_counts(row: BoardRow) -> tuple[int, int, int]:
        return row.score.tp, row.score.fp, row.score.fn

    public = [s for s in subsets if counts(work / "best.csv", s) == row_counts(board.rows[0])]
    assert any(counts(work / "baseline.csv", s) == row_counts(board.baselines[0]) for s in public)

    exp = MlflowClient(sweep.tracking_uri).get_experiment_by_name("demo")
    runs = MlflowClient(sweep.tracking_uri).search_runs([exp.experiment_id])
    assert len(runs) == 4  # the parent and one child per trial
    assert "geoarena demo summary" in text and "mlflow ui --backend-store-uri" in text


def test_demo_cli_help_is_cheap() -> None:

    result = CliRunner().invoke(demo, ["--help"])
    assert result.exit_code == 0 and "--trials" in result.output
