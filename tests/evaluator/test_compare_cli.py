"""``geoarena compare`` through click's runner, on the real solaris SpaceNet-2 sample."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from geoarena.cli import cli
from geoarena.evaluator import Metric, PreparedTruth, compare, read_proposals, read_truth

from .helpers import SAMPLES

TRUTH, PREDS = SAMPLES / "SN2_sample_truth.csv", SAMPLES / "SN2_sample_preds.csv"


def _invoke(*args: str):
    result = CliRunner().invoke(cli, ["compare", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_json_is_the_api_comparison_of_the_two_scores(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    # B = the truth itself, submitted as proposals: a perfect submission
    _invoke(str(TRUTH), str(PREDS), str(TRUTH), "--replicates", "300", "--seed", "3",
            "--json", str(out))  # fmt: skip
    got = json.loads(out.read_text())
    prepared = PreparedTruth(read_truth(TRUTH))
    a, b = (prepared.score(read_proposals(p)).images for p in (PREDS, TRUTH))
    want = compare(a, b, metric=Metric.MEAN_CITY_F1, replicates=300, seed=3).to_dict()
    assert {k: got[k] for k in want} == want
    assert got["metric"] == "mean_city_f1" and got["rules"]["name"] == "deepglobe"
    assert got["crs"] is None  # pixel coordinates
    # the sample's known scores: mean city F1 0.665260196906 against a perfect 1.0
    assert abs(got["overall"]["a"] - 0.665260196906) < 1e-9 and got["overall"]["b"] == 1.0
    assert got["significant"] and got["overall"]["high"] < 0
    assert set(got["cities"]) == {"AOI_2_Vegas", "AOI_5_Khartoum"}


def test_a_prepared_truth_compares_like_its_csv(tmp_path: Path) -> None:
    """``geoarena prepare``'s file is a TRUTH for compare as for score (it was read as a
    CSV and refused as "not UTF-8 text"), under the rules it was prepared with only."""
    stored = tmp_path / "truth.arrow"
    done = CliRunner().invoke(cli, ["prepare", str(TRUTH), "-o", str(stored)])
    assert done.exit_code == 0, done.output
    outputs = []
    for truth in (TRUTH, stored):
        out = tmp_path / f"{truth.stem}.json"
        _invoke(str(truth), str(PREDS), str(TRUTH), "--replicates", "200", "--json", str(out))
        outputs.append(json.loads(out.read_text()))
    assert outputs[0] == outputs[1]
    refused = CliRunner().invoke(cli, ["compare", str(stored), str(PREDS), str(TRUTH),
                                       "--rules", "solaris"])  # fmt: skip
    assert refused.exit_code == 2 and "prepared under the rules 'deepglobe'" in refused.output


def test_table_names_the_better_side_and_a_tie() -> None:
    better = _invoke(str(TRUTH), str(PREDS), str(TRUTH), "--replicates", "200").output
    lines = [line for line in better.splitlines() if "overall" in line]
    assert "-0.3347" in lines[0] and lines[0].rstrip(" │").endswith("B")
    same = _invoke(str(TRUTH), str(PREDS), str(PREDS), "--replicates", "200").output
    lines = [line for line in same.splitlines() if "overall" in line]
    assert "+0.0000" in lines[0] and "1.0000" in lines[0] and "tie" in lines[0]


def test_rules_and_metric_options_reach_the_comparison() -> None:
    text = _invoke(
        str(TRUTH), str(PREDS), str(TRUTH), "--rules", "spacenet-utilities",
        "--iou-threshold", "0.75", "--metric", "f1", "--replicates", "50", "--json", "-",
    ).output  # fmt: skip
    got = json.loads(text)  # '-' prints only the JSON
    assert got["metric"] == "f1" and got["rules"]["iou_threshold"] == 0.75
    assert got["rules"]["modified"] == ["iou_threshold"]
    assert got["overall"]["a"] < 0.55591 < got["overall"]["b"]  # stricter than at 0.5


def test_bad_input_exits_2_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ImageId,BuildingId,PolygonWKT_Pix,Confidence\nimg,0,POLYGON ((0 0,,1\n")
    result = CliRunner().invoke(cli, ["compare", str(TRUTH), str(PREDS), str(bad)])
    assert result.exit_code == 2
    assert "bad.csv:2" in result.output


def test_georeferenced_submissions_are_compared_in_their_crs() -> None:
    """solaris' GeoJSON pair (F1 8/28) against the truth submitted as a proposal (F1 1)."""
    gt, pred = SAMPLES / "solaris_geo_gt.geojson", SAMPLES / "solaris_geo_pred.geojson"
    text = _invoke(
        str(gt), str(pred), str(gt), "--area-units", "pixels", "--pixel-size", "0.5",
        "--replicates", "50", "--json", "-",
    ).output  # fmt: skip
    got = json.loads(text)
    assert abs(got["overall"]["a"] - 8 / 28) < 1e-12 and got["overall"]["b"] == 1.0
    assert got["rules"]["truth_area_filter"] == ">=5" and got["images"] == 1
    assert got["crs"] == "urn:ogc:def:crs:EPSG::32616"  # square metres, then
