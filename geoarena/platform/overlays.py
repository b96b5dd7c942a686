"""Predicted and true footprints drawn on the tile they were predicted from.

A trial's worst validation tiles are what a researcher looks at first: outlines alone
show *that* a building was missed, the imagery under them shows *why* (a shadow, a tree,
a roof the colour of the street). Colours are the evaluator's (matched green, missed
truth red, false proposal orange); truth is drawn thick, proposals thin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from geoarena.evaluator import Matches
from geoarena.evaluator.overlays import COLOURS
from geoarena.models.data.raster import read_raw_tile


def display_image(pixels: NDArray[np.integer]) -> NDArray[np.uint8]:
    """(H, W, 3) of any bit depth stretched per band between its 2nd and 98th percentile,
    so 11-bit satellite tiles are not black and 8-bit ones keep their look."""
    out = np.empty(pixels.shape, np.uint8)
    for band in range(pixels.shape[2]):
        channel = pixels[..., band].astype(np.float32)
        lo, hi = np.percentile(channel, (2, 98))
        scaled = (channel - lo) / max(float(hi - lo), 1e-6)
        out[..., band] = np.clip(scaled * 255, 0, 255).astype(np.uint8)
    return out


def draw_overlays(
    matches: Matches,
    tiles: Mapping[str, Path],
    image_ids: Sequence[str],
    out_dir: Path,
    *,
    bands: Sequence[int] | None = None,
) -> list[Path]:
    """One PNG per ImageId in ``image_ids``: the tile's imagery (read from ``tiles``, the
    bands the network saw) under its truth and proposal outlines coloured TP / FN / FP."""
    out_dir.mkdir(parents=True, exist_ok=True)
    truth_ids = matches.truth.image_id[matches.truth_rows]
    proposal_ids = matches.proposals.image_id[matches.proposal_rows]
    written = []
    for image_id in image_ids:
        canvas = Image.fromarray(display_image(read_raw_tile(tiles[image_id], bands=bands)))
        draw = ImageDraw.Draw(canvas)
        rows = np.flatnonzero(truth_ids == image_id)
        for geometry, match in zip(
            matches.truth_geometry[rows], matches.truth_proposal[rows], strict=True
        ):
            _outline(draw, geometry, COLOURS["TP" if match >= 0 else "FN"], 3)
        rows = np.flatnonzero(proposal_ids == image_id)
        for geometry, match in zip(
            matches.proposal_geometry[rows], matches.proposal_truth[rows], strict=True
        ):
            _outline(draw, geometry, COLOURS["TP" if match >= 0 else "FP"], 1)
        path = out_dir / f"{image_id}.png"
        canvas.save(path)
        written.append(path)
    return written


def _outline(
    draw: ImageDraw.ImageDraw, geometry: shapely.Geometry, colour: tuple[int, ...], width: int
) -> None:
    for ring in shapely.get_rings(shapely.get_parts(geometry)):
        if not shapely.is_empty(ring):
            draw.line([tuple(xy) for xy in shapely.get_coordinates(ring)], fill=colour, width=width)


__all__ = ["display_image", "draw_overlays"]
