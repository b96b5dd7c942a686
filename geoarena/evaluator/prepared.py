"""PreparedTruth: parse, filter and index a truth file once, score many submissions."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import shapely

from geoarena.errors import Problem

from .arrays import FloatArray, IntArray, ObjectArray, distinct_positions, object_array
from .breakdown import FN_CLASSES, FP_CLASSES, BreakdownSettings, ErrorClass, count_rows
from .collector import collector_paused
from .index import BaseSpatialIndex, get_index
from .io import Source, read_proposals, read_truth
from .matching import (
    chosen_candidates,
    greedy_match,
    iou_upper_bound,
    pair_iou,
    settled_by_boxes,
    settled_by_octagons,
    slot_boxes,
)
from .metrics import SHOWN_FAILURES, Diagnostics, GeosFailure, ScoreResult, assemble
from .rules import Rules, get_rules
from .sides import Side, select
from .table import PolygonTable, encode, unique_ids
from .taxonomy import PolygonErrors, classify


@dataclass(frozen=True, eq=False)
class Matches:
    """Per-proposal and per-truth outcome of one score (``score(..., details=True)``).

    Geometries are the scored ones (after the rules: first part, repair); z is kept.

    Proposal arrays follow the scored proposals in file order; ``proposal_truth`` indexes
    the truth arrays (-1: false positive). ``proposal_iou`` is the IoU of the match for a
    true positive, and the best IoU with any truth of its image for a false positive.
    """

    truth: PolygonTable
    proposals: PolygonTable
    truth_rows: IntArray
    truth_geometry: ObjectArray
    truth_proposal: IntArray
    truth_iou: FloatArray
    proposal_rows: IntArray
    proposal_geometry: ObjectArray
    proposal_truth: IntArray
    proposal_iou: FloatArray
    proposal_best_truth: IntArray
    #: per truth, the largest IoU of the proposals that picked it as their best unmatched
    #: candidate (passing or not): solaris's per-building ``iou_score``
    truth_chosen_iou: FloatArray
    #: with a breakdown, each polygon's error class (indices into ``breakdown.FP_CLASSES``
    #: per proposal and ``FN_CLASSES`` per truth; -1: a true positive)
    errors: PolygonErrors | None = None

    def statuses(self) -> tuple[list[str], list[str]]:
        """Each scored truth's and proposal's outcome, as the GeoJSON and the overlays
        name it: ``TP``, else ``FN`` / ``FP``, or with a breakdown its error class."""
        if self.errors is None:
            return (
                ["TP" if j >= 0 else "FN" for j in self.truth_proposal.tolist()],
                ["TP" if j >= 0 else "FP" for j in self.proposal_truth.tolist()],
            )
        return (
            _class_names(self.errors.truth, FN_CLASSES),
            _class_names(self.errors.proposal, FP_CLASSES),
        )


def _class_names(codes: IntArray, classes: tuple[ErrorClass, ...]) -> list[str]:
    return ["TP" if c < 0 else classes[c].value for c in codes.tolist()]


class StoredPolygons(Protocol):
    """Where a stored truth's polygons are decoded from (``stored.load_prepared``)."""

    def scored(self, positions: IntArray) -> ObjectArray:
        """The scored (repaired) polygons at these positions of the truth side."""

    def all_rows(self) -> ObjectArray:
        """Every row's own polygon, as read."""


