"""Saved participant credentials: precedence, file safety, and a token that stays with its
server."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from geoarena.cli import cli
from geoarena.errors import Forbidden, InvalidInput
from geoarena.leaderboard import credentials
from geoarena.leaderboard.credentials import Credentials

SAVED = Credentials(server="http://board.example:8000/", token="ga_k_saved")


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "conf" / "geoarena" / "credentials.json"
    monkeypatch.setenv("GEOARENA_CREDENTIALS", str(out))
    return out


def test_saved_file_is_private_and_round_trips(path: Path) -> None:
    assert credentials.load_credentials() is None
    assert credentials.save_credentials(SAVED) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.load_credentials() == SAVED
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]  # no temp left
    assert credentials.forget_credentials() and not path.exists()
    assert not credentials.forget_credentials()


def test_xdg_location_when_not_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEOARENA_CREDENTIALS")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert credentials.credentials_path() == tmp_path / "geoarena" / "credentials.json"


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_file_others_may_read_is_refused(path: Path) -> None:
    credentials.save_credentials(SAVED)
    path.chmod(0o644)
    with pytest.raises(Forbidden, match="chmod 600"):
        credentials.load_credentials()


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("{not json", ""),
        ('{"server": "http://x"}', "token"),
        ('{"server":"a","token":"b","x":1}', "x"),
    ],
)
def test_malformed_file_names_itself_and_the_field(path: Path, text: str, column: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(InvalidInput) as caught:
        credentials.load_credentials()
    problem = caught.value.problems[0]
    assert problem.file == str(path)
    assert column in problem.column


def test_flags_and_environment_come_before_the_file(path: Path) -> None:
    assert credentials.resolve(None, None) == (None, None)
    credentials.save_credentials(SAVED)
    assert credentials.resolve(None, None) == (SAVED.server, SAVED.token)
    assert credentials.resolve(None, "ga_k_flag") == (SAVED.server, "ga_k_flag")
    assert credentials.resolve("http://board.example:8000", None) == (
        "http://board.example:8000",
        SAVED.token,
    )
    # A token saved for one server is never sent to another.
    assert credentials.resolve("http://elsewhere:9000", None) == ("http://elsewhere:9000", None)


def test_missing_server_or_token_is_a_usage_error_naming_every_way(path: Path) -> None:
    runner = CliRunner()
    env = {"GEOARENA_SERVER": "", "GEOARENA_TOKEN": ""}
    result = runner.invoke(cli, ["leaderboard", "status", "--challenge", "x"], env=env)
    assert result.exit_code == 2
    assert "--server" in result.output and "GEOARENA_SERVER" in result.output
    assert "geoarena leaderboard login" in result.output
    result = runner.invoke(
        cli, ["leaderboard", "status", "--challenge", "x", "--server", "http://h"], env=env
    )
    assert result.exit_code == 2 and "no token for http://h" in result.output


def test_unreadable_file_is_a_clean_error(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"server": 1}))
    path.chmod(0o600)
    result = CliRunner().invoke(
        cli, ["leaderboard", "status", "--challenge", "x"], env={"GEOARENA_SERVER": ""}
    )
    assert result.exit_code == 2
    assert str(path) in result.output and "server" in result.output
    assert "Traceback" not in result.output
