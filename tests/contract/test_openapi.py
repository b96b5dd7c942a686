"""The OpenAPI spec is the contract: schemathesis, with every check, against a real server
(uvicorn subprocess, on SQLite and, when GEOARENA_TEST_POSTGRES_URL is set, PostgreSQL) as
an organizer, a participant and anonymously. Zero
failures: every status, content type and body a route can answer is declared, every
declared constraint is the real one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from geoarena import leaderboard as lb
from tests.leaderboard import procs
from tests.leaderboard.conftest import ENGINES, engine_url
from tests.leaderboard.factories import degrade, synthetic

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("schemathesis.toml")
#: examples per operation: enough to reach every declared status, small enough for CI.
EXAMPLES = int(os.environ.get("GEOARENA_CONTRACT_EXAMPLES", "30"))
#: a fixed seed keeps CI reproducible; long runs vary it.
SEED = os.environ.get("GEOARENA_CONTRACT_SEED", "1")


@pytest.fixture(scope="module", params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Each engine: PostgreSQL refuses what SQLite stores (NUL in text, 64-bit numbers)."""
    yield from engine_url(request.param, tmp_path_factory.mktemp("contract") / "api.db")


@pytest.fixture(scope="module")
def served(database_url: str):
    """A server with a challenge, a team with a scored submission, and two tokens."""
    url = database_url
    db = lb.open_database(url, migrate=True)
    truth, props = synthetic()
    unlimited = lb.PhaseChange(daily_limit=None, concurrent_limit=None)
    lb.create_challenge(db, slug="api", title="API", truth=truth, phase=unlimited)
    lb.add_team(db, slug="api", name="alpha")
    tokens = {
        "organizer": lb.issue_token(db, member="boss", role=lb.Role.ORGANIZER),
        "participant": lb.issue_token(db, member="ann", slug="api", team="alpha"),
    }
    principal = lb.authenticate(db, tokens["participant"])
    assert principal is not None
    scored = lb.submit(db, principal=principal, slug="api", data=degrade(props, 0.8))
    lb.Worker(db).run(exit_when_idle=True)
    spare = lb.issue_token(db, member="spare", slug="api", team="alpha")
    db.dispose()
    # the path parameters of schemathesis.toml: real objects, so requests reach the logic
    names = {
        "GEOARENA_CONTRACT_SUBMISSION": scored.uuid,
        "GEOARENA_CONTRACT_SPARE_KEY": spare.split("_")[1],  # revoking it harms no run
    }
    with procs.server(url, GEOARENA_RATE_LIMIT_PER_MINUTE="1000000") as base:
        yield base, tokens, names


# The organizer's run may close, reveal or exclude (all legal): it goes last.
@pytest.mark.parametrize("who", ["participant", "anonymous", "organizer"])
def test_schemathesis_finds_no_contract_failure(served, who: str, tmp_path: Path) -> None:
    base, tokens, names = served
    auth = ["-H", f"Authorization: Bearer {tokens[who]}"] if who in tokens else []
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
        f"{base}/openapi.json", "--checks", "all", "--max-examples", str(EXAMPLES),
        "--seed", SEED, "--no-color", "--generation-database", "none", "--workers", "1",
        "--report", "junit", "--report-dir", str(tmp_path), *auth,
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env={**os.environ, **names}
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
