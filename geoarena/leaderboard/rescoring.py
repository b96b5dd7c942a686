"""Re-scoring every submission (new truth or evaluator version) into a new score
generation, reviewing the rank changes, and publishing them; old scores stay as history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from geoarena.leaderboard import jobs
from geoarena.leaderboard.blobs import put_blob
from geoarena.leaderboard.boards import bump_board, scored_entries
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.errors import (
    Conflict,
    NotFound,
)
from geoarena.leaderboard.lookups import CLI_ACTOR, audit, check_truth, get_challenge
from geoarena.leaderboard.ranking import rank
from geoarena.leaderboard.schema import (
    PRIVATE,
    PUBLIC,
    SCORED,
    Challenge,
    Job,
    Phase,
    Rescore,
    Score,
    Submission,
    utcnow,
)


def start_rescore(
    db: Database,
    *,
    slug: str,
    truth: bytes | None = None,
    truth_filename: str | None = None,
    reason: str = "",
    actor: str = CLI_ACTOR,
) -> int:
    """Queue a re-scoring of every scored submission (new truth, or current truth with the
    current evaluator). Nothing shown changes until :func:`publish_rescore`."""
    with db.session() as session:
        challenge = get_challenge(session, slug)
        salt = challenge.split_salt
        fraction = min(p.public_fraction for p in challenge.phases)
    if truth is not None:
        check_truth(truth, truth_filename or "truth.csv", salt, fraction)
    with db.transaction() as session:
        challenge = get_challenge(session, slug)
        if truth is not None:
            sha, name = put_blob(session, truth), truth_filename or "truth.csv"
        else:
            sha, name = challenge.truth_sha256, challenge.truth_filename
        run = Rescore(
            challenge_id=challenge.id,
            truth_sha256=sha,
            truth_filename=name,
            reason=reason,
            status="running",
        )
        session.add(run)
        session.flush()
        submissions = (
            session.execute(
                select(Submission.id)
                .join(Phase, Phase.id == Submission.phase_id)
                .where(Phase.challenge_id == challenge.id, Submission.status == SCORED)
                .order_by(Submission.id)
            )
            .scalars()
            .all()
        )
        for submission_id in submissions:
            jobs.enqueue(session, submission_id, rescore_id=run.id)
        if not submissions:
            run.status = "ready"
        audit(
            session,
            actor,
            "rescore.start",
            challenge.id,
            rescore=run.id,
            truth_sha256=sha,
            reason=reason,
            submissions=len(submissions),
        )
        return run.id


def rescore_status(db: Database, *, rescore_id: int) -> dict[str, Any]:
    """Progress of a rescore and, once ready, every rank change it would publish."""
    with db.session() as session:
        run = session.get(Rescore, rescore_id)
        if run is None:
            raise NotFound(f"no rescore {rescore_id}")
        challenge = session.get(Challenge, run.challenge_id)
        counts = dict(
            session.execute(
                select(Job.status, func.count())
                .where(Job.rescore_id == run.id)
                .group_by(Job.status)
            ).all()
        )
        out: dict[str, Any] = {
            "id": run.id,
            "challenge": challenge.slug,
            "status": run.status,
            "reason": run.reason,
            "jobs": counts,
            "changes": [],
        }
        if run.status != "ready":
            return out
        for phase in challenge.phases:
            for split in (PUBLIC, PRIVATE):
                kwargs = {
                    "split": split,
                    "metric": challenge.ranking_metric,
                    "final_selections": phase.final_selections,
                }
                metric = challenge.ranking_metric
                old = rank(scored_entries(session, phase, metric), **kwargs)
                new = rank(scored_entries(session, phase, metric, generation=run.id), **kwargs)
                before = {r.team: r for r in old.rows}
                for r in new.rows:
                    was = before.get(r.team)
                    out["changes"].append(
                        {
                            "phase": phase.name,
                            "split": split,
                            "team": r.team,
                            "old_rank": was.rank if was else None,
                            "new_rank": r.rank,
                            "old_score": was.value if was else None,
                            "new_score": r.value,
                        }
                    )
        return out


def publish_rescore(db: Database, *, rescore_id: int, actor: str = CLI_ACTOR) -> None:
    """Make a finished rescore's scores the shown ones; older scores stay as history."""
    with db.transaction() as session:
        run = session.get(Rescore, rescore_id)
        if run is None:
            raise NotFound(f"no rescore {rescore_id}")
        if run.status != "ready":
            raise Conflict(f"rescore {rescore_id} is {run.status}, not ready to publish")
        failed = session.execute(
            select(func.count()).where(Job.rescore_id == run.id, Job.status == jobs.JOB_FAILED)
        ).scalar_one()
        if failed:
            raise Conflict(
                f"{failed} submission(s) could not be re-scored in rescore {rescore_id}; "
                "publishing it would mix old and new scores: start a new rescore"
            )
        rescored = select(Score.submission_id).where(Score.generation == run.id)
        session.execute(
            update(Score).where(Score.submission_id.in_(rescored)).values(current=False)
        )
        session.execute(update(Score).where(Score.generation == run.id).values(current=True))
        challenge = session.get(Challenge, run.challenge_id)
        old_truth = challenge.truth_sha256
        challenge.truth_sha256, challenge.truth_filename = run.truth_sha256, run.truth_filename
        run.status, run.published_at = "published", utcnow()
        bump_board(session, challenge_id=challenge.id)
        audit(
            session,
            actor,
            "rescore.publish",
            challenge.id,
            rescore=run.id,
            old_truth_sha256=old_truth,
            truth_sha256=run.truth_sha256,
        )


def outdated_scores(db: Database, *, slug: str) -> int:
    """Shown scores computed by another evaluator version or truth file than the current
    ones: a reason to :func:`start_rescore`."""
    from geoarena.leaderboard.scoring import evaluator_version

    with db.session() as session:
        challenge = get_challenge(session, slug)
        return session.execute(
            select(func.count())
            .select_from(Score)
            .join(Submission, Submission.id == Score.submission_id)
            .join(Phase, Phase.id == Submission.phase_id)
            .where(
                Phase.challenge_id == challenge.id,
                Score.current,
                (Score.evaluator_version != evaluator_version())
                | (Score.truth_sha256 != challenge.truth_sha256),
            )
        ).scalar_one()
