"""Predict building polygons for a folder of tiles and write the SpaceNet proposals CSV."""

from __future__ import annotations

from pathlib import Path

import torch

from geoarena.evaluator import city_of
from geoarena.models.data.spacenet import CityNormalizer, find_tiles, read_raw_tile
from geoarena.models.inference import TilePredictor, autocast_dtype, resolve_device
from geoarena.models.maps import MapCache, save_maps
from geoarena.models.nets import load_model
from geoarena.models.postprocess import instances_to_rows, maps_to_polygons, write_proposals_csv


def predict(
    checkpoint: str | Path,
    images_dir: str | Path,
    out_csv: str | Path,
    *,
    tta: bool = False,
    t_energy: float | None = None,
    t_mask: float | None = None,
    min_area: float | None = None,
    cache_maps: str | Path | None = None,
    device: str = "auto",
    amp: str = "auto",
    progress: bool = False,
) -> Path:
    """Run the checkpoint on every tile below ``images_dir``; write ``out_csv``.

    Thresholds left ``None`` use the values stored in the checkpoint (those it was
    validated with). 16-bit tiles are normalised per city with the training ranges, or
    with percentiles fitted on the tiles being predicted for cities training never saw.
    ``cache_maps``: also save the raw probability and energy maps (``.npz``) so thresholds
    can be re-tuned without the network.
    Returns ``out_csv``.
    """
    from rich.progress import track

    model, meta = load_model(checkpoint)
    post = meta["postprocess"]
    thresholds = {
        "t_energy": post["t_energy"] if t_energy is None else t_energy,
        "t_mask": post["t_mask"] if t_mask is None else t_mask,
        "min_area": post["min_area"] if min_area is None else min_area,
    }
    dev = resolve_device(device)
    model.to(dev)
    tiles = find_tiles(Path(images_dir))
    if not tiles:
        raise FileNotFoundError(f"{images_dir}: no *.tif tiles found")
    # cities seen in training keep their training stretch; new 16-bit cities are fitted here
    normalizer = CityNormalizer.from_dict(meta["normalizer"])
    normalizer.fit({i: p for i, p in tiles.items() if city_of(i) not in normalizer.ranges})
    predictor = TilePredictor(
        model,
        torch.tensor(meta["mean"], device=dev),
        torch.tensor(meta["std"], device=dev),
        float(meta["upscale"]),
        dev,
        autocast_dtype(amp, dev),
        tta,
    )
    maps = MapCache() if cache_maps is not None else None
    rows = []
    for image_id, path in track(tiles.items(), description="predicting", disable=not progress):
        image = normalizer(read_raw_tile(path), city_of(image_id))
        prob, energy = predictor(image)
        if maps is not None:
            maps.add(image_id, prob, energy)
        rows.extend(instances_to_rows(image_id, maps_to_polygons(prob, energy, **thresholds)))
    if maps is not None:
        save_maps(cache_maps, maps)
    return write_proposals_csv(rows, out_csv)
