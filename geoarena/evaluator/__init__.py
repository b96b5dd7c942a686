"""The standalone scorer: polygon F1 at an IoU threshold with greedy one-to-one matching.

Imports numpy, shapely and pyarrow only (never pydantic, torch, mlflow or optuna), so a team
can ``pip install geoarena`` and score; georeferenced inputs (``vectors``) import pyogrio and
rasterio when first read (``pip install 'geoarena[geo]'``). See ``../shared/metric-spec.md``
for the semantics.
"""

from geoarena.errors import Problem

from .breakdown import Breakdown, BreakdownSettings, ErrorClass, ErrorCounts
from .compare import Comparison, Difference, compare
from .errors import InputError
from .index import BaseSpatialIndex, RtreeIndex, STRtreeIndex, get_index
from .io import DEFAULT_MAX_BYTES, read_proposals, read_truth
from .metrics import Counts, ImageScore, Metric, ScoreResult
from .parallel import score_files
from .prepared import Matches, PreparedTruth, score
from .rules import PRESETS, AreaFilter, Rules, city_of, get_rules
from .table import DEFAULT_MAX_VERTICES, PolygonTable
from .vectors import (
    GeoInputs,
    VectorOptions,
    in_pixels,
    pixel_area,
    read_georeferenced,
    read_vectors,
)
from .version import EVALUATOR_VERSION

__version__ = EVALUATOR_VERSION

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_VERTICES",
    "PRESETS",
    "AreaFilter",
    "BaseSpatialIndex",
    "Breakdown",
    "BreakdownSettings",
    "Comparison",
    "Counts",
    "Difference",
    "ErrorClass",
    "ErrorCounts",
    "GeoInputs",
    "ImageScore",
    "InputError",
    "Matches",
    "Metric",
    "PolygonTable",
    "PreparedTruth",
    "Problem",
    "RtreeIndex",
    "Rules",
    "STRtreeIndex",
    "ScoreResult",
    "VectorOptions",
    "__version__",
    "city_of",
    "compare",
    "get_index",
    "get_rules",
    "in_pixels",
    "pixel_area",
    "read_georeferenced",
    "read_proposals",
    "read_truth",
    "read_vectors",
    "score",
    "score_files",
]
