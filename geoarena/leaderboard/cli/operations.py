"""The organizer's commands for running a challenge: listing submissions, taking them (or
teams) off the board, closing, revealing, rescoring and exporting. Each is the same
service call as the API's, audited as the ``cli`` organizer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click

from geoarena.cli import exit_on_error
from geoarena.evaluator.outputs import check_writable, write_atomically
from geoarena.leaderboard import boards, finals, moderation, report, rescoring, submissions
from geoarena.leaderboard.access import CLI_ORGANIZER
from geoarena.leaderboard.cli.options import DB_OPTION, truth_option
from geoarena.leaderboard.db import open_database
from geoarena.leaderboard.states import Exclusion, RescoreState, Split

PHASE_OPTION = click.option("--phase", default=None, help="Phase name (default: the current).")


@click.command("submissions")
@DB_OPTION
@click.argument("slug")
@click.option("--team", default=None, help="Only this team's.")
@exit_on_error()
def list_submissions(database: str, slug: str, team: str | None) -> None:
    """Every submission of SLUG, newest first, with status and exclusion."""
    for s in submissions.list_submissions(
        open_database(database), principal=CLI_ORGANIZER, slug=slug, team=team
    ):
        who = s.team or f"{s.baseline_label} (baseline)"
        flags = [str(s.excluded)] if s.excluded else []
        flags += ["late"] if s.late else []
        flags += ["final"] if s.selected_final else []
        note = f"  [{', '.join(flags)}]" if flags else ""
        click.echo(f"{s.uuid}  {s.created_at:%Y-%m-%d %H:%M}  {who}  {s.status}{note}")


def _moderate(kind: Exclusion | None) -> click.Command:
    """``hide``, ``disqualify`` or (``kind`` None) ``reinstate`` a submission or a team."""
    verb = "reinstate" if kind is None else ("hide" if kind is Exclusion.HIDDEN else "disqualify")

    @click.command(verb)
    @DB_OPTION
    @click.argument("slug")
    @click.option("--submission", "uuid", default=None, help="A submission's uuid.")
    @click.option("--team", default=None, help="A team's name (all its submissions).")
    @click.option("--reason", default="", help="Shown to the team and kept in the audit log.")
    @exit_on_error()
    def command(database: str, slug: str, uuid: str | None, team: str | None, reason: str) -> None:
        if (uuid is None) == (team is None):
            raise click.UsageError("give --submission UUID or --team NAME")
        db = open_database(database)
        if uuid is not None and kind is None:
            moderation.reinstate_submission(db, uuid=uuid)
        elif uuid is not None and kind is not None:
            moderation.exclude_submission(db, uuid=uuid, kind=kind, reason=reason)
        elif team is not None and kind is None:
            moderation.reinstate_team(db, slug=slug, team=team)
        elif team is not None and kind is not None:
            moderation.exclude_team(db, slug=slug, team=team, kind=kind, reason=reason)
        click.echo(f"{verb}: {uuid or team}")

    command.help = f"{verb.capitalize()} a submission or a team of SLUG " + (
        "(back on the board)." if kind is None else "(off the board; reversible, audited)."
    )
    return command


def _phase_step(verb: str, act: Callable[..., object], done: str, summary: str) -> click.Command:
    """A command that moves a phase of SLUG along its life cycle (``close``, ``reopen``,
    ``reveal``): the same service call as the API's and the organizer pages' buttons."""

    @click.command(verb, help=summary)
    @DB_OPTION
    @click.argument("slug")
    @PHASE_OPTION
    @exit_on_error()
    def command(database: str, slug: str, phase: str | None) -> None:
        act(open_database(database), slug=slug, phase=phase)
        click.echo(f"{done} {slug}")

    return command


@click.command()
@DB_OPTION
@click.argument("slug")
@click.option(
    "--split", type=click.Choice([s.value for s in Split]), default="private", show_default=True
)
@PHASE_OPTION
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
@exit_on_error()
def export(database: str, slug: str, split: str, phase: str | None, output: Path | None) -> None:
    """Write the leaderboard as CSV (organizers: private split before reveal too)."""
    if output:
        check_writable(output, "--output")  # before the board is computed
    board = boards.leaderboard(
        open_database(database), slug=slug, split=Split(split), phase=phase, principal=CLI_ORGANIZER
    )
    text = report.board_csv(board)
    if output:
        write_atomically(output, text.encode(), "--output")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def _follow(db_url: str, slug: str, run_id: int, wait_s: float) -> None:
    """Wait for a rescore's workers, then print its status and rank changes."""
    db = open_database(db_url)
    deadline = time.monotonic() + wait_s
    state = rescoring.rescore_status(db, rescore_id=run_id)
    while state.status is RescoreState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.5)
        state = rescoring.rescore_status(db, rescore_id=run_id)
    jobs = {str(k): v for k, v in state.jobs.items()}
    click.echo(f"rescore {run_id}: {state.status} jobs {jobs}")
    for c in state.changes:
        arrow = "" if c.old_rank == c.new_rank else "  <- rank changed"
        old = "-" if c.old_score is None else f"{c.old_score:.4f}"
        new = "-" if c.new_score is None else f"{c.new_score:.4f}"
        click.echo(
            f"  {c.phase}/{c.split}: {c.team}: rank {c.old_rank} -> {c.new_rank}, "
            f"score {old} -> {new}{arrow}"
        )
    if state.status is RescoreState.READY:
        click.echo(f"publish with: geoarena leaderboard rescore {slug} --publish {run_id}")


