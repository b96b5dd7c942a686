"""The evaluation rules in words: every knob of a challenge's evaluator preset with its
value and what that value means, for the challenge page.

String knobs take their meanings from the evaluator's own ``CHOICES`` (one table, so the
page cannot drift from the scorer); the numeric ones are explained here.
"""

from __future__ import annotations

from dataclasses import dataclass

from geoarena.evaluator import AreaFilter, Rules
from geoarena.evaluator.rules import CHOICES, KNOBS

#: the fields of :class:`Rules` that are not knobs: the preset's name and which knobs
#: were changed from it.
NOT_KNOBS = ("name", "modified")

#: knob -> what it decides, as a reader would ask it (every knob of :class:`Rules`).
TITLES: dict[str, str] = {
    "iou_threshold": "When a proposal matches a building",
    "threshold_inclusive": "Is the threshold itself a match",
    "order": "Which proposal is matched first",
    "truth_area_filter": "Which truth buildings count",
    "proposal_area_filter": "Which of your polygons count",
    "area_of": "Which area the filters measure",
    "area_formula": "How an area is computed",
    "iou_formula": "How IoU is computed",
    "tie_break": "Which building an exact IoU tie goes to",
    "invalid_proposal": "Your invalid polygons",
    "invalid_truth": "Invalid truth polygons",
    "collection_iou": "Intersections that are collections",
    "multipolygon": "MultiPolygons",
    "negative_ids": "Rows with BuildingId -1",
    "empty_proposal": "POLYGON EMPTY proposals",
    "empty_images": "Images with nothing left",
    "city_mean": "Which cities the mean per-city F1 averages",
    "city": "The city of an image",
    "headline": "The preset's headline number",
}


@dataclass(frozen=True)
class Knob:
    name: str
    title: str
    value: str
    meaning: str


def _area(value: AreaFilter | None, whose: str) -> tuple[str, str]:
    if value is None:
        return "none", f"{whose} of every size count"
    op = "at least" if value.inclusive else "more than"
    return str(value), (
        f"{whose} count when their area is {op} {value.min_area:g} square pixels; smaller "
        "ones are dropped before matching (neither matched nor counted as errors)"
    )


def knobs(rules: Rules) -> list[Knob]:
    """Every knob of ``rules`` in the evaluator's order, with the meaning of its value."""
    out: list[Knob] = []
    for name in (f for f in KNOBS if f not in NOT_KNOBS):
        value = getattr(rules, name)
        if name == "iou_threshold":
            op = ">=" if rules.threshold_inclusive else ">"
            text, meaning = (
                f"{value:g}",
                f"a proposal and a truth building match when IoU {op} {value:g}: the area "
                "of their intersection divided by the area of their union; each building "
                "matches at most one proposal (greedy one-to-one matching)",
            )
        elif name == "threshold_inclusive":
            text = "yes" if value else "no"
            meaning = (
                "an IoU exactly at the threshold is a match"
                if value
                else "an IoU exactly at the threshold is not a match (it must exceed it)"
            )
        elif name in ("truth_area_filter", "proposal_area_filter"):
            whose = "truth buildings" if name == "truth_area_filter" else "your polygons"
            text, meaning = _area(value, whose.capitalize())
        else:
            text = str(getattr(value, "value", value))
            meaning = CHOICES[name][text]
        out.append(Knob(name, TITLES[name], text, meaning))
    return out