class PreparedTruth:
    """A truth file parsed, filtered by the rules and spatially indexed, ready to score.

    Immutable once built: a leaderboard keeps one per challenge split and scores every
    submission against it.

    Parameters
    ----------
    truth : PolygonTable or a CSV source (path, bytes, file object).
    rules : preset name or :class:`Rules`.
    image_ids : restrict scoring to these images; proposals for other images are ignored.
    index : spatial index backend, "grid" (default), "strtree" or "rtree" (same pairs).
    crs : the CRS of the coordinates as WKT, for footprints in map units (recorded with a
        stored truth, whose proposals must then come in it); None for pixels.
    """

    def __init__(
        self,
        truth: PolygonTable | Source,
        rules: str | Rules = "deepglobe",
        *,
        image_ids: Iterable[str] | None = None,
        index: str | type[BaseSpatialIndex] | None = "grid",
        crs: str | None = None,
    ) -> None:
        rules = get_rules(rules)
        table = truth if isinstance(truth, PolygonTable) else read_truth(truth)
        restrict = None if image_ids is None else object_array(sorted(set(image_ids)))
        keep = None if restrict is None else encode(table.image_id, restrict) >= 0
        self._setup(table, rules, restrict, select(table, rules, "truth", keep), index)
        self.crs = crs

    @classmethod
    def from_side(
        cls,
        table: PolygonTable,
        rules: Rules,
        side: Side,
        *,
        image_ids: Iterable[str] | None = None,
        index: str | type[BaseSpatialIndex] | None = "grid",
        stored: StoredPolygons | None = None,
        crs: str | None = None,
    ) -> PreparedTruth:
        """The PreparedTruth whose truth side ``select`` computed earlier, with these
        rules and split: how a stored prepared truth (``geoarena prepare``) is loaded
        without parsing, filtering or repairing again.

        ``stored``, when given, decodes the polygons (``side.geometry`` and the table's
        are None until then): each score decodes the truths its pairs need and lets them
        go, so a forked worker holds only its current images' polygons."""
        prepared = cls.__new__(cls)
        restrict = None if image_ids is None else object_array(sorted(set(image_ids)))
        prepared._setup(table, rules, restrict, side, index)
        prepared._stored = stored
        prepared.crs = crs
        return prepared

    def _setup(
        self,
        table: PolygonTable,
        rules: Rules,
        restrict: ObjectArray | None,
        side: Side,
        index: str | type[BaseSpatialIndex] | None,
    ) -> None:
        self.rules = rules
        self._table = table
        self._stored: StoredPolygons | None = None
        self._restrict = restrict
        keep = None if restrict is None else encode(table.image_id, restrict) >= 0
        ids = table.image_id if keep is None else table.image_id[keep]
        #: sorted ImageIds of the truth (after the split restriction): always scored.
        self.image_ids = unique_ids(ids)
        #: the ImageIds ``_image`` codes index: the truth's, also in a view of fewer images
        self._vocabulary = self.image_ids
        self.side: Side = side
        self._image = encode(table.image_id[self.side.rows], self.image_ids)
        #: the truth positions counted (those of the listed images: all but in a view)
        #: and each one's position in ``image_ids``
        self._counted = np.arange(len(self._image))
        self._counted_image = self._image
        b = self.side.bounds
        self._origin = float(b[:, 0].min()) if len(b) else 0.0
        self._width = float(b[:, 2].max() - self._origin) + 1.0 if len(b) else 1.0
        self.index_kind = get_index(index)
        self.index_kind.require()

    @functools.cached_property
    def index(self) -> BaseSpatialIndex:
        """The truths' boxes indexed, built when first asked for: by the first score, or
        by ``score_files`` on a thread while it reads the proposal file (~30 ms for 100k
        truths, beside the CSV reader, which keeps ~1.3 of 2 cores busy), so its forked
        workers inherit it. Two threads asking at once may both build it; they build the
        same index."""
        b = self.side.bounds
        return self.index_kind(slot_boxes(b, self._image, self._origin, self._width))

    def for_images(self, image_ids: Iterable[str]) -> PreparedTruth:
        """This truth scored on these images only (within its split): scores, details
        and breakdowns as from ``PreparedTruth(truth, rules, image_ids=...)``.

        The view shares the polygons, boxes and index (built now if not yet), and its
        scores list, count and report its images only (the truth's diagnostics stay the
        whole truth's): ``score_files`` scores each chunk of images against one loaded
        truth through a view, so a chunk costs what its images hold.
        """
        ids = object_array(sorted(set(image_ids)))
        if self._restrict is not None:
            ids = ids[encode(ids, self._restrict) >= 0]
        codes = encode(ids, self._vocabulary)
        codes = codes[codes >= 0]  # sorted, as both are
        position = np.full(len(self._vocabulary), -1, dtype=np.int64)
        position[codes] = np.arange(len(codes))
        self.index  # noqa: B018  (built before the copy, so that every view shares it)
        view = copy.copy(self)
        view._restrict = ids
        view.image_ids = self._vocabulary[codes]
        view._counted = np.flatnonzero(position[self._image] >= 0)
        view._counted_image = position[self._image[view._counted]]
        return view

    @property
    def name(self) -> str:
        """The truth's label in messages (the file it was read from)."""
        return self._table.name

    @property
    def n_rows(self) -> int:
        """Rows of the truth as read (before filtering)."""
        return len(self._table)

    @property
    def skipped(self) -> tuple[Problem, ...]:
        """The bad rows skipped when the truth was read."""
        return self._table.skipped

    @property
    def table(self) -> PolygonTable:
        """The truth table as read (every row, skipped-row records included); a stored
        truth decodes all its geometries for it, so what needs only the name, the row
        count or the skipped rows asks for those."""
        geometry = self._table.geometry
        if self._stored is not None and geometry.size and geometry[0] is None:
            geometry[:] = self._stored.all_rows()  # decoded once, when first asked for
        return self._table

    @property
    def split(self) -> list[str] | None:
        """The images scoring is restricted to (``image_ids=``), or None for all."""
        return None if self._restrict is None else self._restrict.tolist()

    @collector_paused()
    def score(
        self,
        proposals: PolygonTable | Source,
        *,
        bootstrap: int = 0,
        seed: int = 0,
        details: bool = False,
        breakdown: bool | BreakdownSettings = False,
    ) -> ScoreResult:
        """Score one proposal table or CSV against this truth.

        ``bootstrap`` > 0 adds percentile intervals from that many stratified replicates;
        ``details`` keeps per-proposal and per-truth matches (``result.matches``) and
        computes every candidate IoU (no pruning) so false positives get their best IoU.
        ``breakdown`` (True or :class:`BreakdownSettings`) adds ``result.breakdown``: the
        error class of every FP and FN and recall by size, from the IoUs and overlaps of
        the candidate pairs that touch an error, computed after the (pruned) matching.
        """
        rules = self.rules
        table = proposals if isinstance(proposals, PolygonTable) else read_proposals(proposals)
        keep = None if self._restrict is None else encode(table.image_id, self._restrict) >= 0
        p_ids = table.image_id if keep is None else table.image_id[keep]
        p_images = unique_ids(p_ids)
        all_ids = unique_ids(np.concatenate([self.image_ids, p_images]))
        side = select(table, rules, "proposal", keep)

        p_ids_scored = table.image_id[side.rows]
        p_vocab = encode(p_ids_scored, self._vocabulary)
        pi, ti = self._candidates(side, p_vocab)
        candidates = pi, ti  # before pruning: the breakdown looks at every pair
        settled = np.zeros(len(pi), dtype=bool)
        open_lone = np.empty(0, dtype=np.int64)
        settings = BreakdownSettings() if breakdown is True else breakdown or None
        if not details:
            bound = iou_upper_bound(
                side.area[pi], self.side.area[ti], side.bounds[pi], self.side.bounds[ti]
            )
            possible = bound >= rules.iou_threshold - 1e-9
            possible |= side.unbounded[pi] | self.side.unbounded[ti]
            pi, ti = pi[possible], ti[possible]
            settled, open_lone = settled_by_boxes(side, self.side, pi, ti, rules)
        # a stored truth decodes only the polygons this score needs: every counted one for
        # the details, those of the candidate pairs before pruning for a breakdown, else those
        # of the pairs the boxes did not settle
        needed = candidates[1] if settings is not None else ti[~settled]
        truth = self._with_polygons(
            self._counted if details else distinct_positions(needed, len(self.side.rows))
        )
        if len(open_lone):
            settled[open_lone] = settled_by_octagons(
                side, truth, pi[open_lone], ti[open_lone], rules
            )
        iou, failures = pair_iou(side, truth, pi[~settled], ti[~settled], rules, every_pair=details)
        ok = rules.passes(iou)

        rank = _visit_rank(table, side, rules)
        match, match_iou = greedy_match(
            rank,
            pi[~settled][ok],
            ti[~settled][ok],
            iou[ok],
            len(self.side.rows),
            self._image if rules.tie_break == "rtree_slots" else None,
        )
        match[pi[settled]] = ti[settled]
        match_iou[pi[settled]] = np.nan  # passes for sure; the exact value was not needed

        p_image = encode(p_ids_scored, all_ids)
        t_image = encode(self.image_ids, all_ids)[self._counted_image]
        n_img = len(all_ids)
        tp = np.bincount(p_image[match >= 0], minlength=n_img)
        fp = np.bincount(p_image, minlength=n_img) - tp
        fn = np.bincount(t_image, minlength=n_img) - tp
        listed = np.ones(n_img, dtype=bool)
        if rules.empty_images == "skip":
            listed = (np.bincount(p_image, minlength=n_img) > 0) | (
                np.bincount(t_image, minlength=n_img) > 0
            )
        errors, error_rows = None, None
        if settings is not None:
            known = iou if details else None  # every candidate's IoU, when computed
            errors = classify(side, truth, *candidates, match, rules, settings, known)
            counted = self._counted
            t_size = settings.size_of(self.side.area[counted])
            rows = count_rows(
                n_img, p_image, errors.proposal, t_image, errors.truth[counted], t_size
            )
            error_rows = (settings, rows[listed])
        diagnostics = Diagnostics(
            truth={
                "rows": len(self._table),
                "scored": len(self.side.rows),
                "skipped_rows": len(self._table.skipped),
                **self.side.counts,
            },
            proposals={
                "rows": len(table),
                "scored": len(side.rows),
                "skipped_rows": len(table.skipped),
                **side.counts,
                # a submission keyed by other ImageIds than the truth's scores 0: say so
                "images": len(p_images),
                "images_not_in_truth": int((encode(p_images, self.image_ids) < 0).sum()),
            },
            candidate_pairs=len(pi),
            pairs_settled_by_bounds=int(settled.sum()),
            geos_failures=len(failures),
            geos_failure_examples=[
                GeosFailure(
                    proposal_line=int(table.line[side.rows[p]]),
                    truth_line=int(self._table.line[self.side.rows[t]]),
                    reason=reason,
                )
                for p, t, reason in sorted(failures)[:SHOWN_FAILURES]
            ],
        )
        return assemble(
            rules,
            all_ids[listed],
            tp[listed],
            fp[listed],
            fn[listed],
            diagnostics,
            bootstrap=bootstrap,
            seed=seed,
            matches=self._matches(table, side, truth, rank, pi, ti, iou, match, match_iou, errors)
            if details
            else None,
            skipped=self._table.skipped + table.skipped,
            unlisted_cities={rules.city_of(i) for i in all_ids[~listed].tolist()}
            if rules.city_mean == "seen"
            else (),
            breakdown=error_rows,
        )

    def _candidates(self, side: Side, p_vocab: IntArray) -> tuple[IntArray, IntArray]:
        """(proposal, truth) pairs of the same image whose boxes intersect."""
        # an empty geometry has no box: no backend may pair it (it can only be a FP)
        queried = np.flatnonzero((p_vocab >= 0) & ~shapely.is_empty(side.geometry))
        boxes = slot_boxes(side.bounds[queried], p_vocab[queried], self._origin, self._width)
        q, t = self.index.query(boxes)
        pi = queried[q]
        same = p_vocab[pi] == self._image[t]
        return pi[same], t[same]

    def _with_polygons(self, positions: IntArray) -> Side:
        """The truth side with at least the polygons at ``positions`` present: itself, or
        for a stored truth a copy holding those just decoded (nothing shared is written,
        so concurrent scores are safe and memory does not grow with each score)."""
        if self._stored is None:
            return self.side
        geometry = np.full(len(self.side.rows), None, dtype=object)
        geometry[positions] = self._stored.scored(positions)
        return replace(self.side, geometry=geometry)

    def _matches(
        self,
        table: PolygonTable,
        side: Side,
        truth: Side,
        rank: IntArray,
        pi: IntArray,
        ti: IntArray,
        iou: FloatArray,
        match: IntArray,
        match_iou: FloatArray,
        errors: PolygonErrors | None,
    ) -> Matches:
        best_iou = np.zeros(len(side.rows))
        best_truth = np.full(len(side.rows), -1, dtype=np.int64)
        if len(pi):
            order = np.lexsort((ti, -iou, pi))
            first = np.unique(pi[order], return_index=True)[1]
            best_iou[pi[order][first]] = iou[order][first]
            best_truth[pi[order][first]] = ti[order][first]
        truth_proposal = np.full(len(self.side.rows), -1, dtype=np.int64)
        truth_iou = np.zeros(len(self.side.rows))
        hit = np.flatnonzero(match >= 0)
        truth_proposal[match[hit]] = hit
        truth_iou[match[hit]] = match_iou[hit]
        chosen, chosen_iou = chosen_candidates(rank, pi, ti, iou, match)
        truth_chosen_iou = np.zeros(len(self.side.rows))
        picked = chosen >= 0
        np.maximum.at(truth_chosen_iou, chosen[picked], chosen_iou[picked])
        # the truth arrays hold the counted truths (a view's images'): renumber the truth
        # positions the proposals point at (all are of their own, counted, images; -1,
        # no truth, reads the extra last slot)
        counted = self._counted
        renumber = np.full(len(self.side.rows) + 1, -1, dtype=np.int64)
        renumber[counted] = np.arange(len(counted))
        if errors is not None:
            errors = replace(errors, truth=errors.truth[counted])
        return Matches(
            truth=self.table,
            proposals=table,
            truth_rows=self.side.rows[counted],
            truth_geometry=truth.geometry[counted],
            truth_proposal=truth_proposal[counted],
            truth_iou=truth_iou[counted],
            proposal_rows=side.rows,
            proposal_geometry=side.geometry,
            proposal_truth=renumber[match],
            proposal_iou=np.where(match >= 0, match_iou, best_iou),
            proposal_best_truth=renumber[best_truth],
            truth_chosen_iou=truth_chosen_iou[counted],
            errors=errors,
        )


