"""Machine-readable outputs of a score say exactly what the score and the oracle say."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest
from click.testing import CliRunner

from geoarena.cli import cli
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


def test_a_submission_of_other_image_ids_is_warned_about(tmp_path) -> None:
    """Every proposal image missing from the truth (ImageIds spelt otherwise) scores 0 for
    that alone: ``score`` and ``compare`` warn, naming examples of both sides' ids; a few
    missing images are a note; an empty submission is neither."""
    truth = SAMPLES / "SN2_sample_truth.csv"
    preds = (SAMPLES / "SN2_sample_preds.csv").read_text()
    renamed, partial, empty = (tmp_path / f"{n}.csv" for n in ("renamed", "partial", "empty"))
    renamed.write_text(preds.replace("_img", "_IMG"))
    partial.write_text(preds.replace("Vegas_img", "Vegas_IMG"))
    empty.write_text(preds.splitlines()[0] + "\n")
    runner = CliRunner()
    run = runner.invoke(cli, ["score", str(truth), str(renamed)])
    assert run.exit_code == 0, run.output
    assert "warning: no proposal image is in the truth (proposals: 'AOI_2_Vegas_IMG" in run.output
    assert (
        "truth: 'AOI_2_Vegas_img" in run.output and "6 of 6 images not in the truth" in run.output
    )
    run = runner.invoke(cli, ["score", str(truth), str(partial)])
    assert "warning" not in run.output and "2 of 6 images not in the truth" in run.output
    run = runner.invoke(cli, ["score", str(truth), str(empty)])
    assert run.exit_code == 0 and "not in the truth" not in run.output
    run = runner.invoke(cli, ["compare", str(truth), str(renamed), str(partial)])
    assert f"warning: {renamed}: no proposal image is in the truth" in run.output
    assert f"warning: {partial}" not in run.output
