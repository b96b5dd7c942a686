"""Scoring rules: every point on which the reference scorers disagree is one knob.

A :class:`Rules` value is plain, frozen data, checked when it is built (each string knob
is a ``Literal`` of its choices, so the type checker sees them too). The four
presets reproduce the SpaceNet utilities scorer, solaris, the TopCoder tester, and our own
``deepglobe`` default (``../shared/metric-spec.md`` documents each verdict). A score
records its Rules, so it can always be reproduced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from .areas import AreaRule
from .arrays import BoolArray, FloatArray
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
    "area_formula": {
        "geos": "areas by GEOS (shapely): solaris, our default",
        "ogr": "areas by OGR's ring formula (OGR_G_Area): the SpaceNet utilities scorer",
        "shoelace": "the TopCoder tester's shoelace formula on each ring as submitted, never "
        "repaired (a bowtie counts |lobe - lobe|), holes subtracted",
    },
    "iou_formula": {
        "sum": "IoU = I / (a + b - I) from the intersection's and both polygons' areas",
        "union": "IoU = area(intersection) / area(union), the union built by GEOS "
        "(solaris, the SpaceNet utilities scorer)",
    },
    "tie_break": {
        "file": "a tie in best IoU goes to the first truth in file order",
        "rtree_slots": "a tie goes to the first truth in libspatialindex's slot order: file "
        "order, each match moving the image's last truth into the freed slot (the SpaceNet "
        "utilities scorer; exact up to 100 truths per image)",
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
    "city_mean": {
        "listed": "mean per-city F1 over the cities of the listed images",
        "seen": "mean per-city F1 over every city with an ImageId in either file (F1 0 where "
        "nothing is scorable: the TopCoder tester)",
    },
    "city": {
        "deepglobe": "ImageId up to '_img' when present, else ImageId minus its last '_' part",
        "aoi_names": "AOI_1_Rio .. AOI_5_Khartoum found by substring, else 'unknown'",
        "strip_last": "ImageId minus its last '_' part",
        "first3": "the first three '_' parts of ImageId",
    },
    "headline": {metric.value: metric.description for metric in Metric},
}

# One Literal per string knob of CHOICES (test_rules_literals_match_choices keeps them equal).
Order = Literal["file", "confidence"]
AreaOf = Literal["raw", "repaired"]
IouFormula = Literal["sum", "union"]
TieBreak = Literal["file", "rtree_slots"]
InvalidProposal = Literal["buffer0", "make_valid", "as_is"]
InvalidTruth = Literal["make_valid", "buffer0", "as_is", "zero"]
CollectionIou = Literal["area", "zero"]
MultiPolygonRule = Literal["whole", "first"]
NegativeIds = Literal["drop", "score"]
EmptyProposal = Literal["drop", "fp"]
EmptyImages = Literal["score", "skip"]
CityMean = Literal["listed", "seen"]
CityRule = Literal["deepglobe", "aoi_names", "strip_last", "first3"]


def city_of(image_id: str, rule: CityRule = "deepglobe") -> str:
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


#: the knobs whose values are one of a few strings (the headline is a Metric)
_STRING_KNOBS = frozenset(CHOICES) - {"headline"}


@dataclass(frozen=True)
class Rules:
    """Every knob of the metric. Build one with :func:`get_rules`.

    ``name`` is the preset it came from and ``modified`` lists the knobs overridden on top.
    Frozen, hashable and compared by value; :meth:`to_dict` is its JSON form, and
    ``Rules.from_dict(rules.to_dict()) == rules``.

    A plain dataclass that checks itself: every ``geoarena score`` builds one, and a
    validation library would cost that command more start-up than all its arithmetic on
    the knobs (pydantic took 60 ms to import and 26 ms to build its validator).

    Examples
    --------
    >>> Rules(order="file").order
    'file'
    >>> Rules(truth_area_filter=">20").truth_area_filter
    AreaFilter(min_area=20.0, inclusive=False)
    >>> Rules(iou_threshold=0)
    Traceback (most recent call last):
    ...
    ValueError: iou_threshold: input should be greater than 0; got 0
    """

    name: str = "deepglobe"
    iou_threshold: float = 0.5
    threshold_inclusive: bool = False
    order: Order = "confidence"
    truth_area_filter: AreaFilter | None = AreaFilter(20.0, True)
    proposal_area_filter: AreaFilter | None = AreaFilter(20.0, True)
    area_of: AreaOf = "raw"
    area_formula: AreaRule = "geos"
    iou_formula: IouFormula = "sum"
    tie_break: TieBreak = "file"
    invalid_proposal: InvalidProposal = "buffer0"
    invalid_truth: InvalidTruth = "make_valid"
    collection_iou: CollectionIou = "area"
    multipolygon: MultiPolygonRule = "whole"
    negative_ids: NegativeIds = "drop"
    empty_proposal: EmptyProposal = "drop"
    empty_images: EmptyImages = "score"
    city_mean: CityMean = "listed"
    city: CityRule = "deepglobe"
    headline: Metric = Metric.MEAN_CITY_F1
    modified: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check every knob, and take the forms the command line and JSON give: area
        filters as text, the headline as its value, ``modified`` as a list."""
        problems: list[str] = []
        for knob, value in vars(self).items():
            try:
                normal = _check_knob(knob, value)
            except ValueError as exc:
                problems.append(f"{knob}: {exc}" if knob not in CHOICES else str(exc))
                continue
            if normal is not value:
                object.__setattr__(self, knob, normal)  # the one write, while being built
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_dict(cls, data: object) -> Rules:
        """The Rules of a :meth:`to_dict` (JSON) value; an unknown knob is an error, a
        missing one takes its default."""
        if not isinstance(data, dict):
            raise ValueError(f"rules must be a mapping of knobs, not {type(data).__name__}")
        unknown = sorted(set(data) - set(KNOBS))
        if unknown:
            raise ValueError(f"unknown rule knob {unknown[0]!r}")
        return cls(**data)

    def passes(self, iou: FloatArray) -> BoolArray:
        """Which IoUs pass the threshold."""
        return iou >= self.iou_threshold if self.threshold_inclusive else iou > self.iou_threshold

    def city_of(self, image_id: str) -> str:
        """The city (AOI) an ImageId belongs to, per the ``city`` knob."""
        return city_of(image_id, self.city)

    def to_dict(self) -> dict[str, Any]:
        """All knob values, JSON-ready (area filters as text, ``modified`` as a list)."""
        out: dict[str, Any] = {}
        for knob, value in vars(self).items():
            if knob.endswith("_area_filter"):
                value = "none" if value is None else str(value)
            elif knob == "modified":
                value = list(value)
            elif knob == "headline":
                value = value.value
            out[knob] = value
        return out


