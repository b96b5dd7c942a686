"""Whole sweeps of real (tiny) training jobs: Optuna journal, MLflow runs, CLI read-back."""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from mlflow import MlflowClient
from optuna.trial import TrialState
from PIL import Image

import geoarena
from geoarena.evaluator.overlays import COLOURS
from geoarena.models import TrainConfig
from geoarena.models.data.raster import read_raw_tile
from geoarena.models.data.spacenet import find_tiles
from geoarena.platform import (
    StudyAttr,
    TrialAttr,
    TrialRecord,
    launch,
    load_study,
    load_sweep,
    make_tracker,
)
from geoarena.platform.cli import sweep as sweep_cli
from geoarena.platform.overlays import display_image
from geoarena.platform.provenance import command_line


def record_of(trial) -> TrialRecord:
    record = TrialRecord.of(trial)
    assert record is not None, trial
    return record


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory, synth_data: Path, mlflow_db: str, sweep_writer):
    """One 3-trial sweep (the first trial seeded with the fixed config), run in-process."""
    folder = tmp_path_factory.mktemp("sweep3")
    path = sweep_writer(
        folder, synth_data, mlflow_db, "three", train={"lr": 0.005}, enqueue=["baseline"]
    )
    sweep = load_sweep(path)
    result = launch(sweep, progress=False)
    return path, sweep, result


def children(client: MlflowClient, experiment: str, parent: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    return sorted(runs, key=lambda r: int(r.data.tags["optuna.trial_number"]))


def test_three_trials_with_parent_and_child_runs(finished, mlflow_db: str) -> None:
    _, sweep, _ = finished
    study = load_study(sweep)
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert trials[0].user_attrs["seed_trial"] is True
    assert trials[0].params == {"lr": 0.005, "w_lovasz": 0.5}  # the fixed config's values

    client = MlflowClient(mlflow_db)
    parent_id = study.user_attrs[StudyAttr.PARENT_RUN_ID]
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == "three"
    assert parent.data.params["objective"] == "f1"
    assert [a.path for a in client.list_artifacts(parent_id)] == ["three.yaml"]

    runs = children(client, "three", parent_id)
    assert len(runs) == 3
    for trial, run in zip(trials, runs, strict=True):
        assert trial.user_attrs[TrialAttr.RUN_ID] == run.info.run_id
        assert run.info.status == "FINISHED" and run.data.tags["optuna.state"] == "COMPLETE"
        # every config field is a param (sampled values included), plus the tuned thresholds
        assert float(run.data.params["lr"]) == pytest.approx(trial.params["lr"])
        assert float(run.data.params["w_lovasz"]) == pytest.approx(trial.params["w_lovasz"])
        assert run.data.params["encoder"] == "test_resnet"
        tuned = record_of(trial).thresholds
        assert float(run.data.params["thresholds.t_mask"]) == pytest.approx(tuned.t_mask)
        # per-epoch curves, per city, and final metrics
        history = client.get_metric_history(run.info.run_id, "val_f1")
        assert [m.step for m in history] == [1, 2]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]
        assert any(k.startswith("val_f1_AOI_") for k in run.data.metrics)
        assert run.data.metrics["value"] == pytest.approx(trial.value)
        assert run.data.metrics["gain"] >= 0
        assert run.data.metrics["fixed_value"] == pytest.approx(record_of(trial).fixed_value)
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"config.yaml", "best.pt", "val_predictions.csv", "post_search.json"} <= artifacts
        overlays = [a.path for a in client.list_artifacts(run.info.run_id, "overlays")]
        assert len(overlays) == 2 and all(p.endswith(".png") for p in overlays)


