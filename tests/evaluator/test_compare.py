"""The paired bootstrap: against a loop-by-loop oracle, on seeded noise and real gaps, and
its symmetries."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoarena.evaluator import read_proposals, read_truth, score
from geoarena.evaluator.compare import compare
from geoarena.evaluator.metrics import Counts, ImageScore, Metric, f1_from_counts
from geoarena.evaluator.synthetic import make_pair

from .helpers import SAMPLES


def _images(counts: np.ndarray, cities: list[str]) -> list[ImageScore]:
    return [
        ImageScore(f"{city}_img{i}", city, Counts(*map(int, c)))
        for i, (c, city) in enumerate(zip(counts, cities, strict=True))
    ]


def _simulated(recall: float, n: int, seed: int, cities: list[str]) -> list[ImageScore]:
    """Per-image counts of a detector with this recall and 0.8 precision (10 buildings)."""
    rng = np.random.default_rng(seed)
    tp = rng.binomial(10, recall, n)
    fp = rng.binomial(tp + 1, 0.25)
    return _images(np.stack([tp, fp, 10 - tp], axis=1), cities)


def _oracle(a, b, metric: Metric, n: int, seed: int, level: float):
    """The comparison written as loops over replicates and images, drawing in the same
    order (cities sorted, one n x members draw each) so that it sees the same resamples;
    each side's mean per-city F1 averages over the cities of the images it lists."""
    ids = sorted({s.image_id for s in a} | {s.image_id for s in b})
    city = {s.image_id: s.city for s in (*a, *b)}
    own = [{s.city for s in side} for side in (a, b)]
    counts = {i: [(0, 0, 0), (0, 0, 0)] for i in ids}
    for side, images in enumerate((a, b)):
        for s in images:
            counts[s.image_id][side] = (s.counts.tp, s.counts.fp, s.counts.fn)
    names = sorted(set(city.values()))
    rng = np.random.default_rng(seed)
    members = {c: [i for i in ids if city[i] == c] for c in names}
    draws = {c: rng.integers(0, len(members[c]), size=(n, len(members[c]))) for c in names}

    def value(sample: dict[str, list[str]], side: int) -> float:
        per_city = []
        for c in names:
            tp = sum(counts[i][side][0] for i in sample[c])
            fp = sum(counts[i][side][1] for i in sample[c])
            fn = sum(counts[i][side][2] for i in sample[c])
            per_city.append((tp, fp, fn))
        if metric is Metric.F1:
            return f1_from_counts(*(sum(x[j] for x in per_city) for j in range(3)))[2]
        pairs = zip(names, per_city, strict=True)
        return float(np.mean([f1_from_counts(*x)[2] for c, x in pairs if c in own[side]]))

    deltas = []
    for r in range(n):
        sample = {c: [members[c][k] for k in draws[c][r]] for c in names}
        deltas.append(value(sample, 0) - value(sample, 1))
    deltas = np.array(deltas)
    tail = min((deltas <= 0).sum(), (deltas >= 0).sum())
    lo, hi = np.percentile(deltas, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    point = value(members, 0) - value(members, 1)
    return point, lo, hi, min(1.0, 2 * (tail + 1) / (n + 1))


@pytest.mark.parametrize("metric", list(Metric))
def test_matches_the_loop_oracle(metric: Metric) -> None:
    cities = ["AOI_2_Vegas"] * 25 + ["AOI_3_Paris"] * 15 + ["AOI_5_Khartoum"] * 7
    a = _simulated(0.75, len(cities), 1, cities)
    b = _simulated(0.70, len(cities), 2, cities)[5:]  # B skips 5 images: zeros there
    got = compare(a, b, metric=metric, replicates=300, seed=11, level=0.9)
    point, lo, hi, p = _oracle(a, b, metric, 300, 11, 0.9)
    assert got.overall.delta == pytest.approx(point, abs=1e-12)
    assert (got.overall.low, got.overall.high) == pytest.approx((lo, hi), abs=1e-12)
    assert got.overall.p_value == pytest.approx(p)
    assert got.images == len(cities)
    assert set(got.cities) == set(cities)


@pytest.mark.parametrize("metric", list(Metric))
def test_a_city_only_one_side_lists_counts_for_that_side_only(metric: Metric) -> None:
    """B's proposal-only images in a city the truth lacks are B's false alarms; A never
    saw that city, so A's mean per-city F1 does not average a 0 for it."""
    cities = ["AOI_2_Vegas"] * 20 + ["AOI_3_Paris"] * 12
    a = _simulated(0.75, len(cities), 1, cities)
    b = _simulated(0.70, len(cities), 2, cities)
    b += [ImageScore(f"AOI_9_Nowhere_img{i}", "AOI_9_Nowhere", Counts(0, 3, 0)) for i in range(4)]
    got = compare(a, b, metric=metric, replicates=200, seed=5, level=0.9)
    point, lo, hi, p = _oracle(a, b, metric, 200, 5, 0.9)
    assert got.overall.delta == pytest.approx(point, abs=1e-12)
    assert (got.overall.low, got.overall.high, got.overall.p_value) == pytest.approx((lo, hi, p))
    assert set(got.cities) == {"AOI_2_Vegas", "AOI_3_Paris", "AOI_9_Nowhere"}


def test_cities_with_nothing_scorable_count_as_the_score_counts_them() -> None:
    """Case 23 under ``topcoder`` (city_mean="seen"): the score averages F over every city
    it read, Paris and Shanghai at 0; compared with its own result's cities, the side's
    value is the score's headline, 1/3, not Vegas alone."""
    truth, preds = SAMPLES / "edge23_truth.csv", SAMPLES / "edge23_preds.csv"
    a = score(truth, preds, "topcoder")
    b = score(truth, b"ImageId,BuildingId,PolygonWKT_Pix,Confidence\n", "topcoder")
    assert (a.mean_city_f1, b.mean_city_f1) == pytest.approx((1 / 3, 0.0))
    got = compare(
        a.images, b.images, metric=Metric.MEAN_CITY_F1, replicates=50, cities=(a.cities, b.cities)
    )
    assert (got.overall.a, got.overall.b) == pytest.approx((1 / 3, 0.0))
    assert set(got.cities) == {"AOI_2_Vegas", "AOI_3_Paris", "AOI_4_Shanghai"}
    listed_only = compare(a.images, b.images, metric=Metric.MEAN_CITY_F1, replicates=50)
    assert listed_only.overall.a == 1.0  # without the cities: Vegas is all A lists


def test_noise_is_a_tie_and_a_real_gap_is_not() -> None:
    """Two detectors drawn from the same distribution differ by noise; a recall of 0.85
    against 0.70 on 200 images is a real difference."""
    cities = ["AOI_2_Vegas"] * 120 + ["AOI_4_Shanghai"] * 80
    same_a = _simulated(0.7, 200, 3, cities)
    same_b = _simulated(0.7, 200, 4, cities)
    better = _simulated(0.85, 200, 5, cities)
    for metric in Metric:
        noise = compare(same_a, same_b, metric=metric, seed=0)
        assert not noise.significant and noise.overall.low < 0 < noise.overall.high
        real = compare(better, same_a, metric=metric, seed=0)
        assert real.significant and real.overall.low > 0 and real.overall.p_value < 0.01
        assert all(d.delta > 0 for d in real.cities.values())


def test_a_city_of_one_image_tests_nothing() -> None:
    """A city of one image resamples to itself: every replicate equals the point
    difference, which the bootstrap alone would call significant (p = 2 / 201). Its
    p-value is 1, and so is the overall one when no city has two images; a city of many
    images beside it is still tested."""
    a_img = ImageScore("AOI_3_Paris_img0", "AOI_3_Paris", Counts(9, 1, 1))
    b_img = ImageScore("AOI_3_Paris_img0", "AOI_3_Paris", Counts(1, 9, 9))
    one = compare([a_img], [b_img], replicates=200)
    assert one.overall.delta == pytest.approx(0.8) and one.overall.low == one.overall.high
    assert one.overall.p_value == one.cities["AOI_3_Paris"].p_value == 1.0
    assert not one.significant
    cities = ["AOI_2_Vegas"] * 40
    a = [*_simulated(0.85, 40, 5, cities), a_img]
    b = [*_simulated(0.6, 40, 6, cities), b_img]
    mixed = compare(a, b, replicates=300)
    assert mixed.cities["AOI_3_Paris"].p_value == 1.0
    assert mixed.cities["AOI_2_Vegas"].p_value < 0.01 and mixed.overall.p_value < 0.01


def test_identical_submissions_never_differ() -> None:
    cities = ["AOI_2_Vegas"] * 30
    a = _simulated(0.6, 30, 7, cities)
    result = compare(a, a, replicates=200)
    assert result.overall.delta == 0 and result.overall.p_value == 1.0
    assert (result.overall.low, result.overall.high) == (0.0, 0.0)


def test_scored_results_compare_with_their_own_headline_numbers() -> None:
    truth_csv, props_csv = make_pair(30, 20, seed=2)
    truth, props = read_truth(truth_csv), read_proposals(props_csv)
    worse = props.take(np.arange(0, len(props), 2))  # half of the proposals
    a, b = score(truth, props), score(truth, worse)
    for metric, value in ((Metric.F1, lambda r: r.micro.f1), (Metric.MEAN_CITY_F1, None)):
        got = compare(a.images, b.images, metric=metric, replicates=100).overall
        expect_a = value(a) if value else a.mean_city_f1
        expect_b = value(b) if value else b.mean_city_f1
        assert (got.a, got.b) == pytest.approx((expect_a, expect_b))
    assert compare(a.images, b.images).to_dict()["overall"]["delta"] > 0


def test_results_under_different_city_rules_are_refused() -> None:
    a = [ImageScore("x_img1", "x", Counts(1, 0, 0))]
    b = [ImageScore("x_img1", "y", Counts(1, 0, 0))]
    with pytest.raises(ValueError, match="different rules"):
        compare(a, b)
    with pytest.raises(ValueError, match="replicates"):
        compare(a, a, replicates=0)


counts = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)), min_size=1, max_size=30
)


@settings(max_examples=60, deadline=None)
@given(counts, counts, st.integers(0, 2**32 - 1), st.sampled_from(list(Metric)))
def test_swapping_sides_mirrors_the_difference(xs, ys, seed: int, metric: Metric) -> None:
    n = min(len(xs), len(ys))
    cities = [f"c{i % 3}" for i in range(n)]
    a = _images(np.array(xs[:n]), cities)
    b = _images(np.array(ys[:n]), cities)
    ab = compare(a, b, metric=metric, replicates=50, seed=seed).overall
    ba = compare(b, a, metric=metric, replicates=50, seed=seed).overall
    assert ab.delta == pytest.approx(-ba.delta, abs=1e-12)
    assert (ab.low, ab.high) == pytest.approx((-ba.high, -ba.low), abs=1e-12)
    assert ab.p_value == ba.p_value
    assert ab.low <= ab.high and 0 < ab.p_value <= 1
