"""The public API: PreparedTruth, split restriction, bootstrap, Rules, results, imports."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing
from typing import get_args

import numpy as np
import pytest

from geoarena.evaluator import (
    PRESETS,
    AreaFilter,
    PolygonTable,
    PreparedTruth,
    Rules,
    get_rules,
    metrics,
    read_proposals,
    read_truth,
    score,
)
from geoarena.evaluator.metrics import Metric
from geoarena.evaluator.parallel import score_files
from geoarena.evaluator.rules import CHOICES, KNOBS
from geoarena.evaluator.synthetic import make_pair

from .helpers import PRESET_NAMES, SAMPLES, matches_of, per_image
from .oracle import oracle_score

SN2_TRUTH = SAMPLES / "SN2_sample_truth.csv"
SN2_PREDS = SAMPLES / "SN2_sample_preds.csv"
SQUARE = "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))"


@pytest.fixture(scope="module")
def sn2() -> tuple[PolygonTable, PolygonTable]:
    return read_truth(SN2_TRUTH), read_proposals(SN2_PREDS)


@pytest.fixture(scope="module")
def synthetic() -> tuple[PolygonTable, PolygonTable]:
    truth, props = make_pair(24, 30, seed=3)
    return read_truth(truth), read_proposals(props)


def restricted(table: PolygonTable, images) -> PolygonTable:
    return table.take(np.isin(table.image_id.astype(str), list(images)))


def with_rows(props: PolygonTable, extra: PolygonTable) -> PolygonTable:
    """``props`` with the rows of ``extra`` appended, as if after them in the file."""
    return PolygonTable(
        name=props.name,
        image_id=np.concatenate([props.image_id, extra.image_id]),
        building_id=np.concatenate([props.building_id, extra.building_id]),
        geometry=np.concatenate([props.geometry, extra.geometry]),
        confidence=np.concatenate([props.confidence, extra.confidence]),
        line=np.concatenate([props.line, extra.line + props.line.max()]),
    )


# -- PreparedTruth -----------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_prepared_truth_is_reusable_and_equals_score(sn2, preset: str) -> None:
    truth, props = sn2
    prepared = PreparedTruth(truth, preset)
    first = prepared.score(props).to_dict()
    other = restricted(props, ["AOI_2_Vegas_img3457"])
    prepared.score(other)  # scoring something else in between changes nothing
    assert prepared.score(props).to_dict() == first
    assert score(truth, props, preset).to_dict() == first
    assert score(SN2_TRUTH, SN2_PREDS.read_bytes(), preset).to_dict() == first
    assert prepared.score(SN2_PREDS).to_dict() == first
    assert PreparedTruth(SN2_TRUTH, preset, index="rtree").score(props).to_dict() == first


def test_settled_pairs_change_nothing(synthetic) -> None:
    """Pairs settled from bounds alone give the counts that exact IoUs give."""
    truth, props = synthetic
    fast = score(truth, props)
    exact = score(truth, props, details=True)  # every candidate IoU computed
    assert fast.diagnostics["pairs_settled_by_bounds"] > 0
    assert per_image(fast) == per_image(exact)
    assert per_image(fast) == oracle_score(truth, props, get_rules("deepglobe"))


def test_unknown_index() -> None:
    with pytest.raises(KeyError, match="strtree"):
        PreparedTruth(SN2_TRUTH, index="quadtree")


# -- image_ids restriction (leaderboard splits) --------------------------------------------


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_image_ids_restriction(synthetic, preset: str) -> None:
    truth, props = synthetic
    images = truth.image_ids
    split = [*images[::3], "AOI_9_Nowhere_img1"]  # one id present in neither file
    extra = PolygonTable.from_wkt(  # proposals outside the split, and one inside it
        ["AOI_2_Vegas_img9999", images[1], images[0]],
        [0, 0, 7],
        [SQUARE] * 3,
        [1.0, 1.0, 1.0],
    )
    props = with_rows(props, extra)
    rules = get_rules(preset)
    result = PreparedTruth(truth, rules, image_ids=split).score(props)
    assert set(per_image(result)) == set(images[::3])
    assert per_image(result) == oracle_score(
        restricted(truth, split), restricted(props, split), rules
    )
    full = per_image(score(truth, props, rules))
    assert all(per_image(result)[i] == full[i] for i in images[3::3])  # untouched by extras
    assert per_image(result)[images[0]] == full[images[0]]


def test_image_ids_restriction_counts_a_split_only_proposal_image(sn2) -> None:
    truth = sn2[0]
    extra = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [0], [SQUARE.replace("10", "30")], [1])
    prepared = PreparedTruth(truth, image_ids=["AOI_2_Vegas_img1", "AOI_2_Vegas_img5979"])
    assert per_image(prepared.score(extra)) == {
        "AOI_2_Vegas_img1": (0, 1, 0),
        "AOI_2_Vegas_img5979": (0, 0, 8),
    }


@pytest.mark.parametrize("workers", [1, 3])
def test_proposal_images_not_in_the_truth_are_counted(workers: int) -> None:
    """A submission keyed by other ImageIds scores 0 for that reason alone: the proposal
    counters say how many of its images the truth lacks, alike in one process, on every
    core and from a prepared truth; images outside a split are ignored, not counted."""
    truth_csv, props_csv = make_pair(12, 8, seed=4)
    renamed = props_csv.replace(b"_img1,", b"_IMG1,").replace(b"_img2,", b"_IMG2,")
    truth, props = read_truth(truth_csv), read_proposals(renamed)
    expected = len({i for i in props.image_id if "_IMG" in i})
    assert expected == 2 and len(set(props.image_id)) == 12  # img1 and img2 renamed
    for result in (
        score(truth, props),
        score_files(truth_csv, renamed, workers=workers),
        score_files(PreparedTruth(truth), renamed, workers=workers),
    ):
        counts = result.diagnostics["proposals"]
        assert (counts["images"], counts["images_not_in_truth"]) == (12, expected)
    split = PreparedTruth(truth, image_ids=["AOI_2_Vegas_img5", "AOI_2_Vegas_IMG1"])
    counts = split.score(props).diagnostics["proposals"]
    assert (counts["images"], counts["images_not_in_truth"]) == (2, 1)


def same_but_truth_counters(view, split) -> None:
    """A view scores as the split does; only the truth's counters differ (a view's are
    the whole truth's, a split's its own)."""
    a, b = ({**r.to_dict(), "diagnostics": {**r.diagnostics, "truth": None}} for r in (view, split))
    assert a == b


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_a_view_of_some_images_scores_as_a_split(synthetic, preset: str) -> None:
    """``for_images`` (how ``score_files`` scores a chunk against one loaded truth) lists,
    counts, matches and classifies exactly what a truth restricted to those images does."""
    truth, props = synthetic
    images = truth.image_ids
    ids = [*images[1::4], "AOI_2_Vegas_img9999"]  # and one in neither file
    extra = PolygonTable.from_wkt(  # a proposal image the truth lacks, inside the view
        ["AOI_2_Vegas_img9999"], [0], [SQUARE], [1.0]
    )
    props = with_rows(props, extra)
    whole = PreparedTruth(truth, preset)
    view, split = whole.for_images(ids), PreparedTruth(truth, preset, image_ids=ids)
    assert view.image_ids.tolist() == split.image_ids.tolist() == images[1::4]
    for kwargs in ({}, {"breakdown": True}, {"details": True, "breakdown": True}):
        got, expected = view.score(props, **kwargs), split.score(props, **kwargs)
        same_but_truth_counters(got, expected)
        assert got.diagnostics["truth"] == whole.score(props).diagnostics["truth"]
        if "details" in kwargs:
            assert matches_of(got) == matches_of(expected)
    full = per_image(whole.score(props))
    assert all(per_image(view.score(props))[i] == full[i] for i in images[1::4])


def test_views_compose_with_splits_and_views(synthetic) -> None:
    truth, props = synthetic
    images = truth.image_ids
    split = PreparedTruth(truth, image_ids=images[::2])
    view = split.for_images(images[::3])  # within the split: its images of the view
    inner = PreparedTruth(truth, image_ids=images[::6])
    same_but_truth_counters(view.score(props), inner.score(props))
    same_but_truth_counters(view.for_images(images[::2]).score(props), inner.score(props))
    assert view.split == images[::6]
    empty = split.for_images([])
    assert (empty.score(props).micro.tp, len(empty.score(props).images)) == (0, 0)


# -- bootstrap ---------------------------------------------------------------------------


def test_bootstrap_is_deterministic_and_contains_the_estimate(sn2) -> None:
    truth, props = sn2
    a = score(truth, props, bootstrap=300, seed=7)
    b = score(truth, props, bootstrap=300, seed=7)
    c = score(truth, props, bootstrap=300, seed=8)
    assert a.bootstrap == b.bootstrap
    assert a.bootstrap != c.bootstrap
    boot = a.bootstrap
    assert (boot["replicates"], boot["seed"], boot["level"]) == (300, 7, 0.95)
    lo, hi = boot["micro_f1"]
    assert lo <= a.micro.f1 <= hi and lo < hi
    lo, hi = boot["mean_city_f1"]
    assert lo <= a.mean_city_f1 <= hi and lo < hi
    for city, (lo, hi) in boot["cities"].items():
        assert lo <= a.cities[city].f1 <= hi
    assert score(truth, props).bootstrap is None
    json.dumps(a.to_dict())


def test_bootstrap_replicates_are_bounded_and_drawn_in_blocks_alike(
    sn2, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replicates are drawn a block at a time (bounded memory): tiny blocks give the very
    draws of one block; a replicate count out of range is refused, not run out of memory."""
    truth, props = sn2
    whole = score(truth, props, bootstrap=300, seed=7).bootstrap
    monkeypatch.setattr(metrics, "_BLOCK_DRAWS", 7)
    assert score(truth, props, bootstrap=300, seed=7).bootstrap == whole
    for n in (-1, metrics.MAX_REPLICATES + 1):
        with pytest.raises(ValueError, match="bootstrap replicates must be"):
            score(truth, props, bootstrap=n)


