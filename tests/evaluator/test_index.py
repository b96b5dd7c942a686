"""Every spatial-index backend returns exactly the STRtree's pairs, on any boxes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoarena.evaluator import score
from geoarena.evaluator.index import INDEXES, GridIndex, STRtreeIndex, get_index
from geoarena.evaluator.synthetic import make_pair

from .helpers import PRESET_NAMES


def pairs(index_class, indexed: np.ndarray, queries: np.ndarray) -> list[tuple[int, int]]:
    found = index_class(indexed).query(queries)
    assert found.shape[0] == 2 and found.dtype == np.int64
    listed = sorted(map(tuple, found.T.tolist()))
    assert len(set(listed)) == len(listed), "a pair was reported twice"
    return listed


#: coordinates on a coarse grid (touching edges and equal boxes are common), plus a few
#: far, huge and float-limit values that must leave the grid for its STRtree fallback
value = st.one_of(
    st.integers(0, 40).map(float),
    st.floats(-50, 90, allow_nan=False),
    st.sampled_from([1e6, -1e9, 1e15, 1.7e308, -1.7e308]),
)


@st.composite
def boxes(draw, max_size: int = 30) -> np.ndarray:
    n = draw(st.integers(0, max_size))
    rows = []
    for _ in range(n):
        x0, x1 = sorted((draw(value), draw(value)))
        y0, y1 = sorted((draw(value), draw(value)))
        rows.append((x0, y0, x1, y1))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


@settings(max_examples=300, deadline=None)
@given(indexed=boxes(), queries=boxes())
def test_grid_pairs_equal_strtree_pairs(indexed: np.ndarray, queries: np.ndarray) -> None:
    assert pairs(GridIndex, indexed, queries) == pairs(STRtreeIndex, indexed, queries)


def test_grid_on_many_building_sized_boxes() -> None:
    """A realistic load: 20 tiles of dense buildings (every cell holds several boxes),
    queried by jittered copies and by a few boxes spanning many cells."""
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 20 * 651, 4000), rng.uniform(0, 650, 4000)
    w, h = rng.uniform(8, 60, 4000), rng.uniform(8, 60, 4000)
    indexed = np.stack([x, y, x + w, y + h], axis=1)
    jitter = indexed + rng.normal(0, 4, indexed.shape)
    queries = np.vstack(
        [np.sort(jitter.reshape(-1, 2, 2), axis=1).reshape(-1, 4), [[0, 0, 3000, 650]]]
    )
    found = pairs(GridIndex, indexed, queries)
    assert len(found) > 4000
    assert found == pairs(STRtreeIndex, indexed, queries)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_every_backend_scores_alike(preset: str) -> None:
    truth, props = make_pair(6, 30, seed=11)
    expected = score(truth, props, preset, index="strtree").to_dict()
    for kind in INDEXES:
        got = score(truth, props, preset, index=kind).to_dict()
        for result in (got, expected):  # candidate-pair order is the backend's choice
            result["diagnostics"]["geos_failure_examples"].sort(
                key=lambda e: (e["proposal_line"], e["truth_line"])
            )
        assert got == expected, kind


def test_the_grid_is_the_default() -> None:
    assert get_index(None) is GridIndex
