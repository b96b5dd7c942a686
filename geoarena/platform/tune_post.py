"""The inner search: post-processing thresholds tuned on one trial's cached validation maps.

The watershed thresholds (``t_energy``, ``t_mask``) and the minimum building area change
the polygons but not the network, so each trial tunes them on the probability / energy
maps its best epoch already produced (``TrainResult.val_maps``) instead of spending
trials of the outer study on them. The trial's objective is the F1 after tuning; the F1
at the training config's fixed thresholds is kept next to it, so every trial records
how much the inner search added.

Cost: one watershed pass over the validation tiles per ``(t_energy, t_mask)`` candidate;
every ``min_area`` of the grid is then a filter on that candidate's polygons plus one
scoring call with a ``PreparedTruth`` built once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from geoarena.platform.config import PostSearch


@dataclass(frozen=True)
class PostParams:
    t_energy: float
    t_mask: float
    min_area: float

    def as_dict(self) -> dict[str, float]:
        return {"t_energy": self.t_energy, "t_mask": self.t_mask, "min_area": self.min_area}


@dataclass(frozen=True)
class PostResult:
    """Outcome of the inner search on one trial's validation maps."""

    best: PostParams
    #: objective metric at ``best`` (the trial's value)
    value: float
    #: objective metric at the training config's thresholds
    baseline_value: float
    baseline: PostParams
    #: the full ``ScoreResult`` at ``best``
    score: Any
    #: the proposals ``PolygonTable`` at ``best`` (validation predictions)
    proposals: Any
    #: the ``PreparedTruth`` of the validation maps (for detailed matches and overlays)
    truth: Any
    candidates: int
    seconds: float

    @property
    def gain(self) -> float:
        """What tuning added over the fixed thresholds (>= 0: the baseline is a candidate)."""
        return self.value - self.baseline_value


@dataclass(frozen=True)
class _Candidate:
    value: float
    params: PostParams
    score: Any
    table: Any


class _Scorer:
    """Polygons per ``(t_energy, t_mask)`` on some tiles, scored for every area of a grid."""

    def __init__(self, maps: Any, metric: str, image_ids: list[str] | None = None) -> None:
        from geoarena.evaluator import PreparedTruth

        self.maps = maps
        self.metric = metric
        self.image_ids = image_ids if image_ids is not None else maps.image_ids
        self.truth = PreparedTruth(maps.truth_table(), rules="deepglobe", image_ids=image_ids)
        self.evaluated = 0

    def scan(self, t_energy: float, t_mask: float, areas: list[float]) -> list[_Candidate]:
        """One candidate per area; the watershed runs once for the pair."""
        from geoarena.models.postprocess import maps_to_polygons

        found = {
            image_id: maps_to_polygons(
                self.maps.prob[image_id],
                self.maps.energy[image_id],
                t_energy=t_energy,
                t_mask=t_mask,
                min_area=0,
            )
            for image_id in self.image_ids
        }
        out = []
        for area in areas:
            table = _table(found, area)
            result = self.truth.score(table)
            value = result.micro.f1 if self.metric == "f1" else result.mean_city_f1
            out.append(_Candidate(value, PostParams(t_energy, t_mask, area), result, table))
        self.evaluated += len(areas)
        return out


def _table(instances: dict[str, list[Any]], min_area: float) -> Any:
    from geoarena.evaluator import PolygonTable
    from geoarena.models.postprocess import instances_to_rows

    keep = max(min_area, 1.0)  # the rule of maps_to_polygons(min_area=...)
    rows = []
    for image_id, found in instances.items():
        rows.extend(instances_to_rows(image_id, [i for i in found if i.area >= keep]))
    ids, bids, wkts, confs = zip(*rows, strict=True)
    return PolygonTable.from_wkt(ids, bids, wkts, confs, name="<validation proposals>")


