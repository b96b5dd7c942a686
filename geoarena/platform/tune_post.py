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
    """Polygons per ``(t_energy, t_mask)``, scored for every area of the grid."""

    def __init__(self, maps: Any, metric: str) -> None:
        from geoarena.evaluator import PreparedTruth

        self.maps = maps
        self.metric = metric
        self.truth = PreparedTruth(maps.truth_table(), rules="deepglobe")
        self.evaluated = 0

    def scan(self, t_energy: float, t_mask: float, areas: list[float]) -> list[_Candidate]:
        """One candidate per area; the watershed runs once for the pair."""
        from geoarena.models.postprocess import maps_to_polygons

        found = {
            image_id: maps_to_polygons(prob, energy, t_energy=t_energy, t_mask=t_mask, min_area=0)
            for image_id, prob, energy in self.maps.items()
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


def tune_post(
    maps: Any,
    *,
    metric: str,
    search: PostSearch,
    baseline: PostParams,
) -> PostResult:
    """Search thresholds on ``maps`` (a ``geoarena.models.maps.MapCache`` with truth).

    The baseline pair is scanned first, so the result is never worse than the fixed
    thresholds; TPE then proposes up to ``search.n_trials - 1`` more ``(t_energy, t_mask)``
    pairs within ``search.timeout`` seconds, each scanned over ``search.min_area``.
    With ``search.enabled`` false only the baseline is scored.
    """
    import optuna

    started = time.perf_counter()
    scorer = _Scorer(maps, metric)
    areas = sorted({*search.min_area, baseline.min_area}) if search.enabled else [baseline.min_area]
    scan = scorer.scan(baseline.t_energy, baseline.t_mask, areas)
    best = next(c for c in scan if c.params.min_area == baseline.min_area)
    base_value = best.value
    for candidate in scan:  # strictly better only: ties keep the fixed thresholds
        if candidate.value > best.value:
            best = candidate
    if search.enabled:
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
                params=first, distributions=distributions, value=best.value
            )
            study.add_trial(seed)
        for _ in range(search.n_trials - 1):
            if search.timeout is not None and time.perf_counter() - started > search.timeout:
                break
            trial = study.ask(distributions)
            top = max(
                scorer.scan(trial.params["t_energy"], trial.params["t_mask"], areas),
                key=lambda c: c.value,
            )
            study.tell(trial, top.value)
            if top.value > best.value:
                best = top
    return PostResult(
        best=best.params,
        value=best.value,
        baseline_value=base_value,
        baseline=baseline,
        score=best.score,
        proposals=best.table,
        truth=scorer.truth,
        candidates=scorer.evaluated,
        seconds=time.perf_counter() - started,
    )
