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

With ``per_city``, each city then gets its own search on its own tiles, starting from the
global winner (cities differ in building size, density and contrast: the SpaceNet 2
winner tuned per city). The cities' thresholds are kept only if, applied together, they
beat the global winner on every validation tile -- so the value never drops -- and
prediction applies them by the city in each ImageId.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

import optuna

from geoarena.evaluator import Metric, PolygonTable, PreparedTruth, ScoreResult, city_of
from geoarena.models import MapCache, Thresholds, instances_to_table, maps_to_instances
from geoarena.models.postprocess import filter_area, maps_to_polygons
from geoarena.platform.sweep import PostSearch


@dataclass(frozen=True)
class PostSearchResult:
    """Outcome of the inner search on one trial's validation maps."""

    #: the chosen thresholds (the fixed ones unless a candidate beat them on every tile)
    thresholds: Thresholds
    #: per-city thresholds that beat ``thresholds`` (empty: the global ones for all)
    city_thresholds: dict[str, Thresholds]
    #: objective metric at ``thresholds`` (the trial's value)
    value: float
    #: objective metric at the training config's thresholds
    fixed_value: float
    #: the full score at ``thresholds``
    score: ScoreResult
    #: the validation proposals at ``thresholds``
    proposals: PolygonTable
    #: the validation truth (for detailed matches and overlays)
    truth: PreparedTruth
    candidates: int
    seconds: float

    @property
    def gain(self) -> float:
        """What tuning added over the fixed thresholds (>= 0: they are a candidate)."""
        return self.value - self.fixed_value


@dataclass(frozen=True)
class _Candidate:
    value: float
    thresholds: Thresholds
    score: ScoreResult
    table: PolygonTable
    cities: dict[str, Thresholds] = field(default_factory=dict)


class _Scorer:
    """Polygons per ``(t_energy, t_mask)`` on some tiles, scored for every area of a grid."""

    def __init__(self, maps: MapCache, metric: Metric, image_ids: list[str] | None = None) -> None:
        self.metric = metric
        self.tiles = maps if image_ids is None else maps.select(image_ids)
        self.truth = PreparedTruth(maps.truth_table(), rules="deepglobe", image_ids=image_ids)
        self.evaluated = 0

    def scan(self, pair: Thresholds, areas: list[float]) -> list[_Candidate]:
        """One candidate per area at ``pair``'s ``t_energy`` and ``t_mask``; the watershed
        runs once for the pair."""
        found = maps_to_instances(self.tiles, pair.replace(min_area=0))
        out = []
        for area in areas:
            kept = {image_id: filter_area(instances, area) for image_id, instances in found.items()}
            table = instances_to_table(kept, name="<validation proposals>")
            result = self.truth.score(table)
            out.append(
                _Candidate(result.value(self.metric), pair.replace(min_area=area), result, table)
            )
        self.evaluated += len(areas)
        return out

    def per_city(self, default: Thresholds, cities: dict[str, Thresholds]) -> _Candidate:
        """Every tile at its city's thresholds (``default`` for the others), scored."""
        found = {
            image_id: maps_to_polygons(prob, energy, cities.get(city_of(image_id), default))
            for image_id, prob, energy in self.tiles.items()
        }
        table = instances_to_table(found, name="<validation proposals>")
        result = self.truth.score(table)
        self.evaluated += 1
        return _Candidate(result.value(self.metric), default, result, table, cities)