def search_tiles(image_ids: list[str], max_tiles: int | None, seed: int) -> list[str]:
    """At most ``max_tiles`` tiles, the cities taking turns (so none is left out)."""
    import random

    from geoarena.evaluator import city_of

    if max_tiles is None or len(image_ids) <= max_tiles:
        return list(image_ids)
    by_city: dict[str, list[str]] = {}
    for image_id in sorted(image_ids):
        by_city.setdefault(city_of(image_id), []).append(image_id)
    rng = random.Random(seed)
    for ids in by_city.values():
        rng.shuffle(ids)
    picked: list[str] = []
    while len(picked) < max_tiles:
        for ids in by_city.values():
            if ids and len(picked) < max_tiles:
                picked.append(ids.pop())
    return sorted(picked)


def tune_post(
    maps: Any,
    *,
    metric: str,
    search: PostSearch,
    baseline: PostParams,
    train_seconds: float | None = None,
) -> PostResult:
    """Search thresholds on ``maps`` (a ``geoarena.models.maps.MapCache`` with truth).

    The fixed thresholds are scored on every tile first. Candidates are then compared on
    a per-city subset of at most ``search.max_tiles`` tiles: the fixed pair at every area
    of ``search.min_area``, then up to ``search.n_trials - 1`` TPE pairs, until
    ``search.timeout`` or ``search.max_fraction * train_seconds`` seconds have passed. The
    winner is re-scored on every tile and kept only if it beats the fixed thresholds
    there, so the result is never worse than the training config's.
    """
    started = time.perf_counter()
    full = _Scorer(maps, metric)
    base = full.scan(baseline.t_energy, baseline.t_mask, [baseline.min_area])[0]
    best = base
    scorers = [full]
    if search.enabled:
        ids = search_tiles(maps.image_ids, search.max_tiles, search.seed)
        sub = full if len(ids) == len(maps.image_ids) else _Scorer(maps, metric, ids)
        scorers.append(sub)
        limit = _time_limit(search, train_seconds)
        top = _search(sub, search, baseline, started, limit)
        if top.params != baseline:
            if sub is not full:
                top = full.scan(top.params.t_energy, top.params.t_mask, [top.params.min_area])[0]
            if top.value > base.value:
                best = top
    return PostResult(
        best=best.params,
        value=best.value,
        baseline_value=base.value,
        baseline=baseline,
        score=best.score,
        proposals=best.table,
        truth=full.truth,
        candidates=sum(s.evaluated for s in {id(s): s for s in scorers}.values()),
        seconds=time.perf_counter() - started,
    )


def _time_limit(search: PostSearch, train_seconds: float | None) -> float:
    limits = [search.timeout or math.inf]
    if search.max_fraction is not None and train_seconds is not None:
        limits.append(search.max_fraction * train_seconds)
    return min(limits)


def _search(
    scorer: _Scorer, search: PostSearch, baseline: PostParams, started: float, limit: float
) -> _Candidate:
    """The best candidate on ``scorer``'s tiles (ties keep the fixed thresholds)."""
    import optuna

    areas = sorted({*search.min_area, baseline.min_area})
    scan = scorer.scan(baseline.t_energy, baseline.t_mask, areas)
    best = next(c for c in scan if c.params.min_area == baseline.min_area)
    for candidate in scan:
        if candidate.value > best.value:
            best = candidate
    distributions = {
        "t_energy": optuna.distributions.FloatDistribution(*search.t_energy),
        "t_mask": optuna.distributions.FloatDistribution(*search.t_mask),
    }
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one inner study per trial
    try:
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=6),
        )
    finally:
        optuna.logging.set_verbosity(verbosity)
    first = {"t_energy": baseline.t_energy, "t_mask": baseline.t_mask}
    if all(distributions[k]._contains(v) for k, v in first.items()):
        seed = optuna.trial.create_trial(
            params=first, distributions=distributions, value=max(c.value for c in scan)
        )
        study.add_trial(seed)
    for _ in range(search.n_trials - 1):
        if time.perf_counter() - started > limit:
            break
        trial = study.ask(distributions)
        pair = (trial.params["t_energy"], trial.params["t_mask"])
        top = max(scorer.scan(*pair, areas), key=lambda c: c.value)
        study.tell(trial, top.value)
        if top.value > best.value:
            best = top
    return best
