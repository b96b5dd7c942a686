"""Differential tests: the vectorized evaluator against the plain-loop oracle.

Hypothesis builds small multi-image scenes on an integer grid, so that exact IoU ties,
IoUs of exactly 0.5, areas of exactly 20, touching edges (GeometryCollection
intersections), nested, duplicated and degenerate polygons all occur often; rectangles at
decimal coordinates (conformance cases 19-22) put each area formula's rounding at the
area filter's 20 px and, halved, at IoU 0.5.
"""

from __future__ import annotations

import os

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import affinity

from geoarena.evaluator import PolygonTable, get_rules, score
from geoarena.evaluator.breakdown import FN_CLASSES, FP_CLASSES, SIZES, BreakdownSettings
from geoarena.evaluator.rules import CHOICES
from geoarena.evaluator.synthetic import make_pair

from .helpers import PRESET_NAMES, per_image
from .oracle import oracle_cities, oracle_errors, oracle_match, oracle_mean_city_f1

#: raise for a deeper hunt, e.g. GEOARENA_HYPOTHESIS_EXAMPLES=5000 pytest ...
EXAMPLES = int(os.environ.get("GEOARENA_HYPOTHESIS_EXAMPLES", "300"))
#: big random scenes on a slow CI machine are expected, not a problem
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

IMAGES = (
    "AOI_2_Vegas_img1",
    "AOI_2_Vegas_img2",
    "AOI_5_Khartoum_img7",
    "AOI_3_Paris_img3_x",
    "Atlanta_nadir7_catid_1030010003D22F00_732701_3720639",
)

coord = st.integers(0, 16)
size = st.integers(1, 12)


def ring(points) -> str:
    return "(" + ", ".join(f"{x:g} {y:g}" for x, y in [*points, points[0]]) + ")"


def rect_points(x, y, w, h):
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


@st.composite
def shapes(draw) -> str:
    """WKT of one random polygon-like shape, valid or not."""
    kind = draw(
        st.sampled_from(
            ["rect"] * 6
            + ["triangle", "bowtie", "donut", "multi", "u", "spike", "empty", "half", "tiny"]
            + ["flat", "decimal", "decimal"]
        )
    )
    x, y, w, h = draw(coord), draw(coord), draw(size), draw(size)
    if kind == "rect":
        return f"POLYGON ({ring(rect_points(x, y, w, h))})"
    if kind == "flat":  # zero area (invalid): buffer(0) makes it empty
        return f"POLYGON ({ring(rect_points(x, y, w, 0))})"
    if kind == "half":  # half-pixel coordinates
        return f"POLYGON ({ring(rect_points(x + 0.5, y, w + 0.5, h))})"
    if kind == "decimal":  # decimal coordinates: each area formula rounds its own way
        dx, dy = draw(st.sampled_from([(0.3, 0.7), (0.17, 0.7), (0.333, 0.85), (0.991, 0.85)]))
        w, h = draw(st.sampled_from([(3.2, 6.25), (0.8, 25.0), (9.952, 11.778), (4.976, 11.778)]))
        return f"POLYGON ({ring(rect_points(x + dx, y + dy, w, h))})"
    if kind == "tiny":  # areas around the filters' 20 px
        w, h = draw(st.sampled_from([(4, 5), (5, 4), (2, 10), (3, 7), (1, 1), (7, 3)]))
        return f"POLYGON ({ring(rect_points(x, y, w, h))})"
    if kind == "triangle":
        pts = [(draw(coord), draw(coord)) for _ in range(3)]
        return f"POLYGON ({ring(pts)})"
    if kind == "bowtie":  # self-intersecting
        return f"POLYGON ({ring([(x, y), (x + w, y + h), (x + w, y), (x, y + h)])})"
    if kind == "donut":  # a hole, sometimes touching the shell
        w, h = w + 4, h + 4
        inset = draw(st.sampled_from([1, 0]))
        hole = rect_points(x + inset + 1, y + 1, w - inset - 2, h - 2)
        return f"POLYGON ({ring(rect_points(x, y, w, h))}, {ring(hole[::-1])})"
    if kind == "multi":  # the parts may overlap (an invalid MultiPolygon)
        x2, y2, w2, h2 = draw(coord), draw(coord), draw(size), draw(size)
        a, b = ring(rect_points(x, y, w, h)), ring(rect_points(x2, y2, w2, h2))
        return f"MULTIPOLYGON (({a}), ({b}))"
    if kind == "u":  # a U: rectangles laid on it touch its inner edges
        w, h = w + 3, h + 3
        pts = [
            (x, y),
            (x + 3 * w, y),
            (x + 3 * w, y + 2 * h),
            (x + 2 * w, y + 2 * h),
            (x + 2 * w, y + h),
            (x + w, y + h),
            (x + w, y + 2 * h),
            (x, y + 2 * h),
        ]
        return f"POLYGON ({ring(pts)})"
    if kind == "spike":  # make_valid: polygon + the spike as a line (a GeometryCollection)
        pts = [(x, y), (x + w, y), (x + w, y + h), (x + w + 4, y + h + 4), (x + w, y + h)]
        return f"POLYGON ({ring([*pts, (x, y + h)])})"
    return draw(st.sampled_from(["POLYGON EMPTY", "MULTIPOLYGON EMPTY"]))


