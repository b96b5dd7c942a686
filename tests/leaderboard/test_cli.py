"""The organizer CLI (in-process through click's runner) and the one-call demo."""

from __future__ import annotations

from click.testing import CliRunner

from geoarena import leaderboard as lb
from geoarena.cli import cli
from geoarena.leaderboard import run_local_demo
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.worker import Worker

from .factories import degrade, perfect, synthetic


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, ["leaderboard", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_help_of_every_command() -> None:
    commands = [
        "",
        "init-db",
        "challenge create",
        "phase",
        "team add",
        "token issue",
        "token revoke",
        "serve",
        "worker",
        "submit",
        "status",
        "show",
        "export",
        "rescore",
        "reveal",
    ]
    for command in commands:
        assert "Usage" in _invoke(*command.split(), "--help")


def test_organizer_commands(db_url: str, tmp_path) -> None:
    truth, props = synthetic()
    (tmp_path / "truth.csv").write_bytes(truth)
    db = ["--db", db_url]
    _invoke("init-db", *db)
    out = _invoke(
        "challenge",
        "create",
        "cli",
        *db,
        "--truth",
        str(tmp_path / "truth.csv"),
        "--title",
        "CLI",
        "--rules",
        "spacenet-utilities",
        "--daily-limit",
        "none",
    )
    assert "ranked by f1" in out and "split from hash" in out
    assert "cli\tCLI" in _invoke("challenge", "list", *db)
    out = _invoke(
        "phase",
        "cli",
        "main",
        *db,
        "--total-limit",
        "10",
        "--finals",
        "1",
        "--closes",
        "2999-01-01T00:00:00",
    )
    assert "total 10" in out and "finals 1" in out and "2999-01-01" in out
    late = CliRunner().invoke(cli, ["leaderboard", "phase", "cli", "main", *db, "--opens", "soon"])
    assert late.exit_code == 2 and "opens_at" in late.output  # named, no traceback
    _invoke("team", "add", "cli", "alpha", *db)
    token = _invoke(
        "token", "issue", *db, "--member", "ann", "--challenge", "cli", "--team", "alpha"
    ).strip()
    assert token.startswith("ga_")
    bad = CliRunner().invoke(cli, ["leaderboard", "team", "add", "cli", "alpha", *db])
    assert bad.exit_code == 1 and "already exists" in bad.output

    database = Database(db_url)
    try:
        principal = lb.authenticate(database, token)
        lb.submit(database, principal=principal, slug="cli", data=perfect(truth))
        Worker(database).run(exit_when_idle=True)
        shown = _invoke("show", "cli", *db)
        assert "alpha" in shown and "1.0000" in shown
        assert '"team": "alpha"' in _invoke("show", "cli", *db, "--json")
        exported = _invoke("export", "cli", *db, "--split", "private")
        assert exported.splitlines()[1].startswith("1,alpha,")
        out_csv = tmp_path / "exports" / "board.csv"  # the folder is made
        _invoke("export", "cli", *db, "--split", "private", "-o", str(out_csv))
        assert out_csv.read_text() == exported
        blocked = CliRunner().invoke(
            cli, ["leaderboard", "export", "cli", *db, "-o", str(out_csv / "x.csv")]
        )
        assert blocked.exit_code == 2 and "[--output] cannot write" in blocked.output
        (tmp_path / "truth2.csv").write_bytes(degrade(props, 1.0))
        out = _invoke("rescore", "cli", *db, "--reason", "same")
        run_id = int(out.split()[1])
        Worker(database).run(exit_when_idle=True)
        out = _invoke("rescore", "cli", *db, "--show", str(run_id))
        assert "ready" in out and "alpha: rank 1 -> 1" in out
        assert "published" in _invoke("rescore", "cli", *db, "--publish", str(run_id))
        assert "closed" in _invoke("close", "cli", *db)
        assert "revealed" in _invoke("reveal", "cli", *db)
        _invoke("token", "revoke", *db, token)
        assert lb.authenticate(database, token) is None
    finally:
        database.dispose()


def test_bad_truth_is_refused_with_its_line(db_url: str, tmp_path) -> None:
    (tmp_path / "truth.csv").write_text(
        "ImageId,BuildingId,PolygonWKT_Pix\nimg1,1,POLYGON ((0 0, 1 0\n"
    )
    _invoke("init-db", "--db", db_url)
    result = CliRunner().invoke(
        cli,
        [
            "leaderboard",
            "challenge",
            "create",
            "x",
            "--db",
            db_url,
            "--truth",
            str(tmp_path / "truth.csv"),
            "--title",
            "X",
        ],
    )
    assert result.exit_code == 2
    assert "truth.csv:2" in result.output


def test_run_local_demo(db_url: str, capsys) -> None:
    truth, props = synthetic()
    board = run_local_demo(
        database=db_url,
        truth=truth,
        submissions={"alpha": perfect(truth), "beta": degrade(props, 0.6)},
        baseline=degrade(props, 0.3),
    )
    assert [(r.rank, r.team) for r in board.rows] == [(1, "alpha"), (2, "beta")]
    assert board.baselines[0].team == "baseline"
    assert "alpha" in capsys.readouterr().out
    # Reusing the database adds new submissions to the same challenge.
    again = run_local_demo(
        database=db_url,
        truth=truth,
        submissions={"gamma": degrade(props, 0.9)},
        show=False,
    )
    assert {r.team for r in again.rows} == {"alpha", "beta", "gamma"}