def test_bootstrap_widens_with_fewer_images(synthetic) -> None:
    truth, props = synthetic
    few = truth.image_ids[:6]
    wide = score(restricted(truth, few), restricted(props, few), bootstrap=400, seed=1)
    narrow = score(truth, props, bootstrap=400, seed=1)

    def width(result, key: str) -> float:
        lo, hi = result.bootstrap[key]
        return hi - lo

    assert width(wide, "micro_f1") > width(narrow, "micro_f1")
    assert width(wide, "mean_city_f1") > width(narrow, "mean_city_f1")


# -- Rules -------------------------------------------------------------------------------


@pytest.mark.parametrize("knob", sorted(CHOICES))
def test_rules_validation_lists_valid_choices(knob: str) -> None:
    with pytest.raises(ValueError) as info:
        get_rules("deepglobe", **{knob: "bogus"})
    message = str(info.value)
    assert knob in message and "bogus" in message
    assert all(choice in message for choice in CHOICES[knob])


@pytest.mark.parametrize("value", [0.0, -0.5, 1.5])
def test_iou_threshold_range(value: float) -> None:
    with pytest.raises(ValueError, match="iou_threshold"):
        Rules(iou_threshold=value)


def test_area_filter_parsing() -> None:
    assert AreaFilter.parse(">= 20") == AreaFilter(20.0, True)
    assert AreaFilter.parse(">0.5") == AreaFilter(0.5, False)
    assert AreaFilter.parse("none") is None
    assert str(AreaFilter(20.0, True)) == ">=20"
    with pytest.raises(ValueError, match="'>=20', '>20' or 'none'"):
        get_rules("deepglobe", truth_area_filter="< 20")


