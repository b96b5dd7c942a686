"""Counts, F1 and their aggregation per image, per city and overall; bootstrap intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from .version import EVALUATOR_VERSION

if TYPE_CHECKING:
    from .rules import Rules


class Metric(StrEnum):
    """The two headline numbers of a score, spelt the same everywhere: the evaluator's
    ``headline`` knob, a leaderboard's ranking metric, a sweep's objective.

    Examples
    --------
    >>> Metric("mean_city_f1").label
    'Mean city F1'
    >>> [m.value for m in Metric]
    ['f1', 'mean_city_f1']
    """

    #: F1 of TP/FP/FN summed over all images (SpaceNet's overall F1)
    F1 = "f1"
    #: mean of per-city F1 (the SpaceNet round 2 / DeepGlobe prize rule)
    MEAN_CITY_F1 = "mean_city_f1"

    @property
    def label(self) -> str:
        """A short column header."""
        return "Overall F1" if self is Metric.F1 else "Mean city F1"

    @property
    def description(self) -> str:
        """What the number is, in one line."""
        if self is Metric.F1:
            return "overall F1 (TP/FP/FN summed over all images, SpaceNet)"
        return "mean of per-city F1 (SpaceNet round 2 / DeepGlobe prize rule)"


def f1_from_counts(tp, fp, fn):
    """Precision, recall and F1 (each 0 where its denominator is 0); works on arrays.

    Examples
    --------
    >>> f1_from_counts(35, 2, 7)[2]
    0.8860759493670887
    >>> f1_from_counts(0, 0, 0)
    (0.0, 0.0, 0.0)
    """
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    if f1.ndim == 0:
        return float(precision), float(recall), float(f1)
    return precision, recall, f1


@dataclass(frozen=True, slots=True)
class Counts:
    """True positives, false positives and false negatives, with the rates they give."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return f1_from_counts(self.tp, self.fp, self.fn)[0]

    @property
    def recall(self) -> float:
        return f1_from_counts(self.tp, self.fp, self.fn)[1]

    @property
    def f1(self) -> float:
        return f1_from_counts(self.tp, self.fp, self.fn)[2]

    def to_dict(self) -> dict[str, float | int]:
        p, r, f = f1_from_counts(self.tp, self.fp, self.fn)
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": p, "recall": r, "f1": f}


@dataclass(frozen=True, slots=True)
class ImageScore:
    """The counts of one image."""

    image_id: str
    city: str
    counts: Counts


@dataclass(frozen=True, eq=False)
class ScoreResult:
    """Everything a score says, frozen. ``headline`` is the preset's headline F1."""

    rules: Rules
    images: list[ImageScore]
    cities: dict[str, Counts]
    micro: Counts
    mean_city_f1: float
    diagnostics: dict[str, Any]
    bootstrap: dict[str, Any] | None = None
    matches: Any = field(default=None, repr=False)
    #: rows dropped by ``on_error="skip"`` (truth first, then proposals), in line order
    skipped: tuple = ()

    def value(self, metric: Metric | str) -> float:
        """The score's value on ``metric`` (micro F1 or mean per-city F1)."""
        return self.micro.f1 if Metric(metric) is Metric.F1 else self.mean_city_f1

    @property
    def headline(self) -> float:
        """The value on the rules' headline metric."""
        return self.value(self.rules.headline)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: rules, headline, micro, per city, per image, diagnostics."""
        return {
            "evaluator_version": EVALUATOR_VERSION,
            "rules": self.rules.to_dict(),
            "headline": {"metric": self.rules.headline, "f1": self.headline},
            "micro": self.micro.to_dict(),
            "mean_city_f1": self.mean_city_f1,
            "cities": {c: n.to_dict() for c, n in self.cities.items()},
            "images": [
                {"image_id": s.image_id, "city": s.city, **s.counts.to_dict()} for s in self.images
            ],
            "diagnostics": self.diagnostics,
            "bootstrap": self.bootstrap,
            "skipped_rows": [e.to_dict() for e in self.skipped],
        }


def aggregate(
    rules: Rules,
    image_ids: list[str],
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
) -> tuple[list[ImageScore], dict[str, Counts], Counts, float, np.ndarray, list[str]]:
    """Per-image scores, per-city counts, micro counts and mean per-city F1.

    Also returns each image's city index and the sorted city names, for the bootstrap.
    """
    cities_of = [rules.city_of(i) for i in image_ids]
    names = sorted(set(cities_of))
    city_index = np.searchsorted(
        np.asarray(names, dtype=object), np.asarray(cities_of, dtype=object)
    )
    images = [
        ImageScore(i, c, Counts(int(a), int(b), int(d)))
        for i, c, a, b, d in zip(
            image_ids, cities_of, tp.tolist(), fp.tolist(), fn.tolist(), strict=True
        )
    ]
    sums = [np.bincount(city_index, weights=x, minlength=len(names)) for x in (tp, fp, fn)]
    cities = {
        name: Counts(int(sums[0][k]), int(sums[1][k]), int(sums[2][k]))
        for k, name in enumerate(names)
    }
    micro = Counts(int(tp.sum()), int(fp.sum()), int(fn.sum()))
    mean_city = float(np.mean([c.f1 for c in cities.values()])) if cities else 0.0
    return images, cities, micro, mean_city, city_index, names


def bootstrap_intervals(
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
    city_index: np.ndarray,
    city_names: list[str],
    *,
    n: int,
    seed: int,
    level: float = 0.95,
) -> dict[str, Any]:
    """Percentile intervals for micro, mean per-city and per-city F1 by resampling images.

    Images are resampled with replacement within each city (a stratified bootstrap): the
    mean per-city F1 weighs cities equally, so every replicate keeps each city's size.
    """
    rng = np.random.default_rng(seed)
    counts = np.stack([tp, fp, fn], axis=1).astype(np.float64)
    city_sums = np.zeros((n, len(city_names), 3))
    for k in range(len(city_names)):
        members = np.flatnonzero(city_index == k)
        draws = rng.integers(0, len(members), size=(n, len(members)))
        city_sums[:, k, :] = counts[members][draws].sum(axis=1)
    city_f1 = f1_from_counts(city_sums[..., 0], city_sums[..., 1], city_sums[..., 2])[2]
    micro = city_sums.sum(axis=1)
    micro_f1 = f1_from_counts(micro[:, 0], micro[:, 1], micro[:, 2])[2]
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2

    def interval(values: np.ndarray) -> list[float]:
        return [float(np.percentile(values, lo)), float(np.percentile(values, hi))]

    return {
        "replicates": n,
        "seed": seed,
        "level": level,
        "micro_f1": interval(micro_f1),
        "mean_city_f1": interval(city_f1.mean(axis=1)),
        "cities": {name: interval(city_f1[:, k]) for k, name in enumerate(city_names)},
    }


def assemble(
    rules: Rules,
    image_ids: np.ndarray,
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
    diagnostics: dict[str, Any],
    *,
    bootstrap: int = 0,
    seed: int = 0,
    matches: Any = None,
    skipped: tuple = (),
) -> ScoreResult:
    """A :class:`ScoreResult` from the counts of every listed image (sorted by ImageId)."""
    images, cities, micro, mean_city, city_index, names = aggregate(
        rules, list(image_ids), tp, fp, fn
    )
    intervals = None
    if bootstrap > 0:
        intervals = bootstrap_intervals(tp, fp, fn, city_index, names, n=bootstrap, seed=seed)
    return ScoreResult(
        rules, images, cities, micro, mean_city, diagnostics, intervals, matches, skipped
    )
