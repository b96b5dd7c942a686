from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from geoarena.evaluator import city_of, read_truth
from geoarena.models.data.augment import AugmentSettings, augment_batch
from geoarena.models.data.dataset import CropDataset, build_cache, window_size
from geoarena.models.data.labels import read_truth_rows
from geoarena.models.data.normalize import CityNormalizer
from geoarena.models.data.raster import DataError, read_raw_tile
from geoarena.models.data.sampler import HardExampleSampler
from geoarena.models.data.spacenet import image_id_of, load_split, split_by_city
from geoarena.models.data.synth import CITIES, write_synthetic
from geoarena.models.data.targets import polygons_from_wkt, rasterize_instances


def test_image_ids_and_cities():
    assert image_id_of(Path("RGB-PanSharpen_AOI_2_Vegas_img12.tif")) == "AOI_2_Vegas_img12"
    assert image_id_of(Path("tile_7.tif")) == "tile_7"
    assert city_of("AOI_2_Vegas_img12") == "AOI_2_Vegas"


def test_synthetic_set_is_scorable_and_deterministic(tmp_path: Path):

    a = write_synthetic(tmp_path / "a", tiles=8, size=96, seed=3, gsd=0.6)
    b = write_synthetic(tmp_path / "b", tiles=8, size=96, seed=3, gsd=0.6)
    assert a.read_text() == b.read_text()
    truth = read_truth(a)
    cities = {city_of(i) for i in truth.image_ids}
    assert cities == {f"AOI_{s.aoi}_{s.name}" for s in CITIES.values()}
    assert len(truth) > 8 * 3
    image = read_raw_tile(tmp_path / "a" / "images" / "AOI_2_Oldtown_img1.tif")
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8


def test_synthetic_buildings_touch_in_dense_cities(tmp_path: Path):
    truth = write_synthetic(tmp_path, tiles=2, size=200, seed=1, cities=["Oldtown"], gsd=0.5)
    rows = read_truth_rows([truth])
    polys = [p for wkts in rows.values() for p in polygons_from_wkt([w for _, w in wkts])]
    touching = sum(a.distance(b) < 0.05 for i, a in enumerate(polys) for b in polys[i + 1 :])
    assert touching >= 5
    # roofs differ from the ground: buildings are not invisible
    tile = next(iter(rows))
    image = read_raw_tile(tmp_path / "images" / f"{tile}.tif").astype(float)
    labels = rasterize_instances(polygons_from_wkt([w for _, w in rows[tile]]), image.shape[:2])
    assert abs(image[labels > 0].mean() - image[labels == 0].mean()) > 3


