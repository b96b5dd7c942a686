"""The diagnostics (``breakdown=``): each error class on a scene built for it, precedence,
settings, recall by size, and the breakdown in the JSON, the CLI and the parallel
scorer (the overlays: test_overlays.py). The property tests against the oracle are in
test_differential.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from geoarena.evaluator import PolygonTable, read_proposals, read_truth, score
from geoarena.evaluator.breakdown import FN_CLASSES, FP_CLASSES, BreakdownSettings
from geoarena.evaluator.cli import score as score_command
from geoarena.evaluator.parallel import score_files
from geoarena.evaluator.synthetic import make_pair

from .helpers import SAMPLES
from .test_parallel import comparable

IMAGE = "AOI_2_Vegas_img1"


def box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


def classes(
    truths: list[str],
    proposals: list[str],
    settings: BreakdownSettings | None = None,
) -> tuple[list[str], list[str]]:
    """(class of each proposal, class of each truth) in file order; "TP" when matched.
    Proposals are visited in file order (falling confidences)."""
    t = PolygonTable.from_wkt([IMAGE] * len(truths), range(len(truths)), truths)
    conf = [1.0 - k / 100 for k in range(len(proposals))]
    p = PolygonTable.from_wkt([IMAGE] * len(proposals), range(len(proposals)), proposals, conf)
    result = score(t, p, details=True, breakdown=settings or True)
    m, b = result.matches, result.breakdown
    assert m is not None and m.errors is not None and b is not None
    counts = result.micro
    assert sum(b.overall.fp.values()) == counts.fp and sum(b.overall.fn.values()) == counts.fn
    names = (
        ["TP" if c < 0 else FP_CLASSES[c].value for c in m.errors.proposal.tolist()],
        ["TP" if c < 0 else FN_CLASSES[c].value for c in m.errors.truth.tolist()],
    )
    return names


def test_duplicate_proposal() -> None:
    """A second detection of a found building: its IoU passes, its truth is taken."""
    assert classes([box(0, 0, 10, 10)], [box(0, 0, 10, 10), box(1, 0, 11, 10)]) == (
        ["TP", "duplicate"],
        ["TP"],
    )


def test_duplicate_truth() -> None:
    """Two truths drawn on one building: the proposal that passes both matches one."""
    assert classes([box(0, 0, 10, 10), box(0, 0, 10, 10)], [box(0, 0, 10, 10)]) == (
        ["TP"],
        ["TP", "duplicate"],
    )


def test_merged_proposal_and_its_truths() -> None:
    """One proposal over two houses (IoU 100/220 with each): no house is found."""
    assert classes([box(0, 0, 10, 10), box(12, 0, 22, 10)], [box(0, 0, 22, 10)]) == (
        ["merged"],
        ["merged", "merged"],
    )


def test_truth_lost_in_a_merged_proposal_that_matched_its_neighbour() -> None:
    """The proposal matches the big house (IoU 0.8) and swallows the shed next to it: the
    shed is a merged false negative although its proposal is a true positive."""
    assert classes([box(0, 0, 20, 10), box(20, 0, 25, 4)], [box(0, 0, 25, 10)]) == (
        ["TP"],
        ["TP", "merged"],
    )


def test_split_truth_and_its_fragments() -> None:
    """Two halves of one building (IoU exactly 0.5 each, not > 0.5)."""
    assert classes([box(0, 0, 20, 10)], [box(0, 0, 10, 10), box(10, 0, 20, 10)]) == (
        ["split", "split"],
        ["split"],
    )


def test_extra_fragment_of_a_found_truth_is_split() -> None:
    assert classes([box(0, 0, 20, 10)], [box(0, 0, 16, 10), box(16, 0, 20, 10)]) == (
        ["TP", "split"],
        ["TP"],
    )


def test_localisation() -> None:
    """Shifted by 6 px: IoU 40/160 = 0.25, in (0.1, 0.5]."""
    assert classes([box(0, 0, 10, 10)], [box(6, 0, 16, 10)]) == (
        ["localisation"],
        ["localisation"],
    )


@pytest.mark.parametrize(
    "proposal",
    [box(50, 50, 60, 60), box(9, 0, 19, 10)],  # no overlap; IoU 10/190 <= 0.1
    ids=["apart", "grazing"],
)
def test_pure_miss_and_false_alarm(proposal: str) -> None:
    assert classes([box(0, 0, 10, 10)], [proposal]) == (["false_alarm"], ["miss"])


def test_duplicate_comes_before_split() -> None:
    """Both proposals lie in the truth, but the second is a near copy of the match."""
    assert classes([box(0, 0, 20, 10)], [box(0, 0, 20, 10), box(0, 0, 19, 10)]) == (
        ["TP", "duplicate"],
        ["TP"],
    )


def test_settings_move_the_boundaries() -> None:
    grazing = ([box(0, 0, 10, 10)], [box(9, 0, 19, 10)])
    low = BreakdownSettings(localisation_iou=0.0)
    assert classes(*grazing, low) == (["localisation"], ["localisation"])
    merged = ([box(0, 0, 10, 10), box(12, 0, 22, 10)], [box(3, 0, 19, 10)])  # 70% of each
    assert classes(*merged) == (["merged"], ["merged", "merged"])
    strict = BreakdownSettings(cover=0.8)
    assert classes(*merged, strict) == (["localisation"], ["localisation", "localisation"])


def test_invalid_settings_are_refused() -> None:
    for bad in ({"cover": 0.0}, {"localisation_iou": 1.0}, {"size_bins": (9.0, 9.0)}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            BreakdownSettings(**bad)  # type: ignore[arg-type]


def test_recall_by_size_per_city_and_overall() -> None:
    truths = [
        ("AOI_2_Vegas_img1", box(0, 0, 10, 10)),  # 100 px²: small
        ("AOI_2_Vegas_img1", box(20, 0, 60, 50)),  # 2,000: medium
        ("AOI_2_Vegas_img1", box(100, 0, 200, 100)),  # 10,000: large
        ("AOI_5_Khartoum_img2", box(0, 0, 12, 12)),  # 144: small
    ]
    found = [truths[0], truths[2], truths[3]]
    t = PolygonTable.from_wkt(*zip(*[(i, k, w) for k, (i, w) in enumerate(truths)], strict=True))
    p = PolygonTable.from_wkt(*zip(*[(i, k, w) for k, (i, w) in enumerate(found)], strict=True))
    result = score(t, p, breakdown=BreakdownSettings(size_bins=(150.0, 5000.0)))
    b = result.breakdown
    assert b is not None and result.matches is None
    recall = {c: {s: (r.truths, r.tp) for s, r in e.sizes.items()} for c, e in b.cities.items()}
    assert recall == {
        "AOI_2_Vegas": {"small": (1, 1), "medium": (1, 0), "large": (1, 1)},
        "AOI_5_Khartoum": {"small": (1, 1), "medium": (0, 0), "large": (0, 0)},
    }
    assert b.overall.sizes["small"].recall == 1.0 and b.overall.sizes["medium"].recall == 0.0
    assert b.overall.fn == {c: int(c.value == "miss") for c in FN_CLASSES}


def test_plain_score_computes_no_breakdown() -> None:
    truth, props = make_pair(4, 30, seed=2)
    plain = score(truth, props)
    assert plain.breakdown is None and plain.to_dict()["breakdown"] is None
    assert plain.diagnostics["pairs_settled_by_bounds"] > 0  # still the pruned path
    full = score(truth, props, breakdown=True)
    assert full.micro == plain.micro and full.cities == plain.cities
    data = json.loads(json.dumps(full.to_dict()))["breakdown"]
    assert data["settings"] == {
        "cover": 0.5,
        "localisation_iou": 0.1,
        "size_bins": [1024, 9216],
        "size_unit": "px²",
    }
    overall = data["overall"]
    assert sum(overall["fp"].values()) == full.micro.fp > 0
    assert sum(overall["fn"].values()) == full.micro.fn > 0
    assert set(data["images"]) == {s.image_id for s in full.images}


@pytest.mark.parametrize("workers", [1, 3])
def test_score_files_carries_the_breakdown(workers: int) -> None:
    truth, props = make_pair(9, 25, seed=5)
    expected = score(read_truth(truth), read_proposals(props), breakdown=True)
    got = score_files(truth, props, workers=workers, breakdown=True)
    assert comparable(got) == comparable(expected)
    assert got.breakdown is not None and got.breakdown.overall == expected.breakdown.overall


def test_cli_diagnostics_table_and_json(tmp_path: Path) -> None:
    truth, preds = SAMPLES / "SN2_sample_truth.csv", SAMPLES / "SN2_sample_preds.csv"
    out = tmp_path / "s.json"
    args = [str(truth), str(preds), "--diagnostics", "--json", str(out)]
    result = CliRunner().invoke(score_command, [*args, "--size-bins", "500,5000"])
    assert result.exit_code == 0, result.output
    assert "FP by error class" in result.output and "recall by building size" in result.output
    data = json.loads(out.read_text())
    assert data["breakdown"]["settings"]["size_bins"] == [500, 5000]
    overall = data["breakdown"]["overall"]
    assert sum(overall["fp"].values()) == data["micro"]["fp"] == 57
    assert sum(overall["fn"].values()) == data["micro"]["fn"] == 82
    assert sum(r["truths"] for r in overall["recall_by_size"].values()) == 87 + 82


def test_cli_bad_size_bins_is_a_usage_error() -> None:
    truth, preds = SAMPLES / "SN2_sample_truth.csv", SAMPLES / "SN2_sample_preds.csv"
    for bad in ("5000,500", "10", "a,b"):
        args = [str(truth), str(preds), "--diagnostics", "--size-bins", bad]
        result = CliRunner().invoke(score_command, args)
        assert result.exit_code == 2 and "--size-bins" in result.output