@st.composite
def proposal_shapes(draw, truths: list[str]) -> str:
    """A random shape, or one derived from a truth (copy, shift, half, grown)."""
    if not truths or draw(st.integers(0, 3)) == 0:
        return draw(shapes())
    base = shapely.from_wkt(draw(st.sampled_from(truths)))
    if base.is_empty:
        return base.wkt
    how = draw(st.sampled_from(["copy", "shift", "shift", "half", "grow"]))
    if how == "shift":
        base = affinity.translate(base, draw(st.integers(-3, 3)), draw(st.integers(-3, 3)))
    elif how == "half":  # exactly half of a rectangle-like truth: IoU 0.5
        base = affinity.scale(base, xfact=0.5, yfact=1.0, origin=(base.bounds[0], 0))
    elif how == "grow":
        base = affinity.scale(base, xfact=2.0, yfact=1.0, origin=(base.bounds[0], 0))
    return shapely.to_wkt(base, trim=True)


@st.composite
def scenes(draw) -> tuple[PolygonTable, PolygonTable]:
    """A truth table and a proposal table over a few images, rows in random order."""
    images = draw(st.lists(st.sampled_from(IMAGES), min_size=1, max_size=3, unique=True))
    truth_rows, prop_rows = [], []
    for image in images:
        truths = draw(st.lists(shapes(), min_size=1, max_size=6)) if draw(st.integers(0, 7)) else []
        if truths and draw(st.booleans()):  # exact IoU ties between two truths
            twin = shapely.from_wkt(draw(st.sampled_from(truths)))
            if draw(st.booleans()):
                twin = affinity.translate(twin, draw(st.sampled_from([2, -2])), 0)
            truths.insert(draw(st.integers(0, len(truths))), shapely.to_wkt(twin, trim=True))
        if not truths or draw(st.integers(0, 5)) == 0:
            truth_rows.append((image, -1, "POLYGON EMPTY"))
        truth_rows += [(image, bid(draw, k), wkt) for k, wkt in enumerate(truths)]
        if draw(st.integers(0, 5)) == 0:
            continue  # image missing from the proposals
        props = draw(st.lists(proposal_shapes(truths), min_size=1, max_size=7))
        if draw(st.integers(0, 7)) == 0:
            prop_rows.append((image, -1, "POLYGON EMPTY"))
        prop_rows += [(image, bid(draw, k), wkt) for k, wkt in enumerate(props)]
    if draw(st.integers(0, 4)) == 0 or not prop_rows:  # an image absent from the truth
        prop_rows.append(("AOI_4_Shanghai_img99", 0, draw(shapes())))
    for image in images:  # move some images far along x: the index's per-image slots
        offset = draw(st.sampled_from([0, 0, 0, -5, 640]))
        if offset:
            truth_rows = [moved(r, image, offset) for r in truth_rows]
            prop_rows = [moved(r, image, offset) for r in prop_rows]
    truth_rows = draw(st.permutations(truth_rows))
    prop_rows = draw(st.permutations(prop_rows))
    confidence = None
    if draw(st.integers(0, 4)):
        values = st.sampled_from([0.1, 0.5, 0.5, 0.9, 1.0])
        confidence = [draw(values) for _ in prop_rows]
    truth = PolygonTable.from_wkt(*zip(*truth_rows, strict=True), name="truth")
    props = PolygonTable.from_wkt(*zip(*prop_rows, strict=True), confidence, name="props")
    return truth, props