def test_unknown_preset_and_knob() -> None:
    with pytest.raises(KeyError) as info:
        get_rules("kaggle")
    assert all(name in str(info.value) for name in PRESETS)
    with pytest.raises(TypeError, match="iou"):
        get_rules("deepglobe", iou=0.5)
    with pytest.raises(TypeError, match="records what it overrides"):
        get_rules("deepglobe", modified=("order",))


@pytest.mark.parametrize(
    ("knob", "value", "reason"),
    [
        ("order", ["file"], "order must be one of file, confidence; got ['file']"),
        ("headline", "recall", "headline must be one of f1, mean_city_f1; got 'recall'"),
        ("iou_threshold", "0.5", "iou_threshold: input should be a number; got '0.5'"),
        ("iou_threshold", True, "iou_threshold: input should be a number; got True"),
        ("iou_threshold", float("nan"), "iou_threshold: input should be greater than 0"),
        ("threshold_inclusive", 1, "threshold_inclusive: input should be true or false"),
        ("truth_area_filter", 20, "truth_area_filter: input should be text such as '>=20'"),
    ],
)
def test_bad_knob_values_say_which_and_why(knob: str, value: object, reason: str) -> None:
    """Rules checks itself (no validation library): each wrong type or range is one
    ValueError naming the knob, and the value JSON would give back is accepted."""
    with pytest.raises(ValueError) as info:
        get_rules("deepglobe", **{knob: value})
    assert str(info.value).startswith(reason)
    with pytest.raises(ValueError, match="unknown rule knob 'colour'"):
        Rules.from_dict({**PRESETS["solaris"].to_dict(), "colour": "red"})
    with pytest.raises(ValueError, match="mapping of knobs"):
        Rules.from_dict(["solaris"])


