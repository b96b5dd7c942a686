"""Machine-readable outputs of a score say exactly what the score and the oracle say."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from geoarena.evaluator import get_rules, read_proposals, read_truth, score
from geoarena.evaluator.report import render, write_json, write_matches, write_per_image
from geoarena.evaluator.synthetic import make_pair

from .helpers import PRESET_NAMES, SAMPLES
from .oracle import oracle_match


@pytest.fixture(scope="module")
def sn2():
    return read_truth(SAMPLES / "SN2_sample_truth.csv"), read_proposals(
        SAMPLES / "SN2_sample_preds.csv"
    )


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_json_and_per_image_csv(sn2, preset: str, tmp_path) -> None:
    result = score(*sn2, preset, bootstrap=20)
    write_json(result, tmp_path / "s.json")
    text = (tmp_path / "s.json").read_text()
    data = json.loads(text, parse_constant=pytest.fail)  # strict JSON: no NaN/Infinity
    assert data == {**json.loads(json.dumps(result.to_dict())), "crs": None}  # pixels
    write_per_image(result, tmp_path / "images.csv")
    with (tmp_path / "images.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["ImageId"], r["city"], int(r["TP"]), int(r["FP"]), int(r["FN"])) for r in rows] == [
        (s.image_id, s.city, s.counts.tp, s.counts.fp, s.counts.fn) for s in result.images
    ]
    assert [float(r["F1"]) for r in rows] == [s.counts.f1 for s in result.images]


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_matches_geojson_agrees_with_the_oracle(sn2, preset: str, tmp_path) -> None:
    truth, props = sn2
    result = score(truth, props, preset, details=True)
    write_matches(result.matches, tmp_path / "m.geojson")
    features = json.loads((tmp_path / "m.geojson").read_text(), parse_constant=pytest.fail)[
        "features"
    ]
    expected = oracle_match(truth, props, get_rules(preset))
    status = Counter((f["properties"]["role"], f["properties"]["status"]) for f in features)
    micro = result.micro
    assert status == {
        ("truth", "TP"): micro.tp,
        ("truth", "FN"): micro.fn,
        ("proposal", "TP"): micro.tp,
        ("proposal", "FP"): micro.fp,
    }
    truth_line = {int(truth.line[row]): row for row in expected.truth_iou}
    prop_line = {int(props.line[row]): row for row in expected.proposal_match}
    for f in features:
        p = f["properties"]
        if p["role"] == "truth":
            assert p["iou"] == expected.truth_iou[truth_line[p["line"]]]
        else:
            row = prop_line[p["line"]]
            matched = expected.proposal_match[row]
            assert (p["matched_line"] is None) == (matched < 0)
            if matched >= 0:
                assert p["matched_line"] == int(truth.line[matched])
                assert p["iou"] == expected.truth_iou[matched]
            else:
                assert p["iou"] == expected.proposal_best_iou[row]


def test_a_bootstrap_over_single_image_cities_says_it_measures_nothing() -> None:
    """A city of one image resamples to itself: the table's zero-width interval is no
    precision, and the notes say so; a city of several images gets no such note."""
    truth, props = make_pair(5, 10, seed=3)  # cities of images 1 and 5 (Vegas), then one each
    result = score(truth, props, bootstrap=50)
    assert result.bootstrap is not None
    paris = result.bootstrap["cities"]["AOI_3_Paris"]
    assert paris[0] == paris[1]
    assert "bootstrap: 3 of 4 cities hold a single image" in render(result)
    assert "single image" not in render(score(truth, props))
    several, props = make_pair(8, 10, seed=3)  # two images per city
    assert "single image" not in render(score(several, props, bootstrap=50))