def test_mlflow_ui_shows_model_training_with_readable_runs(finished, mlflow_db: str) -> None:
    _, sweep, _ = finished
    study = load_study(sweep)
    client = MlflowClient(mlflow_db)
    # the MLflow 3 UI opens an experiment with this kind on its runs, not the GenAI overview
    experiment = client.get_experiment_by_name("three")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"

    parent_id = study.user_attrs[StudyAttr.PARENT_RUN_ID]
    runs = children(client, "three", parent_id)
    assert [r.info.run_name for r in runs] == ["trial-0000", "trial-0001", "trial-0002"]
    assert all(r.data.tags["geoarena.outcome"] == "complete" for r in runs)

    # the parent's curves, one point per trial number: each value and the best so far
    values = [t.value for t in study.get_trials()]
    trial_curve = sorted(client.get_metric_history(parent_id, "trial_value"), key=_step)
    assert [(m.step, m.value) for m in trial_curve] == list(enumerate(values))
    best_curve = sorted(client.get_metric_history(parent_id, "best_value"), key=_step)
    assert [m.step for m in best_curve] == [0, 1, 2]
    assert [m.value for m in best_curve] == [max(values[: n + 1]) for n in range(3)]

    # the code and the command behind every run
    package = Path(geoarena.__file__).parent
    head = subprocess.run(
        ["git", "-C", str(package), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    parent = client.get_run(parent_id)
    for run in [parent, *runs]:
        assert run.data.tags["mlflow.source.git.commit"] == head
        assert run.data.tags["mlflow.source.git.dirty"] in ("true", "false")
        assert run.data.tags["geoarena.command"] == command_line()  # this (pytest) process
    argv = ["/venv/bin/geoarena", "sweep", "run", "my sweep.yaml", "--gpus", "0,1"]
    assert command_line(argv) == "geoarena sweep run 'my sweep.yaml' --gpus 0,1"


def test_overlays_draw_the_footprints_on_the_imagery(finished, synth_data: Path) -> None:
    _, sweep, _ = finished
    folder = sweep.trial_dir(0) / "overlays"
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) == 2
    tiles = find_tiles(synth_data)
    for png in pngs:
        drawn = np.asarray(Image.open(png).convert("RGB"))
        imagery = display_image(read_raw_tile(tiles[png.stem]))
        assert drawn.shape == imagery.shape
        same = np.all(drawn == imagery, axis=2)
        # mostly the tile itself, with outlines in the evaluator's colours over it
        assert 0.3 < same.mean() < 1.0
        outline = drawn[~same]
        colours = np.array([COLOURS["TP"], COLOURS["FN"], COLOURS["FP"]])
        assert (outline[:, None, :] == colours[None]).all(axis=2).any(axis=1).mean() > 0.9


def test_trial_value_is_tuned_f1_never_below_fixed(finished) -> None:
    _, sweep, _ = finished
    for trial in load_study(sweep).get_trials():
        record = record_of(trial)
        assert trial.value == record.value >= record.fixed_value
        assert math.isclose(record.gain, record.value - record.fixed_value)
        assert record.checkpoint.is_file()
        assert record.predictions.read_text().startswith("ImageId,BuildingId")
        # the same record, with the same names, in the trial's folder
        saved = json.loads((sweep.trial_dir(trial.number) / "post_search.json").read_text())
        assert saved == record.to_attr()


def test_status_best_and_export(finished, tmp_path: Path) -> None:
    path, sweep, _ = finished
    runner = CliRunner()
    status = runner.invoke(sweep_cli, ["status", str(path), "--format", "json"])
    assert status.exit_code == 0, status.output
    rows = json.loads(status.output)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert all(r["gpu"] == "cpu" and r["seconds"] > 0 and r["epochs"] == 2 for r in rows)
    as_csv = runner.invoke(sweep_cli, ["status", str(path), "--format", "csv"])
    lines = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [int(r["number"]) for r in lines] == [0, 1, 2]
    assert [float(r["lr"]) for r in lines] == [r["params"]["lr"] for r in rows]
    assert all(r["thresholds.t_mask"] and r["fixed_value"] and r["mlflow_run_id"] for r in lines)
    assert [r["record"]["value"] for r in rows] == [r["value"] for r in rows]
    table = runner.invoke(sweep_cli, ["status", str(path)])
    assert "study three" in table.output and "mlflow ui --backend-store-uri" in table.output

    out = tmp_path / "best.yaml"
    best = runner.invoke(sweep_cli, ["best", str(path), "--export", str(out)])
    assert best.exit_code == 0, best.output
    study = load_study(sweep)
    top = max(study.get_trials(), key=lambda t: t.value)
    assert f"best trial: #{top.number}" in best.output
    config = TrainConfig.from_yaml(out)
    assert config.lr == pytest.approx(top.params["lr"])
    assert config.thresholds == record_of(top).thresholds
    assert out.read_text().startswith("# exported by `geoarena sweep best`")


def test_large_artifacts_stay_on_disk_with_their_path_tagged(make_sweep, mlflow_db) -> None:
    path = make_sweep(
        "big-artifacts",
        budget={"n_trials": 1},
        tracking={"uri": mlflow_db, "overlays": 0, "max_artifact_mb": 0.01},  # 10 kB
    )
    sweep = load_sweep(path)
    launch(sweep, progress=False)
    (trial,) = load_study(sweep).get_trials()
    client = MlflowClient(mlflow_db)
    run = client.get_run(trial.user_attrs[TrialAttr.RUN_ID])
    logged = {a.path for a in client.list_artifacts(run.info.run_id)}
    checkpoint = sweep.trial_dir(0) / "best.pt"
    assert checkpoint.stat().st_size > 10 * 1024 and "best.pt" not in logged
    assert run.data.tags["geoarena.local_artifact.best.pt"] == str(checkpoint.resolve())
    assert "config.yaml" in logged  # small files are still uploaded


def test_pruned_trial_is_pruned_in_optuna_and_mlflow(make_sweep, mlflow_db: str) -> None:
    path = make_sweep(
        "pruned",
        pruner={"type": "threshold", "lower": 2.0, "min_resource": 1},  # F1 never reaches 2
        budget={"n_trials": 1},
    )
    sweep = load_sweep(path)
    launch(sweep, progress=False)
    (trial,) = load_study(sweep).get_trials()
    assert trial.state == TrialState.PRUNED
    assert list(trial.intermediate_values) == [1]  # stopped after the first epoch
    run = MlflowClient(mlflow_db).get_run(trial.user_attrs[TrialAttr.RUN_ID])
    assert run.info.status == "KILLED" and run.data.tags["optuna.state"] == "PRUNED"
    assert run.data.tags["geoarena.outcome"] == "pruned"
    assert run.data.tags["mlflow.note.content"].startswith("pruned: pruned after epoch 1 (f1 ")
    assert run.info.run_name == "trial-0000"
    client = MlflowClient(mlflow_db)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_f1")] == [1]
    assert "best.pt" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_failed_trial_differs_from_a_pruned_one(make_sweep, mlflow_db: str) -> None:
    path = make_sweep(
        "diverges",
        train={"grad_clip": 0},
        space={"lr": {"type": "log", "low": 1.0e30, "high": 1.0e31}},  # non-finite loss
        budget={"n_trials": 1},
    )
    sweep = load_sweep(path)
    launch(sweep, progress=False)
    (trial,) = load_study(sweep).get_trials()
    assert trial.state == TrialState.FAIL
    client = MlflowClient(mlflow_db)
    run = client.get_run(trial.user_attrs[TrialAttr.RUN_ID])
    assert run.info.status == "FAILED" and run.data.tags["geoarena.outcome"] == "failed"
    assert run.data.tags["mlflow.note.content"].startswith("failed: FloatingPointError: ")
    assert "error.txt" in {a.path for a in client.list_artifacts(run.info.run_id)}
    # no trial completed: the parent has no best value yet
    parent = load_study(sweep).user_attrs[StudyAttr.PARENT_RUN_ID]
    assert client.get_metric_history(parent, "best_value") == []


def _step(metric) -> int:
    return metric.step


def test_two_worker_processes_share_one_journal(make_sweep, mlflow_db: str) -> None:
    # trials of a few seconds: longer than the gap between the two workers' start-ups
    path = make_sweep("two-workers", train={"epochs": 5}, budget={"n_trials": 4})
    sweep = load_sweep(path)
    result = launch(sweep, workers=2, progress=False)
    assert result.exit_codes == {"cpu0": 0, "cpu1": 0}, _logs(sweep)
    trials = load_study(sweep).get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]  # the cap holds across processes
    assert all(t.state == TrialState.COMPLETE for t in trials)
    pids = {t.user_attrs["worker"]["pid"] for t in trials}
    names = {t.user_attrs["worker"]["worker"] for t in trials}
    assert len(pids) == 2 and names == {"cpu0", "cpu1"}
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == 4  # distinct trials, not the same sample twice
    client = MlflowClient(mlflow_db)
    parent = load_study(sweep).user_attrs[StudyAttr.PARENT_RUN_ID]
    assert len(children(client, "two-workers", parent)) == 4


