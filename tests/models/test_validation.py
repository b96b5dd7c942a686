"""Validation reports where F1 is lost: the evaluator's breakdown of the epoch's score."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from rich.console import Console

from geoarena.evaluator.breakdown import ErrorClass
from geoarena.models.data.spacenet import Tile
from geoarena.models.maps import MapWriter
from geoarena.models.postprocess import Thresholds
from geoarena.models.validation import validate

#: two houses 4 px apart
HOUSES = (
    "POLYGON ((10 10, 30 10, 30 40, 10 40, 10 10))",
    "POLYGON ((34 10, 54 10, 54 40, 34 40, 34 10))",
)


class _OneBlobPredictor:
    """A mask and an energy map that join both houses into one building: the merge the
    energy head is meant to prevent."""

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prob = np.zeros(image.shape[:2], np.float32)
        prob[10:40, 10:54] = 0.95
        return prob, prob * 0.9


def test_validation_reports_merged_buildings(tmp_path: Path) -> None:
    files, tiles = [], []
    for i in range(2):
        path = tmp_path / f"t{i}.npy"
        np.save(path, np.zeros((96, 96, 5), np.uint8))
        files.append(path)
        tiles.append(Tile(f"AOI_1_X_img{i}", path, HOUSES))
    writer = MapWriter(tmp_path / "val_maps.npz", {t.image_id: list(t.wkts) for t in tiles})
    out = io.StringIO()
    console = Console(file=out, width=200)
    predictor = _OneBlobPredictor()
    result = validate(predictor, tiles, files, Thresholds(), writer=writer, console=console)  # type: ignore[arg-type]
    writer.close()
    assert result.micro.tp == 0 and result.micro.fp == 2 and result.micro.fn == 4
    assert result.breakdown is not None
    overall = result.breakdown.overall
    assert overall.fp[ErrorClass.MERGED] == 2 and overall.fn[ErrorClass.MERGED] == 4
    assert overall.sizes["small"].truths == 4 and overall.sizes["small"].tp == 0
    assert "validation errors: FP duplicate 0, merged 2" in out.getvalue()
