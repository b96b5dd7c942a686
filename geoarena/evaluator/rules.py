"""Scoring rules: every point on which the reference scorers disagree is one knob.

A :class:`Rules` value is plain, frozen data. The four presets reproduce the SpaceNet
utilities scorer, solaris, the TopCoder tester, and our own ``deepglobe`` default
(``../shared/metric-spec.md`` documents each verdict). A score records its Rules, so it
can always be reproduced.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from .metrics import Metric

#: SpaceNet round 2 cities, as the SpaceNet utilities scorer finds them by substring.
AOI_NAMES = ("AOI_1_Rio", "AOI_2_Vegas", "AOI_3_Paris", "AOI_4_Shanghai", "AOI_5_Khartoum")

#: knob -> allowed values (string knobs only), each with a one-line meaning.
CHOICES: dict[str, dict[str, str]] = {
    "order": {
        "file": "proposals are matched in file order (Confidence never read)",
        "confidence": "Confidence descending, ties in file order (file order without the column)",
    },
    "area_of": {
        "raw": "area filters see the submitted polygon (before repair)",
        "repaired": "area filters see the repaired polygon",
    },
    "invalid_proposal": {
        "buffer0": "repair with buffer(0)",
        "make_valid": "repair with GEOS make_valid (even-odd linework)",
        "as_is": "score as submitted (a GEOS failure gives IoU 0 and is reported)",
    },
    "invalid_truth": {
        "make_valid": "repair with GEOS make_valid (even-odd linework) and report",
        "buffer0": "repair with buffer(0)",
        "as_is": "use as is (a GEOS failure gives IoU 0 and is reported)",
        "zero": "an invalid truth has IoU 0 with every proposal",
    },
    "collection_iou": {
        "area": "IoU is an area ratio whatever the intersection's geometry type",
        "zero": "IoU is 0 when the intersection is a GeometryCollection (SpaceNet utilities)",
    },
    "multipolygon": {
        "whole": "a MultiPolygon is scored whole",
        "first": "only the first part of a MultiPolygon is scored",
    },
    "negative_ids": {
        "drop": "rows with BuildingId -1 are dropped",
        "score": "rows with BuildingId -1 are scored like any other",
    },
    "empty_proposal": {
        "drop": "POLYGON EMPTY proposals are dropped",
        "fp": "POLYGON EMPTY proposals (BuildingId != -1) count as false positives",
    },
    "empty_images": {
        "score": "an image with nothing left after filtering is still listed (0/0/0)",
        "skip": "an image with nothing left after filtering is not scored",
    },
    "city": {
        "deepglobe": "ImageId up to '_img' when present, else ImageId minus its last '_' part",
        "aoi_names": "AOI_1_Rio .. AOI_5_Khartoum found by substring, else 'unknown'",
        "strip_last": "ImageId minus its last '_' part",
        "first3": "the first three '_' parts of ImageId",
    },
    "headline": {metric.value: metric.description for metric in Metric},
}


def city_of(image_id: str, rule: str = "deepglobe") -> str:
    """The city (AOI) of an ImageId under one of the ``city`` rules of :data:`CHOICES`.

    The one place a city is derived from an ImageId: scoring, per-city normalisation of
    imagery and per-city sampling all call it.

    Examples
    --------
    >>> city_of("AOI_2_Vegas_img1234")
    'AOI_2_Vegas'
    >>> city_of("SN2_buildings_train_AOI_5_Khartoum_PS-RGB_img1", "first3")
    'SN2_buildings_train'
    >>> city_of("tile_17"), city_of("tile_17", "aoi_names")
    ('tile', 'unknown')
    """
    if rule == "deepglobe":
        cut = image_id.find("_img")
        return image_id[:cut] if cut > 0 else _strip_last(image_id)
    if rule == "aoi_names":
        return next((a for a in AOI_NAMES if a in image_id), "unknown")
    if rule == "strip_last":
        return _strip_last(image_id)
    if rule == "first3":
        return "_".join(image_id.split("_")[:3])
    raise ValueError(f"city rule must be one of {', '.join(CHOICES['city'])}; got {rule!r}")


_AREA_FILTER = re.compile(r"^\s*(>=|>)\s*([0-9]*\.?[0-9]+)\s*$")


@dataclass(frozen=True)
class AreaFilter:
    """Keep polygons whose area is ``> min_area`` (or ``>=`` when ``inclusive``)."""

    min_area: float
    inclusive: bool

    @classmethod
    def parse(cls, text: str | AreaFilter | None) -> AreaFilter | None:
        """Parse ``">20"``, ``">= 20"`` or ``"none"``."""
        if text is None or isinstance(text, AreaFilter):
            return text
        if text.strip().lower() == "none":
            return None
        m = _AREA_FILTER.match(text)
        if not m:
            raise ValueError(f"area filter must look like '>=20', '>20' or 'none', not {text!r}")
        return cls(float(m.group(2)), m.group(1) == ">=")

    def __str__(self) -> str:
        return f"{'>=' if self.inclusive else '>'}{self.min_area:g}"


@dataclass(frozen=True)
class Rules:
    """Every knob of the metric. Build one with :func:`get_rules`.

    ``name`` is the preset it came from and ``modified`` lists the knobs overridden on top.
    """

    name: str = "deepglobe"
    iou_threshold: float = 0.5
    threshold_inclusive: bool = False
    order: str = "confidence"
    truth_area_filter: AreaFilter | None = field(default_factory=lambda: AreaFilter(20.0, True))
    proposal_area_filter: AreaFilter | None = field(default_factory=lambda: AreaFilter(20.0, True))
    area_of: str = "raw"
    invalid_proposal: str = "buffer0"
    invalid_truth: str = "make_valid"
    collection_iou: str = "area"
    multipolygon: str = "whole"
    negative_ids: str = "drop"
    empty_proposal: str = "drop"
    empty_images: str = "score"
    city: str = "deepglobe"
    headline: Metric = Metric.MEAN_CITY_F1
    modified: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for knob, choices in CHOICES.items():
            value = getattr(self, knob)
            if value not in choices:
                raise ValueError(f"{knob} must be one of {', '.join(choices)}; got {value!r}")
        for knob in ("truth_area_filter", "proposal_area_filter"):
            object.__setattr__(self, knob, AreaFilter.parse(getattr(self, knob)))
        object.__setattr__(self, "headline", Metric(self.headline))
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1]; got {self.iou_threshold!r}")

    def passes(self, iou):
        """Whether an IoU (scalar or array) passes the threshold."""
        return iou >= self.iou_threshold if self.threshold_inclusive else iou > self.iou_threshold

    def city_of(self, image_id: str) -> str:
        """The city (AOI) an ImageId belongs to, per the ``city`` knob."""
        return city_of(image_id, self.city)

    def to_dict(self) -> dict[str, Any]:
        """All knob values, JSON-ready (area filters as text)."""
        out = dataclasses.asdict(self)
        out["headline"] = self.headline.value
        for knob in ("truth_area_filter", "proposal_area_filter"):
            value = getattr(self, knob)
            out[knob] = "none" if value is None else str(value)
        out["modified"] = list(self.modified)
        return out


def _strip_last(image_id: str) -> str:
    return image_id.rsplit("_", 1)[0] if "_" in image_id else image_id


PRESETS: dict[str, Rules] = {
    "deepglobe": Rules(),
    "spacenet-utilities": Rules(
        name="spacenet-utilities",
        threshold_inclusive=True,
        order="file",
        truth_area_filter=AreaFilter(20.0, False),
        proposal_area_filter=None,
        invalid_truth="as_is",
        collection_iou="zero",
        empty_proposal="fp",
        city="aoi_names",
        headline=Metric.F1,
    ),
    "solaris": Rules(
        name="solaris",
        proposal_area_filter=AreaFilter(20.0, False),
        invalid_truth="zero",
        negative_ids="score",
        city="strip_last",
    ),
    "topcoder": Rules(
        name="topcoder",
        invalid_proposal="make_valid",
        invalid_truth="make_valid",
        multipolygon="first",
        empty_images="skip",
        city="first3",
    ),
}


def get_rules(rules: str | Rules = "deepglobe", **overrides: Any) -> Rules:
    """A preset by name (or a Rules value), with knobs overridden; None overrides are ignored.

    Examples
    --------
    >>> get_rules("solaris").threshold_inclusive
    False
    >>> r = get_rules("deepglobe", iou_threshold=0.75)
    >>> r.iou_threshold, r.modified
    (0.75, ('iou_threshold',))
    >>> get_rules("kaggle")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    KeyError: "unknown rules preset 'kaggle'; choose one of deepglobe, spacenet-utilities, ..."
    """
    if isinstance(rules, str):
        if rules not in PRESETS:
            raise KeyError(f"unknown rules preset {rules!r}; choose one of {', '.join(PRESETS)}")
        rules = PRESETS[rules]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(Rules)})
    if unknown:
        raise TypeError(f"unknown rule knob {unknown[0]!r}")
    if not overrides:
        return rules
    changed = tuple(sorted(set(rules.modified) | set(overrides)))
    return dataclasses.replace(rules, **overrides, modified=changed)
