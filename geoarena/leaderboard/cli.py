"""``geoarena leaderboard ...``: host a challenge from the command line.

Organizer commands (init-db, challenge, phase, team, token, rescore, reveal, export, show)
talk to the database directly (``--db`` or ``GEOARENA_DATABASE_URL``); participant commands
(submit, status, and ``show --server``) talk to a server with a token. SQLAlchemy, FastAPI
and the evaluator are imported inside the commands, so ``geoarena --help`` stays instant.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

DB_OPTION = click.option(
    "--db",
    "database",
    envvar="GEOARENA_DATABASE_URL",
    default="sqlite:///geoarena.db",
    show_default=True,
    help="SQLAlchemy URL (sqlite:///file.db or postgresql+psycopg://...).",
)
SERVER_OPTION = click.option(
    "--server", envvar="GEOARENA_SERVER", required=True, help="Server URL, e.g. http://host:8000."
)
TOKEN_OPTION = click.option(
    "--token", envvar="GEOARENA_TOKEN", required=True, help="Bearer token (or GEOARENA_TOKEN)."
)


def _db(url: str):
    from geoarena.leaderboard.service import open_database

    return open_database(url)


def _run(fn, *args: Any, **kwargs: Any) -> Any:
    """Call a service function, turning its errors into a clean message and exit code."""
    from geoarena.evaluator import InputError
    from geoarena.leaderboard.errors import LeaderboardError

    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        click.echo(f"rejected: {exc.total} problem(s)\n{exc}", err=True)
        sys.exit(2)
    except LeaderboardError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _limit(value: str | None) -> int | None:
    return None if value is None or value.lower() == "none" else int(value)


@click.group()
def leaderboard() -> None:
    """Host a challenge: database, teams, tokens, server, workers."""


@leaderboard.command("init-db")
@DB_OPTION
def init_db(database: str) -> None:
    """Create the database or upgrade it to the latest schema (Alembic)."""
    _db(database).dispose()
    click.echo(f"database ready: {database}")


leaderboard.add_command(init_db, "migrate")


@leaderboard.group()
def challenge() -> None:
    """Create and list challenges."""


@challenge.command("create")
@DB_OPTION
@click.argument("slug")
@click.option(
    "--truth",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="Hidden ground-truth CSV (an optional 'split' column sets the split).",
)
@click.option("--title", required=True)
@click.option("--rules", default="deepglobe", show_default=True, help="Evaluator preset.")
@click.option(
    "--metric",
    type=click.Choice(["f1", "mean_city_f1"]),
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
def challenge_create(
    database: str,
    slug: str,
    truth: str,
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
    from geoarena.leaderboard import service

    created = _run(
        service.create_challenge,
        _db(database),
        slug=slug,
        title=title,
        truth=Path(truth).read_bytes(),
        truth_filename=Path(truth).name,
        rules=rules,
        ranking_metric=metric,
        split_salt=salt,
        public_fraction=public_fraction,
        daily_limit=_limit(daily_limit),
        total_limit=_limit(total_limit),
        concurrent_limit=_limit(concurrent_limit),
        final_selections=finals,
    )
    click.echo(
        f"created challenge {created.slug} (rules {created.rules}, ranked by "
        f"{created.ranking_metric}, split from {created.split_source}, truth sha256 "
        f"{created.truth_sha256})"
    )


@challenge.command("list")
@DB_OPTION
def challenge_list(database: str) -> None:
    from geoarena.leaderboard import service

    for c in service.list_challenges(_db(database)):
        click.echo(f"{c['slug']}\t{c['title']}\tphases: {', '.join(c['phases'])}")


@leaderboard.command("phase")
@DB_OPTION
@click.argument("slug")
@click.argument("name")
@click.option("--opens", default=None, help="ISO time (UTC if no zone).")
@click.option("--closes", default=None, help="ISO time (UTC if no zone).")
@click.option("--daily-limit", default=None, help="Per UTC day, or 'none'.")
@click.option("--total-limit", default=None)
@click.option("--concurrent-limit", default=None)
@click.option("--finals", type=int, default=None)
@click.option("--public-fraction", type=float, default=None)
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
    public_fraction: float | None,
) -> None:
    """Create phase NAME of SLUG, or change the options given."""
    from geoarena.leaderboard import service

    fields: dict[str, Any] = {}
    if opens is not None:
        fields["opens_at"] = _when(opens)
    if closes is not None:
        fields["closes_at"] = _when(closes)
    for key, value in (
        ("daily_limit", daily_limit),
        ("total_limit", total_limit),
        ("concurrent_limit", concurrent_limit),
    ):
        if value is not None:
            fields[key] = _limit(value)
    if finals is not None:
        fields["final_selections"] = finals
    if public_fraction is not None:
        fields["public_fraction"] = public_fraction
    row = _run(service.set_phase, _db(database), slug=slug, name=name, **fields)
    click.echo(
        f"phase {row.name}: opens {row.opens_at}, closes {row.closes_at}, daily "
        f"{row.daily_limit}, total {row.total_limit}, concurrent {row.concurrent_limit}, "
        f"finals {row.final_selections}, public fraction {row.public_fraction}"
    )


@leaderboard.group()
def team() -> None:
    """Manage teams."""


@team.command("add")
@DB_OPTION
@click.argument("slug")
@click.argument("name")
def team_add(database: str, slug: str, name: str) -> None:
    """Add team NAME to challenge SLUG."""
    from geoarena.leaderboard import service

    _run(service.add_team, _db(database), slug=slug, name=name)
    click.echo(f"added team {name} to {slug}")


@leaderboard.group()
def token() -> None:
    """Issue and revoke bearer tokens."""


@token.command("issue")
@DB_OPTION
@click.option("--member", required=True, help="Person or robot the token is for.")
@click.option("--organizer", is_flag=True, help="An organizer token (all challenges).")
@click.option("--challenge", "slug", default=None)
@click.option("--team", "team_name", default=None)
def token_issue(
    database: str, member: str, organizer: bool, slug: str | None, team_name: str | None
) -> None:
    """Print a new token (shown once; only its hash is stored)."""
    from geoarena.leaderboard import service

    raw = _run(
        service.issue_token,
        _db(database),
        member=member,
        role="organizer" if organizer else "participant",
        slug=slug,
        team=team_name,
    )
    click.echo(raw)


@token.command("revoke")
@DB_OPTION
@click.argument("key")
def token_revoke(database: str, key: str) -> None:
    """Revoke a token (its key, the hex after 'ga_', or the whole token)."""
    from geoarena.leaderboard import service

    _run(service.revoke_token, _db(database), key=key)
    click.echo("revoked")


@leaderboard.command()
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
def serve(database: str, host: str, port: int, workers: int) -> None:
    """Serve the API and pages (uvicorn)."""
    import uvicorn

    from geoarena.leaderboard.api import create_app
    from geoarena.leaderboard.config import Settings

    settings = Settings(database_url=database)
    db = _db(database)
    uvicorn.run(create_app(settings, db, workers=workers), host=host, port=port, log_level="info")


@leaderboard.command()
@DB_OPTION
@click.option("--exit-when-idle", is_flag=True, help="Stop when the queue is empty.")
@click.option("--poll", type=float, default=0.5, show_default=True, help="Idle poll seconds.")
def worker(database: str, exit_when_idle: bool, poll: float) -> None:
    """Claim and score jobs until stopped (run any number, anywhere)."""
    import signal
    import threading

    from geoarena.leaderboard.config import Settings
    from geoarena.leaderboard.worker import Worker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    settings = Settings(database_url=database)
    w = Worker(_db(database), settings)
    click.echo(f"worker {w.name} started", err=True)
    try:
        done = w.run(stop, poll_interval=poll, exit_when_idle=exit_when_idle)
    except KeyboardInterrupt:
        done = w.processed
    click.echo(f"worker {w.name} scored {done} job(s)", err=True)


def _client(server: str, token: str):
    import httpx

    return httpx.Client(
        base_url=server.rstrip("/"),
        timeout=httpx.Timeout(60.0, connect=10.0),
        headers={"Authorization": f"Bearer {token}"},
    )


def _check(response) -> Any:
    """The JSON body of a successful answer; otherwise print the reason and exit."""
    if response.status_code < 400:
        return response.json() if response.content else None
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    click.echo(f"error {response.status_code}: {body.get('detail')}", err=True)
    for e in body.get("errors", []):
        click.echo(f"  {e['file']}:{e['line']}: [{e['column']}] {e['reason']}", err=True)
    total = body.get("total_errors")
    if total and total > len(body.get("errors", [])):
        click.echo(f"  ... and {total - len(body['errors'])} more", err=True)
    if "quota" in body:
        q = body["quota"]
        click.echo(f"  remaining {q['remaining']}, resets at {q['resets_at']}", err=True)
    sys.exit(2 if response.status_code == 422 else 1)


def _print_submission(s: dict[str, Any]) -> None:
    where = f" (#{s['queue_position']} in queue)" if s.get("queue_position") else ""
    click.echo(f"{s['uuid']}  {s['status']}{where}  {s['filename']}")
    if s.get("error"):
        click.echo(f"  reason: {s['error']['message']}")
    for split, sc in s.get("scores", {}).items():
        cities = ", ".join(f"{c} {v['f1']:.4f}" for c, v in sc["cities"].items())
        click.echo(
            f"  {split}: F1 {sc['f1']:.4f} (P {sc['precision']:.4f}, R {sc['recall']:.4f},"
            f" TP {sc['tp']} FP {sc['fp']} FN {sc['fn']}), mean city F1 "
            f"{sc['mean_city_f1']:.4f}; {cities}"
        )


@leaderboard.command()
@SERVER_OPTION
@TOKEN_OPTION
@click.option("--challenge", "slug", required=True)
@click.option("--phase", default=None)
@click.option("--description", default="")
@click.option(
    "--baseline",
    "baseline_label",
    default=None,
    help="Organizer token only: submit a baseline with this label (unranked).",
)
@click.option(
    "--wait", "wait_s", type=float, default=0.0, help="Wait up to this many seconds for the score."
)
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False))
def submit(
    server: str,
    token: str,
    slug: str,
    phase: str | None,
    description: str,
    baseline_label: str | None,
    wait_s: float,
    csv_path: str,
) -> None:
    """Upload CSV_PATH to a server (streamed, with a progress bar)."""
    import time

    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    path = Path(csv_path)
    size = path.stat().st_size
    params = {"filename": path.name, "description": description}
    if phase:
        params["phase"] = phase
    if baseline_label:
        params["baseline_label"] = baseline_label

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(f"uploading {path.name}", total=size)

        def chunks():
            with path.open("rb") as handle:
                while chunk := handle.read(256 * 1024):
                    bar.advance(task, len(chunk))
                    yield chunk

        with _client(server, token) as client:
            response = client.post(
                f"/api/v1/challenges/{slug}/submissions",
                params=params,
                content=chunks(),
                headers={"Content-Type": "text/csv", "Content-Length": str(size)},
            )
    s = _check(response)
    _print_submission(s)
    deadline = time.monotonic() + wait_s
    with _client(server, token) as client:
        while s["status"] in ("queued", "scoring") and time.monotonic() < deadline:
            time.sleep(0.5)
            s = _check(client.get(f"/api/v1/submissions/{s['uuid']}"))
    if wait_s:
        _print_submission(s)
    if s["status"] == "failed":
        sys.exit(3)


@leaderboard.command()
@SERVER_OPTION
@TOKEN_OPTION
@click.argument("uuid", required=False)
@click.option("--challenge", "slug", default=None, help="List your submissions and quota.")
def status(server: str, token: str, uuid: str | None, slug: str | None) -> None:
    """Show one submission, or your submissions and quota in a challenge."""
    if not uuid and not slug:
        raise click.UsageError("give a submission UUID or --challenge")
    with _client(server, token) as client:
        if uuid:
            _print_submission(_check(client.get(f"/api/v1/submissions/{uuid}")))
            return
        quota = _check(client.get(f"/api/v1/challenges/{slug}/quota"))
        click.echo(
            f"phase {quota['phase']}: {quota['remaining']} submission(s) left, daily "
            f"count resets at {quota['resets_at']}"
        )
        for s in _check(client.get(f"/api/v1/challenges/{slug}/submissions"))["data"]:
            _print_submission(s)


@leaderboard.command()
@SERVER_OPTION
@TOKEN_OPTION
@click.option("--challenge", "slug", required=True)
@click.option("--phase", default=None)
@click.argument("uuids", nargs=-1, required=True)
def finals(server: str, token: str, slug: str, phase: str | None, uuids: tuple[str, ...]) -> None:
    """Select your team's final submissions (they count for the private leaderboard)."""
    params = {"phase": phase} if phase else {}
    with _client(server, token) as client:
        body = _check(
            client.put(
                f"/api/v1/challenges/{slug}/finals",
                params=params,
                json={"submissions": list(uuids)},
            )
        )
    click.echo("final submissions: " + ", ".join(body["selected"]))


