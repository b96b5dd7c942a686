"""A deliberately simple reference implementation of the metric, for differential tests.

Written from ``shared/metric-spec.md`` and the documented meaning of each :class:`Rules`
knob, independently of the evaluator's vectorized code: no spatial index, no pruning, no
bulk GEOS calls. Per image, each proposal (in visiting order) loops over every truth of
that image, computing one IoU at a time with shapely, and takes the best unmatched one.
It reuses only the readers' :class:`PolygonTable` (parsed geometries) and :class:`Rules`.

``bench/evaluator_bench.py`` imports :func:`oracle_score` as its baseline: keep its name
and signature.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

import shapely
from shapely.geometry import MultiPolygon, Polygon

from geoarena.evaluator import PolygonTable, Rules

#: the SpaceNet round 2 cities, as the SpaceNet utilities scorer looks for them.
SPACENET_AOIS = ("AOI_1_Rio", "AOI_2_Vegas", "AOI_3_Paris", "AOI_4_Shanghai", "AOI_5_Khartoum")


@dataclass
class Item:
    """One polygon that takes part in matching.

    ``state`` is "ok" (valid or repaired), "empty" (a POLYGON EMPTY proposal scored as a
    false positive), "as_is" (invalid, used as submitted) or "zero" (invalid truth, IoU 0).
    """

    row: int
    image_id: str
    geometry: object
    area: float
    state: str


@dataclass
class OracleResult:
    """Everything the oracle found, keyed by source row of each table."""

    images: dict[str, tuple[int, int, int]]
    #: scored truth row -> IoU of its matched proposal (0.0 when unmatched)
    truth_iou: dict[int, float] = field(default_factory=dict)
    #: scored truth row -> the largest IoU of any proposal that picked this truth as its
    #: best unmatched candidate (what solaris writes to its ground-truth ``iou_score``)
    truth_chosen_iou: dict[int, float] = field(default_factory=dict)
    #: scored proposal row -> matched truth row (-1: false positive)
    proposal_match: dict[int, int] = field(default_factory=dict)
    #: scored proposal row -> its largest IoU with any truth of its image, matched or not
    proposal_best_iou: dict[int, float] = field(default_factory=dict)
    geos_failures: int = 0
    #: every ImageId of either file, listed or not
    seen: list[str] = field(default_factory=list)


def oracle_score(
    truth: PolygonTable, proposals: PolygonTable, rules: Rules
) -> dict[str, tuple[int, int, int]]:
    """Per listed image, (TP, FP, FN) under ``rules``."""
    return oracle_match(truth, proposals, rules).images


def oracle_match(truth: PolygonTable, proposals: PolygonTable, rules: Rules) -> OracleResult:
    """Score with plain loops; returns counts plus per-row match details."""
    truths = prepare(truth, rules, "truth")
    props = prepare(proposals, rules, "proposal")
    ranked = visiting_order(proposals, props, rules)

    truths_by_image: dict[str, list[Item]] = defaultdict(list)
    for t in truths:
        truths_by_image[t.image_id].append(t)
    props_by_image: dict[str, list[Item]] = defaultdict(list)
    for p in ranked:
        props_by_image[p.image_id].append(p)

    all_images = set(truth.image_id.tolist()) | set(proposals.image_id.tolist())
    result = OracleResult(images={}, seen=sorted(all_images))
    for t in truths:
        result.truth_iou[t.row] = 0.0
        result.truth_chosen_iou[t.row] = 0.0
    for image in sorted(all_images):
        image_truths = truths_by_image.get(image, [])
        image_props = props_by_image.get(image, [])
        if rules.empty_images == "skip" and not image_truths and not image_props:
            continue
        matched: set[int] = set()
        # the utilities scorer's rtree node: its truths in slot order (tie_break knob)
        slots = list(image_truths)
        tp = fp = 0
        for p in image_props:
            best_iou, best = -1.0, None
            result.proposal_best_iou[p.row] = 0.0
            for t in image_truths:  # file order: the first of equal IoUs wins
                value, failed = pair_iou(p, t, rules)
                result.geos_failures += failed
                result.proposal_best_iou[p.row] = max(result.proposal_best_iou[p.row], value)
                if t.row not in matched and value > best_iou:
                    best_iou, best = value, t
            if best is not None and best_iou > 0:  # solaris's notion: file-order ties
                chosen = result.truth_chosen_iou
                chosen[best.row] = max(chosen[best.row], best_iou)
            if best is not None and rules.tie_break == "rtree_slots":
                # the first truth of that IoU in slot order (IoUs recomputed: no GEOS state)
                best = next(t for t in slots if pair_iou(p, t, rules)[0] == best_iou)
            if best is not None and passes(best_iou, rules):
                matched.add(best.row)
                if rules.tie_break == "rtree_slots":  # delete: the last slot fills the gap
                    k, last = slots.index(best), slots.pop()
                    if last is not best:
                        slots[k] = last
                result.truth_iou[best.row] = best_iou
                result.proposal_match[p.row] = best.row
                tp += 1
            else:
                result.proposal_match[p.row] = -1
                fp += 1
        result.images[image] = (tp, fp, len(image_truths) - tp)
    return result


def prepare(table: PolygonTable, rules: Rules, role: str) -> list[Item]:
    """The rows of one side that are scored, in file order, as the polygons scored."""
    policy = rules.invalid_truth if role == "truth" else rules.invalid_proposal
    area_filter = rules.truth_area_filter if role == "truth" else rules.proposal_area_filter
    items = []
    for row in range(len(table)):
        image = str(table.image_id[row])
        building = int(table.building_id[row])
        geometry = table.geometry[row]
        if building == -1 and rules.negative_ids == "drop":
            continue
        if geometry.is_empty:
            # Only a proposal with a real BuildingId can be a false positive: "-1,POLYGON
            # EMPTY" is the marker of an image without buildings (spec, rules.CHOICES).
            if role == "proposal" and rules.empty_proposal == "fp" and building != -1:
                items.append(Item(row, image, geometry, 0.0, "empty"))
            continue
        if rules.multipolygon == "first" and isinstance(geometry, MultiPolygon):
            geometry = geometry.geoms[0]
        raw_area = measure(geometry, rules.area_formula)
        state = "ok"
        if not geometry.is_valid:
            if policy == "buffer0":
                geometry = geometry.buffer(0)
            elif policy == "make_valid":
                geometry = polygonal_part(shapely.make_valid(geometry))
            else:
                state = policy  # "as_is" or "zero"
        # the tester's shoelace area is that of the polygon as submitted, repaired or not
        area = (
            raw_area if rules.area_formula == "shoelace" else measure(geometry, rules.area_formula)
        )
        if area_filter is not None:
            measured = raw_area if rules.area_of == "raw" else area
            big_enough = (
                measured >= area_filter.min_area
                if area_filter.inclusive
                else measured > area_filter.min_area
            )
            if not big_enough:
                continue
        items.append(Item(row, image, geometry, area, state))
    return items


def polygonal_part(geometry):
    """The area-bearing part of make_valid's output: its lines and points are dropped."""
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    if geometry.geom_type == "GeometryCollection":
        parts = [g for g in geometry.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        if parts:
            return shapely.union_all(parts)
    return Polygon()


def visiting_order(table: PolygonTable, items: list[Item], rules: Rules) -> list[Item]:
    """Proposals in the order they are visited: file order or Confidence descending,
    ties kept in file order (Python's sort is stable)."""
    if rules.order == "file" or table.confidence is None:
        return list(items)
    return sorted(items, key=lambda p: -float(table.confidence[p.row]))


def pair_iou(p: Item, t: Item, rules: Rules) -> tuple[float, bool]:
    """IoU of one proposal with one truth, and whether GEOS failed on the pair."""
    if p.state == "empty" or t.state == "zero":
        return 0.0, False
    if p.geometry.is_empty or t.geometry.is_empty:  # e.g. a bowtie that buffer(0) erased
        return 0.0, False
    try:
        inter = p.geometry.intersection(t.geometry)
        if p.state == "as_is" or t.state == "as_is" or rules.iou_formula == "union":
            union = measure(p.geometry.union(t.geometry), rules.area_formula)
        else:
            union = None
    except shapely.errors.GEOSException:
        if p.state == "as_is" or t.state == "as_is":
            return 0.0, True
        raise
    if rules.collection_iou == "zero" and inter.geom_type == "GeometryCollection":
        return 0.0, False
    overlap = measure_overlap(inter, rules.area_formula)
    if union is None:
        union = p.area + t.area - overlap
    return (overlap / union if union > 0 else 0.0), False


def measure(geometry, rule: str) -> float:
    """Area of a polygonal geometry under the ``area`` rule: GEOS's, or a ring formula
    summed point by point (shells add, holes subtract, parts add)."""
    if rule == "geos":
        return geometry.area
    ring_area = ogr_ring_area if rule == "ogr" else tester_ring_area
    total = 0.0
    for polygon in polygons_of(geometry):
        area = ring_area(polygon.exterior.coords)
        for hole in polygon.interiors:
            area -= ring_area(hole.coords)
        total += area
    return total


def measure_overlap(geometry, rule: str) -> float:
    """Area of an intersection: as :func:`measure`, but the TopCoder tester measures its
    overlaps with one cross-product sum over every ring."""
    if rule != "shoelace":
        return measure(geometry, rule)
    total = 0.0
    for polygon in polygons_of(geometry):
        for ring in (polygon.exterior, *polygon.interiors):
            c = list(ring.coords)
            for (x0, y0, *_), (x1, y1, *_) in itertools.pairwise(c):
                total += x0 * y1 - x1 * y0
    return 0.5 * abs(total)


def polygons_of(geometry) -> list[Polygon]:
    """The non-empty polygons in a geometry (lines and points have no area)."""
    if geometry.is_empty:
        return []
    if isinstance(geometry, Polygon):
        return [geometry]
    if not hasattr(geometry, "geoms"):
        return []
    return [g for part in geometry.geoms for g in polygons_of(part)]


def ogr_ring_area(coords) -> float:
    """OGR's ring area: half |sum of x[i] * (y[i+1] - y[i-1])|, cyclic over all points."""
    c = [(p[0], p[1]) for p in coords]
    n = len(c)
    total = 0.0
    for i in range(n):
        total += c[i][0] * (c[(i + 1) % n][1] - c[(i - 1) % n][1])
    return 0.5 * abs(total)


def tester_ring_area(coords) -> float:
    """The TopCoder tester's ring area: half |sum of (x[i-1] + x[i]) * (y[i-1] - y[i])|."""
    c = [(p[0], p[1]) for p in coords]
    total = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(c):
        total += (x0 + x1) * (y0 - y1)
    return abs(total / 2)


def passes(iou: float, rules: Rules) -> bool:
    if rules.threshold_inclusive:
        return iou >= rules.iou_threshold
    return iou > rules.iou_threshold


def oracle_city(image_id: str, rules: Rules) -> str:
    """The city of an ImageId under ``rules.city``."""
    if rules.city == "deepglobe":
        head, sep, _ = image_id.partition("_img")
        if sep and head:
            return head
        return image_id.rsplit("_", 1)[0]
    if rules.city == "aoi_names":
        for aoi in SPACENET_AOIS:
            if aoi in image_id:
                return aoi
        return "unknown"
    if rules.city == "strip_last":
        return image_id.rsplit("_", 1)[0]
    return "_".join(image_id.split("_")[:3])


def f1(tp: int, fp: int, fn: int) -> float:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def oracle_cities(
    images: dict[str, tuple[int, int, int]], rules: Rules, seen: list[str] = ()
) -> dict[str, tuple[int, int, int]]:
    """Per-city sums of per-image counts; with ``city_mean="seen"`` every city of the
    ``seen`` ImageIds is a city too, at 0/0/0 when none of its images is listed."""
    cities: dict[str, list[int]] = {}
    if rules.city_mean == "seen":
        for image in seen:
            cities.setdefault(oracle_city(image, rules), [0, 0, 0])
    for image, counts in images.items():
        total = cities.setdefault(oracle_city(image, rules), [0, 0, 0])
        for k in range(3):
            total[k] += counts[k]
    return {city: (c[0], c[1], c[2]) for city, c in cities.items()}


def oracle_mean_city_f1(
    images: dict[str, tuple[int, int, int]], rules: Rules, seen: list[str] = ()
) -> float:
    cities = oracle_cities(images, rules, seen)
    return sum(f1(*c) for c in cities.values()) / len(cities) if cities else 0.0


@dataclass
class OracleErrors:
    """The error class of every false positive and false negative, keyed by source row,
    and per image the truths and true positives of each size ("small"/"medium"/"large")."""

    proposal_class: dict[int, str]
    truth_class: dict[int, str]
    sizes: dict[str, dict[str, tuple[int, int]]]


def oracle_errors(
    truth: PolygonTable,
    proposals: PolygonTable,
    rules: Rules,
    *,
    cover: float = 0.5,
    localisation_iou: float = 0.1,
    size_bins: tuple[float, float] = (1024.0, 9216.0),
    matching: OracleResult | None = None,
) -> OracleErrors:
    """The README's "Diagnostics" rules, one pair at a time over every truth x proposal of
    each image (no index, no arrays). ``matching``: this scene's :func:`oracle_match`."""
    matching = matching or oracle_match(truth, proposals, rules)
    matched_truths = {t for t in matching.proposal_match.values() if t >= 0}
    truths = prepare(truth, rules, "truth")
    props = prepare(proposals, rules, "proposal")
    out = OracleErrors({}, {}, {})
    #: (proposal row, truth row) -> IoU and overlap area, for pairs of positive IoU
    iou: dict[tuple[int, int], float] = {}
    overlap: dict[tuple[int, int], float] = {}

    def lies_in(a: Item, p: Item, t: Item) -> bool:
        """``a`` (``p`` or ``t``) has at least ``cover`` of its area in the other one."""
        pair = (p.row, t.row)
        return pair in overlap and overlap[pair] >= cover * a.area

    def kind_of(best: float, *, merged: bool, split: bool, last: str) -> str:
        """The README's order of the classes, the same for an FP and an FN."""
        if best > 0 and passes(best, rules):
            return "duplicate"
        if merged:
            return "merged"
        if split:
            return "split"
        return "localisation" if best > localisation_iou else last

    for image in sorted(set(truth.image_id.tolist()) | set(proposals.image_id.tolist())):
        ts = [t for t in truths if t.image_id == image]
        ps = [p for p in props if p.image_id == image]
        for p in ps:
            for t in ts:
                value, _ = pair_iou(p, t, rules)
                if value > 0:  # a pair the rules give IoU 0 overlaps nothing
                    iou[p.row, t.row] = value
                    overlap[p.row, t.row] = p.geometry.intersection(t.geometry).area
        merged = {p.row for p in ps if sum(lies_in(t, p, t) for t in ts) >= 2}
        split = {t.row for t in ts if sum(lies_in(p, p, t) for p in ps) >= 2}
        for p in ps:
            if matching.proposal_match[p.row] >= 0:
                continue
            out.proposal_class[p.row] = kind_of(
                max([iou.get((p.row, t.row), 0.0) for t in ts], default=0.0),
                merged=p.row in merged,
                split=any(t.row in split and lies_in(p, p, t) for t in ts),
                last="false_alarm",
            )
        sizes = {"small": [0, 0], "medium": [0, 0], "large": [0, 0]}
        for t in ts:
            found = t.row in matched_truths
            size = (
                "small" if t.area < size_bins[0] else "medium" if t.area < size_bins[1] else "large"
            )
            sizes[size][0] += 1
            sizes[size][1] += found
            if found:
                continue
            out.truth_class[t.row] = kind_of(
                max([iou.get((p.row, t.row), 0.0) for p in ps], default=0.0),
                merged=any(p.row in merged and lies_in(t, p, t) for p in ps),
                split=t.row in split,
                last="miss",
            )
        out.sizes[image] = {s: (n, k) for s, (n, k) in sizes.items()}
    return out
