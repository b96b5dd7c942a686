"""The standalone scorer: polygon F1 at an IoU threshold with greedy one-to-one matching.

Imports numpy, shapely and pyarrow only (never torch, mlflow or optuna), so a team can
``pip install geoarena`` and score. See ``../shared/metric-spec.md`` for the semantics.
"""

from .errors import InputError, RowError
from .index import BaseSpatialIndex, RtreeIndex, STRtreeIndex, get_index
from .io import DEFAULT_MAX_VERTICES, read_proposals, read_truth
from .metrics import Counts, ImageScore, ScoreResult
from .prepared import Matches, PreparedTruth, score
from .rules import PRESETS, AreaFilter, Rules, get_rules
from .table import PolygonTable

#: bumped whenever a change can alter a score; leaderboards store it with every score.
__version__ = "1.0.0"

__all__ = [
    "DEFAULT_MAX_VERTICES",
    "PRESETS",
    "AreaFilter",
    "BaseSpatialIndex",
    "Counts",
    "ImageScore",
    "InputError",
    "Matches",
    "PolygonTable",
    "PreparedTruth",
    "RowError",
    "RtreeIndex",
    "Rules",
    "STRtreeIndex",
    "ScoreResult",
    "__version__",
    "get_index",
    "get_rules",
    "read_proposals",
    "read_truth",
    "score",
]
