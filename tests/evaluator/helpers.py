"""Paths and small helpers shared by the evaluator tests."""

from __future__ import annotations

from pathlib import Path

import geoarena.evaluator

#: the reference samples bundled with the package (copies of shared/data).
SAMPLES = Path(geoarena.evaluator.__file__).resolve().parent / "samples"

PRESET_NAMES = ("deepglobe", "spacenet-utilities", "solaris", "topcoder")


def per_image(result) -> dict[str, tuple[int, int, int]]:
    """``{image_id: (tp, fp, fn)}`` of a ScoreResult."""
    return {s.image_id: (s.counts.tp, s.counts.fp, s.counts.fn) for s in result.images}