@leaderboard.command()
@click.argument("slug")
@click.option("--split", type=click.Choice(["public", "private"]), default="public")
@click.option("--phase", default=None)
@click.option(
    "--server",
    envvar="GEOARENA_SERVER",
    default=None,
    help="Read from a server instead of the database.",
)
@click.option("--token", envvar="GEOARENA_TOKEN", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@DB_OPTION
def show(
    slug: str,
    split: str,
    phase: str | None,
    server: str | None,
    token: str | None,
    as_json: bool,
    database: str,
) -> None:
    """Print the leaderboard of SLUG as a table."""
    from rich.console import Console

    from geoarena.leaderboard.report import board_table, board_width

    if server:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        params = {"split": split, **({"phase": phase} if phase else {})}
        with httpx.Client(base_url=server.rstrip("/"), timeout=30, headers=headers) as client:
            board = _check(client.get(f"/api/v1/challenges/{slug}/leaderboard", params=params))
    else:
        from geoarena.leaderboard import service
        from geoarena.leaderboard.schema import ORGANIZER
        from geoarena.leaderboard.service import Principal

        cli_organizer = Principal(0, "cli", ORGANIZER, None, None, None)
        stale = _run(service.outdated_scores, _db(database), slug=slug)
        if stale:
            click.echo(
                f"warning: {stale} score(s) come from another evaluator version or truth;"
                f" run 'geoarena leaderboard rescore {slug}'",
                err=True,
            )
        board = service.board_to_dict(
            *_run(
                service.leaderboard,
                _db(database),
                slug=slug,
                split=split,
                phase=phase,
                principal=cli_organizer,
            )
        )
    if as_json:
        click.echo(json.dumps(board, indent=2))
    else:
        Console(width=board_width()).print(board_table(board))


@leaderboard.command()
@DB_OPTION
@click.argument("slug")
@click.option(
    "--split", type=click.Choice(["public", "private"]), default="private", show_default=True
)
@click.option("--phase", default=None)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None)
def export(database: str, slug: str, split: str, phase: str | None, output: str | None) -> None:
    """Write the leaderboard as CSV (organizers: private split before reveal too)."""
    from geoarena.leaderboard import service
    from geoarena.leaderboard.schema import ORGANIZER
    from geoarena.leaderboard.service import Principal

    text = _run(
        service.export_csv,
        _db(database),
        slug=slug,
        split=split,
        phase=phase,
        principal=Principal(0, "cli", ORGANIZER, None, None, None),
    )
    if output:
        Path(output).write_text(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@leaderboard.command()
@DB_OPTION
@click.argument("slug")
@click.option(
    "--truth",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Replacement truth CSV (default: re-score with the current one).",
)
@click.option("--reason", default="")
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=0.0,
    help="Wait this many seconds for workers, then show the rank changes.",
)
@click.option("--show", "show_id", type=int, default=None, help="Show rescore ID's changes.")
@click.option("--publish", "publish_id", type=int, default=None, help="Publish rescore ID.")
def rescore(
    database: str,
    slug: str,
    truth: str | None,
    reason: str,
    wait_s: float,
    show_id: int | None,
    publish_id: int | None,
) -> None:
    """Re-score every submission; show the rank changes; publish them when asked."""
    import time

    from geoarena.leaderboard import service

    db = _db(database)
    if publish_id is not None:
        _run(service.publish_rescore, db, rescore_id=publish_id)
        click.echo(f"published rescore {publish_id}")
        return
    run_id = show_id
    if run_id is None:
        run_id = _run(
            service.start_rescore,
            db,
            slug=slug,
            truth=Path(truth).read_bytes() if truth else None,
            truth_filename=Path(truth).name if truth else None,
            reason=reason,
        )
        click.echo(f"rescore {run_id} queued; workers will score it")
    deadline = time.monotonic() + wait_s
    state = _run(service.rescore_status, db, rescore_id=run_id)
    while state["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        state = _run(service.rescore_status, db, rescore_id=run_id)
    click.echo(f"rescore {run_id}: {state['status']} jobs {state['jobs']}")
    for c in state["changes"]:
        arrow = "" if c["old_rank"] == c["new_rank"] else "  <- rank changed"
        old = "-" if c["old_score"] is None else f"{c['old_score']:.4f}"
        click.echo(
            f"  {c['phase']}/{c['split']}: {c['team']}: rank {c['old_rank']} -> "
            f"{c['new_rank']}, score {old} -> {c['new_score']:.4f}{arrow}"
        )
    if state["status"] == "ready":
        click.echo(f"publish with: geoarena leaderboard rescore {slug} --publish {run_id}")


@leaderboard.command()
@DB_OPTION
@click.argument("slug")
def reveal(database: str, slug: str) -> None:
    """Publish the private leaderboard of SLUG."""
    from geoarena.leaderboard import service

    _run(service.reveal, _db(database), slug=slug)
    click.echo(f"revealed the private leaderboard of {slug}")
