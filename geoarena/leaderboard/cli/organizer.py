"""The organizer's commands: they reach the database directly (``--db`` or
``GEOARENA_DATABASE_URL``) and act as the ``cli`` organizer in the audit log.

Only ``init-db`` (alias ``upgrade``) changes the schema; every other command checks that
the database is at this version's schema and says what to run when it is not.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click
from pydantic import ValidationError

from geoarena.cli import exit_on_error
from geoarena.errors import invalid_input_from
from geoarena.evaluator import PRESETS, Metric
from geoarena.leaderboard import access, challenges, serving
from geoarena.leaderboard.api import create_app
from geoarena.leaderboard.cli.options import DB_OPTION, truth_option
from geoarena.leaderboard.db import open_database
from geoarena.leaderboard.phases import PhaseChange
from geoarena.leaderboard.settings import Settings
from geoarena.leaderboard.states import LatePolicy, Role
from geoarena.leaderboard.worker import Worker


def _limit(value: str) -> int | None:
    """A limit option: a count, or 'none' for unlimited."""
    if value.lower() == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a count or 'none'") from None


def _phase_change(fields: dict[str, object]) -> PhaseChange:
    """The phase options given (a limit of None is "unlimited"), validated like the API's:
    a bad value exits 2 naming the option."""
    try:
        return PhaseChange.model_validate(fields)
    except ValidationError as exc:
        raise invalid_input_from(exc, file="options") from None


@click.command("init-db")
@DB_OPTION
@exit_on_error()
def init_db(database: str) -> None:
    """Create the database or upgrade it to the latest schema (Alembic)."""
    open_database(database, migrate=True).dispose()
    click.echo(f"database ready: {database}")


@click.group()
def challenge() -> None:
    """Create and list challenges."""


@challenge.command("create")
@DB_OPTION
@click.argument("slug")
@truth_option(
    required=True, help="Hidden ground-truth CSV (an optional 'split' column sets the split)."
)
@click.option("--title", required=True)
@click.option("--rules", type=click.Choice(list(PRESETS)), default="deepglobe", show_default=True)
@click.option(
    "--metric",
    type=click.Choice([m.value for m in Metric]),
    default=None,
    help="Ranking metric (default: mean_city_f1 for deepglobe, else f1).",
)
@click.option("--public-fraction", type=float, default=0.3, show_default=True)
@click.option("--salt", default=None, help="Split salt (default: random, stored).")
@click.option("--daily-limit", default="5", show_default=True, help="Per UTC day, or 'none'.")
@click.option("--total-limit", default="none", show_default=True)
@click.option("--concurrent-limit", default="2", show_default=True)
@click.option(
    "--finals", type=int, default=2, show_default=True, help="Final submissions a team selects."
)
@exit_on_error()
def challenge_create(
    database: str,
    slug: str,
    truth: Path,
    title: str,
    rules: str,
    metric: str | None,
    public_fraction: float,
    salt: str | None,
    daily_limit: str,
    total_limit: str,
    concurrent_limit: str,
    finals: int,
) -> None:
    """Create challenge SLUG (with a first phase 'main') from a truth CSV."""
    phase = _phase_change(
        {
            "daily_limit": _limit(daily_limit),
            "total_limit": _limit(total_limit),
            "concurrent_limit": _limit(concurrent_limit),
            "final_selections": finals,
        }
    )
    created = challenges.create_challenge(
        open_database(database),
        slug=slug,
        title=title,
        truth=truth.read_bytes(),
        truth_filename=truth.name,
        rules=rules,
        ranking_metric=Metric(metric) if metric else None,
        split_salt=salt,
        public_fraction=public_fraction,
        phase=phase,
    )
    click.echo(
        f"created challenge {created.slug} (rules {created.rules}, ranked by "
        f"{created.ranking_metric}, split from {created.split_source}, truth sha256 "
        f"{created.truth_sha256})"
    )


@challenge.command("list")
@DB_OPTION
@exit_on_error()
def challenge_list(database: str) -> None:
    for c in challenges.list_challenges(open_database(database)):
        phases = ", ".join(f"{p.name} ({p.state})" for p in c.phases)
        click.echo(f"{c.slug}\t{c.title}\tphases: {phases}")


@click.command("phase")
@DB_OPTION
@click.argument("slug")
@click.argument("name")
@click.option("--opens", default=None, help="ISO time (UTC if no zone).")
@click.option("--closes", default=None, help="ISO time (UTC if no zone).")
@click.option("--daily-limit", default=None, help="Per UTC day, or 'none'.")
@click.option("--total-limit", default=None)
@click.option("--concurrent-limit", default=None)
@click.option("--finals", type=int, default=None, help="Final submissions a team selects.")
@click.option(
    "--finals-until", default=None, help="ISO time: finals may change after the close until then."
)
@click.option(
    "--late",
    type=click.Choice([p.value for p in LatePolicy]),
    default=None,
    help="After the close: refuse uploads, or score them unranked.",
)
@exit_on_error()
def phase(
    database: str,
    slug: str,
    name: str,
    opens: str | None,
    closes: str | None,
    daily_limit: str | None,
    total_limit: str | None,
    concurrent_limit: str | None,
    finals: int | None,
    finals_until: str | None,
    late: str | None,
) -> None:
    """Create phase NAME of SLUG, or change the options given (not after its reveal).

    The public/private split belongs to the challenge: see ``resplit``."""
    given: dict[str, object] = {}
    if opens is not None:
        given["opens_at"] = opens  # an ISO time: PhaseChange reads it (UTC if no zone)
    if closes is not None:
        given["closes_at"] = closes  # an ISO time: PhaseChange reads it (UTC if no zone)
    for key, value in (
        ("daily_limit", daily_limit),
        ("total_limit", total_limit),
        ("concurrent_limit", concurrent_limit),
    ):
        if value is not None:
            given[key] = _limit(value)
    if finals is not None:
        given["final_selections"] = finals
    if finals_until is not None:
        given["finals_until"] = finals_until  # an ISO time: PhaseChange reads it (UTC if no zone)
    if late is not None:
        given["late_policy"] = late
    change = _phase_change(given)
    row = challenges.set_phase(open_database(database), slug=slug, name=name, change=change)
    click.echo(
        f"phase {row.name} ({row.state}): opens {row.opens_at}, closes {row.closes_at}, daily "
        f"{row.daily_limit}, total {row.total_limit}, concurrent {row.concurrent_limit}, "
        f"finals {row.final_selections} (until {row.finals_until}), late {row.late_policy}"
    )


@click.group()
def team() -> None:
    """Manage teams."""


@team.command("list")
@DB_OPTION
@click.argument("slug")
@exit_on_error()
def team_list(database: str, slug: str) -> None:
    """Teams of SLUG: members, submissions, exclusion."""
    for t in challenges.list_teams(open_database(database), slug=slug):
        excluded = f"\t{t.excluded}: {t.excluded_reason}" if t.excluded else ""
        click.echo(f"{t.name}\t{t.submissions} submission(s)\t{', '.join(t.members)}{excluded}")


@team.command("add")
@DB_OPTION
@click.argument("slug")
@click.argument("name")
@exit_on_error()
def team_add(database: str, slug: str, name: str) -> None:
    """Add team NAME to challenge SLUG."""
    challenges.add_team(open_database(database), slug=slug, name=name)
    click.echo(f"added team {name} to {slug}")


@click.group()
def token() -> None:
    """Issue and revoke bearer tokens."""


@token.command("issue")
@DB_OPTION
@click.option("--member", required=True, help="Person or robot the token is for.")
@click.option("--organizer", is_flag=True, help="An organizer token (all challenges).")
@click.option("--challenge", "slug", default=None)
@click.option("--team", "team_name", default=None)
@exit_on_error()
def token_issue(
    database: str, member: str, organizer: bool, slug: str | None, team_name: str | None
) -> None:
    """Print a new token (shown once; only its hash is stored)."""
    raw = access.issue_token(
        open_database(database),
        member=member,
        role=Role.ORGANIZER if organizer else Role.PARTICIPANT,
        slug=slug,
        team=team_name,
    )
    click.echo(raw)


@token.command("list")
@DB_OPTION
@click.option("--challenge", "slug", default=None, help="Only the tokens of this challenge.")
@exit_on_error()
def token_list(database: str, slug: str | None) -> None:
    """Tokens by their public key (the secret is never stored): find one to revoke."""
    for t in access.list_tokens(open_database(database), slug=slug):
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
        where = f"{t.challenge}/{t.team}" if t.team else "all challenges"
        click.echo(f"{t.key}\t{t.role}\t{t.member}\t{where}\t{state}")


@token.command("revoke")
@DB_OPTION
@click.argument("key")
@exit_on_error()
def token_revoke(database: str, key: str) -> None:
    """Revoke a token (its key, the hex after 'ga_', or the whole token)."""
    access.revoke_token(open_database(database), key=key)
    click.echo("revoked")


@click.command()
@DB_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option(
    "--workers",
    type=int,
    default=0,
    show_default=True,
    help="Scoring threads inside the server (0: run 'worker' separately).",
)
@exit_on_error()
def serve(database: str, host: str, port: int, workers: int) -> None:
    """Serve the API and pages (uvicorn)."""
    settings = Settings(database_url=database)
    db = open_database(database)
    serving.serve(create_app(settings, db, workers=workers), settings, host=host, port=port)


@click.command()
@DB_OPTION
@click.option("--exit-when-idle", is_flag=True, help="Stop when the queue is empty.")
@click.option("--poll", type=float, default=0.5, show_default=True, help="Idle poll seconds.")
@exit_on_error()
def worker(database: str, exit_when_idle: bool, poll: float) -> None:
    """Claim and score jobs until stopped (run any number, anywhere)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    w = Worker(open_database(database), Settings(database_url=database))
    click.echo(f"worker {w.name} started", err=True)
    try:
        done = w.run(stop, poll_interval=poll, exit_when_idle=exit_when_idle)
    except KeyboardInterrupt:
        done = w.processed
    click.echo(f"worker {w.name} scored {done} job(s)", err=True)


upgrade = click.Command(
    "upgrade", params=init_db.params, callback=init_db.callback, help=init_db.help
)

COMMANDS: tuple[click.Command, ...] = (
    init_db,
    upgrade,
    challenge,
    phase,
    team,
    token,
    serve,
    worker,
)
