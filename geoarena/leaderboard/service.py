"""Everything an organizer or participant can do, as keyword-only functions.

The HTTP routes, the web pages and the CLI all call these, so every rule (roles, quotas,
phases, what is hidden before reveal) is written once. Functions that change data run in
one write transaction: on any error nothing is written. Boards (``boards.py``), rescoring
(``rescoring.py``) and the shared lookups (``lookups.py``) live in their own modules and
are re-exported here, so callers need only ``service``.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid as uuidlib
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geoarena.errors import Problem
from geoarena.evaluator import InputError
from geoarena.leaderboard import jobs
from geoarena.leaderboard.blobs import get_blob, put_blob
from geoarena.leaderboard.boards import (
    board_to_dict,
    bump_board,
    clear_board_cache,
    export_csv,
    leaderboard,
    load_scores,
)
from geoarena.leaderboard.config import Settings, get_settings
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.errors import (
    Conflict,
    Forbidden,
    LeaderboardError,
    NotFound,
    PhaseClosed,
    QuotaExceeded,
)
from geoarena.leaderboard.lookups import (
    CLI_ACTOR,
    Principal,
    audit,
    check_rules,
    check_truth,
    get_challenge,
    get_phase,
    is_open,
    private_visible,
    require_member_of,
)
from geoarena.leaderboard.quotas import Quota, quota_for
from geoarena.leaderboard.rescoring import (
    outdated_scores,
    publish_rescore,
    rescore_status,
    start_rescore,
)
from geoarena.leaderboard.schema import (
    FAILED,
    ORGANIZER,
    PARTICIPANT,
    PRIVATE,
    PUBLIC,
    QUEUED,
    SCORED,
    Challenge,
    Member,
    Phase,
    Score,
    Submission,
    Team,
    Token,
    utcnow,
)
from geoarena.leaderboard.security import new_token, secret_matches, split_token
from geoarena.leaderboard.splits import truth_image_ids
from geoarena.leaderboard.validation import validate_upload


def open_database(url: str | None = None, *, migrate: bool = True) -> Database:
    """A database at ``url`` (settings default), migrated to the latest schema."""
    db = Database(url or get_settings().database_url)
    if migrate:
        db.migrate()
    return db


def create_challenge(
    db: Database,
    *,
    slug: str,
    title: str,
    truth: bytes,
    truth_filename: str = "truth.csv",
    rules: str = "deepglobe",
    ranking_metric: str | None = None,
    description: str = "",
    split_salt: str | None = None,
    public_fraction: float = 0.3,
    daily_limit: int | None = 5,
    total_limit: int | None = None,
    concurrent_limit: int | None = 2,
    final_selections: int = 2,
    actor: str = CLI_ACTOR,
) -> Challenge:
    """Create a challenge from its hidden truth CSV, with a first phase named ``main``.

    ``ranking_metric`` defaults to mean per-city F1 for the ``deepglobe`` rules (the prize
    rule of that challenge) and to overall F1 otherwise.
    """
    metric = ranking_metric or ("mean_city_f1" if rules == "deepglobe" else "f1")
    check_rules(rules, metric)
    salt = split_salt or secrets.token_hex(16)
    source = check_truth(truth, truth_filename, salt, public_fraction)
    with db.transaction() as session:
        if session.execute(select(Challenge.id).where(Challenge.slug == slug)).first():
            raise Conflict(f"challenge {slug!r} already exists")
        challenge = Challenge(
            slug=slug,
            title=title,
            description=description,
            rules=rules,
            ranking_metric=metric,
            truth_sha256=put_blob(session, truth),
            truth_filename=truth_filename,
            split_source=source,
            split_salt=salt,
        )
        session.add(challenge)
        session.flush()
        session.add(
            Phase(
                challenge_id=challenge.id,
                name="main",
                daily_limit=daily_limit,
                total_limit=total_limit,
                concurrent_limit=concurrent_limit,
                final_selections=final_selections,
                public_fraction=public_fraction,
            )
        )
        audit(
            session,
            actor,
            "challenge.create",
            challenge.id,
            slug=slug,
            rules=rules,
            ranking_metric=metric,
            truth_sha256=challenge.truth_sha256,
            split=source,
        )
        return challenge


PHASE_FIELDS = (
    "opens_at",
    "closes_at",
    "daily_limit",
    "total_limit",
    "concurrent_limit",
    "final_selections",
    "public_fraction",
)


def set_phase(
    db: Database, *, slug: str, name: str, actor: str = CLI_ACTOR, **fields: Any
) -> Phase:
    """Create phase ``name`` or change the given fields of it (see ``PHASE_FIELDS``)."""
    unknown = set(fields) - set(PHASE_FIELDS)
    if unknown:
        raise LeaderboardError(f"unknown phase fields {sorted(unknown)}")
    if "public_fraction" in fields and not 0 < fields["public_fraction"] < 1:
        raise LeaderboardError("public fraction must be between 0 and 1")
    with db.transaction() as session:
        challenge = get_challenge(session, slug)
        phase = session.execute(
            select(Phase).where(Phase.challenge_id == challenge.id, Phase.name == name)
        ).scalar_one_or_none()
        if phase is None:
            phase = Phase(challenge_id=challenge.id, name=name)
            session.add(phase)
        for key, value in fields.items():
            setattr(phase, key, value)
        session.flush()
        bump_board(session, phase_id=phase.id)
        shown = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}
        audit(session, actor, "phase.set", challenge.id, phase=name, **shown)
        return phase


def add_team(db: Database, *, slug: str, name: str, actor: str = CLI_ACTOR) -> Team:
    with db.transaction() as session:
        challenge = get_challenge(session, slug)
        exists = session.execute(
            select(Team.id).where(Team.challenge_id == challenge.id, Team.name == name)
        ).first()
        if exists:
            raise Conflict(f"team {name!r} already exists in {slug!r}")
        team = Team(challenge_id=challenge.id, name=name)
        session.add(team)
        session.flush()
        audit(session, actor, "team.add", challenge.id, team=name)
        return team


def issue_token(
    db: Database,
    *,
    member: str,
    role: str = PARTICIPANT,
    slug: str | None = None,
    team: str | None = None,
    actor: str = CLI_ACTOR,
) -> str:
    """A new bearer token for ``member`` (created when new); the raw token is shown once."""
    if role not in (ORGANIZER, PARTICIPANT):
        raise LeaderboardError(f"role must be {ORGANIZER} or {PARTICIPANT}")
    if role == PARTICIPANT and (slug is None or team is None):
        raise LeaderboardError("a participant token needs a challenge and a team")
    token = new_token()
    with db.transaction() as session:
        team_row, challenge_id = None, None
        if role == PARTICIPANT:
            challenge = get_challenge(session, slug)
            challenge_id = challenge.id
            team_row = session.execute(
                select(Team).where(Team.challenge_id == challenge.id, Team.name == team)
            ).scalar_one_or_none()
            if team_row is None:
                raise NotFound(f"no team {team!r} in {slug!r}")
        team_id = team_row.id if team_row else None
        same_team = Member.team_id.is_(None) if team_id is None else Member.team_id == team_id
        member_row = session.execute(
            select(Member).where(Member.name == member, Member.role == role, same_team)
        ).scalar_one_or_none()
        if member_row is None:
            member_row = Member(name=member, role=role, team_id=team_id)
            session.add(member_row)
            session.flush()
        session.add(Token(member_id=member_row.id, key=token.key, secret_hash=token.secret_hash))
        audit(
            session,
            actor,
            "token.issue",
            challenge_id,
            member=member,
            role=role,
            team=team,
            key=token.key,
        )
    return token.raw


def revoke_token(db: Database, *, key: str, actor: str = CLI_ACTOR) -> None:
    """Revoke a token by its public key (the part after ``ga_``) or the whole raw token."""
    parts = split_token(key)
    key = parts[0] if parts else key
    with db.transaction() as session:
        token = session.execute(select(Token).where(Token.key == key)).scalar_one_or_none()
        if token is None:
            raise NotFound(f"no token {key!r}")
        token.revoked_at = utcnow()
        audit(session, actor, "token.revoke", None, key=key)


def authenticate(db: Database, raw: str) -> Principal | None:
    """The principal holding ``raw``, or None for an unknown, malformed or revoked token."""
    parts = split_token(raw)
    if parts is None:
        return None
    key, secret = parts
    with db.session() as session:
        token = session.execute(select(Token).where(Token.key == key)).scalar_one_or_none()
        if token is None:
            secret_matches(secret, "0" * 64)  # same work whether or not the key exists
            return None
        if not secret_matches(secret, token.secret_hash) or token.revoked_at is not None:
            return None
        member = token.member
        team = member.team
        return Principal(
            member_id=member.id,
            name=member.name,
            role=member.role,
            team_id=team.id if team else None,
            team_name=team.name if team else None,
            challenge_id=team.challenge_id if team else None,
        )


_truth_ids: dict[str, frozenset[str]] = {}


_truth_ids_lock = threading.Lock()


def _phase_image_ids(session: Session, challenge: Challenge) -> frozenset[str]:
    """The ImageIds a submission may name: the images of the challenge's truth."""
    with _truth_ids_lock:
        ids = _truth_ids.get(challenge.truth_sha256)
    if ids is None:
        ids = frozenset(truth_image_ids(get_blob(session, challenge.truth_sha256)))
        with _truth_ids_lock:
            _truth_ids[challenge.truth_sha256] = ids
    return ids


