from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from geoarena.cli import cli


def test_models_cli_loads_nothing_of_the_platform():
    """Dependencies flow one way: the models' commands never import the sweep machinery."""
    heavy = ("geoarena.platform", "geoarena.leaderboard", "optuna", "mlflow")
    code = (
        f"import sys, geoarena.models.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_of_every_command():
    runner = CliRunner()
    for args in (
        ["data", "--help"],
        ["data", "synth", "--help"],
        ["train", "--help"],
        ["predict", "--help"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_synth_train_predict(tmp_path: Path):
    runner = CliRunner()
    data = tmp_path / "data"
    result = runner.invoke(
        cli,
        [
            "data",
            "synth",
            "--out",
            str(data),
            "--tiles",
            "8",
            "--size",
            "96",
            "--seed",
            "4",
            "--gsd",
            "0.6",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(list((data / "images").glob("*.tif"))) == 8

    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(data),
                "encoder": "test_resnet",
                "decoder_channels": [16, 16, 8, 8],
                "aspp_channels": 16,
                "epochs": 1,
                "batch_size": 4,
                "crop_size": 48,
                "upscale": 1.0,
                "num_workers": 0,
                "out_dir": str(tmp_path / "run"),
                "progress": False,
            }
        )
    )
    result = runner.invoke(
        cli,
        [
            "train",
            "--config",
            str(config),
            "--set",
            "epochs=2",
            "--set",
            "max_train_batches_per_epoch=1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "best f1" in result.output
    result = runner.invoke(
        cli,
        [
            "train",
            "--config",
            str(config),
            "--resume",
            "--set",
            "epochs=3",
            "--set",
            "max_train_batches_per_epoch=1",
        ],
    )
    assert result.exit_code == 0, result.output

    out = tmp_path / "preds.csv"
    result = runner.invoke(
        cli,
        [
            "predict",
            "--checkpoint",
            str(tmp_path / "run" / "best.pt"),
            "--images",
            str(data / "images"),
            "--out",
            str(out),
            "--min-area",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("ImageId,BuildingId,PolygonWKT_Pix,PolygonWKT_Geo,Confidence")


def test_data_info(synth_dir: Path, tmp_path: Path):
    result = CliRunner().invoke(cli, ["data", "info", str(synth_dir)])
    assert result.exit_code == 0, result.output
    assert "AOI_2_Oldtown" in result.output and "128x128 uint8 x3" in result.output
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "AOI_1_X_img1.tif").write_bytes(b"")
    (tmp_path / "truth.csv").write_text(
        "ImageId,BuildingId,PolygonWKT_Pix\nAOI_1_X_img1,-1,POLYGON EMPTY\n"
    )
    result = CliRunner().invoke(cli, ["data", "info", str(tmp_path)])
    assert result.exit_code != 0 and "AOI_1_X_img1.tif: unreadable tile" in result.output


def test_bad_config_is_a_clear_error(tmp_path: Path):
    config = tmp_path / "train.yaml"
    config.write_text("epochs: 0\nlearning_rate: 1\n")
    result = CliRunner().invoke(cli, ["train", "--config", str(config)])
    assert result.exit_code != 0
    assert "epochs" in result.output and "[learning_rate] unknown field" in result.output
    config.write_text("epochs: 2\n")
    result = CliRunner().invoke(cli, ["train", "--config", str(config), "--set", "oops"])
    assert result.exit_code != 0 and "expected FIELD=VALUE" in result.output
    result = CliRunner().invoke(cli, ["train", "--config", str(config), "--set", "lr=-1"])
    assert result.exit_code != 0 and "[lr] Input should be greater than 0" in result.output


def test_missing_data_is_a_clear_error(tmp_path: Path):
    config = tmp_path / "train.yaml"
    config.write_text(f"data_dir: {tmp_path / 'nowhere'}\nencoder: test_resnet\n")
    result = CliRunner().invoke(cli, ["train", "--config", str(config)])
    assert result.exit_code != 0 and "nowhere: image folder not found" in result.output
    result = CliRunner().invoke(cli, ["data", "synth", "--out", str(tmp_path), "--city", "Rome"])
    assert result.exit_code != 0 and "unknown synthetic cities" in result.output
