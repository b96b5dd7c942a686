"""Large-scene inference: overlapping windows, blocks stitched across seams, bounded reads."""

from __future__ import annotations

import numpy as np
import shapely
import torch
from shapely.geometry import box
from torch import nn

from geoarena.models.data.targets import make_targets
from geoarena.models.inference import TilePredictor, array_reader, window_starts
from geoarena.models.nets import NetOutput
from geoarena.models.postprocess import Thresholds
from geoarena.models.scene import SceneSettings, predict_scene


class PerfectNet(nn.Module):
    """Reads its answer from the image: channel 0 = mask x 255, channel 1 = energy x 255
    (normalisation mean 0, std 1), so any seam artefact is the stitching's."""

    def forward(self, x: torch.Tensor) -> NetOutput:
        mask = (x[:, :1] - 0.5) * 60
        energy = torch.logit(x[:, 1:2].clamp(1e-3, 1 - 1e-3))
        return NetOutput(mask, energy)


def scene_with_seam_buildings() -> tuple[np.ndarray, list[shapely.Geometry]]:
    """A 300 px scene; blocks of 128 px have seams at 128 and 256 -- buildings sit on them,
    two of them touching (the watershed must split them on both sides of a seam)."""
    buildings = [
        box(110, 20, 150, 50),  # on the vertical seam x=128
        box(20, 115, 60, 140),  # on the horizontal seam y=128
        box(115, 115, 145, 142),  # on the corner of four blocks
        box(240, 200, 270, 230),  # on x=256
        box(240, 230, 270, 255),  # touching the one above, also on the seam
        box(40, 200, 70, 230),  # inside a block
        box(280, 280, 300, 300),  # at the scene's corner
    ]
    mask, energy = make_targets(buildings, (300, 300))
    image = np.zeros((300, 300, 3), np.uint8)
    image[..., 0] = mask * 255
    image[..., 1] = np.round(energy * 255)
    return image, buildings


def predictor(window: int = 64) -> TilePredictor:
    return TilePredictor(
        PerfectNet(), torch.zeros(3), torch.ones(3), 1.0, torch.device("cpu"), window=window
    )


def test_window_grid_covers_the_raster_and_is_clamped():
    assert window_starts(300, 64, 48) == [0, 48, 96, 144, 192, 236]
    assert window_starts(50, 64, 48) == [0]


def test_buildings_on_seams_come_out_once_and_whole():
    image, truth = scene_with_seam_buildings()
    thresholds = Thresholds(t_energy=0.3, t_mask=0.5, min_area=5)
    reads: list[tuple[int, int, int, int]] = []
    read = array_reader(image)

    def recording(region):
        reads.append(region)
        return read(region)

    settings = SceneSettings(block=128, margin=48)
    found = predict_scene(predictor(), recording, 300, 300, thresholds, settings)
    assert len(found) == len(truth)
    for building in truth:
        ious = [
            building.intersection(f.polygon).area / building.union(f.polygon).area for f in found
        ]
        assert max(ious) > 0.9 and sorted(ious)[-2:][0] < 0.1  # once, whole
    # the same buildings as one pass over the whole scene
    whole = predict_scene(predictor(), read, 300, 300, thresholds, SceneSettings(block=1024))
    assert sorted(round(f.polygon.area) for f in whole) == sorted(
        round(f.polygon.area) for f in found
    )
    # bounded memory: no read larger than a block, its margins and one window
    side = 128 + 2 * 48 + 64
    assert max((r[2] - r[0]) * (r[3] - r[1]) for r in reads) <= side * side


def test_windowed_and_whole_inference_agree_on_a_perfect_net():
    image, _ = scene_with_seam_buildings()
    windowed = predictor()(image)
    whole = TilePredictor(
        PerfectNet(), torch.zeros(3), torch.ones(3), 1.0, torch.device("cpu"), mode="whole"
    )(image)
    for a, b in zip(windowed, whole, strict=True):
        assert a.shape == (300, 300) and np.abs(a - b).max() < 0.02