def _logs(sweep) -> str:
    return "\n".join(p.read_text()[-3000:] for p in sorted((sweep.root / "logs").glob("*.log")))


def test_resumed_study_continues_numbering(make_sweep) -> None:
    path = make_sweep("resume", train={"lr": 0.005}, budget={"n_trials": 2}, enqueue=["baseline"])
    sweep = load_sweep(path)
    launch(sweep, progress=False)
    data = yaml.safe_load(path.read_text())
    data["budget"] = {"n_trials": 4}
    path.write_text(yaml.safe_dump(data))
    result = launch(load_sweep(path), progress=False)
    trials = load_study(sweep).get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert sum(1 for t in trials if t.user_attrs.get("seed_trial")) == 1  # not seeded twice
    assert [t.number for t in result.timings] == [2, 3]
    assert len({t.user_attrs[TrialAttr.RUN_ID] for t in trials}) == 4
    # the re-created sampler does not replay the first launch's samples
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4


def test_time_budget_starts_no_trial_after_the_deadline(make_sweep) -> None:
    sweep = load_sweep(make_sweep("timed", budget={"timeout": "4s"}))
    make_tracker(sweep)  # the MLflow store exists: the budget is spent on trials
    started = datetime.datetime.now()
    launch(sweep, progress=False)
    trials = load_study(sweep).get_trials()
    assert trials and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(t.datetime_start < started + datetime.timedelta(seconds=4) for t in trials)
