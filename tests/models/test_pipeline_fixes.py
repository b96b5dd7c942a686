"""Regression tests of the training pipeline's defects: cache race, hard-example sampling,
brightness, streamed validation maps, devices that cannot be used."""

from __future__ import annotations

import multiprocessing
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from geoarena.models.data.augment import AugmentSettings, augment_batch
from geoarena.models.data.dataset import build_cache
from geoarena.models.data.normalize import CityNormalizer
from geoarena.models.data.sampler import HardExampleSampler
from geoarena.models.data.spacenet import Tile, load_split
from geoarena.models.device import DeviceError, autocast_dtype, resolve_device, runtime_summary
from geoarena.models.maps import MapWriter, load_maps
from geoarena.models.postprocess import Thresholds
from geoarena.models.validation import validate


def _build(args: tuple[list[Tile], Path]) -> int:
    tiles, cache = args
    return len(build_cache(tiles, cache, CityNormalizer()))


def test_two_processes_build_one_cache_at_once(synth_dir: Path, tmp_path: Path):
    """The cache used one fixed ``<name>.tmp.npy``: two sweep workers building it at once
    failed a trial with FileNotFoundError about one round in six."""
    tiles = load_split(synth_dir)[:6]
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        for round_ in range(6):
            cache = tmp_path / f"cache{round_}"
            assert pool.map(_build, [(tiles, cache), (tiles, cache)]) == [6, 6]
            assert sorted(p.suffix for p in cache.iterdir()) == [".npy"] * 6  # no temp files
            for path in cache.iterdir():
                assert np.load(path).shape == (128, 128, 5)


def test_hard_sampler_refreshes_within_an_epoch_and_smooths_crops():
    """Weights came from one crop per tile and changed once per epoch."""
    sampler = HardExampleSampler(4, 400, mix=0.0, smoothing=0.5, batch_size=10, seed=0)
    draws = iter(sampler)
    first = [next(draws)[0] for _ in range(10)]
    assert len(set(first)) > 1  # nothing seen yet: uniform
    sampler.update(torch.tensor([0, 1, 2, 3]), torch.tensor([0.01, 0.01, 0.01, 5.0]))
    later = [next(draws)[0] for _ in range(100)]
    assert later.count(3) > 80  # the same epoch already prefers the hard tile
    sampler.update(torch.tensor([3]), torch.tensor([1.0]))
    assert sampler.losses[3].item() == pytest.approx(3.0)  # running mean of its crops
    keys = list(HardExampleSampler(3, 6, seed=1))
    assert keys == list(HardExampleSampler(3, 6, seed=1))  # reproducible crop seeds
    assert len({seed for _, seed in keys}) == 6


def test_brightness_is_applied_at_its_configured_value():
    """It was halved: brightness 0.2 moved intensities by at most 0.1."""
    windows = torch.full((256, 5, 16, 16), 128, dtype=torch.uint8)
    windows[:, 3:] = 0
    settings = AugmentSettings(crop_size=16, upscale=1.0, brightness=0.2, contrast=0.0)
    image, _, _ = augment_batch(
        windows, settings, torch.zeros(3), torch.ones(3), generator=torch.Generator().manual_seed(0)
    )
    shift = image.mean(dim=(1, 2, 3)) - 128 / 255
    assert shift.abs().max() > 0.18 and shift.abs().max() <= 0.2 + 1e-5


class _FakePredictor:
    """Maps of the size of the tile, like a network would give."""

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prob = np.zeros(image.shape[:2], np.float32)
        prob[10:30, 10:30] = 0.9
        return prob, prob * 0.8


def test_validation_streams_maps_to_disk(tmp_path: Path):
    """Validation kept every tile's maps in RAM (~3.4 GB per worker on a SpaceNet split)."""
    n, side = 24, 384
    files, tiles = [], []
    for i in range(n):
        path = tmp_path / f"t{i}.npy"
        np.save(path, np.zeros((side, side, 5), np.uint8))
        files.append(path)
        tiles.append(
            Tile(f"AOI_1_X_img{i}", path, ("POLYGON ((10 10, 30 10, 30 30, 10 30, 10 10))",))
        )
    writer = MapWriter(tmp_path / "val_maps.npz", {t.image_id: list(t.wkts) for t in tiles})
    tracemalloc.start()
    result = validate(_FakePredictor(), tiles, files, Thresholds(), writer=writer)  # type: ignore[arg-type]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    writer.close()
    all_maps = n * side * side * 2 * 2  # float16 prob + energy of every tile
    assert peak < all_maps / 4, (peak, all_maps)
    assert result.micro.tp == n and result.micro.fp == 0
    maps = load_maps(tmp_path / "val_maps.npz")
    assert len(maps) == n and maps.prob["AOI_1_X_img3"][20, 20] == np.float16(0.9)


def test_cuda_that_cannot_be_used_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a usable GPU")
    with pytest.raises(DeviceError, match=r"(?i)cuda"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"
    assert autocast_dtype("auto", torch.device("cpu")) is None
    assert autocast_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    line = runtime_summary(torch.device("cpu"), None)
    assert line.startswith("device cpu") and f"torch {torch.__version__}" in line and "fp32" in line
