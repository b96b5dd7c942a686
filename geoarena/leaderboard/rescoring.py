"""Re-scoring every submission (new truth or evaluator version) into a new score
generation, reviewing the rank changes, and publishing them; old scores stay as history."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update

from geoarena.errors import Conflict, NotFound
from geoarena.leaderboard import queue
from geoarena.leaderboard.audit import CLI_ACTOR, audit
from geoarena.leaderboard.blobs import put_blob
from geoarena.leaderboard.boards import scored_entries
from geoarena.leaderboard.challenges import bump_board, check_truth, get_challenge
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.ranking import rank
from geoarena.leaderboard.schema import Challenge, Job, Phase, Rescore, Score, Submission, utcnow
from geoarena.leaderboard.scores import evaluator_version
from geoarena.leaderboard.states import JobState, RescoreState, Split, SubmissionState


class RankChange(BaseModel):
    """A team's place before and after a rescore, on one board."""

    model_config = ConfigDict(frozen=True)

    phase: str
    split: Split
    team: str
    old_rank: int | None
    new_rank: int | None
    old_score: float | None
    new_score: float | None


class RescoreView(BaseModel):
    """A rescore's progress and, once ready, every rank change it would publish."""

    model_config = ConfigDict(frozen=True)

    id: int
    challenge: str
    status: RescoreState
    reason: str
    #: job state -> count
    jobs: dict[JobState, int]
    changes: list[RankChange]


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
            status=RescoreState.RUNNING,
        )
        session.add(run)
        session.flush()
        submissions = (
            session.execute(
                select(Submission.id)
                .join(Phase, Phase.id == Submission.phase_id)
                .where(
                    Phase.challenge_id == challenge.id,
                    Submission.status == SubmissionState.SCORED,
                )
                .order_by(Submission.id)
            )
            .scalars()
            .all()
        )
        for submission_id in submissions:
            queue.enqueue(session, submission_id, rescore_id=run.id)
        if not submissions:
            run.status = RescoreState.READY
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


def rescore_status(db: Database, *, rescore_id: int) -> RescoreView:
    """Progress of a rescore and, once ready, every rank change it would publish."""
    with db.session() as session:
        run = session.get(Rescore, rescore_id)
        if run is None:
            raise NotFound(f"no rescore {rescore_id}")
        challenge = session.get_one(Challenge, run.challenge_id)
        counts = session.execute(
            select(Job.status, func.count()).where(Job.rescore_id == run.id).group_by(Job.status)
        ).all()
        changes: list[RankChange] = []
        if run.status is RescoreState.READY:
            metric = challenge.ranking_metric
            for phase in challenge.phases:
                old_entries = scored_entries(session, phase, metric)
                new_entries = scored_entries(session, phase, metric, generation=run.id)
                for split in Split:
                    finals = phase.final_selections
                    old, _ = rank(old_entries, split=split, final_selections=finals)
                    new, _ = rank(new_entries, split=split, final_selections=finals)
                    before = {s.team: s for s in old}
                    for s in new:
                        was = before.get(s.team)
                        changes.append(
                            RankChange(
                                phase=phase.name,
                                split=split,
                                team=s.team,
                                old_rank=was.rank if was else None,
                                new_rank=s.rank,
                                old_score=was.value(split) if was else None,
                                new_score=s.value(split),
                            )
                        )
        return RescoreView(
            id=run.id,
            challenge=challenge.slug,
            status=run.status,
            reason=run.reason,
            jobs={JobState(state): n for state, n in counts},
            changes=changes,
        )


def publish_rescore(db: Database, *, rescore_id: int, actor: str = CLI_ACTOR) -> None:
    """Make a finished rescore's scores the shown ones; older scores stay as history."""
    with db.transaction() as session:
        run = session.get(Rescore, rescore_id)
        if run is None:
            raise NotFound(f"no rescore {rescore_id}")
        if run.status is not RescoreState.READY:
            raise Conflict(f"rescore {rescore_id} is {run.status}, not ready to publish")
        failed = session.execute(
            select(func.count()).where(Job.rescore_id == run.id, Job.status == JobState.FAILED)
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
        challenge = session.get_one(Challenge, run.challenge_id)
        old_truth = challenge.truth_sha256
        challenge.truth_sha256, challenge.truth_filename = run.truth_sha256, run.truth_filename
        run.status, run.published_at = RescoreState.PUBLISHED, utcnow()
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
