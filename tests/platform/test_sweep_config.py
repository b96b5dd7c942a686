"""The sweep YAML: every bad field is reported with its file and line; good files resolve."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from geoarena.evaluator import Metric
from geoarena.models import Thresholds, TrainConfig
from geoarena.platform import TrialAttr, TrialRecord, export_best
from geoarena.platform.cli import sweep as sweep_cli
from geoarena.platform.sweep import SweepConfigError, load_sweep, parse_sweep

GOOD = """\
name: loss-search
train:
  data_dir: data
  encoder: test_resnet
  epochs: 4
  crop_scale: [0.8, 1.2]
space:
  lr: {type: log, low: 1.0e-5, high: 1.0e-2}
  w_lovasz: {type: float, low: 0.0, high: 2.0, step: 0.25}
  batch_size: {type: int, low: 4, high: 16, step: 4}
  upscale: {type: categorical, choices: [1.0, 2.0]}
  crop_scale.1: {type: float, low: 1.0, high: 1.5}
enqueue:
  - baseline
  - {lr: 0.001, w_lovasz: 1.0}
budget: {n_trials: 10, timeout: 90m}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(SweepConfigError) as info:
        load_sweep(write(tmp_path, text))
    assert str(tmp_path / "sweep.yaml") in str(info.value)
    assert all(p.file == str(tmp_path / "sweep.yaml") for p in info.value.problems)
    return [(p.line, p.column, p.reason) for p in info.value.problems]


def test_good_file_resolves_paths_defaults_and_seeds(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, GOOD))
    assert sweep.train.data_dir == tmp_path / "data"
    assert sweep.root == tmp_path / "runs" / "loss-search"
    assert sweep.storage_url == str(tmp_path / "runs" / "loss-search" / "optuna.journal")
    assert sweep.tracking_uri == f"sqlite:///{tmp_path / 'runs' / 'loss-search' / 'mlflow.db'}"
    assert sweep.artifact_location.startswith("file://")
    assert sweep.budget.timeout == 5400
    assert sweep.space["lr"].log is True
    # baseline = the fixed config's values (TrainConfig defaults where not fixed)
    seeds = sweep.enqueued_params()
    assert seeds[0]["lr"] == 3e-4 and seeds[0]["crop_scale.1"] == 1.2 and seeds[0]["upscale"] == 2.0
    assert seeds[1] == {"lr": 0.001, "w_lovasz": 1.0}


def test_trial_config_applies_params_and_tuple_elements(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, GOOD))
    config = sweep.trial_config({"lr": 0.002, "crop_scale.1": 1.4, "batch_size": 8}, 7)
    assert config.lr == 0.002 and config.batch_size == 8
    assert config.crop_scale == (0.8, 1.4)
    assert config.out_dir == sweep.root / "trials" / "0007"
    assert config.epochs == 4 and config.encoder == "test_resnet"
    assert config.monitor == Metric.F1  # the sweep's objective metric


def test_every_bad_field_is_reported_with_its_line(tmp_path: Path) -> None:
    errors = problems(
        tmp_path,
        """\
        name: bad
        train:
          encoder: test_resnet
          lrr: 0.1
        space:
          w_lovasz: {type: float, low: 2.0, high: 1.0}
          w_bce: {type: flot, low: 0, high: 1}
          lr: {type: log, low: 0.0, high: 1.0}
          w_dice: {type: float, low: -1.0, high: 1.0}
        budget: {timeout: 2 weeks}
        sampler: {type: cmaes}
        """,
    )
    found = {path: (line, reason) for line, path, reason in errors}
    # checked against the training config even though the file is invalid elsewhere
    assert found["space.w_dice"][0] == 9 and "value -1.0 is invalid" in found["space.w_dice"][1]
    assert found["train.lrr"] == (4, "unknown field (got 0.1)")
    assert found["space.w_lovasz"][0] == 6 and "must not exceed high" in found["space.w_lovasz"][1]
    assert found["space.w_bce"][0] == 7 and "'flot'" in found["space.w_bce"][1]
    assert found["space.lr"][0] == 8 and "low > 0" in found["space.lr"][1]
    assert found["budget.timeout"][0] == 10 and "duration" in found["budget.timeout"][1]
    assert found["sampler.type"][0] == 11 and "'tpe'" in found["sampler.type"][1]


