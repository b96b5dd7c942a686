"""Output files: a path that cannot be written is refused before any scoring, with the
option and the path named; a file is written whole or not at all; devices, pipes and
links are written through, never replaced."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from geoarena.cli import cli
from geoarena.errors import InvalidInput
from geoarena.evaluator import outputs
from geoarena.evaluator.outputs import check_writable, check_writable_folder, write_atomically

from .helpers import SAMPLES

TRUTH, PREDS = SAMPLES / "SN2_sample_truth.csv", SAMPLES / "SN2_sample_preds.csv"


def test_missing_folders_are_made_and_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "score.json"
    check_writable(deep, "--json")
    assert deep.parent.is_dir() and not deep.exists()
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(InvalidInput) as info:
        check_writable(tmp_path / "blocker" / "s.json", "--json")
    (problem,) = info.value.problems
    assert (problem.file, problem.column) == (str(tmp_path / "blocker" / "s.json"), "--json")
    assert "cannot make its folder" in problem.reason
    with pytest.raises(InvalidInput, match="is a folder"):
        check_writable(tmp_path / "a", "--json")
    with pytest.raises(InvalidInput, match="cannot make the folder"):
        check_writable_folder(tmp_path / "blocker" / "plots", "--plot-dir")


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "score.json"
    write_atomically(path, b"old\n")

    def full(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.os, "replace", full)
    with pytest.raises(InvalidInput, match=r"\[--json\] cannot write: No space left on device"):
        write_atomically(path, b"new\n", "--json")
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["score.json"]


def test_a_written_file_has_the_umasks_mode(tmp_path: Path) -> None:
    """As ``open(path, "w")`` would make it (the temporary it was written to must not
    leave it private, as ``tempfile.mkstemp`` makes files)."""
    previous = os.umask(0o027)
    try:
        write_atomically(tmp_path / "s.json", b"{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "s.json").stat().st_mode & 0o777 == 0o640


def test_links_pipes_and_devices_are_written_through(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_atomically(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_atomically(fifo, b"through the pipe")
    reader.join(timeout=10)
    assert got == [b"through the pipe"] and fifo.is_fifo()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_device_is_an_error_naming_it() -> None:
    with pytest.raises(InvalidInput, match=r"/dev/full: \[--json\] cannot write: No space"):
        write_atomically(Path("/dev/full"), b"{}", "--json")
    assert Path("/dev/full").is_char_device()


def test_commands_refuse_an_unwritable_output_before_scoring(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("x")
    blocked = str(tmp_path / "blocker" / "out")
    runner = CliRunner()
    for args in (
        ["score", str(TRUTH), str(PREDS), "--json", blocked],
        ["score", str(TRUTH), str(PREDS), "--per-image", blocked],
        ["score", str(TRUTH), str(PREDS), "--matches", blocked],
        ["prepare", str(TRUTH), "-o", blocked],
        ["compare", str(TRUTH), str(PREDS), str(PREDS), "--json", blocked],
    ):
        run = runner.invoke(cli, args)
        assert run.exit_code == 2, (args, run.output)
        assert f"error: {blocked}: [" in run.output and "cannot write" in run.output
        assert "F1" not in run.output  # refused before anything was scored

    nested = tmp_path / "new" / "folder"
    run = runner.invoke(
        cli,
        ["score", str(TRUTH), str(PREDS), "--json", str(nested / "s.json"),
         "--per-image", str(nested / "i.csv"), "--plot", "AOI_2_Vegas_img3457",
         "--plot-dir", str(nested / "plots")],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    assert sorted(p.name for p in nested.rglob("*")) == [
        "AOI_2_Vegas_img3457.svg", "i.csv", "plots", "s.json",
    ]  # fmt: skip
