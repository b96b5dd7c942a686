"""Synthetic cities: valid truth for every seed, all-or-nothing writes, realistic products."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoarena.cli import cli
from geoarena.errors import Conflict
from geoarena.models.data import synth
from geoarena.models.data.labels import read_truth_rows
from geoarena.models.data.raster import raster_info, read_raw_tile
from geoarena.models.data.spacenet import load_split
from geoarena.models.data.synth import CITIES, render_tile, write_synthetic
from geoarena.models.data.synth.layout import MIN_AREA_PX


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    city=st.sampled_from(sorted(CITIES)),
    size=st.integers(48, 200),
    gsd=st.floats(0.3, 1.2),
)
def test_truth_polygons_are_valid_for_every_seed(seed: int, city: str, size: int, gsd: float):
    """The old generator crashed in GEOS at tile 31 of seed 0 (a rotated L-shape that
    self-intersected) and let invalid polygons into the truth on other seeds."""
    _, buildings = render_tile(np.random.default_rng(seed), CITIES[city], size, gsd)
    polys = [b.polygon for b in buildings]
    # as written to the truth CSV (2 decimals) and read back
    written = shapely.from_wkt(shapely.to_wkt(polys, rounding_precision=2))
    for poly in written:
        assert poly.geom_type == "Polygon" and poly.is_valid, shapely.is_valid_reason(poly)
        assert poly.area >= MIN_AREA_PX
        minx, miny, maxx, maxy = poly.bounds
        assert minx >= 0 and miny >= 0 and maxx <= size and maxy <= size
    tree = shapely.STRtree(written)
    for i, j in zip(*tree.query(written, predicate="intersects"), strict=True):
        if i < j:  # buildings may share walls, never overlap
            assert written[i].intersection(written[j]).area < 0.5


@pytest.mark.slow
def test_the_documented_command_passes_the_old_crash(tmp_path: Path):
    """``data synth --tiles 200 --size 650 --seed 0`` crashed at tile 31: its first 32 tiles."""
    truth = write_synthetic(tmp_path / "s", tiles=32, size=650, seed=0)
    rows = read_truth_rows([truth])
    polys = shapely.from_wkt([w for r in rows.values() for _, w in r])
    assert len(rows) == 32 and shapely.is_valid(polys).all()
    per_tile = np.mean([len(r) for r in rows.values()])
    assert 15 < per_tile < 60  # SpaceNet 2: 20-40 buildings a tile (the old set: 60-440)


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    calls = {"n": 0}
    real = synth.writer.render_tile

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(synth.writer, "render_tile", failing)
    with pytest.raises(RuntimeError, match="boom"):
        write_synthetic(tmp_path / "out", tiles=5, size=48, gsd=1.0)
    assert list(tmp_path.iterdir()) == []  # no partial folder that would pass `data info`


def test_existing_folders_are_never_mixed(tmp_path: Path):
    out = tmp_path / "set"
    write_synthetic(out, tiles=4, size=48, gsd=1.0, seed=1)
    stale = out / "images" / "AOI_1_Gridvale_img99.tif"
    stale.write_bytes((out / "images" / "AOI_1_Gridvale_img0.tif").read_bytes())
    with pytest.raises(Conflict, match="already exists and is not empty"):
        write_synthetic(out, tiles=2, size=48, gsd=1.0)
    write_synthetic(out, tiles=2, size=48, gsd=1.0, overwrite=True)
    assert not stale.exists() and len(list((out / "images").iterdir())) == 2
    result = CliRunner().invoke(cli, ["data", "synth", "--out", str(out), "--tiles", "1"])
    assert result.exit_code == 1 and "already exists" in result.output


def test_products_bands_and_georeference(tmp_path: Path):
    """8-band 16-bit tiles in the SpaceNet layout: PAN and MUL next to RGB-PanSharpen load
    (the old reader failed with "ImageId also used by"), and the per-tile GeoJSON labels
    in map coordinates convert back to the pixel truth of the summary CSV."""
    root = tmp_path / "sn"
    write_synthetic(root, tiles=4, size=96, seed=2, bits=16, bands=8, gsd=0.6, layout="spacenet")
    mul = next(root.rglob("MUL-PanSharpen_*.tif"))
    info = raster_info(mul)
    assert (info.count, info.dtype) == (8, "uint16") and info.georef.crs is not None
    raw = read_raw_tile(mul)  # red, green, blue of the 8 bands
    assert raw.shape == (96, 96, 3) and 40 < np.median(raw) < 1200  # 11-bit numbers
    by_csv = {t.image_id: t for t in load_split(root)}
    by_json = {t.image_id: t for t in load_split(root, labels="geojson")}
    assert set(by_csv) == set(by_json) and len(by_csv) == 4
    assert all("RGB-PanSharpen" in t.path.name for t in by_csv.values())
    for image_id, tile in by_csv.items():
        a, b = shapely.from_wkt(list(tile.wkts)), shapely.from_wkt(list(by_json[image_id].wkts))
        assert len(a) == len(b)
        for pa, pb in zip(a, b, strict=True):
            assert shapely.hausdorff_distance(pa, pb) < 0.02
    mul_tiles = load_split(root, product="MUL-PanSharpen")
    assert all("MUL-PanSharpen" in t.path.name for t in mul_tiles)