def test_space_checked_against_the_training_config(tmp_path: Path) -> None:
    errors = problems(
        tmp_path,
        """\
        name: bad
        train: {out_dir: somewhere}
        space:
          t_energy: {type: float, low: 0.1, high: 0.9}
          w_energy: {type: float, low: -1.0, high: 1.0}
          bogus: {type: int, low: 1, high: 2}
          crop_scale.2: {type: float, low: 1.0, high: 2.0}
          lr: {type: log, low: 1.0e-3, high: 1.0e-2}
        enqueue: [baseline, {lr: 1.0}, {nope: 1}]
        budget: {n_trials: 2}
        """,
    )
    found = {path: (line, reason) for line, path, reason in errors}
    assert found["train.out_dir"][0] == 2 and "per trial" in found["train.out_dir"][1]
    assert found["space.t_energy"][0] == 4 and "post_search" in found["space.t_energy"][1]
    assert found["space.w_energy"][0] == 5 and "-1.0" in found["space.w_energy"][1]
    assert found["space.bogus"][0] == 6
    assert found["space.crop_scale.2"][0] == 7 and "no element 2" in found["space.crop_scale.2"][1]
    # the default lr (3e-4) is outside the space: the baseline seed cannot be queued
    assert found["enqueue.0"][0] == 9 and "baseline value of lr" in found["enqueue.0"][1]
    assert "outside" in found["enqueue.1.lr"][1]
    assert found["enqueue.2.nope"][1] == "not a parameter of space"


def test_missing_budget_and_unknown_top_level_key(tmp_path: Path) -> None:
    errors = problems(tmp_path, "name: x\nspaces: {}\n")
    found = {path: (line, reason) for line, path, reason in errors}
    assert found["budget"][1] == "Field required"
    assert found["spaces"] == (2, "unknown field")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    errors = problems(tmp_path, "name: x\nspace:\n  lr: {type: log\nbudget: 1\n")
    assert errors[0][0] in (3, 4) and "not valid YAML" in errors[0][2]


def test_post_fields_searchable_when_inner_search_is_off() -> None:
    sweep = parse_sweep(
        textwrap.dedent(
            """\
            name: x
            train: {t_mask: 0.4}
            space: {t_mask: {type: float, low: 0.3, high: 0.7}}
            enqueue: [baseline]
            objective: {post_search: {enabled: false}}
            budget: {n_trials: 1}
            storage: {url: "postgresql+psycopg://u:secret@db/x", heartbeat_interval: 5}
            """
        )
    )
    assert "t_mask" in sweep.space
    assert sweep.train.thresholds == Thresholds(t_mask=0.4)  # written flat, one value
    assert sweep.enqueued_params() == [{"t_mask": 0.4}]
    assert sweep.trial_config({"t_mask": 0.6}, 0).thresholds.t_mask == 0.6
    assert sweep.storage.heartbeat_interval == 5 and sweep.storage_url.startswith("postgresql")


def test_export_carries_the_study_metric_and_tuned_thresholds(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("budget:", "objective: {metric: mean_city_f1}\nbudget:"))
    sweep = load_sweep(path)
    study = optuna.create_study(direction="maximize")
    tuned = Thresholds(t_energy=0.45, t_mask=0.55, min_area=40)
    oldtown = Thresholds(t_energy=0.25, t_mask=0.6, min_area=10)
    record = TrialRecord(
        checkpoint=tmp_path / "best.pt", train_seconds=1.0, value=0.7, fixed_value=0.6,
        thresholds=tuned, city_thresholds={"AOI_2_Oldtown": oldtown},
    )  # fmt: skip
    study.add_trial(
        optuna.trial.create_trial(
            params={"lr": 0.002},
            distributions={"lr": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)},
            value=0.7,
            user_attrs={TrialAttr.RECORD: record.to_attr()},
        )
    )
    out, trial, read_back = export_best(sweep, study, tmp_path / "best.yaml")
    assert read_back == record and trial.number == 0
    config = TrainConfig.from_yaml(out)
    assert config.monitor == Metric.MEAN_CITY_F1 and config.lr == 0.002
    assert config.thresholds == tuned and config.out_dir == sweep.root / "best"
    assert config.city_thresholds == {"AOI_2_Oldtown": oldtown}
    assert record.mlflow_params()["thresholds.AOI_2_Oldtown.t_mask"] == 0.6
    assert "mean_city_f1 0.7000 after post-processing search (0.6000 at fixed" in out.read_text()


def test_cli_reports_bad_file_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nbudget: {n_trials: 0}\n")
    result = CliRunner().invoke(sweep_cli, ["status", str(path)])
    assert result.exit_code == 2  # bad input
    expected = f"{path}:2: [budget.n_trials] Input should be greater than or equal to 1"
    assert expected in result.output
    assert "Traceback" not in result.output


def test_root_help_loads_no_sweep_machinery() -> None:
    """The sweep CLI imports optuna, mlflow and torch at its top: the root group must not
    load it for ``geoarena --help``."""
    code = (
        "import sys; from geoarena.cli import cli\n"
        "try: cli(['--help'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in ('geoarena.platform', 'optuna', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
