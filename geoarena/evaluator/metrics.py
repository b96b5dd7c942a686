"""Counts, F1 and their aggregation per image, per city and overall; bootstrap intervals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypedDict, overload

import numpy as np

from geoarena.errors import Problem

from .arrays import FloatArray, IntArray, ObjectArray
from .breakdown import Breakdown, BreakdownSettings
from .version import EVALUATOR_VERSION

if TYPE_CHECKING:  # both import this module: only the type checker may import them here
    from .prepared import Matches
    from .rules import Rules

#: how many GEOS failures the diagnostics spell out (all are counted).
SHOWN_FAILURES = 20


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


@overload
def f1_from_counts(tp: int, fp: int, fn: int) -> tuple[float, float, float]: ...
@overload
def f1_from_counts(
    tp: FloatArray, fp: FloatArray, fn: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]: ...
def f1_from_counts(
    tp: int | FloatArray, fp: int | FloatArray, fn: int | FloatArray
) -> tuple[float, float, float] | tuple[FloatArray, FloatArray, FloatArray]:
    """Precision, recall and F1 (each 0 where its denominator is 0); works on arrays.

    Examples
    --------
    >>> f1_from_counts(35, 2, 7)[2]
    0.8860759493670887
    >>> f1_from_counts(0, 0, 0)
    (0.0, 0.0, 0.0)
    """
    t, p, n = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(t + p > 0, t / (t + p), 0.0)
        recall = np.where(t + n > 0, t / (t + n), 0.0)
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


class GeosFailure(TypedDict):
    """A (proposal, truth) pair GEOS could not intersect (scored as IoU 0)."""

    proposal_line: int
    truth_line: int
    reason: str


class Diagnostics(TypedDict):
    """What a score counted on the way: per side, rows read, scored, dropped by each rule
    and repaired (the keys of ``sides.Side.counts``); candidate pairs; GEOS failures."""

    truth: dict[str, int]
    proposals: dict[str, int]
    candidate_pairs: int
    pairs_settled_by_bounds: int
    geos_failures: int
    #: the first ``SHOWN_FAILURES`` failures (all are counted in ``geos_failures``)
    geos_failure_examples: list[GeosFailure]


class Bootstrap(TypedDict):
    """Percentile intervals (``[low, high]``) of a stratified bootstrap."""

    replicates: int
    seed: int
    level: float
    micro_f1: list[float]
    mean_city_f1: list[float]
    cities: dict[str, list[float]]


@dataclass(frozen=True, eq=False)
class ScoreResult:
    """Everything a score says, frozen. ``headline`` is the preset's headline F1."""

    rules: Rules
    images: list[ImageScore]
    cities: dict[str, Counts]
    micro: Counts
    mean_city_f1: float
    diagnostics: Diagnostics
    bootstrap: Bootstrap | None = None
    matches: Matches | None = field(default=None, repr=False)
    #: rows dropped by ``on_error="skip"`` (truth first, then proposals), in line order
    skipped: tuple[Problem, ...] = ()
    #: error classes and recall by size (``score(..., breakdown=True)``)
    breakdown: Breakdown | None = None

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
            "breakdown": None if self.breakdown is None else self.breakdown.to_dict(),
        }


def aggregate(
    rules: Rules,
    image_ids: list[str],
    tp: IntArray,
    fp: IntArray,
    fn: IntArray,
    unlisted_cities: Iterable[str] = (),
) -> tuple[list[ImageScore], dict[str, Counts], Counts, float, IntArray, list[str]]:
    """Per-image scores, per-city counts, micro counts and mean per-city F1.

    ``unlisted_cities`` are cities to count (at 0/0/0, F1 0) although none of their images
    is listed: under ``city_mean="seen"`` the TopCoder tester averages over every city it
    read, even one whose rows were all filtered away (conformance case 23).

    Also returns each image's city index and the sorted city names, for the bootstrap.
    """
    cities_of = [rules.city_of(i) for i in image_ids]
    names = sorted(set(cities_of).union(unlisted_cities))
    city_index = np.searchsorted(
        np.asarray(names, dtype=object), np.asarray(cities_of, dtype=object)
    ).astype(np.int64)
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


#: most bootstrap replicates one score or comparison draws: percentile intervals settle
#: long before (1,000-10,000 is usual), and each replicate costs a draw per image
MAX_REPLICATES = 100_000
#: draws (replicates x a city's images) made at once
_BLOCK_DRAWS = 1 << 22


