"""Paths and small helpers shared by the evaluator tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import shapely

import geoarena.evaluator

#: the reference samples bundled with the package (copies of shared/data).
SAMPLES = Path(geoarena.evaluator.__file__).resolve().parent / "samples"

PRESET_NAMES = ("deepglobe", "spacenet-utilities", "solaris", "topcoder")


def per_image(result) -> dict[str, tuple[int, int, int]]:
    """``{image_id: (tp, fp, fn)}`` of a ScoreResult."""
    return {s.image_id: (s.counts.tp, s.counts.fp, s.counts.fn) for s in result.images}


def matches_of(result) -> dict:
    """Every array of a score's details (``details=True``), geometries as WKB: two scores'
    details compare equal exactly when these do."""
    m = result.matches
    fields = {f.name: getattr(m, f.name) for f in dataclasses.fields(m)}
    out = {k: v.tolist() for k, v in fields.items() if isinstance(v, np.ndarray)}
    for key in ("truth_geometry", "proposal_geometry"):
        out[key] = shapely.to_wkb(fields[key]).tolist()
    if m.errors is not None:
        out["errors"] = (m.errors.truth.tolist(), m.errors.proposal.tolist())
    return out
