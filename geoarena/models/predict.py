"""Predict building polygons for rasters of any size; SpaceNet CSV, GeoJSON / GeoPackage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.progress import track

from geoarena.evaluator import city_of
from geoarena.models.data.normalize import CityNormalizer
from geoarena.models.data.raster import DataError
from geoarena.models.data.spacenet import find_tiles, image_id_of
from geoarena.models.device import autocast_dtype, resolve_device, use_channels_last
from geoarena.models.geo_output import TilePrediction, write_geo_csv, write_vector
from geoarena.models.inference import TilePredictor
from geoarena.models.maps import MapWriter
from geoarena.models.nets import load_model
from geoarena.models.postprocess import Thresholds
from geoarena.models.scene import RasterScene, SceneSettings, predict_scene


@dataclass(frozen=True)
class Detector:
    """A trained checkpoint ready to predict: network, input settings and the thresholds
    it was validated with (the defaults of every prediction)."""

    predictor: TilePredictor
    normalizer: CityNormalizer
    thresholds: Thresholds
    #: the three bands the network was trained on (None: the raster's default RGB)
    bands: tuple[int, int, int] | None = None
    #: the image product trained on (folders holding several products)
    product: str | None = None
    scene: SceneSettings = field(default_factory=SceneSettings)
    #: thresholds of single cities, replacing ``thresholds`` on their tiles
    city_thresholds: Mapping[str, Thresholds] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        checkpoint: str | Path,
        *,
        tta: bool = False,
        device: str = "auto",
        amp: str = "auto",
        batch_size: int | None = None,
    ) -> Detector:
        model, meta = load_model(checkpoint)
        dev = resolve_device(device)
        config = meta.get("config", {})
        channels_last = use_channels_last(config.get("channels_last", "auto"), dev)
        model.to(dev)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        predictor = TilePredictor(
            model,
            torch.tensor(meta["mean"], device=dev),
            torch.tensor(meta["std"], device=dev),
            float(meta["upscale"]),
            dev,
            autocast_dtype(amp, dev),
            tta,
            mode=config.get("inference", "window"),
            window=int(config.get("crop_size", 256)),
            overlap=float(config.get("window_overlap", 0.25)),
            batch_size=batch_size
            or int(config.get("val_batch_size") or config.get("batch_size", 8)),
            channels_last=channels_last,
        )
        normalizer = CityNormalizer.from_dict(meta["normalizer"])
        bands = config.get("bands")
        cities = config.get("city_thresholds") or {}
        return cls(
            predictor,
            normalizer,
            Thresholds.model_validate(meta["postprocess"]),
            (int(bands[0]), int(bands[1]), int(bands[2])) if bands else None,
            config.get("image_product"),
            city_thresholds={c: Thresholds.model_validate(t) for c, t in cities.items()},
        )

    def predict(
        self,
        images_dir: str | Path,
        out_csv: str | Path,
        *,
        thresholds: Thresholds | None = None,
        city_thresholds: Mapping[str, Thresholds] | None = None,
        cache_maps: str | Path | None = None,
        vector_out: str | Path | None = None,
        progress: bool = False,
    ) -> Path:
        """Run on every raster below ``images_dir`` (or one raster file); write ``out_csv``.

        Rasters of any size are predicted block by block (``scene.py``). 16-bit rasters
        are normalised per city with the training ranges, or with percentiles fitted on the
        rasters being predicted for cities training never saw. ``cache_maps``: also save
        the probability and energy maps of tiles that fit in one block (``.npz``), so
        thresholds can be re-tuned without the network. ``vector_out``: also write the
        footprints as GeoJSON / GeoPackage in the imagery's CRS. ``thresholds`` given
        replace the checkpoint's for every city (with ``city_thresholds``: for the others).
        """
        if thresholds is None:
            thresholds = self.thresholds
            by_city = self.city_thresholds if city_thresholds is None else city_thresholds
        else:
            by_city = city_thresholds or {}
        images = Path(images_dir)
        tiles = (
            {image_id_of(images): images} if images.is_file() else find_tiles(images, self.product)
        )
        if not tiles:
            raise DataError.of(images_dir, "no *.tif tiles found")
        new = {i: p for i, p in tiles.items() if city_of(i) not in self.normalizer.ranges}
        self.normalizer.fit(new, bands=self.bands)
        writer = MapWriter(cache_maps) if cache_maps is not None else None
        found: list[TilePrediction] = []
        for image_id, path in track(tiles.items(), description="predicting", disable=not progress):
            with RasterScene(path, self.normalizer, city_of(image_id), self.bands) as scene:
                on_maps = None if writer is None else (lambda m, i=image_id: writer.add(i, *m))
                instances = predict_scene(
                    self.predictor,
                    scene.read,
                    scene.height,
                    scene.width,
                    by_city.get(city_of(image_id), thresholds),
                    self.scene,
                    on_maps=on_maps,
                )
                found.append(TilePrediction(image_id, instances, scene.georef))
        if writer is not None:
            writer.close()
        if vector_out is not None:
            write_vector(found, vector_out)
        return write_geo_csv(found, out_csv)


def predict(
    checkpoint: str | Path,
    images_dir: str | Path,
    out_csv: str | Path,
    *,
    thresholds: Thresholds | None = None,
    city_thresholds: Mapping[str, Thresholds] | None = None,
    tta: bool = False,
    cache_maps: str | Path | None = None,
    vector_out: str | Path | None = None,
    device: str = "auto",
    amp: str = "auto",
    progress: bool = False,
) -> Path:
    """Predict ``images_dir`` with ``checkpoint`` into ``out_csv`` (see ``Detector``).

    ``thresholds`` (and ``city_thresholds``) default to those stored in the checkpoint.
    """
    detector = Detector.load(checkpoint, tta=tta, device=device, amp=amp)
    return detector.predict(
        images_dir,
        out_csv,
        thresholds=thresholds,
        city_thresholds=city_thresholds,
        cache_maps=cache_maps,
        vector_out=vector_out,
        progress=progress,
    )


__all__ = ["Detector", "predict"]
