"""The participant's commands: they talk to a server (``--server``/``GEOARENA_SERVER``)
with a token (``--token``/``GEOARENA_TOKEN``), or with the credentials ``login`` saved
(:mod:`geoarena.leaderboard.credentials`), through :class:`LeaderboardClient`.

``show`` also reads a board straight from a database (``--db``), as the organizer."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from geoarena.cli import exit_on_error
from geoarena.leaderboard import boards, credentials, rescoring
from geoarena.leaderboard.access import CLI_ORGANIZER
from geoarena.leaderboard.cli.options import CSV_FILE, DB_OPTION, print_board, remote
from geoarena.leaderboard.client import LeaderboardClient
from geoarena.leaderboard.db import open_database
from geoarena.leaderboard.states import Split, SubmissionState
from geoarena.leaderboard.submissions import SubmissionView


def _print_submission(s: SubmissionView) -> None:
    where = f" (#{s.queue_position} in queue)" if s.queue_position else ""
    click.echo(f"{s.uuid}  {s.status}{where}  {s.filename}")
    if s.error:
        click.echo(f"  reason: {s.error.message}")
    for split, sc in s.scores.items():
        cities = ", ".join(f"{c} {v.f1:.4f}" for c, v in sc.cities.items())
        click.echo(
            f"  {split}: F1 {sc.f1:.4f} (P {sc.precision:.4f}, R {sc.recall:.4f},"
            f" TP {sc.tp} FP {sc.fp} FN {sc.fn}), mean city F1 {sc.mean_city_f1:.4f}; {cities}"
        )


@click.command()
@remote
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
@click.argument("csv_path", type=CSV_FILE)
@exit_on_error()
def submit(
    server: str,
    token: str,
    slug: str,
    phase: str | None,
    description: str,
    baseline_label: str | None,
    wait_s: float,
    csv_path: Path,
) -> None:
    """Upload CSV_PATH to a server (streamed, with a progress bar)."""
    with (
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            transient=True,
            disable=not sys.stderr.isatty(),
        ) as bar,
        LeaderboardClient(server, token) as client,
    ):
        task = bar.add_task(f"uploading {csv_path.name}", total=csv_path.stat().st_size)
        s = client.submit(
            slug,
            csv_path,
            description=description,
            phase=phase,
            baseline_label=baseline_label,
            progress=lambda n: bar.advance(task, n),
        )
        _print_submission(s)
        if wait_s:
            s = client.wait(s.uuid, timeout=wait_s)
            _print_submission(s)
    if s.status is SubmissionState.FAILED:
        sys.exit(3)


@click.command()
@remote
@click.argument("uuid", required=False)
@click.option("--challenge", "slug", default=None, help="List your submissions and quota.")
@exit_on_error()
def status(server: str, token: str, uuid: str | None, slug: str | None) -> None:
    """Show one submission, or your submissions and quota in a challenge."""
    if not uuid and not slug:
        raise click.UsageError("give a submission UUID or --challenge")
    with LeaderboardClient(server, token) as client:
        if uuid:
            _print_submission(client.submission(uuid))
            return
        assert slug is not None
        quota = client.quota(slug)
        click.echo(
            f"phase {quota.phase}: {quota.remaining} submission(s) left, daily "
            f"count resets at {quota.resets_at.isoformat()}"
        )
        for s in client.submissions(slug):
            _print_submission(s)


@click.command()
@remote
@click.option("--challenge", "slug", required=True)
@click.option("--phase", default=None)
@click.argument("uuids", nargs=-1, required=True)
@exit_on_error()
def finals(server: str, token: str, slug: str, phase: str | None, uuids: tuple[str, ...]) -> None:
    """Select your team's final submissions (they count for the private leaderboard)."""
    with LeaderboardClient(server, token) as client:
        selected = client.select_finals(slug, list(uuids), phase)
    click.echo("final submissions: " + ", ".join(selected))


@click.command()
@click.argument("slug")
@click.option("--split", type=click.Choice([s.value for s in Split]), default="public")
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
@exit_on_error()
def show(
    slug: str,
    split: str,
    phase: str | None,
    server: str | None,
    token: str | None,
    as_json: bool,
    database: str,
) -> None:
    """Print the leaderboard of SLUG (from a server, or from the database as organizer)."""
    if server:
        token = credentials.resolve(server, token)[1]
        with LeaderboardClient(server, token) as client:
            board = client.leaderboard(slug, split, phase)
    else:
        db = open_database(database)
        stale = rescoring.outdated_scores(db, slug=slug)
        if stale:
            click.echo(
                f"warning: {stale} score(s) come from another evaluator version or truth;"
                f" run 'geoarena leaderboard rescore {slug}'",
                err=True,
            )
        board = boards.leaderboard(
            db, slug=slug, split=Split(split), phase=phase, principal=CLI_ORGANIZER
        )
    print_board(board, as_json)


@click.command()
@click.option("--server", envvar="GEOARENA_SERVER", required=True, help="Server URL.")
@click.option(
    "--token",
    envvar="GEOARENA_TOKEN",
    prompt=True,
    hide_input=True,
    help="Bearer token (prompted for, unseen, when not given).",
)
@exit_on_error()
def login(server: str, token: str) -> None:
    """Check a token with SERVER and save both (mode 600) for the other commands."""
    with LeaderboardClient(server, token) as client:
        me = client.me()
    path = credentials.save_credentials(credentials.Credentials(server=server, token=token))
    team = f", team {me.team} of {me.challenge}" if me.team else ""
    click.echo(f"logged in to {server} as {me.member} ({me.role}{team}); saved to {path}")


@click.command()
@exit_on_error()
def logout() -> None:
    """Forget the saved server and token."""
    path = credentials.credentials_path()
    gone = credentials.forget_credentials(path)
    click.echo(f"removed {path}" if gone else f"no saved credentials at {path}")


COMMANDS: tuple[click.Command, ...] = (submit, status, finals, show, login, logout)