WAIT_OPTION = click.option(
    "--wait",
    "wait_s",
    type=float,
    default=0.0,
    help="Wait this many seconds for workers, then show the rank changes.",
)


@click.command()
@DB_OPTION
@click.argument("slug")
@truth_option(
    required=False, help="Replacement truth CSV (default: re-score with the current one)."
)
@click.option("--reason", default="")
@WAIT_OPTION
@click.option("--show", "show_id", type=int, default=None, help="Show rescore ID's changes.")
@click.option("--publish", "publish_id", type=int, default=None, help="Publish rescore ID.")
@click.option("--discard", "discard_id", type=int, default=None, help="Discard rescore ID.")
@exit_on_error()
def rescore(
    database: str,
    slug: str,
    truth: Path | None,
    reason: str,
    wait_s: float,
    show_id: int | None,
    publish_id: int | None,
    discard_id: int | None,
) -> None:
    """Re-score every submission; show the rank changes; publish (or discard) them."""
    db = open_database(database)
    if publish_id is not None:
        rescoring.publish_rescore(db, rescore_id=publish_id)
        click.echo(f"published rescore {publish_id}")
        return
    if discard_id is not None:
        rescoring.discard_rescore(db, rescore_id=discard_id)
        click.echo(f"discarded rescore {discard_id}")
        return
    run_id = show_id
    if run_id is None:
        run_id = rescoring.start_rescore(
            db,
            slug=slug,
            truth=truth.read_bytes() if truth else None,
            truth_filename=truth.name if truth else None,
            reason=reason,
        )
        click.echo(f"rescore {run_id} queued; workers will score it")
    _follow(database, slug, run_id, wait_s)


@click.command()
@DB_OPTION
@click.argument("slug")
@click.option("--public-fraction", type=float, required=True, help="Share of images public.")
@click.option("--salt", default=None, help="New split salt (default: keep the current one).")
@click.option("--reason", default="")
@WAIT_OPTION
@exit_on_error()
def resplit(
    database: str, slug: str, public_fraction: float, salt: str | None, reason: str, wait_s: float
) -> None:
    """Change SLUG's public/private split: a rescore of everything on the new split, shown
    only once published (the split is otherwise frozen at the first submission)."""
    run_id = rescoring.start_rescore(
        open_database(database),
        slug=slug,
        split_salt=salt,
        public_fraction=public_fraction,
        reason=reason or "re-split",
    )
    click.echo(f"rescore {run_id} (re-split) queued; workers will score it")
    _follow(database, slug, run_id, wait_s)


COMMANDS: tuple[click.Command, ...] = (
    list_submissions,
    _moderate(Exclusion.HIDDEN),
    _moderate(Exclusion.DISQUALIFIED),
    _moderate(None),
    _phase_step("close", finals.close_phase, "closed", "Close a phase of SLUG now."),
    _phase_step(
        "reopen",
        finals.reopen_phase,
        "reopened",
        "Reopen a closed phase of SLUG (not after its reveal).",
    ),
    _phase_step(
        "reveal",
        finals.reveal,
        "revealed the private leaderboard of",
        "Publish the private board of a closed phase of SLUG (final from then on).",
    ),
    export,
    rescore,
    resplit,
)