def resampled_city_sums(
    counts: FloatArray, city_index: IntArray, n_cities: int, *, n: int, seed: int
) -> FloatArray:
    """Per-city sums of ``counts`` (images x ... x 3) over ``n`` stratified resamples of the
    images: shape (n, cities, ..., 3).

    Images are resampled with replacement within each city: the mean per-city F1 weighs
    cities equally, so every replicate keeps each city's size. The same draws apply to
    every trailing slice, so two submissions' counts stacked on axis 1 are resampled as
    pairs (:mod:`geoarena.evaluator.compare`). Each replicate's draws become a weight
    (multiplicity) per image, so memory is n x images, not n x images x counts.
    """
    if not 1 <= n <= MAX_REPLICATES:
        raise ValueError(f"bootstrap replicates must be 1 to {MAX_REPLICATES}, not {n}")
    rng = np.random.default_rng(seed)
    flat = counts.reshape(len(counts), -1)
    out = np.zeros((n, n_cities, flat.shape[1]))
    for k in range(n_cities):
        members = np.flatnonzero(city_index == k)
        m = len(members)
        # replicates in blocks of ~_BLOCK_DRAWS draws: memory stays bounded however many
        # are asked for, and the draws are the same stream as one block's would be (a
        # Generator fills an array in order)
        step = max(1, _BLOCK_DRAWS // max(m, 1))
        for lo in range(0, n, step):
            b = min(step, n - lo)
            draws = rng.integers(0, m, size=(b, m))
            offsets = draws + (np.arange(b) * m)[:, None]
            weights = np.bincount(offsets.ravel(), minlength=b * m).reshape(b, m)
            out[lo : lo + b, k, :] = weights @ flat[members]
    return out.reshape(n, n_cities, *counts.shape[1:])


def replicate_f1(city_sums: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(micro F1, mean per-city F1) of each replicate from sums shaped (n, cities, ..., 3)."""
    city_f1 = f1_from_counts(city_sums[..., 0], city_sums[..., 1], city_sums[..., 2])[2]
    micro = city_sums.sum(axis=1)
    micro_f1 = f1_from_counts(micro[..., 0], micro[..., 1], micro[..., 2])[2]
    return micro_f1, city_f1.mean(axis=1)


def bootstrap_intervals(
    tp: IntArray,
    fp: IntArray,
    fn: IntArray,
    city_index: IntArray,
    city_names: list[str],
    *,
    n: int,
    seed: int,
    level: float = 0.95,
) -> Bootstrap:
    """Percentile intervals for micro, mean per-city and per-city F1 by resampling images
    (stratified by city, see :func:`resampled_city_sums`)."""
    counts = np.stack([tp, fp, fn], axis=1).astype(np.float64)
    city_sums = resampled_city_sums(counts, city_index, len(city_names), n=n, seed=seed)
    city_f1 = f1_from_counts(city_sums[..., 0], city_sums[..., 1], city_sums[..., 2])[2]
    micro_f1, mean_city_f1 = replicate_f1(city_sums)

    def interval(values: FloatArray) -> list[float]:
        return percentile_interval(values, level)

    return Bootstrap(
        replicates=n,
        seed=seed,
        level=level,
        micro_f1=interval(micro_f1),
        mean_city_f1=interval(mean_city_f1),
        cities={name: interval(city_f1[:, k]) for k, name in enumerate(city_names)},
    )


def percentile_interval(values: FloatArray, level: float) -> list[float]:
    """The central ``level`` percentile interval of bootstrap replicates."""
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    return [float(np.percentile(values, lo)), float(np.percentile(values, hi))]


def assemble(
    rules: Rules,
    image_ids: ObjectArray,
    tp: IntArray,
    fp: IntArray,
    fn: IntArray,
    diagnostics: Diagnostics,
    *,
    bootstrap: int = 0,
    seed: int = 0,
    matches: Matches | None = None,
    skipped: tuple[Problem, ...] = (),
    unlisted_cities: Iterable[str] = (),
    breakdown: tuple[BreakdownSettings, IntArray] | None = None,
) -> ScoreResult:
    """A :class:`ScoreResult` from the counts of every listed image (sorted by ImageId).

    ``unlisted_cities`` as in :func:`aggregate`; ``breakdown``: the settings and per-image
    count rows of a breakdown, aligned with ``image_ids`` (see
    :func:`geoarena.evaluator.breakdown.count_rows`).
    """
    images, cities, micro, mean_city, city_index, names = aggregate(
        rules, image_ids.tolist(), tp, fp, fn, unlisted_cities
    )
    if not 0 <= bootstrap <= MAX_REPLICATES:
        raise ValueError(f"bootstrap replicates must be 0 to {MAX_REPLICATES}, not {bootstrap}")
    intervals = None
    if bootstrap > 0:
        intervals = bootstrap_intervals(tp, fp, fn, city_index, names, n=bootstrap, seed=seed)
    errors = None
    if breakdown is not None:
        settings, rows = breakdown
        errors = Breakdown.build(settings, image_ids.tolist(), city_index, names, rows)
    return ScoreResult(
        rules, images, cities, micro, mean_city, diagnostics, intervals, matches, skipped, errors
    )