def search_tiles(image_ids: list[str], max_tiles: int | None, seed: int) -> list[str]:
    """At most ``max_tiles`` tiles, the cities taking turns (so none is left out)."""
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
    maps: MapCache,
    *,
    metric: Metric,
    search: PostSearch,
    fixed: Thresholds,
    train_seconds: float | None = None,
) -> PostSearchResult:
    """Search thresholds on ``maps`` (validation maps, with their truth).

    The fixed thresholds are scored on every tile first. Candidates are then compared on
    a per-city subset of at most ``search.max_tiles`` tiles: the fixed pair at every area
    of ``search.min_area``, then up to ``search.n_trials - 1`` TPE pairs, until
    ``search.timeout`` or ``search.max_fraction * train_seconds`` seconds have passed. The
    winner is re-scored on every tile and kept only if it beats the fixed thresholds
    there, so the result is never worse than the training config's.
    """
    started = time.perf_counter()
    full = _Scorer(maps, metric)
    base = full.scan(fixed, [fixed.min_area])[0]
    best = base
    scorers = [full]
    if search.enabled:
        ids = search_tiles(maps.image_ids, search.max_tiles, search.seed)
        sub = full if len(ids) == len(maps.image_ids) else _Scorer(maps, metric, ids)
        scorers.append(sub)
        limit = _time_limit(search, train_seconds)
        top = _search(sub, search, fixed, started, limit)
        if top.thresholds != fixed:
            if sub is not full:
                top = full.scan(top.thresholds, [top.thresholds.min_area])[0]
            if top.value > base.value:
                best = top
        if search.per_city:
            best = _search_cities(maps, full, best, search, scorers, started, limit)
    return PostSearchResult(
        thresholds=best.thresholds,
        city_thresholds=best.cities,
        value=best.value,
        fixed_value=base.value,
        score=best.score,
        proposals=best.table,
        truth=full.truth,
        candidates=sum(s.evaluated for s in {id(s): s for s in scorers}.values()),
        seconds=time.perf_counter() - started,
    )


def _search_cities(
    maps: MapCache,
    full: _Scorer,
    best: _Candidate,
    search: PostSearch,
    scorers: list[_Scorer],
    started: float,
    limit: float,
) -> _Candidate:
    """``best`` with per-city thresholds when they beat it on every tile."""
    by_city: dict[str, list[str]] = {}
    for image_id in maps.image_ids:
        by_city.setdefault(city_of(image_id), []).append(image_id)
    if len(by_city) < 2:
        return best
    cities = {}
    for city, ids in sorted(by_city.items()):
        scorer = _Scorer(maps, full.metric, search_tiles(ids, search.max_tiles, search.seed))
        scorers.append(scorer)
        tuned = _search(scorer, search, best.thresholds, started, limit).thresholds
        if tuned != best.thresholds:
            cities[city] = tuned
    if not cities:
        return best
    combined = full.per_city(best.thresholds, cities)
    return combined if combined.value > best.value else best


def _time_limit(search: PostSearch, train_seconds: float | None) -> float:
    limits = [search.timeout or math.inf]
    if search.max_fraction is not None and train_seconds is not None:
        limits.append(search.max_fraction * train_seconds)
    return min(limits)


def _search(
    scorer: _Scorer, search: PostSearch, fixed: Thresholds, started: float, limit: float
) -> _Candidate:
    """The best candidate on ``scorer``'s tiles (ties keep the fixed thresholds)."""
    areas = sorted({*search.min_area, fixed.min_area})
    scan = scorer.scan(fixed, areas)
    best = next(c for c in scan if c.thresholds.min_area == fixed.min_area)
    for candidate in scan:
        if candidate.value > best.value:
            best = candidate
    distributions: dict[str, optuna.distributions.BaseDistribution] = {
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
    first = {"t_energy": fixed.t_energy, "t_mask": fixed.t_mask}
    if all(distributions[k]._contains(v) for k, v in first.items()):
        seed = optuna.trial.create_trial(
            params=first, distributions=distributions, value=max(c.value for c in scan)
        )
        study.add_trial(seed)
    for _ in range(search.n_trials - 1):
        if time.perf_counter() - started > limit:
            break
        trial = study.ask(distributions)
        pair = fixed.replace(t_energy=trial.params["t_energy"], t_mask=trial.params["t_mask"])
        top = max(scorer.scan(pair, areas), key=lambda c: c.value)
        study.tell(trial, top.value)
        if top.value > best.value:
            best = top
    return best


__all__ = ["PostSearchResult", "search_tiles", "tune_post"]