@st.composite
def slot_scenes(draw) -> tuple[PolygonTable, PolygonTable]:
    """One image where matches reorder the utilities scorer's index slots before a tie:
    twin truths (a rectangle and its copy 2 px to the right) among others, proposals
    that copy some truths (matches, hence deletions) and proposals halfway between the
    twins (an exact IoU tie) or just outside either twin (passing with that one only, so
    the counts tell which twin the tie took), in random file order."""
    image = "AOI_2_Vegas_img1"
    truths = [f"POLYGON ({ring(rect_points(20 * k, 0, 10, 10))})" for k in range(draw(size))]
    twins = []
    for _ in range(draw(st.integers(1, 3))):
        x, y = draw(st.integers(0, 300)), draw(st.integers(20, 300))
        twins.append((x, y))
        for dx in (0, 2):
            at = draw(st.integers(0, len(truths)))
            truths.insert(at, f"POLYGON ({ring(rect_points(x + dx, y, 10, 10))})")
    props = draw(st.lists(st.sampled_from(truths), max_size=len(truths)))
    props += [
        f"POLYGON ({ring(rect_points(x + dx, y, 10, 10))})"
        for x, y in twins
        for dx in draw(st.lists(st.sampled_from([1, 1, -2, 4]), min_size=1, max_size=3))
    ]
    props = draw(st.permutations(props))
    truth = PolygonTable.from_wkt([image] * len(truths), range(len(truths)), truths)
    confidence = [draw(st.sampled_from([0.5, 0.9])) for _ in props]
    proposals = PolygonTable.from_wkt([image] * len(props), range(len(props)), props, confidence)
    return truth, proposals


def moved(row: tuple[str, int, str], image: str, dx: int) -> tuple[str, int, str]:
    if row[0] != image:
        return row
    return (
        row[0],
        row[1],
        shapely.to_wkt(affinity.translate(shapely.from_wkt(row[2]), dx), trim=True),
    )


def bid(draw, k: int) -> int:
    return -1 if draw(st.integers(0, 9)) == 0 else k


KNOBS = {
    "iou_threshold": st.sampled_from([0.5, 0.25, 1 / 3, 0.75, 1.0, 0.1]),
    "threshold_inclusive": st.booleans(),
    "truth_area_filter": st.sampled_from(["none", ">=20", ">20", ">0", ">=5"]),
    "proposal_area_filter": st.sampled_from(["none", ">=20", ">20", ">0", ">=5"]),
    **{knob: st.sampled_from(sorted(values)) for knob, values in CHOICES.items()},
}


#: breakdown settings around the defaults; the scenes' areas are 1 to ~300 px²
BREAKDOWN_SETTINGS = st.builds(
    BreakdownSettings,
    cover=st.sampled_from([0.5, 0.25, 0.75, 1.0]),
    localisation_iou=st.sampled_from([0.1, 0.0, 0.3]),
    size_bins=st.sampled_from([(20.0, 60.0), (1024.0, 9216.0), (0.0, 25.0)]),
)


def assert_same(
    truth: PolygonTable,
    props: PolygonTable,
    rules,
    breakdown: BreakdownSettings | None = None,
) -> None:
    """Counts per image and per city, mean city F1, every match and every error class,
    evaluator vs oracle."""
    expected = oracle_match(truth, props, rules)
    result = score(truth, props, rules)
    assert per_image(result) == expected.images, rules
    cities = {c: (n.tp, n.fp, n.fn) for c, n in result.cities.items()}
    assert cities == oracle_cities(expected.images, rules, expected.seen)
    mean_city_f1 = oracle_mean_city_f1(expected.images, rules, expected.seen)
    assert result.mean_city_f1 == pytest.approx(mean_city_f1)

    breakdown = breakdown or BreakdownSettings(size_bins=(20.0, 60.0))
    # no pruning, no settled pairs
    detailed = score(truth, props, rules, details=True, breakdown=breakdown)
    assert per_image(detailed) == expected.images
    assert_breakdown(truth, props, rules, detailed, expected, breakdown)
    alone = score(truth, props, rules, breakdown=breakdown)  # pruned matching, pairs skipped
    assert alone.breakdown.to_dict() == detailed.breakdown.to_dict()
    m = detailed.matches
    truth_iou = dict(zip(m.truth_rows.tolist(), m.truth_iou.tolist(), strict=True))
    assert truth_iou == expected.truth_iou
    chosen = dict(zip(m.truth_rows.tolist(), m.truth_chosen_iou.tolist(), strict=True))
    assert chosen == expected.truth_chosen_iou
    matched = {
        int(row): (int(m.truth_rows[t]) if t >= 0 else -1)
        for row, t in zip(m.proposal_rows, m.proposal_truth, strict=True)
    }
    assert matched == expected.proposal_match
    # a false positive reports its best IoU with any truth (a true positive: its match's)
    for row, t, iou in zip(m.proposal_rows, m.proposal_truth, m.proposal_iou, strict=True):
        if t < 0:
            assert iou == expected.proposal_best_iou[int(row)]