def test_unknown_city_is_an_error(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown synthetic cities"):
        write_synthetic(tmp_path, tiles=1, size=64, cities=["Atlantis"])


def test_sixteen_bit_tiles_are_normalised_per_city(tmp_path: Path):
    write_synthetic(tmp_path / "8", tiles=4, size=64, seed=2, gsd=0.6)
    write_synthetic(tmp_path / "16", tiles=4, size=64, seed=2, bits=16, gsd=0.6)
    tiles8, tiles16 = load_split(tmp_path / "8"), load_split(tmp_path / "16")
    norm = CityNormalizer((0.0, 100.0)).fit({t.image_id: t.path for t in tiles16})
    assert len(norm.ranges) == 4  # one fit per city
    for t8, t16 in zip(tiles8, tiles16, strict=True):
        raw = read_raw_tile(t16.path)
        assert raw.dtype == np.uint16
        out = norm(raw, t16.city)
        assert out.dtype == np.uint8
        # a monotone stretch of the 8-bit image: strongly correlated with it
        ref = read_raw_tile(t8.path)
        for band in range(3):
            corr = np.corrcoef(out[..., band].ravel(), ref[..., band].ravel())[0, 1]
            assert corr > 0.98
    assert CityNormalizer.from_dict(norm.to_dict()).ranges == norm.ranges


def test_missing_and_unreadable_tiles_name_the_file(tmp_path: Path):
    with pytest.raises(DataError, match=r"nope\.tif: tile not found"):
        read_raw_tile(tmp_path / "nope.tif")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff at all")
    with pytest.raises(DataError, match=r"bad\.tif: unreadable tile"):
        read_raw_tile(bad)


def test_tiles_without_truth_and_bad_rows_are_errors(tmp_path: Path):
    write_synthetic(tmp_path, tiles=2, size=64, seed=0)
    truth = tmp_path / "truth.csv"
    lines = truth.read_text().splitlines()
    truth.write_text("\n".join(line for line in lines if "img1," not in line) + "\n")
    with pytest.raises(DataError, match=r"AOI_2_Oldtown_img1\.tif.*POLYGON EMPTY"):
        load_split(tmp_path)
    truth.write_text(lines[0] + "\nAOI_1_Gridvale_img0,abc,POLYGON EMPTY\n")
    with pytest.raises(DataError, match=r"truth\.csv:2: BuildingId is not a number"):
        load_split(tmp_path)


def test_empty_tiles_are_valid(tmp_path: Path):
    write_synthetic(tmp_path, tiles=1, size=64, seed=0)
    (tmp_path / "truth.csv").write_text(
        "ImageId,BuildingId,PolygonWKT_Pix\nAOI_1_Gridvale_img0,-1,POLYGON EMPTY\n"
    )
    (tile,) = load_split(tmp_path)
    assert tile.wkts == ()


def test_split_holds_out_every_city(synth_dir: Path):
    tiles = load_split(synth_dir)
    train, val = split_by_city(tiles, 0.25, seed=0)
    assert {t.city for t in val} == {t.city for t in tiles}
    assert not {t.image_id for t in train} & {t.image_id for t in val}
    assert len(train) + len(val) == len(tiles)


def test_cache_is_reused_and_invalidated(synth_dir: Path, tmp_path: Path):
    tiles = load_split(synth_dir)[:2]
    norm = CityNormalizer()
    first = build_cache(tiles, tmp_path, norm)
    stack = np.load(first[0])
    assert stack.shape == (128, 128, 5) and stack.dtype == np.uint8
    assert set(np.unique(stack[..., 3])) <= {0, 1}
    assert build_cache(tiles, tmp_path, norm) == first
    changed = [type(tiles[0])(tiles[0].image_id, tiles[0].path, tiles[0].wkts[1:]), tiles[1]]
    assert build_cache(changed, tmp_path, norm)[0] != first[0]


def test_crop_dataset_windows(synth_dir: Path, tmp_path: Path):
    files = build_cache(load_split(synth_dir)[:3], tmp_path, CityNormalizer())
    ds = CropDataset(files, window=200)  # larger than the tile: padded
    window, index = ds[(1, 123)]
    assert window.shape == (5, 200, 200) and window.dtype == torch.uint8 and index == 1


def _windows_with_exact_targets(n: int, p: int) -> torch.Tensor:
    """Image channel 0 = 255 exactly on the mask, so any geometric mismatch shows."""
    gen = torch.Generator().manual_seed(0)
    mask = (torch.rand(n, 1, p // 8, p // 8, generator=gen) > 0.5).float()
    mask = torch.nn.functional.interpolate(mask, size=(p, p), mode="nearest")
    image = torch.cat([mask * 255, torch.full_like(mask, 128), torch.zeros_like(mask)], 1)
    return torch.cat([image, mask, mask * 200], 1).to(torch.uint8)


def test_augmentation_moves_image_and_targets_together():
    windows = _windows_with_exact_targets(16, 64)
    settings = AugmentSettings(
        crop_size=48, upscale=1.5, crop_scale=(0.8, 1.2), brightness=0, contrast=0
    )
    zeros, ones = torch.zeros(3), torch.ones(3)
    image, mask, energy = augment_batch(
        windows, settings, zeros, ones, generator=torch.Generator().manual_seed(1)
    )
    assert image.shape == (16, 3, 48, 48) and mask.shape == energy.shape == (16, 1, 48, 48)
    agree = ((image[:, :1] > 0.5) == (mask > 0.5)).float().mean()
    assert agree > 0.97  # only interpolated edge pixels may differ
    assert torch.all(energy[mask == 0] == 0)
    assert torch.allclose(energy[mask == 1].median(), torch.tensor(200 / 255), atol=0.01)


def test_augmentation_varies_and_is_reproducible():
    windows = _windows_with_exact_targets(8, 64)
    settings = AugmentSettings(crop_size=32, upscale=1.0)
    mean, std = torch.zeros(3), torch.ones(3)
    run = [
        augment_batch(windows, settings, mean, std, generator=torch.Generator().manual_seed(s))
        for s in (1, 1, 2)
    ]
    assert torch.equal(run[0][1], run[1][1])
    assert not torch.equal(run[0][1], run[2][1])


def test_window_size_covers_the_smallest_scale():
    assert window_size(256, 2.0, (0.75, 1.25)) * 2.0 * 0.75 >= 256


def test_hard_sampler_prefers_hard_tiles():
    sampler = HardExampleSampler(
        4, 4000, mode="hard", temperature=1.0, mix=0.2, smoothing=1.0, seed=0
    )
    assert torch.allclose(sampler.probabilities(), torch.full((4,), 0.25, dtype=torch.float64))
    sampler.update(torch.tensor([0, 1, 2, 3]), torch.tensor([0.1, 0.1, 0.1, 1.0]))
    counts = torch.bincount(torch.tensor([i for i, _ in sampler]), minlength=4)
    assert counts[3] > 2 * counts[:3].max()
    p = sampler.probabilities()
    assert p.sum().item() == pytest.approx(1.0) and p.min() >= 0.2 / 4
    flat = HardExampleSampler(4, 10, temperature=100.0, mix=0.0, smoothing=1.0)
    flat.update(torch.arange(4), torch.tensor([0.1, 0.1, 0.1, 1.0]))
    assert flat.probabilities().max() < 0.3  # high temperature: nearly uniform


def test_uniform_sampler_ignores_losses_and_replays_epochs():
    sampler = HardExampleSampler(5, 50, mode="uniform", seed=3)
    sampler.update(torch.tensor([0]), torch.tensor([100.0]))
    assert torch.allclose(sampler.probabilities(), torch.full((5,), 0.2, dtype=torch.float64))
    sampler.set_epoch(2)
    first = list(sampler)
    clone = HardExampleSampler(5, 50, mode="uniform", seed=3)
    clone.load_state_dict(sampler.state_dict())
    assert list(clone) == first and len(first) == len(sampler) == 50
    with pytest.raises(ValueError, match="sampling mode"):
        HardExampleSampler(5, 5, mode="focal")
