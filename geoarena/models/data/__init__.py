"""Training data: rasters, labels, SpaceNet layouts, synthetic cities, targets, cache,
augmentation, sampling."""

from geoarena.models.data.augment import AugmentSettings, augment_batch
from geoarena.models.data.dataset import CropDataset, build_cache
from geoarena.models.data.labels import read_geojson_labels, read_truth_rows
from geoarena.models.data.normalize import CityNormalizer
from geoarena.models.data.raster import DataError, GeoRef, read_georef, read_raw_tile
from geoarena.models.data.sampler import HardExampleSampler
from geoarena.models.data.spacenet import Tile, find_tiles, load_split, split_by_city
from geoarena.models.data.synth import CITIES, write_synthetic
from geoarena.models.data.targets import make_targets, polygons_from_wkt

__all__ = [
    "CITIES",
    "AugmentSettings",
    "CityNormalizer",
    "CropDataset",
    "DataError",
    "GeoRef",
    "HardExampleSampler",
    "Tile",
    "augment_batch",
    "build_cache",
    "find_tiles",
    "load_split",
    "make_targets",
    "polygons_from_wkt",
    "read_geojson_labels",
    "read_georef",
    "read_raw_tile",
    "read_truth_rows",
    "split_by_city",
    "write_synthetic",
]
