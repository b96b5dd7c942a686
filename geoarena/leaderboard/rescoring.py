"""Re-scoring every submission (new truth or evaluator version) into a new score
generation, reviewing the rank changes, and publishing them; old scores stay as history."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from geoarena.errors import Conflict, InvalidInput, NotFound
from geoarena.leaderboard import queue
from geoarena.leaderboard.audit import CLI_ACTOR, audit
from geoarena.leaderboard.blobs import get_blob, put_blob
from geoarena.leaderboard.boards import scored_entries
from geoarena.leaderboard.challenges import (
    active_rescore,
    bump_board,
    check_truth,
    get_challenge,
    lock_challenge,
)
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.ranking import rank
from geoarena.leaderboard.schema import Challenge, Job, Phase, Rescore, Score, Submission, utcnow
from geoarena.leaderboard.scores import evaluator_version
from geoarena.leaderboard.states import (
    JobState,
    RescoreState,
    Split,
    SplitSource,
    SubmissionState,
)


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
    split_salt: str | None = None,
    public_fraction: float | None = None,
    reason: str = "",
    actor: str = CLI_ACTOR,
) -> int:
    """Queue a re-scoring of every submission into a new generation: with a new truth, a
    new split (``split_salt``/``public_fraction``: a re-split), or neither (the current
    evaluator). Submissions that arrive before it is published are scored on it too.
    Nothing shown changes until :func:`publish_rescore`; one rescore runs at a time."""
    with db.session() as session:
        challenge = get_challenge(session, slug)
        rules = challenge.rules
        salt = split_salt or challenge.split_salt
        fraction = public_fraction if public_fraction is not None else challenge.public_fraction
        resplit = split_salt is not None or public_fraction is not None
        source = SplitSource.HASH_BY_CITY if resplit else challenge.split_source
        current_truth = get_blob(session, challenge.truth_sha256) if resplit and not truth else None
    if not 0 < fraction < 1:
        raise InvalidInput.about(
            f"public fraction must be between 0 and 1, not {fraction}", column="public_fraction"
        )
    checked = truth if truth is not None else current_truth
    if checked is not None:
        name = truth_filename or "truth.csv"
        source = check_truth(checked, name, salt, fraction, rules=rules, method=source)
        if resplit and source is SplitSource.COLUMN:
            raise InvalidInput.about(
                "the truth's split column sets the split: a re-split cannot change it",
                column="split",
            )
    with db.transaction() as session:
        challenge = get_challenge(session, slug)
        lock_challenge(session, challenge.id, shared=False)
        running = active_rescore(session, challenge.id)
        if running is not None:
            raise Conflict(f"rescore {running.id} is {running.status}: publish or discard it first")
        if truth is not None:
            sha, name = put_blob(session, truth), truth_filename or "truth.csv"
        else:
            sha, name = challenge.truth_sha256, challenge.truth_filename
        run = Rescore(
            challenge_id=challenge.id,
            truth_sha256=sha,
            truth_filename=name,
            split_source=source,
            split_salt=salt,
            public_fraction=fraction,
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
                    Submission.status != SubmissionState.FAILED,
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
        bump_board(session, challenge_id=challenge.id)  # the boards say a rescore is on
        audit(
            session,
            actor,
            "rescore.start",
            challenge.id,
            rescore=run.id,
            truth_sha256=sha,
            resplit=resplit,
            public_fraction=fraction,
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
                old_entries = scored_entries(session, phase, metric, challenge.generation)
                new_entries = scored_entries(session, phase, metric, run.id)
                for split in Split:
                    finals = phase.final_selections
                    old = rank(old_entries, split=split, final_selections=finals).ranked
                    new = rank(new_entries, split=split, final_selections=finals).ranked
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


def rescore_ids(db: Database, *, slug: str) -> list[int]:
    """The challenge's rescores, newest first."""
    with db.session() as session:
        challenge = get_challenge(session, slug)
        return list(
            session.execute(
                select(Rescore.id)
                .where(Rescore.challenge_id == challenge.id)
                .order_by(Rescore.id.desc())
            ).scalars()
        )


def _locked(session: Session, rescore_id: int) -> Rescore:
    """The rescore, read again after its challenge is locked (no upload in between)."""
    run = session.get(Rescore, rescore_id)
    if run is None:
        raise NotFound(f"no rescore {rescore_id}")
    lock_challenge(session, run.challenge_id, shared=False)
    session.refresh(run)
    return run


def publish_rescore(db: Database, *, rescore_id: int, actor: str = CLI_ACTOR) -> None:
    """Make a finished rescore's generation the one shown (with its truth and split).

    Refused while any submission of the challenge that is not failed lacks a score of the
    rescore's generation: the boards would mix two truths. Older generations stay as
    history."""
    with db.transaction() as session:
        run = _locked(session, rescore_id)
        if run.status is not RescoreState.READY:
            raise Conflict(f"rescore {rescore_id} is {run.status}, not ready to publish")
        failed = session.execute(
            select(func.count()).where(Job.rescore_id == run.id, Job.status == JobState.FAILED)
        ).scalar_one()
        if failed:
            raise Conflict(
                f"{failed} submission(s) could not be re-scored in rescore {rescore_id}; "
                "publishing it would mix old and new scores: discard it and start a new one"
            )
        rescored = select(Score.submission_id).where(Score.generation == run.id)
        missing = session.execute(
            select(func.count())
            .select_from(Submission)
            .join(Phase, Phase.id == Submission.phase_id)
            .where(
                Phase.challenge_id == run.challenge_id,
                Submission.status != SubmissionState.FAILED,
                Submission.id.not_in(rescored),
            )
        ).scalar_one()
        if missing:
            raise Conflict(
                f"{missing} submission(s) are not yet scored on rescore {rescore_id}; "
                "wait for the workers"
            )
        challenge = session.get_one(Challenge, run.challenge_id)
        old_truth, old_generation = challenge.truth_sha256, challenge.generation
        challenge.truth_sha256, challenge.truth_filename = run.truth_sha256, run.truth_filename
        challenge.split_source, challenge.split_salt = run.split_source, run.split_salt
        challenge.public_fraction = run.public_fraction
        challenge.generation = run.id
        run.status, run.published_at = RescoreState.PUBLISHED, utcnow()
        bump_board(session, challenge_id=challenge.id)
        audit(
            session,
            actor,
            "rescore.publish",
            challenge.id,
            rescore=run.id,
            old_generation=old_generation,
            old_truth_sha256=old_truth,
            truth_sha256=run.truth_sha256,
            public_fraction=run.public_fraction,
        )


def discard_rescore(db: Database, *, rescore_id: int, actor: str = CLI_ACTOR) -> None:
    """Drop an unpublished rescore: its queued jobs are failed, its scores stay as history."""
    with db.transaction() as session:
        run = _locked(session, rescore_id)
        if run.status not in (RescoreState.RUNNING, RescoreState.READY):
            raise Conflict(f"rescore {rescore_id} is {run.status}: nothing to discard")
        session.execute(
            update(Job)
            .where(Job.rescore_id == run.id, Job.status == JobState.QUEUED)
            .values(status=JobState.FAILED, last_error="rescore discarded", finished_at=utcnow())
        )
        run.status = RescoreState.DISCARDED
        bump_board(session, challenge_id=run.challenge_id)
        audit(session, actor, "rescore.discard", run.challenge_id, rescore=run.id)


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
                Score.generation == challenge.generation,
                (Score.evaluator_version != evaluator_version())
                | (Score.truth_sha256 != challenge.truth_sha256),
            )
        ).scalar_one()