def score(
    truth: PolygonTable | Source,
    proposals: PolygonTable | Source,
    rules: str | Rules = "deepglobe",
    *,
    index: str | type[BaseSpatialIndex] | None = "grid",
    bootstrap: int = 0,
    seed: int = 0,
    details: bool = False,
    breakdown: bool | BreakdownSettings = False,
) -> ScoreResult:
    """Score proposals against truth: polygon F1 at IoU 0.5, greedy one-to-one matching.

    Examples
    --------
    >>> from geoarena.evaluator import PolygonTable
    >>> box = "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))"
    >>> half = "POLYGON ((0 0, 10 0, 10 5, 0 5, 0 0))"
    >>> truth = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [1], [box])
    >>> props = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [0], [half], [1.0])
    >>> score(truth, props).micro          # IoU exactly 0.5 does not pass "> 0.5"
    Counts(tp=0, fp=1, fn=1)
    >>> score(truth, props, "spacenet-utilities").micro   # ">= 0.5" does
    Counts(tp=1, fp=0, fn=0)
    """
    return PreparedTruth(truth, rules, index=index).score(
        proposals, bootstrap=bootstrap, seed=seed, details=details, breakdown=breakdown
    )


def _visit_rank(table: PolygonTable, side: Side, rules: Rules) -> IntArray:
    """Visiting position of each scored proposal: file order, or Confidence descending
    with ties in file order (a stable sort)."""
    n = len(side.rows)
    if rules.order == "file" or table.confidence is None:
        return np.arange(n)
    order = np.argsort(-table.confidence[side.rows], kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank
