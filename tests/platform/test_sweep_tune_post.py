"""The inner post-processing search on cached maps built from known buildings."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from geoarena.evaluator import Metric, city_of, score
from geoarena.models import MapCache, Thresholds, instances_to_table, maps_to_table
from geoarena.models.data.targets import make_targets, polygons_from_wkt
from geoarena.models.postprocess import maps_to_polygons
from geoarena.platform.post_search import search_tiles, tune_post
from geoarena.platform.sweep import PostSearch


@pytest.fixture(scope="module")
def maps(synth_data: Path) -> MapCache:
    """Probability 0.6 on buildings, 0.1 elsewhere; energy = the true energy target."""
    truth: dict[str, list[str]] = {}
    with open(synth_data / "truth.csv") as fh:
        for row in csv.DictReader(fh):
            wkts = truth.setdefault(row["ImageId"], [])
            if row["BuildingId"] != "-1":
                wkts.append(row["PolygonWKT_Pix"])
    cache = MapCache(truth=truth)
    rng = np.random.default_rng(0)
    for image_id, wkts in truth.items():
        mask, energy = make_targets(polygons_from_wkt(wkts), (64, 64))
        prob = np.where(mask > 0, 0.6, 0.1) + rng.normal(0, 0.02, mask.shape)
        cache.add(image_id, prob.clip(0, 1), energy)
    return cache


@pytest.fixture(scope="module")
def two_contrasts(maps: MapCache) -> tuple[MapCache, set[str]]:
    """Half the cities dim (buildings 0.4 over 0.1), half bright (0.7 over 0.5): no
    single ``t_mask`` separates buildings from background in both."""
    cities = sorted({city_of(i) for i in maps.image_ids})
    bright = set(cities[len(cities) // 2 :])
    cache = MapCache(truth=maps.truth)
    for image_id, prob, energy in maps.items():
        inside = np.asarray(prob) > 0.3
        lo, hi = (0.5, 0.7) if city_of(image_id) in bright else (0.1, 0.4)
        cache.add(image_id, np.where(inside, hi, lo), energy)
    return cache, bright


def test_per_city_thresholds_beat_one_global_set(two_contrasts) -> None:
    maps, bright = two_contrasts
    fixed = Thresholds(t_energy=0.3, t_mask=0.45, min_area=4)
    search = PostSearch(n_trials=12, t_mask=(0.2, 0.65), max_fraction=None)
    one = tune_post(maps, metric=Metric.F1, search=search, fixed=fixed)
    assert one.city_thresholds == {}
    per_city = tune_post(
        maps, metric=Metric.F1, search=search.model_copy(update={"per_city": True}), fixed=fixed
    )
    assert per_city.value > one.value + 0.2
    for city in {city_of(i) for i in maps.image_ids}:
        used = per_city.city_thresholds.get(city, per_city.thresholds)
        assert (0.5 < used.t_mask < 0.7) if city in bright else (0.1 < used.t_mask < 0.4)
    # the value is the evaluator's score of every tile at its city's thresholds
    found = {
        image_id: maps_to_polygons(
            prob, energy, per_city.city_thresholds.get(city_of(image_id), per_city.thresholds)
        )
        for image_id, prob, energy in maps.items()
    }
    table = instances_to_table(found)
    assert per_city.value == pytest.approx(score(maps.truth_table(), table).micro.f1)


def test_per_city_search_never_loses(maps: MapCache) -> None:
    fixed = Thresholds(t_energy=0.3, t_mask=0.4, min_area=4)
    search = PostSearch(n_trials=4, max_fraction=None)
    one = tune_post(maps, metric=Metric.MEAN_CITY_F1, search=search, fixed=fixed)
    per_city = tune_post(
        maps,
        metric=Metric.MEAN_CITY_F1,
        search=search.model_copy(update={"per_city": True}),
        fixed=fixed,
    )
    assert per_city.value >= one.value
    assert per_city.candidates > one.candidates  # the cities were searched


def score_at(maps: MapCache, params: Thresholds) -> float:

    table = maps_to_table(maps, params)
    return score(maps.truth_table(), table, rules="deepglobe").micro.f1


def test_search_beats_bad_fixed_thresholds(maps: MapCache) -> None:
    bad = Thresholds(t_energy=0.3, t_mask=0.8, min_area=4)  # nothing reaches 0.8: F1 0
    result = tune_post(
        maps, metric=Metric.F1, search=PostSearch(n_trials=6, t_mask=(0.3, 0.5)), fixed=bad
    )
    assert result.fixed_value == 0.0
    assert result.value > 0.8
    assert result.gain == result.value - result.fixed_value
    assert 0.3 <= result.thresholds.t_mask <= 0.5
    # the reported value is what the evaluator gives for the chosen thresholds
    assert result.value == pytest.approx(score_at(maps, result.thresholds))
    # the fixed thresholds once, then 6 pairs x (5 grid areas + the baseline area)
    assert result.candidates == 1 + 6 * 6
    assert len(result.proposals) > 0


def test_baseline_is_always_a_candidate(maps: MapCache) -> None:
    good = Thresholds(t_energy=0.3, t_mask=0.4, min_area=4)
    result = tune_post(maps, metric=Metric.MEAN_CITY_F1, search=PostSearch(n_trials=3), fixed=good)

    assert result.value >= result.fixed_value
    fixed = score(maps.truth_table(), maps_to_table(maps, good), rules="deepglobe")
    assert result.fixed_value == pytest.approx(fixed.mean_city_f1)


def test_disabled_search_scores_only_the_fixed_thresholds(maps: MapCache) -> None:
    fixed = Thresholds(t_energy=0.3, t_mask=0.4, min_area=4)
    result = tune_post(
        maps, metric=Metric.F1, search=PostSearch(enabled=False, n_trials=10), fixed=fixed
    )
    assert result.candidates == 1
    assert result.thresholds == fixed and result.gain == 0.0


def test_timeout_stops_after_the_baseline(maps: MapCache) -> None:
    fixed = Thresholds(t_energy=0.3, t_mask=0.4, min_area=4)
    result = tune_post(
        maps, metric=Metric.F1, search=PostSearch(n_trials=50, timeout=1e-6), fixed=fixed
    )
    assert result.candidates == 1 + 6  # the fixed pair over the area grid, nothing more


def test_search_time_is_capped_by_a_fraction_of_training(maps: MapCache) -> None:
    fixed = Thresholds(t_energy=0.3, t_mask=0.4, min_area=4)
    search = PostSearch(n_trials=50, max_fraction=0.01)
    result = tune_post(maps, metric=Metric.F1, search=search, fixed=fixed, train_seconds=1e-3)
    assert result.candidates == 1 + 6
    uncapped = tune_post(maps, metric=Metric.F1, search=search, fixed=fixed, train_seconds=None)
    assert uncapped.candidates == 1 + 50 * 6


def test_candidates_compared_on_a_city_subset_then_confirmed_on_all(maps: MapCache) -> None:
    ids = search_tiles(maps.image_ids, 4, seed=0)
    assert len(ids) == 4 and len({city_of(i) for i in ids}) == 4  # every city represented
    assert search_tiles(maps.image_ids, None, seed=0) == maps.image_ids
    bad = Thresholds(t_energy=0.3, t_mask=0.8, min_area=4)
    search = PostSearch(n_trials=4, t_mask=(0.3, 0.5), max_tiles=4)
    result = tune_post(maps, metric=Metric.F1, search=search, fixed=bad)
    # fixed on all tiles + 4 pairs x 6 areas on the subset + the winner on all tiles
    assert result.candidates == 1 + 4 * 6 + 1
    assert result.value > 0.8
    assert result.value == pytest.approx(score_at(maps, result.thresholds))  # an all-tile score
