"""Training data: SpaceNet reader, synthetic cities, targets, cache, augmentation, sampling."""

from geoarena.models.data.augment import AugmentSettings, augment_batch
from geoarena.models.data.dataset import CropDataset, build_cache
from geoarena.models.data.sampler import HardExampleSampler
from geoarena.models.data.spacenet import (
    CityNormalizer,
    DataError,
    Tile,
    find_tiles,
    load_split,
    read_raw_tile,
    split_by_city,
)
from geoarena.models.data.synth import CITIES, write_synthetic
from geoarena.models.data.targets import make_targets, polygons_from_wkt

__all__ = [
    "CITIES",
    "AugmentSettings",
    "CityNormalizer",
    "CropDataset",
    "DataError",
    "HardExampleSampler",
    "Tile",
    "augment_batch",
    "build_cache",
    "find_tiles",
    "load_split",
    "make_targets",
    "polygons_from_wkt",
    "read_raw_tile",
    "split_by_city",
    "write_synthetic",
]
