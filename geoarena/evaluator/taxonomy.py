"""Classify every false positive and false negative of a matching (README, "Diagnostics").

Runs after the matching, on every candidate pair the spatial index gave (the same bulk
STRtree query, unpruned, that ``details`` uses) and only when a breakdown is asked for,
so the plain score never pays for it. Two relations between a proposal ``p`` and a truth
``t`` of one image decide the structural classes:

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
from .rules import Rules
from .sides import Side


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
    iou: FloatArray,
    match: IntArray,
    rules: Rules,
    settings: BreakdownSettings,
) -> PolygonErrors:
    """Error class of every false positive and false negative.

    Parameters
    ----------
    pi, ti, iou : every candidate pair (proposal, truth index) with its IoU as scored.
    match : the truth matched by each proposal (-1: a false positive).

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
    >>> e = classify(p, t, np.array([0, 0]), np.array([0, 1]), np.array([0.4545, 0.4545]),
    ...              np.array([-1]), rules, BreakdownSettings())
    >>> e.proposal.tolist(), e.truth.tolist()   # 1: merged
    ([1], [1, 1])
    """
    n_p, n_t = len(proposals.rows), len(truth.rows)
    fp = match < 0
    fn = np.ones(n_t, dtype=bool)
    fn[match[~fp]] = False
    positive = iou > 0
    pi, ti, iou = pi[positive], ti[positive], iou[positive]
    overlap = overlap_areas(proposals, truth, pi, ti)
    truth_lies_in = overlap >= settings.cover * truth.area[ti]
    proposal_lies_in = overlap >= settings.cover * proposals.area[pi]
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


def _passing(best: FloatArray, rules: Rules) -> BoolArray:
    return rules.passes(best) & (best > 0)


def _first(scored: BoolArray, conditions: list[BoolArray]) -> IntArray:
    """Index of the first condition that holds (len(conditions) when none does) where
    ``scored``; -1 elsewhere."""
    stacked = np.stack([*conditions, np.ones(len(scored), dtype=bool)])
    first = np.argmax(stacked, axis=0).astype(np.int64)
    return np.where(scored, first, -1)