def assert_breakdown(truth, props, rules, result, expected, settings) -> None:
    """The error classes partition FP and FN of every image, and every polygon's class and
    every image's recall by size are the oracle's."""
    b = result.breakdown
    assert list(b.images) == [s.image_id for s in result.images]
    for s in result.images:
        e = b.images[s.image_id]
        assert sum(e.fp.values()) == s.counts.fp and sum(e.fn.values()) == s.counts.fn
        assert sum(r.tp for r in e.sizes.values()) == s.counts.tp
    m = result.matches
    got_p = {
        int(row): FP_CLASSES[c].value
        for row, c in zip(m.proposal_rows, m.errors.proposal, strict=True)
        if c >= 0
    }
    got_t = {
        int(row): FN_CLASSES[c].value
        for row, c in zip(m.truth_rows, m.errors.truth, strict=True)
        if c >= 0
    }
    want = oracle_errors(
        truth,
        props,
        rules,
        cover=settings.cover,
        localisation_iou=settings.localisation_iou,
        size_bins=settings.size_bins,
        matching=expected,
    )
    assert got_p == want.proposal_class
    assert got_t == want.truth_class
    sizes = {i: {k: (r.truths, r.tp) for k, r in e.sizes.items()} for i, e in b.images.items()}
    assert sizes == {i: want.sizes[i] for i in b.images}
    assert set(SIZES) == set(b.overall.sizes)


@SETTINGS
@given(scene=scenes())
def test_presets_equal_oracle(scene) -> None:
    truth, props = scene
    for name in PRESET_NAMES:
        assert_same(truth, props, get_rules(name))


@SETTINGS
@given(
    scene=scenes(),
    preset=st.sampled_from(PRESET_NAMES),
    knobs=st.fixed_dictionaries({}, optional=KNOBS),
    breakdown=BREAKDOWN_SETTINGS,
)
def test_knob_overrides_equal_oracle(scene, preset, knobs, breakdown) -> None:
    truth, props = scene
    assert_same(truth, props, get_rules(preset, **knobs), breakdown)


BOX = "POLYGON ((0 0, 3 0, 3 7, 0 7, 0 0))"
UNIT = "POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))"


def table(name: str, rows: list[tuple[str, str]], confidences=None) -> PolygonTable:
    ids, wkts = zip(*rows, strict=True)
    return PolygonTable.from_wkt(ids, range(len(rows)), wkts, confidences, name=name)


def test_a_bowtie_truth_under_shoelace_areas_and_the_union_formula() -> None:
    """Found by hypothesis: a bowtie truth repaired, measured by the shoelace formula as
    submitted (|lobe - lobe| = 0), under iou_formula="union". The sum estimate
    I / (a + b - I) passed (7.5 / 13.5) where the union's IoU fails (7.5 / 21): a pair
    of such a polygon must always get its union."""
    img = "AOI_2_Vegas_img1"
    truth = table("truth", [(img, BOX), (img, "POLYGON ((0 0, 3 5, 3 0, 0 5, 0 0))"),
                            (img, UNIT), (img, UNIT)])  # fmt: skip
    props = table("props", [(img, BOX), (img, BOX), (img, BOX)], [0.5, 0.1, 0.1])
    rules = get_rules(
        "deepglobe",
        area_formula="shoelace",
        iou_formula="union",
        invalid_truth="make_valid",
        truth_area_filter="none",
    )
    assert per_image(score(truth, props, rules)) == {img: (1, 2, 3)}
    assert_same(truth, props, rules)


