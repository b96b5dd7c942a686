"""The root CLI and ``geoarena score``: click's runner, and real subprocesses."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from geoarena.cli import COMMANDS, cli
from tests.evaluator.fuzzing import corrupt_gzip

SAMPLES = Path(__file__).resolve().parents[1] / "geoarena" / "evaluator" / "samples"
TRUTH, PREDS = SAMPLES / "SN2_sample_truth.csv", SAMPLES / "SN2_sample_preds.csv"
HEAVY = ("torch", "timm", "mlflow", "optuna", "fastapi", "sqlalchemy")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def geoarena(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console script in a subprocess (what a team runs)."""
    exe = Path(sys.executable).with_name("geoarena")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_a_score_imports_none_of_the_libraries_it_dropped() -> None:
    """`geoarena score` prints plain-text tables and draws SVG: rich (~22 ms) and Pillow
    (~13 ms) were a twentieth of a prepared score's wall time, and the evaluator's own
    dependencies (pyproject) no longer list them, nor pydantic. Its workers are forked
    without multiprocessing (~10 ms) and its files written without tempfile (~5 ms)."""
    code = (
        "import sys; from geoarena.cli import cli\n"
        f"try: cli(['score', {str(TRUTH)!r}, {str(PREDS)!r}, '--diagnostics'])\n"
        "except SystemExit as exc: assert exc.code == 0, exc.code\n"
        "print(sorted(m for m in ('rich', 'PIL', 'pydantic', 'multiprocessing', 'tempfile')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "headline (mean_city_f1)" in out.stdout
    assert out.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("argv", [["--help"], ["score", "--help"]])
def test_help_and_score_import_nothing_heavy(argv: list[str]) -> None:
    code = (
        "import sys; from geoarena.cli import cli\n"
        f"try: cli({argv!r})\n"
        "except SystemExit: pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_score_prints_cities_and_headline(tmp_path: Path) -> None:
    result = run(
        "score", str(TRUTH), str(PREDS), "--json", str(tmp_path / "s.json"),
        "--per-image", str(tmp_path / "img.csv"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "AOI_5_Khartoum" in result.output and "0.665260" in result.output
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["cities"]["AOI_2_Vegas"]["tp"] == 35
    assert data["rules"]["name"] == "deepglobe" and data["rules"]["iou_threshold"] == 0.5
    rows = (tmp_path / "img.csv").read_text().splitlines()
    assert rows[0].startswith("ImageId,city,TP") and len(rows) == 1 + 6


def test_knob_override_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    result = run(
        "score", str(TRUTH), str(PREDS), "--rules", "solaris", "--iou-threshold", "0.75",
        "--order", "file", "--json", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rules = json.loads(out.read_text())["rules"]
    assert rules["name"] == "solaris" and rules["iou_threshold"] == 0.75
    assert rules["order"] == "file" and rules["modified"] == ["iou_threshold", "order"]
    assert json.loads(out.read_text())["micro"]["tp"] < 87  # stricter threshold, fewer TPs


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--truth-area-filter", "<20", "truth_area_filter: area filter must look like '>=20'"),
        ("--iou-threshold", "1.5", "iou_threshold: input should be less than or equal to 1"),
    ],
)
def test_bad_knob_value_is_one_line_exit_2(option: str, value: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["score", str(TRUTH), str(PREDS), option, value])
    assert result.exit_code == 2 and message in result.output
    assert "validation error" not in result.output and "pydantic" not in result.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--bootstrap", "-1"], "--bootstrap"),
        (["--bootstrap", "100001"], "--bootstrap"),
        (["--max-vertices", "0"], "--max-vertices"),
    ],
)
def test_out_of_range_counts_are_usage_errors(args: list[str], option: str) -> None:
    """A replicate count that would exhaust memory, or a vertex cap no polygon meets, is
    refused before any work (it was accepted: -1 meant none, 0 the default)."""
    result = CliRunner().invoke(cli, ["score", str(TRUTH), str(PREDS), *args])
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output


def test_matches_and_plot(tmp_path: Path) -> None:
    result = run(
        "score", str(TRUTH), str(PREDS), "--matches", str(tmp_path / "m.geojson"),
        "--plot", "AOI_2_Vegas_img3457", "--plot-dir", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    features = json.loads((tmp_path / "m.geojson").read_text())["features"]
    truth_tp = [f for f in features if f["properties"]["role"] == "truth"]
    assert sum(f["properties"]["status"] == "TP" for f in truth_tp) == 87
    fp = [f for f in features if f["properties"]["status"] == "FP"]
    assert len(fp) == 57 and all(0 <= f["properties"]["iou"] <= 0.5 for f in fp)
    svg = (tmp_path / "AOI_2_Vegas_img3457.svg").read_text()
    in_image = [f for f in features if f["properties"]["image_id"] == "AOI_2_Vegas_img3457"]
    assert svg.startswith("<svg") and svg.count("<path") == len(in_image) > 0


def test_plot_of_unknown_image_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["score", str(TRUTH), str(PREDS), "--plot", "nope", "--plot-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "nope" in result.output


def test_bad_file_exits_2_with_line_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "ImageId,BuildingId,PolygonWKT_Pix,Confidence\n"
        'AOI_2_Vegas_img3457,0,"POLYGON ((0 0, 30 0, 30 30, 0 30, 0 0))",1\n'
        'AOI_2_Vegas_img3457,1,"LINESTRING (0 0, 1 1)",1\n'
    )
    result = CliRunner().invoke(cli, ["score", str(TRUTH), str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:3" in result.output and "LINESTRING" in result.output
    assert "Traceback" not in result.output


def test_skip_mode_scores_the_rest_and_lists_skipped(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    lines = PREDS.read_text().splitlines()
    lines.insert(3, 'AOI_2_Vegas_img3457,9,"POLYGON ((0 0, nan 0, 1 1, 0 0))",1')
    bad.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["score", str(TRUTH), str(bad), "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    assert f"skipped {bad}:4: [PolygonWKT_Pix] coordinates are NaN" in result.output
    assert "0.665260" in result.output


def test_gzip_is_accepted(tmp_path: Path) -> None:
    gz = tmp_path / "preds.csv.gz"
    gz.write_bytes(gzip.compress(PREDS.read_bytes()))
    result = run("score", str(TRUTH), str(gz))
    assert result.exit_code == 0 and "0.665260" in result.output


def test_real_subprocess_exit_codes(tmp_path: Path) -> None:
    ok = geoarena("score", str(TRUTH), str(PREDS), "--rules", "spacenet-utilities")
    assert ok.returncode == 0, ok.stderr
    assert "headline (f1): 0.555911" in ok.stdout
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    bad = geoarena("score", str(TRUTH), str(empty))
    assert bad.returncode == 2 and "file is empty" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_quick_exit_keeps_a_closed_pipe_a_failure() -> None:
    """``score`` ends with os._exit after flushing its output: a reader that has gone
    still gets click's status for it (1), not a silent success."""
    exe = Path(sys.executable).with_name("geoarena")
    proc = subprocess.Popen(
        [str(exe), "score", str(TRUTH), str(PREDS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # long before the score's first (buffered) line is flushed
    assert proc.wait(timeout=120) == 1


CORRUPT_GZIP = corrupt_gzip(b"".join(PREDS.read_bytes().splitlines(keepends=True)[:20]))


@pytest.mark.parametrize("case", sorted(CORRUPT_GZIP))
def test_corrupt_gzip_exits_2_with_file_and_reason(tmp_path: Path, case: str) -> None:
    """Issue #13: a broken gzip file is bad input (exit 2, file and reason), not a crash."""
    bad = tmp_path / "preds.csv.gz"
    bad.write_bytes(CORRUPT_GZIP[case])
    out = geoarena("score", str(TRUTH), str(bad))
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"error: {bad}: corrupt gzip data: ")
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_corrupt_gzip_truth_and_gzip_bomb_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "truth.csv.gz"
    bad.write_bytes(CORRUPT_GZIP["bad CRC"])
    out = geoarena("score", str(bad), str(PREDS))
    assert out.returncode == 2 and out.stderr.startswith(f"error: {bad}: corrupt gzip data: CRC")
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(PREDS.read_bytes() + b" " * (32 << 20)))
    out = geoarena("score", str(TRUTH), str(bomb), "--max-bytes", str(1 << 20))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    reason = "gzip data decompresses to more than the limit of 1048576 bytes"
    assert out.stderr == f"error: {bomb}: {reason}\n"