def test_overrides_record_modified() -> None:
    rules = get_rules("solaris", iou_threshold=0.75, order="file")
    assert (rules.name, rules.iou_threshold, rules.order) == ("solaris", 0.75, "file")
    assert rules.modified == ("iou_threshold", "order")
    again = get_rules(rules, proposal_area_filter="none", order=None)  # None: not overridden
    assert again.modified == ("iou_threshold", "order", "proposal_area_filter")
    assert again.proposal_area_filter is None
    assert get_rules("solaris") is PRESETS["solaris"] and PRESETS["solaris"].modified == ()
    assert PRESETS["solaris"].iou_threshold == 0.5  # presets are never mutated
    assert score(SN2_TRUTH, SN2_PREDS, again).rules == again


def test_presets_are_named_for_themselves() -> None:
    assert set(PRESETS) == set(PRESET_NAMES)
    assert all(PRESETS[name].name == name for name in PRESETS)
    assert get_rules() == PRESETS["deepglobe"]


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_presets_are_valid_and_round_trip_through_json(preset: str) -> None:
    """A score's recorded rules rebuild the very same Rules."""
    rules = PRESETS[preset]
    again = Rules.from_dict(json.loads(json.dumps(rules.to_dict())))
    assert again == rules and hash(again) == hash(rules)
    modified = get_rules(preset, iou_threshold=0.6, truth_area_filter="none")
    assert Rules.from_dict(json.loads(json.dumps(modified.to_dict()))) == modified


def test_rules_are_frozen_values() -> None:
    a, b = get_rules("solaris", order="file"), get_rules("solaris", order="file")
    assert a == b and hash(a) == hash(b) and len({a, b, PRESETS["solaris"]}) == 2
    assert a != PRESETS["solaris"] and a != get_rules("topcoder", order="file")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.order = "confidence"  # type: ignore[misc]
    assert a.order == "file"