def test_a_bowtie_truth_under_shoelace_areas_in_the_breakdown() -> None:
    """Found by hypothesis: the breakdown pruned the pairs of a bowtie truth repaired
    under shoelace areas (area 0: its IoU bound said 0) and so classed a proposal over
    it a false alarm, where its scored IoU is positive (a localisation error)."""
    img = "AOI_2_Vegas_img1"
    truth = table("truth", [(img, "POLYGON ((5 0, 9 0, 9 5, 5 5, 5 0))"),
                            (img, "POLYGON ((3 0, 7 0, 7 5, 3 5, 3 0))"),
                            (img, "POLYGON ((0 0, 5 3, 5 0, 0 3, 0 0))")])  # fmt: skip
    props = table("props", [(img, "POLYGON ((5 0, 9 0, 9 5, 5 5, 5 0))"),
                            (img, "POLYGON ((5 0, 9 0, 9 5, 5 5, 5 0))"),
                            (img, "POLYGON ((4 0, 8 0, 8 5, 4 5, 4 0))")])  # fmt: skip
    rules = get_rules(
        "deepglobe", area_formula="shoelace", invalid_truth="buffer0", truth_area_filter="none"
    )
    assert_same(truth, props, rules, BreakdownSettings(cover=1.0, size_bins=(20.0, 60.0)))


@settings(SETTINGS, max_examples=max(EXAMPLES // 3, 10))
@given(
    scene=slot_scenes(),
    preset=st.sampled_from(PRESET_NAMES),
    tie_break=st.sampled_from(sorted(CHOICES["tie_break"])),
)
def test_ties_after_matches_equal_oracle(scene, preset, tie_break) -> None:
    truth, props = scene
    assert_same(truth, props, get_rules(preset, tie_break=tie_break))


@settings(SETTINGS, max_examples=max(EXAMPLES // 3, 10))
@given(scene=scenes(), preset=st.sampled_from(PRESET_NAMES))
def test_rtree_equals_strtree(scene, preset) -> None:
    truth, props = scene
    strtree = score(truth, props, preset, index="strtree").to_dict()
    rtree = score(truth, props, preset, index="rtree").to_dict()
    for result in (strtree, rtree):
        # The examples follow candidate-pair order, which each backend may choose
        # ("any order"): compare them as a set.
        examples = result["diagnostics"]["geos_failure_examples"]
        examples.sort(key=lambda e: (e["proposal_line"], e["truth_line"]))
    assert rtree == strtree


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_synthetic_detector_output_equals_oracle(seed, preset) -> None:
    """Realistic scenes (jitter, merges, splits, bowties, MultiPolygons) from the bench data."""
    truth_csv, props_csv = make_pair(3, 40, seed=seed)
    from geoarena.evaluator import read_proposals, read_truth

    truth, props = read_truth(truth_csv), read_proposals(props_csv)
    result = score(truth, props, preset)
    expected = oracle_match(truth, props, get_rules(preset))
    assert per_image(result) == expected.images
    assert result.micro.tp > 0  # the scene is not trivially empty


def crowded_scene(n: int, seed: int) -> tuple[PolygonTable, PolygonTable]:
    """Two images of n heavily overlapping rectangles per side: n*n candidate pairs each,
    many IoUs tied (integer coordinates) and every truth contested."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def rects(k: int) -> list[str]:
        x, y = rng.integers(0, 24, (2, k))
        w, h = rng.integers(22, 28, (2, k))
        return [f"POLYGON ({ring(rect_points(*v))})" for v in zip(x, y, w, h, strict=True)]

    images = ["AOI_2_Vegas_img1"] * n + ["AOI_5_Khartoum_img2"] * n
    truth = PolygonTable.from_wkt(images, range(2 * n), rects(2 * n))
    confidence = rng.choice([0.2, 0.5, 0.9], 2 * n)
    props = PolygonTable.from_wkt(images, range(2 * n), rects(2 * n), confidence)
    return truth, props


@pytest.mark.parametrize("preset", ["deepglobe", "spacenet-utilities"])
def test_crowded_images_with_threaded_iou_equal_oracle(preset, monkeypatch) -> None:
    """Enough candidate pairs for the IoU work to be split over threads (forced on)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    truth, props = crowded_scene(110, seed=len(preset))
    rules = get_rules(preset)
    expected = oracle_match(truth, props, rules)
    for details in (False, True):
        result = score(truth, props, rules, details=details)
        assert per_image(result) == expected.images
    assert result.diagnostics["candidate_pairs"] >= 20_000
    assert result.micro.tp > 100 and result.micro.fp > 5
    m = result.matches
    truth_iou = dict(zip(m.truth_rows.tolist(), m.truth_iou.tolist(), strict=True))
    assert truth_iou == expected.truth_iou
