"""Where F1 is lost: error classes of the false positives and false negatives, and recall
by building size, counted per image, per city and overall.

No reference scorer says *why* a submission loses F1; these counts do. Every false
positive and every false negative falls in exactly one class (the classes partition FP
and FN), so the counts of a row add up to its FP and FN. The rules are in the README
("Diagnostics") and in :mod:`geoarena.evaluator.taxonomy`, which classifies the polygons;
this module holds the types and the counting, and imports nothing of the rules, so that
:mod:`geoarena.evaluator.metrics` can carry a breakdown in its results.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from .arrays import FloatArray, IntArray


class ErrorClass(StrEnum):
    """Why a proposal is a false positive or a truth a false negative.

    Examples
    --------
    >>> [c.value for c in FP_CLASSES]
    ['duplicate', 'merged', 'split', 'localisation', 'false_alarm']
    >>> [c.value for c in FN_CLASSES]
    ['duplicate', 'merged', 'split', 'localisation', 'miss']
    """

    #: best IoU passes the threshold, but its partner was matched by another polygon
    DUPLICATE = "duplicate"
    #: one proposal covering two or more truths
    MERGED = "merged"
    #: one truth covered by two or more proposals
    SPLIT = "split"
    #: overlaps the other side, but its best IoU is too low (above ``localisation_iou``)
    LOCALISATION = "localisation"
    #: a false positive overlapping no truth (best IoU at most ``localisation_iou``)
    FALSE_ALARM = "false_alarm"
    #: a false negative overlapping no proposal (best IoU at most ``localisation_iou``)
    MISS = "miss"

    @property
    def label(self) -> str:
        """A short column header."""
        return self.value.replace("_", " ")


#: the classes of a false positive, in precedence order: it takes the first that applies.
FP_CLASSES = (
    ErrorClass.DUPLICATE,
    ErrorClass.MERGED,
    ErrorClass.SPLIT,
    ErrorClass.LOCALISATION,
    ErrorClass.FALSE_ALARM,
)
#: the classes of a false negative, in precedence order.
FN_CLASSES = (
    ErrorClass.DUPLICATE,
    ErrorClass.MERGED,
    ErrorClass.SPLIT,
    ErrorClass.LOCALISATION,
    ErrorClass.MISS,
)
#: the building sizes of the recall, by truth area (see ``BreakdownSettings.size_bins``).
SIZES = ("small", "medium", "large")
#: COCO's bounds of small and large objects, 32² and 96² pixels: the default size bins
PIXEL_SIZE_BINS = (1024.0, 9216.0)
#: SpaceNet's and DeepGlobe's ground sample distance, in metres: footprints scored in map
#: units default to the pixel bins at it (about 92 and 829 m²)
SPACENET_GSD_M = 0.3

#: columns of a per-image count row: FP per class, FN per class, truths and TP per size.
_FP, _FN, _TRUTHS, _FOUND = (
    slice(0, 5),
    slice(5, 10),
    slice(10, 13),
    slice(13, 16),
)
#: width of a per-image count row.
WIDTH = 16


@dataclass(frozen=True, slots=True)
class BreakdownSettings:
    """The thresholds of the diagnostics (not of the score: they never change TP/FP/FN).

    Parameters
    ----------
    cover : a polygon *lies in* one of the other side when at least this share of its
        area is inside it; merged and split are counted with it.
    localisation_iou : a best IoU above this (and not passing) is a localisation error;
        at or below it, a pure miss or false alarm.
    size_bins : truth areas, in the coordinates' units, where small ends and large
        begins. The default is COCO's 32² and 96² pixels (at SpaceNet's 0.3 m, about 92
        and 829 m²): small < 1024 <= medium < 9216 <= large.
    size_unit : the unit of those areas, as reports name it (``px²`` for pixel
        coordinates; the CLI sets the map unit for georeferenced footprints).

    Examples
    --------
    >>> BreakdownSettings().size_of(np.array([20.0, 1024.0, 9215.5, 9216.0]))
    array([0, 1, 1, 2])
    >>> BreakdownSettings(size_bins=(50.0, 10.0))
    Traceback (most recent call last):
    ...
    ValueError: size_bins must be two areas 0 <= small < large, got (50.0, 10.0)
    """

    cover: float = 0.5
    localisation_iou: float = 0.1
    size_bins: tuple[float, float] = PIXEL_SIZE_BINS
    size_unit: str = "px²"

    def __post_init__(self) -> None:
        if not 0.0 < self.cover <= 1.0:
            raise ValueError(f"cover must be in (0, 1], got {self.cover}")
        if not 0.0 <= self.localisation_iou < 1.0:
            raise ValueError(f"localisation_iou must be in [0, 1), got {self.localisation_iou}")
        small, large = self.size_bins
        if not 0.0 <= small < large:
            raise ValueError(
                f"size_bins must be two areas 0 <= small < large, got {self.size_bins}"
            )

    def size_of(self, area: FloatArray) -> IntArray:
        """Size class of each truth area: 0 small, 1 medium, 2 large."""
        return np.searchsorted(np.asarray(self.size_bins), area, side="right").astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cover": self.cover,
            "localisation_iou": self.localisation_iou,
            "size_bins": list(self.size_bins),
            "size_unit": self.size_unit,
        }


@dataclass(frozen=True, slots=True)
class SizeRecall:
    """Truths of one size class and how many of them were found."""

    truths: int
    tp: int

    @property
    def recall(self) -> float:
        return self.tp / self.truths if self.truths else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {"truths": self.truths, "tp": self.tp, "recall": self.recall}


@dataclass(frozen=True, slots=True)
class ErrorCounts:
    """The breakdown of one image, one city or all: FP and FN per class, recall per size."""

    fp: dict[ErrorClass, int]
    fn: dict[ErrorClass, int]
    sizes: dict[str, SizeRecall]

    @classmethod
    def from_row(cls, row: IntArray) -> ErrorCounts:
        """From one count row (the layout of :func:`count_rows`)."""
        values = [int(v) for v in row.tolist()]
        truths, found = values[_TRUTHS], values[_FOUND]
        return cls(
            fp=dict(zip(FP_CLASSES, values[_FP], strict=True)),
            fn=dict(zip(FN_CLASSES, values[_FN], strict=True)),
            sizes={s: SizeRecall(t, f) for s, t, f in zip(SIZES, truths, found, strict=True)},
        )

    def row(self) -> IntArray:
        """The count row this was made from (inverse of :meth:`from_row`)."""
        sizes = list(self.sizes.values())
        return np.array(
            [*self.fp.values(), *self.fn.values(), *(s.truths for s in sizes)]
            + [s.tp for s in sizes],
            dtype=np.int64,
        )

    def summary(self) -> str:
        """One line for a log: FP and FN per class, recall per size.

        Examples
        --------
        >>> row = np.array([0, 1, 2, 3, 4, 1, 2, 3, 4, 5, 10, 20, 6, 5, 15, 1])
        >>> ErrorCounts.from_row(row).summary()  # doctest: +NORMALIZE_WHITESPACE
        'FP duplicate 0, merged 1, split 2, localisation 3, false alarm 4;
         FN duplicate 1, merged 2, split 3, localisation 4, miss 5;
         recall small 0.5000, medium 0.7500, large 0.1667'
        """
        fp = ", ".join(f"{c.label} {n}" for c, n in self.fp.items())
        fn = ", ".join(f"{c.label} {n}" for c, n in self.fn.items())
        sizes = ", ".join(f"{s} {r.recall:.4f}" for s, r in self.sizes.items())
        return f"FP {fp}; FN {fn}; recall {sizes}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "fp": {c.value: n for c, n in self.fp.items()},
            "fn": {c.value: n for c, n in self.fn.items()},
            "recall_by_size": {s: r.to_dict() for s, r in self.sizes.items()},
        }


@dataclass(frozen=True, eq=False)
class Breakdown:
    """The diagnostics of a score (``score(..., breakdown=True)``): error classes and
    recall by size, per image, per city and overall."""

    settings: BreakdownSettings
    images: dict[str, ErrorCounts]
    cities: dict[str, ErrorCounts]
    overall: ErrorCounts

    @classmethod
    def build(
        cls,
        settings: BreakdownSettings,
        image_ids: list[str],
        city_index: IntArray,
        city_names: list[str],
        rows: IntArray,
    ) -> Breakdown:
        """From per-image count rows (``(images, WIDTH)``) and each image's city index."""
        rows = rows.reshape(-1, WIDTH)
        sums = np.zeros((len(city_names), WIDTH), dtype=np.int64)
        np.add.at(sums, city_index, rows)
        return cls(
            settings,
            images={i: ErrorCounts.from_row(r) for i, r in zip(image_ids, rows, strict=True)},
            cities={c: ErrorCounts.from_row(sums[k]) for k, c in enumerate(city_names)},
            overall=ErrorCounts.from_row(rows.sum(axis=0)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings.to_dict(),
            "overall": self.overall.to_dict(),
            "cities": {c: e.to_dict() for c, e in self.cities.items()},
            "images": {i: e.to_dict() for i, e in self.images.items()},
        }


def count_rows(
    n_images: int,
    p_image: IntArray,
    proposal_class: IntArray,
    t_image: IntArray,
    truth_class: IntArray,
    truth_size: IntArray,
) -> IntArray:
    """Per-image count rows ``(n_images, WIDTH)`` from per-polygon classes.

    ``proposal_class``/``truth_class`` index ``FP_CLASSES``/``FN_CLASSES`` (-1: a true
    positive); ``truth_size`` indexes ``SIZES``; ``p_image``/``t_image`` are image indices.
    """
    rows = np.zeros((n_images, WIDTH), dtype=np.int64)
    fp = proposal_class >= 0
    np.add.at(rows, (p_image[fp], _FP.start + proposal_class[fp]), 1)
    fn = truth_class >= 0
    np.add.at(rows, (t_image[fn], _FN.start + truth_class[fn]), 1)
    np.add.at(rows, (t_image, _TRUTHS.start + truth_size), 1)
    np.add.at(rows, (t_image[~fn], _FOUND.start + truth_size[~fn]), 1)
    return rows


__all__ = [
    "FN_CLASSES",
    "FP_CLASSES",
    "PIXEL_SIZE_BINS",
    "SIZES",
    "SPACENET_GSD_M",
    "WIDTH",
    "Breakdown",
    "BreakdownSettings",
    "ErrorClass",
    "ErrorCounts",
    "SizeRecall",
    "count_rows",
]