@pytest.mark.parametrize("knob", sorted(CHOICES))
def test_rules_literals_match_choices(knob: str) -> None:
    """Each string knob's type lists exactly the choices CHOICES describes (and --help shows)."""
    annotation = typing.get_type_hints(Rules)[knob]
    allowed = [m.value for m in Metric] if annotation is Metric else list(get_args(annotation))
    assert allowed == list(CHOICES[knob])


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_result_to_dict_is_json_and_has_every_knob(sn2, preset: str) -> None:
    truth, props = sn2
    result = score(truth, props, get_rules(preset, iou_threshold=0.6))
    data = json.loads(json.dumps(result.to_dict()))
    knobs = set(KNOBS)
    assert set(data["rules"]) == knobs
    assert data["rules"]["iou_threshold"] == 0.6 and data["rules"]["modified"] == ["iou_threshold"]
    assert data["rules"]["name"] == preset
    assert data["headline"]["f1"] == result.headline
    assert data["micro"]["tp"] == result.micro.tp
    assert {c: (v["tp"], v["fp"], v["fn"]) for c, v in data["cities"].items()} == {
        c: (v.tp, v.fp, v.fn) for c, v in result.cities.items()
    }
    assert [(i["image_id"], i["tp"], i["fp"], i["fn"]) for i in data["images"]] == [
        (s.image_id, s.counts.tp, s.counts.fp, s.counts.fn) for s in result.images
    ]
    assert data["evaluator_version"]


def test_rtree_backend_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "rtree.index", None)  # as if rtree were not installed
    with pytest.raises(ImportError, match=r"pip install 'geoarena\[rtree\]'"):
        PreparedTruth(SN2_TRUTH, index="rtree")
    assert PreparedTruth(SN2_TRUTH, index="strtree").index_kind.name == "strtree"


def test_importing_the_evaluator_stays_light() -> None:
    heavy = ["torch", "mlflow", "optuna", "fastapi", "sqlalchemy", "timm"]
    # pydantic too: it would cost every `geoarena score` ~60 ms to import (rules.Rules)
    light = [*heavy, "pandas", "rtree", "pydantic"]
    code = (
        "import sys, json\n"
        "import geoarena.evaluator\n"
        f"after_import = [m for m in {light!r} if m in sys.modules]\n"
        f"geoarena.evaluator.score({str(SN2_TRUTH)!r}, {str(SN2_PREDS)!r}, bootstrap=5)\n"
        f"after_score = [m for m in {heavy!r} if m in sys.modules]\n"
        "print(json.dumps([after_import, after_score]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == [[], []]


# -- regressions --------------------------------------------------------------------------


def test_negative_id_empty_marker_is_not_a_false_positive() -> None:
    """'-1,POLYGON EMPTY' marks an image without buildings, even when -1 rows are scored
    and empty proposals count as false positives (rules.CHOICES: BuildingId != -1)."""
    truth = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [-1], ["POLYGON EMPTY"])
    props = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [-1], ["POLYGON EMPTY"], [1])
    rules = get_rules("solaris", empty_proposal="fp")
    assert oracle_score(truth, props, rules) == {"AOI_2_Vegas_img1": (0, 0, 0)}
    assert per_image(score(truth, props, rules)) == {"AOI_2_Vegas_img1": (0, 0, 0)}
    props = PolygonTable.from_wkt(["AOI_2_Vegas_img1"] * 2, [-1, 3], ["POLYGON EMPTY"] * 2, [1, 1])
    assert per_image(score(truth, props, rules)) == {"AOI_2_Vegas_img1": (0, 1, 0)}


SPIKE = "POLYGON ((0 0, 10 0, 10 10, 15 15, 10 10, 0 10, 0 0))"  # make_valid: polygon + line