#: every knob of Rules, in its order
KNOBS: tuple[str, ...] = tuple(f.name for f in fields(Rules))


def _check_knob(knob: str, value: Any) -> Any:
    """``value`` as knob ``knob`` holds it, or a ValueError saying why it cannot be."""
    if knob in _STRING_KNOBS:
        if not isinstance(value, str) or value not in CHOICES[knob]:
            raise ValueError(f"{knob} must be one of {', '.join(CHOICES[knob])}; got {value!r}")
        return value
    if knob == "headline":
        try:
            return Metric(value)
        except ValueError:
            raise ValueError(
                f"headline must be one of {', '.join(CHOICES['headline'])}; got {value!r}"
            ) from None
    if knob == "iou_threshold":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"input should be a number; got {value!r}")
        if not value > 0:
            raise ValueError(f"input should be greater than 0; got {value!r}")
        if not value <= 1:
            raise ValueError(f"input should be less than or equal to 1; got {value!r}")
        return value if isinstance(value, float) else float(value)
    if knob.endswith("_area_filter"):
        if value is None or isinstance(value, AreaFilter | str):
            return AreaFilter.parse(value)
        raise ValueError(f"input should be text such as '>=20' or 'none'; got {value!r}")
    if knob == "threshold_inclusive":
        if not isinstance(value, bool):
            raise ValueError(f"input should be true or false; got {value!r}")
        return value
    if knob == "name":
        if not isinstance(value, str):
            raise ValueError(f"input should be text; got {value!r}")
        return value
    # modified: the knobs overridden on top of the preset
    if not isinstance(value, list | tuple) or not all(v in KNOBS for v in value):
        raise ValueError(f"input should be a list of knob names; got {value!r}")
    return value if isinstance(value, tuple) else tuple(value)


def _strip_last(image_id: str) -> str:
    return image_id.rsplit("_", 1)[0] if "_" in image_id else image_id


#: the named presets (each checked as it is built, like any Rules).
PRESETS: dict[str, Rules] = {
    "deepglobe": Rules(),
    "spacenet-utilities": Rules(
        name="spacenet-utilities",
        threshold_inclusive=True,
        order="file",
        tie_break="rtree_slots",
        truth_area_filter=AreaFilter(20.0, False),
        proposal_area_filter=None,
        invalid_truth="as_is",
        area_formula="ogr",
        iou_formula="union",
        collection_iou="zero",
        empty_proposal="fp",
        city="aoi_names",
        headline=Metric.F1,
    ),
    "solaris": Rules(
        name="solaris",
        proposal_area_filter=AreaFilter(20.0, False),
        invalid_truth="zero",
        iou_formula="union",
        negative_ids="score",
        city="strip_last",
    ),
    "topcoder": Rules(
        name="topcoder",
        invalid_proposal="make_valid",
        invalid_truth="make_valid",
        area_formula="shoelace",
        multipolygon="first",
        empty_images="skip",
        city_mean="seen",
        city="first3",
    ),
}


def get_rules(rules: str | Rules = "deepglobe", **overrides: object) -> Rules:
    """A preset by name (or a Rules value), with knobs overridden; None overrides are ignored.

    A bad knob value raises one ``ValueError`` that names the knob, the value and, for a
    string knob, every valid choice.

    Examples
    --------
    >>> get_rules("solaris").threshold_inclusive
    False
    >>> r = get_rules("deepglobe", iou_threshold=0.75)
    >>> r.iou_threshold, r.modified
    (0.75, ('iou_threshold',))
    >>> get_rules("deepglobe", order="random")
    Traceback (most recent call last):
    ...
    ValueError: order must be one of file, confidence; got 'random'
    >>> get_rules("kaggle")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    KeyError: "unknown rules preset 'kaggle'; choose one of deepglobe, spacenet-utilities, ..."
    """
    if isinstance(rules, str):
        if rules not in PRESETS:
            raise KeyError(f"unknown rules preset {rules!r}; choose one of {', '.join(PRESETS)}")
        rules = PRESETS[rules]
    given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(KNOBS))
    if unknown:
        raise TypeError(f"unknown rule knob {unknown[0]!r}")
    if "modified" in given:
        raise TypeError("'modified' is not a knob to set: get_rules records what it overrides")
    if not given:
        return rules
    changed = tuple(sorted(set(rules.modified) | set(given)))
    return replace(rules, **given, modified=changed)
