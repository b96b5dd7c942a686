"""What organizers list to run a challenge (teams, tokens, submissions) through the
service, the CLI and the API, on every engine; and phase fields that must not be misread."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from geoarena import leaderboard as lb
from geoarena.cli import cli
from geoarena.leaderboard.api.app import create_app
from geoarena.leaderboard.settings import Settings
from geoarena.leaderboard.states import Exclusion

from .factories import degrade, make_arena, synthetic


@pytest.fixture
def arena(db):
    arena = make_arena(db, teams=("alpha", "beta", "team / #1"))
    lb.issue_token(db, member="alpha-2", slug=arena.slug, team="alpha")
    _, props = synthetic()
    for keep in (0.5, 0.8):
        lb.submit(db, principal=arena.members["alpha"], slug=arena.slug, data=degrade(props, keep))
    lb.exclude_team(db, slug=arena.slug, team="beta", kind=Exclusion.HIDDEN, reason="a test team")
    return arena


def test_teams_list_members_counts_and_exclusions(arena) -> None:
    teams = {t.name: t for t in lb.list_teams(arena.db, slug=arena.slug)}
    assert list(teams) == ["alpha", "beta", "team / #1"]
    assert teams["alpha"].members == ["alpha-1", "alpha-2"]
    assert (teams["alpha"].submissions, teams["beta"].submissions) == (2, 0)
    assert (teams["beta"].excluded, teams["beta"].excluded_reason) == ("hidden", "a test team")
    assert teams["alpha"].excluded is None


def test_tokens_list_public_keys_never_secrets(arena) -> None:
    alpha_key = arena.tokens["alpha"].split("_")[1]
    lb.revoke_token(arena.db, key=alpha_key)
    tokens = lb.list_tokens(arena.db, slug=arena.slug)
    assert {t.member for t in tokens} == {"alpha-1", "alpha-2", "beta-1", "team / #1-1"}
    revoked = [t for t in tokens if t.revoked_at is not None]
    assert [t.key for t in revoked] == [alpha_key]
    everyone = lb.list_tokens(arena.db)
    assert any(t.role == "organizer" and t.challenge is None for t in everyone)
    secrets = [raw.split("_", 2)[2] for raw in (*arena.tokens.values(), arena.organizer_token)]
    dumped = str([t.model_dump() for t in everyone])
    assert not any(secret in dumped for secret in secrets)


def test_cli_lists(arena, db_url: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["leaderboard", *args, "--db", db_url])
        assert result.exit_code == 0, result.output
        return result.output

    teams = run("team", "list", arena.slug).splitlines()
    assert teams[0].startswith("alpha\t2 submission(s)\talpha-1, alpha-2")
    assert teams[1] == "beta\t0 submission(s)\tbeta-1\thidden: a test team"
    tokens = run("token", "list", "--challenge", arena.slug)
    assert tokens.count("\n") == 4 and f"{arena.slug}/alpha" in tokens
    submissions = run("submissions", arena.slug, "--team", "alpha").splitlines()
    assert len(submissions) == 2 and all("alpha" in line for line in submissions)


def test_api_lists_for_organizers_only(arena) -> None:
    app = create_app(
        Settings(database_url=arena.db.url, validate_in_processes=False), arena.db, workers=0
    )
    org = {"Authorization": f"Bearer {arena.organizer_token}"}
    alpha = {"Authorization": f"Bearer {arena.tokens['alpha']}"}
    with TestClient(app) as client:
        teams = client.get(f"/api/v1/organizer/challenges/{arena.slug}/teams", headers=org)
        assert teams.status_code == 200
        assert [(t["name"], t["submissions"]) for t in teams.json()] == [
            ("alpha", 2),
            ("beta", 0),
            ("team / #1", 0),
        ]
        tokens = client.get("/api/v1/organizer/tokens", headers=org)
        assert tokens.status_code == 200 and len(tokens.json()) == 5
        for path in (
            f"/api/v1/organizer/challenges/{arena.slug}/teams",
            "/api/v1/organizer/tokens",
        ):
            assert client.get(path, headers=alpha).status_code == 403
        me = client.get("/api/v1/me", headers=alpha).json()
        assert me == {
            "member": "alpha-1",
            "role": "participant",
            "team": "alpha",
            "challenge": arena.slug,
        }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("finals_until", 0),  # pydantic would read Unix seconds: 1970
        ("closes_at", "1700000000"),
        ("daily_limit", False),  # pydantic would read 0: every upload refused
        ("concurrent_limit", "-1"),
        ("final_selections", 101),
        ("closes_at", "0001-01-01T00:00:00+01:00"),  # no UTC equivalent: was a server error
        ("finals_until", "9999-12-31T23:59:59-05:00"),
    ],
)
def test_phase_fields_that_would_be_misread_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        lb.PhaseChange.model_validate({field: value})


def test_limits_written_as_forms_and_the_cli_write_them() -> None:
    change = lb.PhaseChange.model_validate(
        {"daily_limit": " 7 ", "total_limit": "none", "concurrent_limit": ""}
    )
    assert (change.daily_limit, change.total_limit, change.concurrent_limit) == (7, None, None)
    assert lb.PhaseChange.model_validate({"closes_at": "2027-03-01T00:00Z"}).closes_at.year == 2027
    naive = lb.PhaseChange.model_validate({"closes_at": "2027-03-01T12:00"}).closes_at
    offset = lb.PhaseChange.model_validate({"closes_at": "2027-03-01T13:00+01:00"}).closes_at
    assert naive == offset and naive is not None and naive.utcoffset() == timedelta(0)