@pytest.mark.parametrize(
    ("proposal", "knobs", "details"),
    [
        ("POLYGON EMPTY", {"empty_proposal": "fp"}, True),
        ("POLYGON EMPTY", {"empty_proposal": "fp", "iou_threshold": 1e-12}, False),
        ("POLYGON ((0 0, 5 0, 5 0, 0 0, 0 0))", {"proposal_area_filter": "none"}, True),
        ("POLYGON ((0 0, 5 0, 5 0, 0 0, 0 0))", {"proposal_area_filter": "none"}, False),
    ],
    ids=["empty-fp-details", "empty-fp-tiny-threshold", "buffer0-emptied-details", "emptied"],
)
def test_empty_geometry_has_iou_zero_never_a_crash(proposal, knobs, details) -> None:
    """GEOS cannot intersect an empty geometry with a GeometryCollection; an empty
    proposal (or one buffer(0) erased) must simply be a false positive."""
    truth = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [1], [SPIKE])
    props = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [0], [proposal], [1])
    for invalid_truth in ("make_valid", "buffer0", "as_is"):
        rules = get_rules("deepglobe", invalid_truth=invalid_truth, **knobs)
        assert oracle_score(truth, props, rules) == {"AOI_2_Vegas_img1": (0, 1, 1)}
        result = score(truth, props, rules, details=details)
        assert per_image(result) == {"AOI_2_Vegas_img1": (0, 1, 1)}
        assert result.diagnostics["geos_failures"] == 0


def test_make_valid_keeps_the_polygonal_part() -> None:
    """A spiked truth repaired by make_valid is its polygon: its copy matches it even when
    a GeometryCollection intersection would count as IoU 0."""
    truth = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [1], [SPIKE])
    props = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [0], [SQUARE], [1])
    for preset in PRESET_NAMES:
        rules = get_rules(preset, invalid_truth="make_valid", collection_iou="zero")
        assert per_image(score(truth, props, rules)) == {"AOI_2_Vegas_img1": (1, 0, 0)}
        assert oracle_score(truth, props, rules) == {"AOI_2_Vegas_img1": (1, 0, 0)}


@pytest.mark.parametrize("preset", ["deepglobe", "topcoder", "solaris", "spacenet-utilities"])
def test_a_geometry_geos_cannot_repair_is_scored_not_fatal(preset: str) -> None:
    """Found by fuzzing: make_valid raised GEOSException ("Scale factor must be non-zero")
    on a bow-tie with coordinates near the float limit, aborting the whole score."""
    wild = "POLYGON ((0 1e308, 1e308 0, 0 2, 0 0, 0 1e308))"
    truth = PolygonTable.from_wkt(["AOI_2_Vegas_img1", "AOI_2_Vegas_img1"], [1, 2], [wild, SQUARE])
    props = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [1], [SQUARE], [1.0])
    result = score(truth, props, preset)
    assert result.micro.tp == 1


def box_wkt(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


@pytest.mark.parametrize(("tie_break", "counts"), [("rtree_slots", (4, 0, 1)), ("file", (3, 1, 2))])
def test_ties_follow_the_index_slots_after_two_matches(tie_break: str, counts) -> None:
    """Truths A..E in slots [A, B, C, D, E]: matching A moves E into A's slot and matching
    B moves D into B's, giving [E, D, C]; a proposal tied between C and D (IoU 90/110
    each) then takes D, leaving C to the next proposal (IoU 80/120, 60/140 with D). In
    file order it takes C, and the next one is a false positive."""
    a, b, e = box_wkt(0, 0, 10, 10), box_wkt(30, 0, 40, 10), box_wkt(200, 0, 210, 10)
    c, d = box_wkt(100, 0, 110, 10), box_wkt(102, 0, 112, 10)
    image = ["AOI_2_Vegas_img1"] * 5
    truth = PolygonTable.from_wkt(image, range(5), [a, b, c, d, e])
    proposals = [a, b, box_wkt(101, 0, 111, 10), box_wkt(98, 0, 108, 10)]
    props = PolygonTable.from_wkt(image[:4], range(4), proposals)
    rules = get_rules("spacenet-utilities", tie_break=tie_break)
    result = score(truth, props, rules, details=True)
    assert (result.micro.tp, result.micro.fp, result.micro.fn) == counts
    assert per_image(result) == oracle_score(truth, props, rules)
    matched = result.matches.truth_rows[result.matches.proposal_truth[2]]
    assert int(matched) == (3 if tie_break == "rtree_slots" else 2)  # D, or C
