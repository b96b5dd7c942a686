"""A score's per-image counts, as the database keeps them: what the honest ranks'
paired bootstrap resamples (``geoarena.evaluator.compare``).

Two parts: the ImageIds, one per line, stored as a content-addressed blob (every score of
a split usually lists the same images, so it is stored once), and the counts as a
compact int32 array (images x TP/FP/FN, zlib-compressed) in the score's row: 12 bytes an
image before compression, decoded with one ``numpy.frombuffer``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from geoarena.evaluator import Counts, ImageScore, ScoreResult, city_of
from geoarena.evaluator.rules import CityRule


@dataclass(frozen=True, eq=False)
class ImageCounts:
    """TP/FP/FN of each scored image, in the score's own image order."""

    image_ids: tuple[str, ...]
    #: shape (images, 3): tp, fp, fn
    counts: np.ndarray
    #: cities the score's mean per-city F1 counts though it lists no image of them
    #: (``city_mean="seen"``): they count at F1 0 on both sides of a comparison
    unlisted_cities: tuple[str, ...] = ()

    @classmethod
    def from_result(cls, result: ScoreResult) -> ImageCounts:
        counts = np.array(
            [(s.counts.tp, s.counts.fp, s.counts.fn) for s in result.images], dtype=np.int32
        ).reshape(len(result.images), 3)
        listed = {s.city for s in result.images}
        unlisted = tuple(sorted(set(result.cities) - listed))
        return cls(tuple(s.image_id for s in result.images), counts, unlisted)

    def ids_bytes(self) -> bytes:
        return "\n".join(self.image_ids).encode()

    def counts_bytes(self) -> bytes:
        return zlib.compress(self.counts.astype("<i4").tobytes(), 6)

    def unlisted_text(self) -> str | None:
        """``unlisted_cities`` as the database column keeps them (None for none)."""
        return "\n".join(self.unlisted_cities) or None

    @classmethod
    def decode(cls, ids: bytes, counts: bytes, unlisted: str | None = None) -> ImageCounts:
        image_ids = tuple(ids.decode().split("\n")) if ids else ()
        array = np.frombuffer(zlib.decompress(counts), dtype="<i4").reshape(len(image_ids), 3)
        return cls(image_ids, array, tuple(unlisted.split("\n")) if unlisted else ())

    def image_scores(self, city_rule: CityRule) -> list[ImageScore]:
        """The evaluator's per-image scores (its ``ScoreResult.images``), cities by the
        challenge's rules."""
        return [
            ImageScore(image_id, city_of(image_id, city_rule), Counts(int(t), int(p), int(n)))
            for image_id, (t, p, n) in zip(self.image_ids, self.counts.tolist(), strict=True)
        ]
