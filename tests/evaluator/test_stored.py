"""A prepared truth stored on disk scores exactly like the truth it came from, and a file
that is not one (other rules, another version, damaged bytes) is refused, not trusted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import shapely
from click.testing import CliRunner
from hypothesis import given

from geoarena.cli import cli
from geoarena.evaluator import (
    InputError,
    PreparedTruth,
    get_rules,
    read_proposals,
    read_truth,
    score,
    stored,
)
from geoarena.evaluator.parallel import score_files
from geoarena.evaluator.stored import (
    _Decoder,
    is_prepared,
    load_prepared,
    prepared_from_cache,
    prepared_to_bytes,
    save_prepared,
)
from geoarena.evaluator.synthetic import make_pair

from .helpers import PRESET_NAMES, SAMPLES, matches_of, per_image
from .test_differential import SETTINGS, scenes
from .test_parallel import comparable

SAMPLE_NAMES = ("SN2_sample", "sample")


def result_of(prepared: PreparedTruth, proposals, **kwargs) -> dict:
    data = prepared.score(proposals, **kwargs).to_dict()
    data["diagnostics"]["geos_failure_examples"].sort(
        key=lambda e: (e["proposal_line"], e["truth_line"])
    )
    return data


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_stored_truth_scores_like_the_csv(tmp_path, name: str, preset: str) -> None:
    truth, preds = SAMPLES / f"{name}_truth.csv", SAMPLES / f"{name}_preds.csv"
    proposals = read_proposals(preds)
    direct = PreparedTruth(truth, preset)
    path = tmp_path / "truth.arrow"
    save_prepared(direct, path)
    assert is_prepared(path) and not is_prepared(truth)
    loaded = load_prepared(path, rules=preset)
    assert result_of(loaded, proposals, bootstrap=30) == result_of(direct, proposals, bootstrap=30)
    details = (p.score(proposals, details=True) for p in (loaded, direct))
    assert matches_of(next(details)) == matches_of(next(details))
    # the breakdown decodes only the truths of candidate pairs: it must not miss one
    broken_down = {"breakdown": True}
    assert result_of(loaded, proposals, **broken_down) == result_of(
        direct, proposals, **broken_down
    )


def test_stored_split_and_skipped_rows_survive() -> None:
    truth = read_truth(SAMPLES / "SN2_sample_truth.csv")
    split = sorted(set(truth.image_id.tolist()))[::2]
    bad = (SAMPLES / "SN2_sample_truth.csv").read_bytes() + b"AOI_2_Vegas_img1,3,POLYGN ((0 0))\n"
    skipping = read_truth(bad, on_error="skip")
    proposals = read_proposals(SAMPLES / "SN2_sample_preds.csv")
    for table, image_ids in ((truth, split), (skipping, None)):
        direct = PreparedTruth(table, image_ids=image_ids)
        loaded = load_prepared(prepared_to_bytes(direct))
        assert loaded.split == direct.split
        assert loaded.table.skipped == direct.table.skipped
        assert result_of(loaded, proposals) == result_of(direct, proposals)
    assert len(skipping.skipped) == 1


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_a_view_of_a_stored_truth_scores_as_a_split(monkeypatch, preset: str) -> None:
    """A view decodes the polygons of its own images for the details, and no others."""
    truth, props = make_pair(9, 25, seed=5)
    ids = sorted(set(read_truth(truth).image_id.tolist()))[::4]
    loaded = load_prepared(prepared_to_bytes(PreparedTruth(truth, preset)), rules=preset)
    decoded = []
    scored = _Decoder.scored
    monkeypatch.setattr(_Decoder, "scored", lambda d, at: decoded.append(at) or scored(d, at))
    split = PreparedTruth(truth, preset, image_ids=ids)
    kwargs = {"details": True, "breakdown": True}
    got, expected = loaded.for_images(ids).score(props, **kwargs), split.score(props, **kwargs)
    assert matches_of(got) == matches_of(expected)
    assert per_image(got) == per_image(expected)
    rows = loaded.side.rows[np.concatenate(decoded)]
    assert set(loaded.table.image_id[rows].tolist()) == set(ids)


@SETTINGS
@given(scene=scenes())
def test_stored_truth_equals_direct_under_every_preset(scene) -> None:
    truth, props = scene
    for preset in PRESET_NAMES:
        direct = PreparedTruth(truth, preset)
        loaded = load_prepared(prepared_to_bytes(direct), rules=preset)
        assert result_of(loaded, props) == result_of(direct, props)


@pytest.fixture(scope="module")
def sample_bytes() -> bytes:
    return prepared_to_bytes(PreparedTruth(SAMPLES / "sample_truth.csv", "topcoder"))


def refusal(data: bytes, **kwargs) -> str:
    with pytest.raises(InputError) as caught:
        load_prepared(data, name="t.arrow", **kwargs)
    return str(caught.value)


def rewrite_metadata(data: bytes, change) -> bytes:
    """The same file with its geoarena metadata passed through ``change``."""
    table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
    meta = json.loads(table.schema.metadata[b"geoarena"])
    change(meta)
    table = table.replace_schema_metadata({b"geoarena": json.dumps(meta).encode()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_refuses_other_rules(sample_bytes: bytes) -> None:
    message = refusal(sample_bytes, rules="deepglobe")
    assert "prepared under the rules 'topcoder', not 'deepglobe'" in message
    assert "multipolygon" in message  # names the knobs that differ
    assert "topcoder" in refusal(sample_bytes, rules=get_rules("topcoder", iou_threshold=0.6))
    load_prepared(sample_bytes, rules="topcoder")  # the right rules are accepted


def test_refuses_other_versions_formats_and_edited_rules(sample_bytes: bytes) -> None:
    def version(meta: dict) -> None:
        meta["evaluator_version"] = "0.9"

    def fmt(meta: dict) -> None:
        meta["format"] = "geoarena-prepared/0"

    def knob(meta: dict) -> None:
        meta["rules"]["iou_threshold"] = 0.25  # the digest no longer matches

    assert "prepared by evaluator '0.9'" in refusal(rewrite_metadata(sample_bytes, version))
    assert "unsupported prepared truth format" in refusal(rewrite_metadata(sample_bytes, fmt))
    assert "do not match their sha256" in refusal(rewrite_metadata(sample_bytes, knob))


def test_refuses_damaged_or_foreign_bytes(sample_bytes: bytes) -> None:
    csv = (SAMPLES / "sample_truth.csv").read_bytes()
    assert "not a prepared truth" in refusal(csv)
    assert "damaged prepared truth" in refusal(sample_bytes[: len(sample_bytes) // 2])
    stream = pa.BufferOutputStream()
    with pa.ipc.new_file(stream, pa.schema([("x", pa.int64())])) as writer:
        writer.write_table(pa.table({"x": [1]}))
    assert "unsupported prepared truth format" in refusal(stream.getvalue().to_pybytes())


def test_cache_builds_once_then_loads(tmp_path, monkeypatch) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_bytes((SAMPLES / "sample_truth.csv").read_bytes())
    proposals = read_proposals(SAMPLES / "sample_preds.csv")
    expected = result_of(PreparedTruth(truth, "solaris"), proposals)
    first = prepared_from_cache(truth, "solaris", directory=tmp_path / "cache")
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and result_of(first, proposals) == expected

    built = []
    monkeypatch.setattr(
        stored, "read_truth", lambda *a, **k: built.append(1) or read_truth(*a, **k)
    )
    again = prepared_from_cache(truth, "solaris", directory=tmp_path / "cache")
    assert built == [] and result_of(again, proposals) == expected  # loaded, not parsed

    prepared_from_cache(truth, "deepglobe", directory=tmp_path / "cache")
    assert built == [1] and len(list((tmp_path / "cache").iterdir())) == 2  # other rules

    entries[0].write_bytes(b"ARROW1 damaged")  # a broken entry is rebuilt, not trusted
    rebuilt = prepared_from_cache(truth, "solaris", directory=tmp_path / "cache")
    assert built == [1, 1] and result_of(rebuilt, proposals) == expected
    lines = truth.read_bytes().splitlines()
    truth.write_bytes(b"\n".join([*lines, lines[1]]) + b"\n")  # one row more
    prepared_from_cache(truth, "solaris", directory=tmp_path / "cache")
    assert built == [1, 1, 1]  # another truth file: another key


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("workers", [1, 3])
def test_score_files_against_a_stored_truth(preset: str, workers: int) -> None:
    truth, props = make_pair(9, 25, seed=5)
    expected = score(read_truth(truth), read_proposals(props), preset, bootstrap=40, seed=1)
    loaded = load_prepared(prepared_to_bytes(PreparedTruth(truth, preset)), rules=preset)
    got = score_files(loaded, props, preset, workers=workers, bootstrap=40, seed=1)
    assert comparable(got) == comparable(expected)


@pytest.mark.parametrize("workers", [1, 2])
def test_score_files_never_decodes_the_whole_stored_truth(monkeypatch, workers: int) -> None:
    """Scoring asks a stored truth for its name, row count and skipped rows only: decoding
    every polygon (what ``.table`` does) cost 1M truths ~0.4 GB and seconds in the parent
    and the first worker."""
    truth, props = make_pair(6, 20, seed=3)
    loaded = load_prepared(prepared_to_bytes(PreparedTruth(truth, "deepglobe")))

    def refuse(self: object) -> None:
        raise AssertionError("the whole stored truth was decoded")

    monkeypatch.setattr(_Decoder, "all_rows", refuse)
    got = score_files(loaded, props, workers=workers)
    assert comparable(got) == comparable(score(read_truth(truth), read_proposals(props)))
    assert (loaded.n_rows, loaded.skipped) == (len(read_truth(truth)), ())


def test_prepare_then_score_on_the_command_line(tmp_path, monkeypatch) -> None:
    truth, preds = SAMPLES / "SN2_sample_truth.csv", SAMPLES / "SN2_sample_preds.csv"
    prepared = tmp_path / "truth.arrow"
    runner = CliRunner()
    done = runner.invoke(cli, ["prepare", str(truth), "-o", str(prepared), "--rules", "solaris"])
    assert done.exit_code == 0, done.output
    assert "prepared" in done.output and is_prepared(prepared)

    def scored(truth_arg: Path, *extra: str) -> dict:
        out = tmp_path / "score.json"
        run = runner.invoke(
            cli,
            ["score", str(truth_arg), str(preds), "--rules", "solaris", "--json", str(out), *extra],
        )
        assert run.exit_code == 0, run.output
        return json.loads(out.read_text())

    expected = scored(truth)
    assert scored(prepared) == expected
    monkeypatch.setenv("GEOARENA_CACHE_DIR", str(tmp_path / "cache"))
    assert scored(truth, "--cache") == expected
    assert scored(truth, "--cache") == expected  # the second time from the cache
    assert len(list((tmp_path / "cache").iterdir())) == 1

    refused = runner.invoke(cli, ["score", str(prepared), str(preds)])
    assert refused.exit_code == 2
    assert "prepared under the rules 'solaris', not 'deepglobe'" in refused.output

    # a stored truth refused under other rules is said before any error of the proposals,
    # which name their own file and line
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "ImageId,BuildingId,PolygonWKT_Pix,Confidence\n"
        'img,1,"POLYGON ((1.5.3 0, 1 0, 1 1, 1.5.3 0))",1\n'
    )
    for args, said in [
        ([], "prepared under the rules 'solaris', not 'deepglobe'"),
        (["--rules", "solaris"], f"{bad}:2: [PolygonWKT_Pix] unparsable WKT"),
    ]:
        run = runner.invoke(cli, ["score", str(prepared), str(bad), *args])
        assert run.exit_code == 2 and said in run.output, run.output
        assert run.output.count("error:") == 1


def test_what_is_not_stored_or_not_a_truth_is_said(tmp_path, monkeypatch) -> None:
    """``prepare`` refuses a prepared truth by name, and ``score`` and ``compare`` name
    one given as proposals (rather than misreading it as a CSV, "not UTF-8 text"); a
    pixel truth stored beside footprints in a CRS is a CRS mismatch; ``score --cache``
    scores a georeferenced truth and says it cached nothing."""
    runner = CliRunner()
    out = tmp_path / "t.arrow"
    gt, pred = SAMPLES / "solaris_geo_gt.geojson", SAMPLES / "solaris_geo_pred.geojson"
    done = runner.invoke(cli, ["prepare", str(SAMPLES / "sample_truth.csv"), "-o", str(out)])
    assert done.exit_code == 0, done.output
    again = runner.invoke(cli, ["prepare", str(out), "-o", str(tmp_path / "u.arrow")])
    assert again.exit_code == 2 and f"{out}: already a prepared truth" in again.output
    misplaced = {
        ("score", str(gt), str(out)): f"{out}: a truth stored by geoarena prepare, given as the",
        ("compare", str(gt), str(pred), str(out)): f"{out}: a truth stored by geoarena prepare",
        ("score", str(out), str(pred)): "but the truth",
        ("compare", str(out), str(pred), str(pred)): "is in planar coordinates without a CRS",
    }
    for args, reason in misplaced.items():
        run = runner.invoke(cli, list(args))
        assert run.exit_code == 2 and reason in run.output, run.output
    monkeypatch.setenv("GEOARENA_CACHE_DIR", str(tmp_path / "cache"))
    run = runner.invoke(cli, ["score", str(gt), str(pred), "--cache"])
    assert run.exit_code == 0, run.output
    assert f"note: --cache keeps CSV truths; {gt} is read each time" in run.output
    assert not (tmp_path / "cache").exists()


def test_polygons_are_decoded_when_needed_and_checked_then(sample_bytes: bytes) -> None:
    proposals = read_proposals(SAMPLES / "sample_preds.csv")
    loaded = load_prepared(sample_bytes, rules="topcoder")
    assert all(g is None for g in loaded.side.geometry)  # nothing decoded on load
    loaded.score(proposals)
    assert all(isinstance(g, shapely.Polygon | shapely.MultiPolygon) for g in loaded.table.geometry)

    table = pa.ipc.open_file(pa.py_buffer(sample_bytes)).read_all()
    k = table.schema.get_field_index("geometry")
    junk = pa.array([b"\x01\x03\x00\x00junk"] * len(table), pa.large_binary())
    table = table.set_column(k, table.schema.field(k), junk)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    broken = load_prepared(sink.getvalue().to_pybytes(), rules="topcoder", name="t.arrow")
    with pytest.raises(InputError, match=r"t\.arrow: undecodable geometry"):
        broken.score(proposals)
