"""Classify every false positive and false negative of a matching (README, "Diagnostics").

Runs after the matching, only when a breakdown is asked for, so the plain score never
pays for it, on the candidate pairs the spatial index gave before pruning (the same bulk
STRtree query; the pruned ones matter here: a localisation error is a pair that cannot
pass). Only the pairs that can change a class are intersected: those of every false
positive and false negative, and every pair of a polygon paired with one (what decides
whether that neighbour is merged or split); on a good submission that is a small part.

Two relations between a proposal ``p`` and a truth ``t`` of one image decide the
structural classes:

* overlap: the area of ``p ∩ t`` when their IoU, as scored, is positive (else 0: a pair
  the rules give IoU 0, e.g. an invalid truth under ``invalid_truth="zero"``, overlaps
  nothing);
* ``a`` *lies in* ``b``: their overlap is at least ``cover`` of ``a``'s area.

A *merged* proposal is one in which two or more truths lie; a *split* truth one in which
two or more proposals lie. The best IoU of a polygon is its highest with any polygon of
the other side. Each false positive takes the first class that applies of: duplicate
(best IoU passes), merged, split (it lies in a split truth), localisation (best IoU above
``localisation_iou``), false alarm. Each false negative: duplicate, merged (it lies in a
merged proposal), split, localisation, miss. The first class that applies is taken, so
the classes partition FP and FN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from .arrays import BoolArray, FloatArray, IntArray
from .breakdown import BreakdownSettings
from .matching import iou_upper_bound, pair_iou
from .rules import Rules
from .sides import Side

#: bound slack, as in matching: rounding never lets a bound skip a pair that counts
_SLACK = 1e-9


@dataclass(frozen=True, eq=False)
class PolygonErrors:
    """The class of each scored polygon: an index into ``FP_CLASSES`` per proposal and
    into ``FN_CLASSES`` per truth, -1 for a true positive."""

    proposal: IntArray
    truth: IntArray


def classify(
    proposals: Side,
    truth: Side,
    pi: IntArray,
    ti: IntArray,
    match: IntArray,
    rules: Rules,
    settings: BreakdownSettings,
    iou: FloatArray | None = None,
) -> PolygonErrors:
    """Error class of every false positive and false negative.

    Parameters
    ----------
    pi, ti : every candidate pair (proposal, truth index), unpruned.
    match : the truth matched by each proposal (-1: a false positive).
    iou : the pairs' IoUs as scored, when already computed (else computed here, for the
        pairs that matter, with the scorer's own :func:`~.matching.pair_iou`).

    Examples
    --------
    One proposal over two truths: a merged false positive, two merged false negatives.

    >>> from geoarena.evaluator import PolygonTable, get_rules
    >>> from geoarena.evaluator.sides import select
    >>> box = lambda x: f"POLYGON (({x} 0, {x + 10} 0, {x + 10} 10, {x} 10, {x} 0))"
    >>> rules = get_rules("deepglobe", truth_area_filter="none")
    >>> t = select(PolygonTable.from_wkt(["a", "a"], [0, 1], [box(0), box(12)]), rules, "truth")
    >>> wide = "POLYGON ((0 0, 22 0, 22 10, 0 10, 0 0))"
    >>> p = select(PolygonTable.from_wkt(["a"], [0], [wide]), rules, "proposal")
    >>> e = classify(p, t, np.array([0, 0]), np.array([0, 1]), np.array([-1]), rules,
    ...              BreakdownSettings())
    >>> e.proposal.tolist(), e.truth.tolist()   # 1: merged
    ([1], [1, 1])
    """
    n_p, n_t = len(proposals.rows), len(truth.rows)
    fp = match < 0
    fn = np.ones(n_t, dtype=bool)
    fn[match[~fp]] = False
    near_fp = np.zeros(n_t, dtype=bool)  # truths paired with a false positive
    near_fp[ti[fp[pi]]] = True
    near_fn = np.zeros(n_p, dtype=bool)  # proposals paired with a false negative
    near_fn[pi[fn[ti]]] = True
    needed = fp[pi] | near_fn[pi] | fn[ti] | near_fp[ti]
    pi, ti = pi[needed], ti[needed]
    # A pair is intersected only if its bounds let it change a class: by an IoU above
    # localisation_iou (or passing) of an error, or by lying in a polygon that could
    # hold two.
    p_area, t_area = proposals.area[pi], truth.area[ti]
    # their areas bound nothing (kept invalid, or a shoelace area of a ring as submitted
    # beside its repair: see ``sides.Side``)
    unbounded = proposals.unbounded[pi] | truth.unbounded[ti]
    cap = _overlap_cap(proposals, truth, pi, ti) * (1 + _SLACK) + _SLACK
    truth_may_lie = (cap >= settings.cover * t_area) | unbounded
    proposal_may_lie = (cap >= settings.cover * p_area) | unbounded
    may_merge = np.bincount(pi[truth_may_lie], minlength=n_p) >= 2
    may_split = np.bincount(ti[proposal_may_lie], minlength=n_t) >= 2
    may_cover = (truth_may_lie & may_merge[pi]) | (proposal_may_lie & may_split[ti])
    bound = iou_upper_bound(p_area, t_area, proposals.bounds[pi], truth.bounds[ti])
    may_count = (bound + _SLACK > settings.localisation_iou) | rules.passes(bound + _SLACK)
    may_count &= fp[pi] | fn[ti]  # only an error's own best IoU is a class
    if iou is None:
        keep = may_cover | may_count | unbounded
        pi, ti, may_cover = pi[keep], ti[keep], may_cover[keep]
        iou = pair_iou(proposals, truth, pi, ti, rules)[0]
    else:
        iou = iou[needed]
    positive = iou > 0
    pi, ti, iou, may_cover = pi[positive], ti[positive], iou[positive], may_cover[positive]
    overlap = np.zeros(len(pi))
    overlap[may_cover] = overlap_areas(proposals, truth, pi[may_cover], ti[may_cover])
    truth_lies_in = (overlap > 0) & (overlap >= settings.cover * truth.area[ti])
    proposal_lies_in = (overlap > 0) & (overlap >= settings.cover * proposals.area[pi])
    merged = np.bincount(pi[truth_lies_in], minlength=n_p) >= 2
    split = np.bincount(ti[proposal_lies_in], minlength=n_t) >= 2
    in_split = np.zeros(n_p, dtype=bool)
    in_split[pi[proposal_lies_in & split[ti]]] = True
    in_merged = np.zeros(n_t, dtype=bool)
    in_merged[ti[truth_lies_in & merged[pi]]] = True
    p_best, t_best = np.zeros(n_p), np.zeros(n_t)
    np.maximum.at(p_best, pi, iou)
    np.maximum.at(t_best, ti, iou)
    low = settings.localisation_iou
    return PolygonErrors(
        proposal=_first(fp, [_passing(p_best, rules), merged, in_split, p_best > low]),
        truth=_first(fn, [_passing(t_best, rules), in_merged, split, t_best > low]),
    )


def overlap_areas(proposals: Side, truth: Side, pi: IntArray, ti: IntArray) -> FloatArray:
    """Area of each pair's intersection: in bulk, pair by pair where a polygon is kept
    invalid (GEOS may refuse it; a refused pair overlaps nothing) or a bulk call fails."""
    out = np.zeros(len(pi))
    invalid = proposals.invalid[pi] | truth.invalid[ti]
    bulk = np.flatnonzero(~invalid)
    try:
        inter = shapely.intersection(proposals.geometry[pi[bulk]], truth.geometry[ti[bulk]])
        out[bulk] = shapely.area(inter)
        single = np.flatnonzero(invalid)
    except shapely.errors.GEOSException:
        single = np.arange(len(pi))
    for k in single.tolist():
        try:
            out[k] = shapely.area(
                shapely.intersection(proposals.geometry[pi[k]], truth.geometry[ti[k]])
            )
        except shapely.errors.GEOSException:
            out[k] = 0.0
    return out


def _overlap_cap(proposals: Side, truth: Side, pi: IntArray, ti: IntArray) -> FloatArray:
    """An upper bound on each pair's overlap: the area of the intersection of the boxes."""
    p, t = proposals.bounds[pi], truth.bounds[ti]
    dx = np.minimum(p[:, 2], t[:, 2]) - np.maximum(p[:, 0], t[:, 0])
    dy = np.minimum(p[:, 3], t[:, 3]) - np.maximum(p[:, 1], t[:, 1])
    cap: FloatArray = np.clip(dx, 0, None) * np.clip(dy, 0, None)
    return cap


def _passing(best: FloatArray, rules: Rules) -> BoolArray:
    return rules.passes(best) & (best > 0)


def _first(scored: BoolArray, conditions: list[BoolArray]) -> IntArray:
    """Index of the first condition that holds (len(conditions) when none does) where
    ``scored``; -1 elsewhere."""
    stacked = np.stack([*conditions, np.ones(len(scored), dtype=bool)])
    first = np.argmax(stacked, axis=0).astype(np.int64)
    return np.where(scored, first, -1)
