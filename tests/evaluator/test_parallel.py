"""score_files (images split over forked workers) equals the single-process score()."""

from __future__ import annotations

import gc

import pytest

from geoarena.evaluator import (
    InputError,
    PreparedTruth,
    io,
    prepared,
    read_proposals,
    read_truth,
    score,
    table,
)
from geoarena.evaluator.parallel import score_files
from geoarena.evaluator.synthetic import make_pair

from .helpers import PRESET_NAMES, SAMPLES


def comparable(result) -> dict:
    """to_dict() with the GEOS failure examples in a fixed order (workers append theirs)."""
    data = result.to_dict()
    data["diagnostics"]["geos_failure_examples"].sort(
        key=lambda e: (e["proposal_line"], e["truth_line"])
    )
    return data


@pytest.fixture(scope="module")
def pair() -> tuple[bytes, bytes]:
    return make_pair(9, 25, seed=5)


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("workers", [1, 3])
def test_score_files_equals_score(pair, preset: str, workers: int) -> None:
    truth, props = pair
    expected = score(read_truth(truth), read_proposals(props), preset, bootstrap=50, seed=2)
    got = score_files(truth, props, preset, workers=workers, bootstrap=50, seed=2)
    assert comparable(got) == comparable(expected)


def test_score_files_on_the_samples() -> None:
    for name in ("SN2_sample", "sample"):
        truth, preds = SAMPLES / f"{name}_truth.csv", SAMPLES / f"{name}_preds.csv"
        assert comparable(score_files(truth, preds, workers=2)) == comparable(score(truth, preds))


def bad_files(pair) -> tuple[bytes, bytes]:
    truth, props = pair
    lines = props.decode().splitlines(keepends=True)
    lines[3] = lines[3].replace("POLYGON", "POLYGN", 1)
    lines[7] = "AOI_2_Vegas_img1,1\n"  # ragged
    lines[9] = lines[9].rsplit(",", 1)[0] + ",high\n"
    return truth, "".join(lines).encode()


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_score_files_reports_bad_rows_like_the_readers(pair, workers: int) -> None:
    truth, props = bad_files(pair)
    with pytest.raises(InputError) as single:
        read_proposals(props, name="p.csv")
    with pytest.raises(InputError) as split:
        score_files(truth, props, workers=workers, on_error="raise")
    assert [(e.line, e.column) for e in split.value.problems] == [
        (e.line, e.column) for e in single.value.problems
    ]
    assert [e.line for e in single.value.problems] == [4, 8, 10]

    skipped = read_proposals(props, on_error="skip")
    expected = score(read_truth(truth), skipped)
    got = score_files(truth, props, workers=workers, on_error="skip")
    assert comparable(got)["images"] == comparable(expected)["images"]
    assert [e.line for e in got.skipped] == [e.line for e in skipped.skipped]


def test_a_bad_truth_is_reported_before_bad_proposals(tmp_path) -> None:
    """When both files are unreadable the truth's error is the one raised (the files
    are read one after the other: reading them at once on two threads saved ~1% and
    held both in memory, +330 MB at 10,000 tiles)."""
    truth, props = tmp_path / "truth.csv", tmp_path / "props.csv"
    truth.write_bytes(b"")
    props.write_bytes(b"no,header\n")
    with pytest.raises(InputError, match=r"truth\.csv:1: file is empty"):
        score_files(truth, props)
    truth.write_bytes(make_pair(2, 3, seed=1)[0])
    with pytest.raises(InputError, match=r"props\.csv"):
        score_files(truth, props)


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("workers", [1, 3])
def test_score_files_of_tables_equals_score(pair, preset: str, workers: int) -> None:
    """Tables read beforehand (as georeferenced files are) split by rows over the
    workers, with the breakdown's classes and sizes too."""
    truth, props = read_truth(pair[0]), read_proposals(pair[1])
    expected = score(truth, props, preset, bootstrap=50, seed=2, breakdown=True)
    got = score_files(truth, props, preset, workers=workers, bootstrap=50, seed=2, breakdown=True)
    assert comparable(got) == comparable(expected)  # the breakdown's dict included
    assert comparable(got)["breakdown"]["overall"]["fn"]["merged"] > 0  # a real test


@pytest.mark.parametrize("workers", [1, 3])
def test_a_tables_skipped_rows_are_reported_once(pair, workers: int) -> None:
    truth, props = bad_files(pair)
    skipped = read_proposals(props, on_error="skip")
    expected = score(read_truth(truth), skipped)
    got = score_files(read_truth(truth), skipped, workers=workers, on_error="raise")
    assert [e.line for e in got.skipped] == [4, 8, 10]  # accepted when it was read
    assert comparable(got) == comparable(expected)


def test_one_scene_and_no_proposals_on_more_workers_than_images() -> None:
    """A big one-scene file (a city as one GeoPackage) leaves workers without images;
    a proposal table without rows (nothing found) scores every truth as missed."""
    truth_csv, props_csv = make_pair(1, 50, seed=3)
    truth, props = read_truth(truth_csv), read_proposals(props_csv)
    assert comparable(score_files(truth, props, workers=3)) == comparable(score(truth, props))
    nothing = props.take(props.image_id == "no such image")
    got = score_files(truth, nothing, workers=2)
    assert comparable(got) == comparable(score(truth, nothing))
    assert (got.micro.tp, got.micro.fp, got.micro.fn) == (0, 0, 50)


@pytest.mark.parametrize("enabled", [True, False])
def test_scores_pause_the_collector_and_restore_it(pair, enabled: bool) -> None:
    """The cyclic collector is off while a score runs (it would only scan the score's
    acyclic objects), from reading the files (``score_files``) or within
    ``PreparedTruth.score``, and as it was afterwards, after a failed score too."""
    truth, props = pair
    ready = PreparedTruth(truth)
    seen: list[tuple[str, bool]] = []
    parse, select = table.parse_wkt, prepared.select

    def parsing(*args: object) -> object:
        seen.append(("parse", gc.isenabled()))
        return parse(*args)

    def selecting(*args: object) -> object:
        seen.append(("select", gc.isenabled()))
        return select(*args)

    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(table, "parse_wkt", parsing)
            patch.setattr(prepared, "select", selecting)
            score_files(truth, props, workers=1)
            ready.score(props)
        assert {where for where, _ in seen} == {"parse", "select"}
        assert not any(on for _, on in seen) and gc.isenabled() is enabled
        with pytest.raises(InputError):
            score_files(truth, b"ImageId,BuildingId,PolygonWKT_Pix,Confidence\nx,1,junk,1\n")
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


@pytest.mark.parametrize("workers", [1, 2])
def test_wkt_too_large_for_one_arrow_array_is_read_as_python_strings(
    pair, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WKT column past 32-bit Arrow offsets (lowered here to 0 bytes) takes the Python
    strings' way (never joined into one Arrow array) to the same score."""

    def refused(*args: object) -> None:
        raise AssertionError("the WKT was joined into one Arrow array")

    truth, props = pair
    expected = score_files(truth, props, workers=workers)
    monkeypatch.setattr(io, "ARROW_TEXT_MAX_BYTES", 0)
    monkeypatch.setattr(io, "take_arrow", refused)
    assert score_files(truth, props, workers=workers).micro == expected.micro
    assert score(read_truth(truth), read_proposals(props)).micro == expected.micro
