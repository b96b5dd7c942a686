"""Predict building polygons for a folder of tiles and write the SpaceNet proposals CSV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import track

from geoarena.evaluator import city_of
from geoarena.models.data.spacenet import CityNormalizer, DataError, find_tiles, read_raw_tile
from geoarena.models.inference import TilePredictor, autocast_dtype, resolve_device
from geoarena.models.maps import MapCache, save_maps
from geoarena.models.nets import load_model
from geoarena.models.postprocess import (
    Row,
    Thresholds,
    instances_to_rows,
    maps_to_polygons,
    write_proposals_csv,
)


@dataclass(frozen=True)
class Detector:
    """A trained checkpoint ready to predict: network, normalisation and the thresholds it
    was validated with (the defaults of every prediction)."""

    predictor: TilePredictor
    normalizer: CityNormalizer
    thresholds: Thresholds

    @classmethod
    def load(
        cls, checkpoint: str | Path, *, tta: bool = False, device: str = "auto", amp: str = "auto"
    ) -> Detector:
        model, meta = load_model(checkpoint)
        dev = resolve_device(device)
        model.to(dev)
        predictor = TilePredictor(
            model,
            torch.tensor(meta["mean"], device=dev),
            torch.tensor(meta["std"], device=dev),
            float(meta["upscale"]),
            dev,
            autocast_dtype(amp, dev),
            tta,
        )
        normalizer = CityNormalizer.from_dict(meta["normalizer"])
        return cls(predictor, normalizer, Thresholds.model_validate(meta["postprocess"]))

    def predict(
        self,
        images_dir: str | Path,
        out_csv: str | Path,
        *,
        thresholds: Thresholds | None = None,
        cache_maps: str | Path | None = None,
        progress: bool = False,
    ) -> Path:
        """Run on every tile below ``images_dir``; write ``out_csv`` and return it.

        16-bit tiles are normalised per city with the training ranges, or with percentiles
        fitted on the tiles being predicted for cities training never saw. ``cache_maps``:
        also save the raw probability and energy maps (``.npz``) so thresholds can be
        re-tuned without the network.
        """
        thresholds = thresholds or self.thresholds
        tiles = find_tiles(Path(images_dir))
        if not tiles:
            raise DataError.of(images_dir, "no *.tif tiles found")
        # cities seen in training keep their training stretch; new 16-bit cities are fitted
        self.normalizer.fit(
            {i: p for i, p in tiles.items() if city_of(i) not in self.normalizer.ranges}
        )
        maps = MapCache()
        rows: list[Row] = []
        for image_id, path in track(tiles.items(), description="predicting", disable=not progress):
            image = self.normalizer(read_raw_tile(path), city_of(image_id))
            prob, energy = self.predictor(image)
            if cache_maps is not None:
                maps.add(image_id, prob, energy)
            rows.extend(instances_to_rows(image_id, maps_to_polygons(prob, energy, thresholds)))
        if cache_maps is not None:
            save_maps(cache_maps, maps)
        return write_proposals_csv(rows, out_csv)


def predict(
    checkpoint: str | Path,
    images_dir: str | Path,
    out_csv: str | Path,
    *,
    thresholds: Thresholds | None = None,
    tta: bool = False,
    cache_maps: str | Path | None = None,
    device: str = "auto",
    amp: str = "auto",
    progress: bool = False,
) -> Path:
    """Predict ``images_dir`` with ``checkpoint`` into ``out_csv`` (see ``Detector``).

    ``thresholds`` default to those stored in the checkpoint (those it was validated with).
    """
    detector = Detector.load(checkpoint, tta=tta, device=device, amp=amp)
    return detector.predict(
        images_dir, out_csv, thresholds=thresholds, cache_maps=cache_maps, progress=progress
    )


__all__ = ["Detector", "predict"]