def submit(
    db: Database,
    *,
    principal: Principal,
    slug: str,
    data: bytes,
    filename: str = "submission.csv",
    phase: str | None = None,
    description: str = "",
    baseline_label: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Validate, store and enqueue one prediction CSV; returns the submission's status.

    Raises :class:`InputError` (row-level errors, nothing stored, no quota used),
    :class:`QuotaExceeded`, :class:`PhaseClosed` or :class:`Forbidden`.
    Organizer submissions must be baselines (``baseline_label``); they use no quota.
    """
    settings = settings or get_settings()
    now = utcnow()
    display_name = (filename or "submission.csv").replace("\\", "/").rsplit("/", 1)[-1][:255]
    if len(data) > settings.max_upload_bytes:
        raise InputError(
            [Problem(display_name, 0, "", f"exceeds the {settings.max_upload_bytes} byte limit")]
        )
    with db.session() as session:
        challenge = get_challenge(session, slug)
        require_member_of(principal, challenge)
        phase_row = get_phase(session, challenge, phase, now)
        if principal.is_organizer:
            if not baseline_label:
                raise Forbidden("organizer submissions are baselines: give a baseline label")
        else:
            if baseline_label:
                raise Forbidden("only organizers submit baselines")
            if not is_open(phase_row, now):
                raise PhaseClosed(f"phase {phase_row.name!r} is not open for submissions")
        image_ids = _phase_image_ids(session, challenge)
        phase_id = phase_row.id
    plain = validate_upload(
        data,
        name=display_name,
        image_ids=image_ids,
        max_bytes=settings.max_upload_bytes,
        max_vertices=settings.max_vertices,
        max_errors=settings.max_reported_errors,
    )
    with db.transaction() as session:
        phase_row = session.get(Phase, phase_id)
        if principal.team_id is not None:
            # Lock the team row first: concurrent uploads of one team queue up here.
            session.execute(
                update(Team)
                .where(Team.id == principal.team_id)
                .values(lock_version=Team.lock_version + 1)
            )
            quota = quota_for(session, team_id=principal.team_id, phase=phase_row, now=now)
            refusal = quota.refusal()
            if refusal:
                raise QuotaExceeded(refusal, quota.to_dict())
        submission = Submission(
            uuid=str(uuidlib.uuid4()),
            phase_id=phase_id,
            team_id=principal.team_id,
            member_id=principal.member_id,
            file_sha256=put_blob(session, plain),
            file_size=len(plain),
            filename=display_name,
            description=description[:2000],
            status=QUEUED,
            is_baseline=bool(baseline_label),
            baseline_label=baseline_label,
            created_at=now,
        )
        session.add(submission)
        session.flush()
        jobs.enqueue(session, submission.id)
        if baseline_label:
            audit(
                session,
                principal.actor,
                "baseline.submit",
                challenge.id,
                uuid=submission.uuid,
                label=baseline_label,
                sha256=submission.file_sha256,
            )
    with db.session() as session:
        return submission_view(session, session.get(Submission, submission.id), principal)


def submission_view(
    session: Session, submission: Submission, principal: Principal | None
) -> dict[str, Any]:
    """What the caller may see of a submission (private scores only after reveal)."""
    phase = submission.phase
    challenge = phase.challenge
    scores = load_scores(session, [Score.submission_id == submission.id]).get(submission.id, {})
    visible = [PUBLIC] + ([PRIVATE] if private_visible(principal, challenge) else [])
    error = None
    if submission.error_detail:
        error = json.loads(submission.error_detail)
    return {
        "uuid": submission.uuid,
        "challenge": challenge.slug,
        "phase": phase.name,
        "team": submission.team.name if submission.team else None,
        "baseline_label": submission.baseline_label,
        "filename": submission.filename,
        "sha256": submission.file_sha256,
        "size": submission.file_size,
        "description": submission.description,
        "status": submission.status,
        "queue_position": jobs.queue_position(session, submission.id)
        if submission.status == QUEUED
        else None,
        "failure_kind": submission.failure_kind,
        "error": error,
        "counts_to_quota": not submission.is_baseline
        and not (submission.status == FAILED and submission.failure_kind == "platform"),
        "selected_final": submission.selected_final,
        "created_at": submission.created_at.isoformat(),
        "started_at": submission.started_at.isoformat() if submission.started_at else None,
        "finished_at": submission.finished_at.isoformat() if submission.finished_at else None,
        "ranking_metric": challenge.ranking_metric,
        "scores": {split: vars(scores[split]) for split in visible if split in scores},
    }


def _load_submission(session: Session, uuid: str, principal: Principal) -> Submission:
    submission = session.execute(
        select(Submission).where(Submission.uuid == uuid)
    ).scalar_one_or_none()
    if submission is None or not (
        principal.is_organizer
        or (submission.team_id is not None and submission.team_id == principal.team_id)
    ):
        raise NotFound(f"no submission {uuid}")  # same answer for others' submissions
    return submission


def get_submission(db: Database, *, uuid: str, principal: Principal) -> dict[str, Any]:
    with db.session() as session:
        return submission_view(session, _load_submission(session, uuid, principal), principal)


def list_submissions(
    db: Database, *, principal: Principal, slug: str, team: str | None = None
) -> list[dict[str, Any]]:
    """The caller's team's submissions, newest first (organizers: any team or all)."""
    with db.session() as session:
        challenge = get_challenge(session, slug)
        require_member_of(principal, challenge)
        query = (
            select(Submission)
            .join(Phase, Phase.id == Submission.phase_id)
            .where(Phase.challenge_id == challenge.id)
            .order_by(Submission.created_at.desc(), Submission.id.desc())
        )
        if not principal.is_organizer:
            query = query.where(Submission.team_id == principal.team_id)
        elif team is not None:
            query = query.join(Team, Team.id == Submission.team_id).where(Team.name == team)
        return [submission_view(session, s, principal) for s in session.execute(query).scalars()]


def get_quota(
    db: Database, *, principal: Principal, slug: str, phase: str | None = None
) -> dict[str, Any]:
    with db.session() as session:
        challenge = get_challenge(session, slug)
        require_member_of(principal, challenge)
        if principal.team_id is None:
            raise LeaderboardError("organizers have no quota")
        now = utcnow()
        phase_row = get_phase(session, challenge, phase, now)
        quota: Quota = quota_for(session, team_id=principal.team_id, phase=phase_row, now=now)
        return {"phase": phase_row.name, "open": is_open(phase_row, now), **quota.to_dict()}


def select_finals(
    db: Database, *, principal: Principal, slug: str, uuids: list[str], phase: str | None = None
) -> list[str]:
    """Mark the team's final submissions (replacing the previous choice)."""
    if principal.team_id is None:
        raise Forbidden("only teams select final submissions")
    with db.transaction() as session:
        challenge = get_challenge(session, slug)
        require_member_of(principal, challenge)
        phase_row = get_phase(session, challenge, phase, utcnow())
        if len(set(uuids)) > phase_row.final_selections:
            raise LeaderboardError(f"select at most {phase_row.final_selections} final submissions")
        chosen = (
            session.execute(
                select(Submission).where(
                    Submission.uuid.in_(uuids),
                    Submission.team_id == principal.team_id,
                    Submission.phase_id == phase_row.id,
                )
            )
            .scalars()
            .all()
        )
        missing = set(uuids) - {s.uuid for s in chosen}
        if missing:
            raise NotFound(f"not your submissions in this phase: {sorted(missing)}")
        not_scored = [s.uuid for s in chosen if s.status != SCORED]
        if not_scored:
            raise LeaderboardError(f"only scored submissions can be finals: {not_scored}")
        session.execute(
            update(Submission)
            .where(Submission.team_id == principal.team_id, Submission.phase_id == phase_row.id)
            .values(selected_final=Submission.uuid.in_(uuids))
        )
        bump_board(session, phase_id=phase_row.id)
        return sorted(uuids)


def reveal(db: Database, *, slug: str, actor: str = CLI_ACTOR) -> None:
    """Publish the private leaderboard."""
    with db.transaction() as session:
        challenge = get_challenge(session, slug)
        if challenge.revealed_at is None:
            challenge.revealed_at = utcnow()
        bump_board(session, challenge_id=challenge.id)
        audit(session, actor, "challenge.reveal", challenge.id)


def team_history(
    db: Database, *, slug: str, team: str, principal: Principal | None
) -> list[dict[str, Any]]:
    """A team's submissions, oldest first, for the history page and its chart."""
    if principal is None:
        raise Forbidden("log in to see a team's submissions")
    rows = list_submissions(
        db, principal=principal, slug=slug, team=team if principal.is_organizer else None
    )
    if not principal.is_organizer and principal.team_name != team:
        raise Forbidden("you can only see your own team's submissions")
    return list(reversed(rows))


def wait_until_idle(db: Database, *, timeout: float = 60.0) -> None:
    """Block until no job is queued or running (tests, demos); raises TimeoutError."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        with db.session() as session:
            if jobs.pending_count(session) == 0:
                return
        if time.monotonic() > deadline:
            raise TimeoutError("jobs still pending")
        time.sleep(0.05)


def list_challenges(db: Database) -> list[dict[str, Any]]:
    """Every challenge with its phases (no hidden data)."""
    with db.session() as session:
        out = []
        for c in session.execute(select(Challenge).order_by(Challenge.id)).scalars():
            out.append(
                {
                    "slug": c.slug,
                    "title": c.title,
                    "description": c.description,
                    "ranking_metric": c.ranking_metric,
                    "revealed": c.revealed_at is not None,
                    "phases": [p.name for p in c.phases],
                }
            )
        return out


__all__ = [
    "CLI_ACTOR",
    "PHASE_FIELDS",
    "LeaderboardError",
    "Principal",
    "add_team",
    "authenticate",
    "board_to_dict",
    "bump_board",
    "clear_board_cache",
    "create_challenge",
    "export_csv",
    "get_quota",
    "get_submission",
    "issue_token",
    "leaderboard",
    "list_challenges",
    "list_submissions",
    "open_database",
    "outdated_scores",
    "publish_rescore",
    "rescore_status",
    "reveal",
    "revoke_token",
    "select_finals",
    "set_phase",
    "start_rescore",
    "submission_view",
    "submit",
    "team_history",
    "wait_until_idle",
]
