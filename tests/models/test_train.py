"""End to end on the CPU: train a tiny net on synthetic cities, validate, predict, score."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from geoarena.evaluator import city_of, read_proposals, read_truth, score
from geoarena.models.data.synth import write_synthetic
from geoarena.models.maps import load_maps, maps_to_table
from geoarena.models.nets import load_checkpoint, load_model
from geoarena.models.predict import predict
from geoarena.models.train import EpochResult, train
from geoarena.models.train_config import ConfigError

#: the synthetic cities have no outlines on truth edges, textured and pitched roofs,
#: shadows and occluding trees: after 3 short CPU epochs the tiny net reaches 0.10-0.20
#: micro F1 (measured), where random weights give 0; the long run is in the benchmark
#: (bench/ablation_watershed.py).
MIN_F1 = 0.05


@pytest.fixture(scope="module")
def trained(tiny_config, tmp_path_factory: pytest.TempPathFactory):
    """One real training run shared by the tests below (3 epochs x 48 steps of 8 crops)."""
    config = tiny_config(tmp_path_factory.mktemp("run"), epochs=3, crops_per_tile=32)
    started = time.perf_counter()
    result = train(config)
    f1s = ", ".join(f"{h.val_f1:.3f}" for h in result.history)
    print(f"training took {time.perf_counter() - started:.1f} s; val F1 by epoch: {f1s}")
    return config, result


@pytest.mark.slow
def test_cpu_training_reaches_a_real_f1(trained):
    _, result = trained
    assert [h.epoch for h in result.history] == [1, 2, 3]
    assert result.best_f1 > MIN_F1
    assert result.best_f1 == max(h.val_f1 for h in result.history)
    best = result.history[result.best_epoch - 1]
    assert set(best.val_city_f1) == {
        "AOI_1_Gridvale",
        "AOI_2_Oldtown",
        "AOI_3_Towerpark",
        "AOI_5_Sandfield",
    }
    assert best.val_mean_city_f1 > MIN_F1
    assert result.history[-1].train_loss < result.history[0].train_loss
    for path in (result.best_checkpoint, result.last_checkpoint, result.val_maps):
        assert path.is_file()


@pytest.mark.slow
def test_cached_maps_reproduce_the_validation_score(trained):
    config, result = trained
    maps = load_maps(result.val_maps)
    proposals = maps_to_table(maps, config.thresholds)
    rescored = score(maps.truth_table(), proposals, rules="deepglobe")
    assert rescored.micro.f1 == pytest.approx(result.best_f1)
    # thresholds matter: an absurd mask threshold loses the buildings
    strict = maps_to_table(maps, config.thresholds.replace(t_mask=0.999))
    assert score(maps.truth_table(), strict).micro.f1 < rescored.micro.f1


@pytest.mark.slow
def test_predict_writes_a_scorable_csv(trained, synth_dir: Path, tmp_path: Path):
    config, result = trained
    out = predict(
        result.best_checkpoint,
        synth_dir / "images",
        tmp_path / "preds.csv",
        cache_maps=tmp_path / "maps.npz",
    )
    proposals = read_proposals(out)
    truth = read_truth(synth_dir / "truth.csv")
    assert proposals.image_ids == truth.image_ids  # every tile, empty ones included
    full = score(truth, proposals, rules="deepglobe")
    assert full.micro.f1 > MIN_F1
    maps = load_maps(tmp_path / "maps.npz")
    assert len(maps) == 20
    again = maps_to_table(maps, config.thresholds)
    assert score(truth, again).micro == full.micro
    # explicit thresholds override the checkpoint's; TTA runs the same pipeline
    none = predict(
        result.best_checkpoint,
        synth_dir / "images",
        tmp_path / "none.csv",
        thresholds=config.thresholds.replace(t_mask=0.9999, min_area=1e6),
        tta=True,
    )
    assert set(read_proposals(none).image_ids) == set(truth.image_ids)
    assert "POLYGON EMPTY" in none.read_text() and score(truth, none).micro.tp == 0
    # per-city thresholds replace the checkpoint's on their city's tiles only
    city = city_of(truth.image_ids[0])
    strict = {city: config.thresholds.replace(t_mask=0.9999, min_area=1e6)}
    mixed = read_proposals(
        predict(result.best_checkpoint, synth_dir / "images", tmp_path / "mixed.csv",
                city_thresholds=strict)
    )  # fmt: skip
    assert buildings_by_tile(mixed) == {
        i: (0 if city_of(i) == city else n) for i, n in buildings_by_tile(proposals).items()
    }
    assert any(n for i, n in buildings_by_tile(mixed).items() if city_of(i) != city)


def buildings_by_tile(table) -> dict[str, int]:
    counts = dict.fromkeys(table.image_ids, 0)
    for image_id, geometry in zip(table.image_id, table.geometry, strict=True):
        counts[image_id] += not geometry.is_empty
    return counts


@pytest.mark.slow
def test_checkpoint_is_self_describing(trained):
    config, result = trained
    model, meta = load_model(result.best_checkpoint)
    assert not model.training
    assert meta["arch"] == "unet_aspp" and meta["model_kwargs"]["encoder"] == "test_resnet"
    assert meta["upscale"] == config.upscale
    assert meta["postprocess"] == {"t_energy": 0.3, "t_mask": 0.5, "min_area": 10.0}
    assert meta["config"]["epochs"] == 3
    last = load_checkpoint(result.last_checkpoint)
    assert last["epoch"] == 3 and {"optimizer", "scheduler", "sampler"} <= set(last)


class RecordingLogger:
    def __init__(self) -> None:
        self.metrics: list[tuple[int, dict]] = []
        self.params: list[dict] = []
        self.artifacts: list[Path] = []

    def log_metrics(self, metrics, step):
        self.metrics.append((step, metrics))

    def log_params(self, params):
        self.params.append(params)

    def log_artifact(self, path):
        self.artifacts.append(Path(path))


class Prune(Exception):
    pass


def test_callback_stops_training_and_resume_continues(tiny_config, tmp_path: Path):
    config = tiny_config(tmp_path, epochs=3, max_train_batches_per_epoch=1, sampling="hard")
    seen: list[EpochResult] = []

    def prune_at_two(result: EpochResult) -> None:
        seen.append(result)
        if result.epoch == 2:
            raise Prune

    logger = RecordingLogger()
    with pytest.raises(Prune):
        train(config, callbacks=[prune_at_two], logger=logger)
    assert [r.epoch for r in seen] == [1, 2]
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 2  # saved before the callback
    assert [step for step, _ in logger.metrics] == [1, 2]
    assert {"train_loss", "val_f1", "val_mean_city_f1", "val_f1_AOI_2_Oldtown"} <= set(
        logger.metrics[0][1]
    )
    assert logger.params[0]["encoder"] == "test_resnet"

    resumed = train(config, resume=True, logger=logger)
    assert [h.epoch for h in resumed.history] == [1, 2, 3]
    assert resumed.history[0] == seen[0]
    assert set(logger.artifacts) == {resumed.best_checkpoint, resumed.val_maps}


def test_fpn_trains_too_with_bf16_autocast(tiny_config, tmp_path: Path):
    """The mixed-precision path (bf16 on GPU by default) also runs on the CPU."""
    config = tiny_config(
        tmp_path, arch="fpn", max_train_batches_per_epoch=2, w_dice=0.5, amp="bf16"
    )
    result = train(config)
    assert len(result.history) == 1 and 0.0 <= result.best_f1 <= 1.0
    assert load_model(result.best_checkpoint)[1]["arch"] == "fpn"


def test_separate_validation_folder_and_city_monitor(tiny_config, tmp_path: Path):

    write_synthetic(tmp_path / "val", tiles=4, size=96, seed=11, cities=["Oldtown", "Towerpark"])
    config = tiny_config(
        tmp_path / "run",
        val_dir=tmp_path / "val",
        monitor="mean_city_f1",
        sampling="uniform",
        max_train_batches_per_epoch=1,
    )
    result = train(config)
    assert set(result.history[0].val_city_f1) == {"AOI_2_Oldtown", "AOI_3_Towerpark"}
    assert result.best_f1 == result.history[0].val_mean_city_f1
    assert sorted(load_maps(result.val_maps).image_ids) == [
        "AOI_2_Oldtown_img0",
        "AOI_2_Oldtown_img2",
        "AOI_3_Towerpark_img1",
        "AOI_3_Towerpark_img3",
    ]


def test_predict_normalises_16_bit_tiles_like_training(tiny_config, tmp_path: Path):
    """Validation and prediction of the same 16-bit tiles give identical maps: predict
    reuses the per-city ranges fitted in training instead of refitting on its input."""

    data = tmp_path / "data16"
    write_synthetic(data, tiles=8, size=96, seed=4, bits=16)
    result = train(
        tiny_config(
            tmp_path / "run",
            data_dir=data,
            max_train_batches_per_epoch=1,
            cache_dir=tmp_path / "cache",
        )
    )
    val = load_maps(result.val_maps)
    only_val = tmp_path / "only_val"
    only_val.mkdir()
    for image_id in val.image_ids:
        shutil.copy(data / "images" / f"{image_id}.tif", only_val)
    predict(result.best_checkpoint, only_val, tmp_path / "p.csv", cache_maps=tmp_path / "m.npz")
    predicted = load_maps(tmp_path / "m.npz")
    for image_id in val.image_ids:
        np.testing.assert_array_equal(predicted.prob[image_id], val.prob[image_id])


def test_diverging_training_stops_with_a_clear_error(tiny_config, tmp_path: Path):
    config = tiny_config(tmp_path, lr=1e30, grad_clip=0, max_train_batches_per_epoch=4, epochs=2)
    with pytest.raises(FloatingPointError, match="non-finite training loss"):
        train(config)


def test_validation_tiles_are_required(tiny_config, tmp_path: Path):
    with pytest.raises(ConfigError, match="no validation tiles"):
        train(tiny_config(tmp_path, val_fraction=0.0))
