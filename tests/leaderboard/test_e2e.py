"""End to end: the real CLI, a uvicorn server and a worker as subprocesses."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from . import procs
from .factories import degrade, perfect, synthetic

pytestmark = pytest.mark.slow


def _ok(result) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_cli_server_worker_round_trip(db_url, tmp_path) -> None:
    truth, props = synthetic()
    (tmp_path / "truth.csv").write_bytes(truth)
    files = {
        "alpha": perfect(truth),
        "beta": degrade(props, 0.7, seed=1),
    }
    db = ["--db", db_url]
    _ok(procs.run_cli("leaderboard", "init-db", *db))
    out = _ok(
        procs.run_cli(
            "leaderboard",
            "challenge",
            "create",
            "e2e",
            *db,
            "--truth",
            str(tmp_path / "truth.csv"),
            "--title",
            "E2E",
            "--salt",
            "s",
        )
    )
    assert "ranked by mean_city_f1" in out
    _ok(procs.run_cli("leaderboard", "phase", "e2e", "main", *db, "--daily-limit", "3"))
    tokens = {}
    for team in files:
        _ok(procs.run_cli("leaderboard", "team", "add", "e2e", team, *db))
        tokens[team] = _ok(
            procs.run_cli(
                "leaderboard",
                "token",
                "issue",
                *db,
                "--member",
                f"{team}-bot",
                "--challenge",
                "e2e",
                "--team",
                team,
            )
        ).strip()
    limit = {"GEOARENA_MAX_UPLOAD_BYTES": "1000000"}
    with procs.server(db_url, **limit) as url, procs.worker(db_url):

        def remote(*args: str, token: str) -> subprocess.CompletedProcess[str]:
            """A participant's (or baseline's) command against this server and challenge."""
            where = ("--server", url, "--token", token, "--challenge", "e2e")
            return procs.run_cli("leaderboard", *args, *where)

        for team, data in files.items():
            path = tmp_path / f"{team}.csv"
            path.write_bytes(data)
            out = _ok(remote("submit", str(path), "--wait", "60", token=tokens[team]))
            assert "scored" in out and "public: F1" in out
        bad = tmp_path / "bad.csv"
        bad.write_text("ImageId,BuildingId,PolygonWKT_Pix,Confidence\nnope,1,POLYGON EMPTY,1\n")
        result = remote("submit", str(bad), token=tokens["beta"])
        assert result.returncode == 2
        assert "bad.csv:2: [ImageId]" in result.stderr
        board = httpx.get(f"{url}/api/v1/challenges/e2e/leaderboard", timeout=30).json()
        assert [(r["rank"], r["team"]) for r in board["rows"]] == [(1, "alpha"), (2, "beta")]
        assert board["rows"][0]["value"] == 1.0
        assert set(board["cities"]) == set(board["rows"][1]["score"]["cities"])
        status = _ok(remote("status", token=tokens["beta"]))
        assert "2 submission(s) left" in status
        # Saved credentials stand in for --server and --token; a bad token is never saved.
        saved = {"GEOARENA_CREDENTIALS": str(tmp_path / "conf" / "credentials.json")}
        login = ["leaderboard", "login", "--server", url, "--token"]
        out = _ok(procs.run_cli(*login, tokens["beta"], **saved))
        assert "as beta-bot (participant, team beta of e2e)" in out
        refused = procs.run_cli(*login, "ga_0000_wrong", **saved)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        again = _ok(procs.run_cli("leaderboard", "status", "--challenge", "e2e", **saved))
        assert again == status
        org = _ok(
            procs.run_cli("leaderboard", "token", "issue", *db, "--member", "boss", "--organizer")
        ).strip()
        base = tmp_path / "base.csv"
        base.write_bytes(degrade(props, 0.5, seed=4))
        out = _ok(remote("submit", str(base), "--baseline", "U-Net", "--wait", "60", token=org))
        assert "scored" in out
        first_beta = status.split("\n")[1].split()[0]
        out = _ok(remote("finals", first_beta, token=tokens["beta"]))
        assert first_beta in out
        shown = _ok(procs.run_cli("leaderboard", "show", "e2e", "--server", url))
        assert "alpha" in shown and "beta" in shown and "U-Net (baseline)" in shown
        # An oversized body is cut off while it streams, whatever it claims to be.
        r = _post_endless(url, tokens["beta"])
        assert r.status_code == 413 and "limit" in r.json()["detail"]
    _ok(procs.run_cli("leaderboard", "close", "e2e", *db))
    _ok(procs.run_cli("leaderboard", "reveal", "e2e", *db))
    exported = _ok(procs.run_cli("leaderboard", "export", "e2e", *db, "--split", "private"))
    assert exported.splitlines()[1].startswith("1,alpha,")


def _post_endless(url: str, token: str) -> httpx.Response:
    """Stream 64 MB of chunked body (no Content-Length) at a server capped at 1 MB."""

    def endless():
        for _ in range(1024):
            yield b"x" * 65536

    return httpx.post(
        f"{url}/api/v1/challenges/e2e/submissions",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        content=endless(),
        timeout=60,
    )
