"""Is submission A better than submission B, or is the gap noise? A paired bootstrap.

Two submissions scored against the same truth are compared image by image: each replicate
resamples the images (with replacement, within each city, as the score's own intervals do)
and scores *both* submissions on that same resample, so what varies between the two is
only what they predicted, not which images happened to be drawn. The spread of the
replicates' differences gives a percentile interval, and the share of replicates on the
other side of zero a two-sided p-value; a difference whose p-value is at least
``1 - level`` is not significant (the leaderboard marks such neighbours as tied). A city
of one image resamples to itself and tests nothing: its p-value is 1, and so is the
overall one when every city has a single image.

Examples
--------
>>> from geoarena.evaluator.metrics import Counts, ImageScore
>>> a = [ImageScore(f"img{i}", "c", Counts(9, 1, 1)) for i in range(40)]
>>> b = [ImageScore(f"img{i}", "c", Counts(5, 5, 5)) for i in range(40)]
>>> diff = compare(a, b, replicates=200, seed=0).overall
>>> round(diff.delta, 3), diff.significant(0.95)
(0.4, True)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from .arrays import BoolArray, FloatArray
from .metrics import (
    Counts,
    ImageScore,
    Metric,
    f1_from_counts,
    percentile_interval,
    replicate_f1,
    resampled_city_sums,
)


@dataclass(frozen=True, slots=True)
class Difference:
    """A's value minus B's, with its bootstrap interval and two-sided p-value."""

    a: float
    b: float
    low: float
    high: float
    p_value: float

    @property
    def delta(self) -> float:
        return self.a - self.b

    def significant(self, level: float) -> bool:
        """True when the difference is not plausibly zero at this confidence level."""
        return self.p_value < 1 - level

    def to_dict(self) -> dict[str, float]:
        return {
            "a": self.a,
            "b": self.b,
            "delta": self.delta,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """A paired comparison: the headline metric overall and F1 city by city."""

    metric: Metric
    overall: Difference
    cities: dict[str, Difference]
    level: float
    replicates: int
    seed: int
    images: int

    @property
    def significant(self) -> bool:
        return self.overall.significant(self.level)

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric.value,
            "level": self.level,
            "replicates": self.replicates,
            "seed": self.seed,
            "images": self.images,
            "significant": self.significant,
            "overall": self.overall.to_dict(),
            "cities": {c: d.to_dict() for c, d in self.cities.items()},
        }


def compare(
    a: Sequence[ImageScore],
    b: Sequence[ImageScore],
    *,
    metric: Metric = Metric.F1,
    replicates: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    cities: tuple[Collection[str], Collection[str]] | None = None,
) -> Comparison:
    """Compare two submissions' per-image scores (``ScoreResult.images``) against one truth.

    Images are matched by id; an image only one side lists (a proposal-only image) counts
    as all zeros for the other. Each side's mean per-city F1 averages over that side's
    cities, so it equals the side's own score: ``cities`` gives them (``ScoreResult.cities``,
    which under ``city_mean="seen"`` holds cities with nothing scorable, at F1 0); by
    default they are the cities of the images the side lists. The per-city rows cover the
    cities of either side.
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    ids, image_cities, counts, listed = _paired_counts(a, b)
    sides = cities or tuple(
        {c for c, on in zip(image_cities, listed[:, s].tolist(), strict=True) if on} for s in (0, 1)
    )
    names = sorted(set(image_cities).union(*sides))
    city_index = np.searchsorted(np.asarray(names), np.asarray(image_cities)).astype(np.int64)
    # (cities, 2): whether each side's mean per-city F1 counts the city
    counted = np.array([[name in side for side in sides] for name in names], dtype=bool)
    counted = counted.reshape(len(names), 2)
    sums = resampled_city_sums(counts, city_index, len(names), n=replicates, seed=seed)
    whole = np.zeros((len(names), 2, 3))
    np.add.at(whole, city_index, counts)  # cities x 2 x 3
    city_values = f1_from_counts(sums[..., 0], sums[..., 1], sums[..., 2])[2]  # n x cities x 2
    city_points = f1_from_counts(whole[..., 0], whole[..., 1], whole[..., 2])[2]  # cities x 2
    if metric is Metric.F1:
        rep, point = replicate_f1(sums)[0], replicate_f1(whole[None])[0]
    else:
        rep = _mean_over(city_values, counted)
        point = _mean_over(city_points[None], counted)
    per_city = np.bincount(city_index, minlength=len(names))
    return Comparison(
        metric=metric,
        overall=_difference(point[0], rep, level, testable=bool((per_city > 1).any())),
        cities={
            name: _difference(city_points[k], city_values[:, k], level, testable=n > 1)
            for k, (name, n) in enumerate(zip(names, per_city.tolist(), strict=True))
        },
        level=level,
        replicates=replicates,
        seed=seed,
        images=len(ids),
    )


def _paired_counts(
    a: Sequence[ImageScore], b: Sequence[ImageScore]
) -> tuple[list[str], list[str], FloatArray, BoolArray]:
    """Image ids, their cities, counts shaped (images, 2 submissions, 3 counts) and which
    side lists each image (images, 2)."""
    by_id: dict[str, tuple[str, list[Counts | None]]] = {}
    for side, images in enumerate((a, b)):
        for image in images:
            city, pair = by_id.setdefault(image.image_id, (image.city, [None, None]))
            if city != image.city:
                raise ValueError(
                    f"image {image.image_id} is in city {city} for A but {image.city} for B:"
                    " the two results were scored under different rules"
                )
            pair[side] = image.counts
    ids = sorted(by_id)
    zero = Counts(0, 0, 0)
    counts = np.array(
        [
            [[c.tp, c.fp, c.fn] for c in (zero if p is None else p for p in by_id[i][1])]
            for i in ids
        ],
        dtype=np.float64,
    ).reshape(len(ids), 2, 3)
    listed = np.array([[p is not None for p in by_id[i][1]] for i in ids], dtype=bool)
    return ids, [by_id[i][0] for i in ids], counts, listed.reshape(len(ids), 2)


def _mean_over(city_f1: FloatArray, counted: BoolArray) -> FloatArray:
    """Mean F1 over each side's counted cities: (n, cities, 2) -> (n, 2); 0 for a side
    with no city."""
    n_cities = counted.sum(axis=0)
    total: FloatArray = (city_f1 * counted).sum(axis=1)
    return np.where(n_cities > 0, total / np.maximum(n_cities, 1), 0.0)


def _difference(
    point: FloatArray, replicates: FloatArray, level: float, *, testable: bool
) -> Difference:
    """``point`` holds (A, B); ``replicates`` is n x 2.

    Not ``testable`` when every city it resamples holds a single image: each replicate
    then draws that image again, the replicates all equal the point difference, and the
    bootstrap would call any gap significant (p = 2 / (n + 1)). One image cannot tell a
    gap from noise, so its p-value is 1."""
    deltas = replicates[:, 0] - replicates[:, 1]
    n = len(deltas)
    tail = min(int((deltas <= 0).sum()), int((deltas >= 0).sum()))
    low, high = percentile_interval(deltas, level)
    return Difference(
        a=float(point[0]),
        b=float(point[1]),
        low=low,
        high=high,
        p_value=min(1.0, 2 * (tail + 1) / (n + 1)) if testable else 1.0,
    )
