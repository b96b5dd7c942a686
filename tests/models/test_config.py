from __future__ import annotations

from pathlib import Path

import pytest

from geoarena.models.tiny_net import TINY_NET
from geoarena.models.train_config import ConfigError, TrainConfig


def test_defaults_follow_the_paper():
    cfg = TrainConfig()
    assert (cfg.arch, cfg.encoder, cfg.crop_size, cfg.upscale) == (
        "unet_aspp",
        "seresnext50_32x4d",
        256,
        2.0,
    )
    assert cfg.pretrained is False


def test_none_keeps_the_default():
    cfg = TrainConfig.from_dict({"lr": None, "t_energy": None, "epochs": 3})
    assert cfg.lr == TrainConfig().lr
    assert cfg.thresholds.t_energy == TrainConfig().thresholds.t_energy
    assert cfg.epochs == 3
    assert cfg.replace(lr=None, epochs=5).lr == cfg.lr


def test_tiny_encoder_stands_for_the_tiny_network(tmp_path: Path):
    """``encoder: tiny`` (the smoke script's CPU dry run) expands to every field of
    TINY_NET; a field written beside it wins; the config then names the real encoder."""
    path = tmp_path / "train.yaml"
    path.write_text("encoder: tiny\naspp_channels: 48\nepochs: 2\n")
    cfg = TrainConfig.from_yaml(path)
    assert (cfg.encoder, cfg.decoder_channels, cfg.aspp_rates) == (
        "test_resnet",
        (32, 32, 16, 16),
        (2, 4),
    )
    assert (cfg.aspp_channels, cfg.fpn_channels, cfg.epochs) == (48, 32, 2)
    assert TrainConfig(encoder="tiny") == TrainConfig(**TINY_NET)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg  # a checkpoint's config reads back


def test_errors_name_every_bad_field():
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict({"learning_rate": 1, "epochs": 0, "crop_scale": [2, 1]})
    msg = str(err.value)
    assert "[learning_rate] unknown field" in msg
    assert "[epochs]" in msg
    assert "[crop_scale]" in msg
    assert {p.column for p in err.value.problems} == {"learning_rate", "epochs", "crop_scale"}


def test_bad_choice_is_an_error():
    with pytest.raises(ConfigError, match="arch"):
        TrainConfig.from_dict({"arch": "segformer"})


def test_yaml_round_trip(tmp_path: Path):
    cfg = TrainConfig.from_dict({"encoder": "test_resnet", "crop_scale": [0.5, 1.5], "w_dice": 0.3})
    path = cfg.to_yaml(tmp_path / "cfg.yaml")
    assert TrainConfig.from_yaml(path) == cfg
    cities = {"AOI_2_Oldtown": {"t_energy": 0.2, "t_mask": 0.6, "min_area": 30}}
    cfg = cfg.replace(city_thresholds=cities)
    back = TrainConfig.from_yaml(cfg.to_yaml(tmp_path / "cities.yaml"))
    assert back == cfg and back.city_thresholds["AOI_2_Oldtown"].t_mask == 0.6
    with pytest.raises(ConfigError, match=r"city_thresholds\.AOI_2_Oldtown\.t_mask"):
        TrainConfig.from_dict({"city_thresholds": {"AOI_2_Oldtown": {"t_mask": 1.5}}})


def test_pretrained_accepts_bool_strings_and_paths(tmp_path: Path):
    assert TrainConfig.from_dict({"pretrained": "true"}).pretrained is True
    weights = tmp_path / "w.pth"
    assert TrainConfig.from_dict({"pretrained": str(weights)}).pretrained == weights


def test_yaml_errors_name_the_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: not valid YAML"):
        TrainConfig.from_yaml(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("epochz: 3\n")
    with pytest.raises(ConfigError, match=r"wrong\.yaml:1: \[epochz\] unknown field"):
        TrainConfig.from_yaml(wrong)
