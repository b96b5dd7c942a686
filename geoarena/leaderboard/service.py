"""Everything an organizer or participant can do, as keyword-only functions.

The HTTP routes, the web pages and the CLI all call these, so every rule (roles, quotas,
phases, what is hidden before reveal) is written once. Functions that change data run in
one write transaction: on any error nothing is written.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import threading
import uuid as uuidlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session, aliased

from geoarena.leaderboard import jobs
from geoarena.leaderboard.blobs import get_blob, put_blob
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
from geoarena.leaderboard.quotas import Quota, quota_for
from geoarena.leaderboard.ranking import METRICS, Board, Entry, Row, rank
from geoarena.leaderboard.schema import (
    FAILED,
    ORGANIZER,
    PARTICIPANT,
    PRIVATE,
    PUBLIC,
    QUEUED,
    SCORED,
    AuditEntry,
    Challenge,
    Job,
    Member,
    Phase,
    Rescore,
    Score,
    Submission,
    Team,
    Token,
    utcnow,
)
from geoarena.leaderboard.scoring import SplitScore
from geoarena.leaderboard.security import new_token, secret_matches, split_token
from geoarena.leaderboard.splits import SplitError, assign_splits, truth_image_ids
from geoarena.leaderboard.validation import Rejection, validate_upload

#: the CLI acts as this organizer in the audit log (it has direct database access).
CLI_ACTOR = "cli"


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a bearer token."""

    member_id: int
    name: str
    role: str
    team_id: int | None
    team_name: str | None
    challenge_id: int | None

    @property
    def is_organizer(self) -> bool:
        return self.role == ORGANIZER

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.name}"


def open_database(url: str | None = None, *, migrate: bool = True) -> Database:
    """A database at ``url`` (settings default), migrated to the latest schema."""
    db = Database(url or get_settings().database_url)
    if migrate:
        db.migrate()
    return db


def bump_board(session: Session, *, phase_id: int | None = None, challenge_id: int | None = None):
    """Mark the boards of a phase (or of every phase of a challenge) as changed."""
    where = Phase.id == phase_id if phase_id is not None else Phase.challenge_id == challenge_id
    session.execute(update(Phase).where(where).values(board_version=Phase.board_version + 1))


class _BoardCache:
    """Ranked boards keyed by (database, phase, split), valid while the phase's
    ``board_version`` (bumped in the same transaction as any change) is unchanged; every
    request still reads the version, so a board is never served stale."""

    def __init__(self, size: int = 256) -> None:
        self._boards: dict[tuple[Any, ...], tuple[tuple[Any, ...], Board]] = {}
        self._lock = threading.Lock()
        self.size = size

    def get(self, key: tuple[Any, ...], version: tuple[Any, ...]) -> Board | None:
        with self._lock:
            hit = self._boards.get(key)
        return hit[1] if hit is not None and hit[0] == version else None

    def put(self, key: tuple[Any, ...], version: tuple[Any, ...], board: Board) -> None:
        with self._lock:
            self._boards.pop(key, None)
            self._boards[key] = (version, board)
            while len(self._boards) > self.size:
                self._boards.pop(next(iter(self._boards)))


_board_cache = _BoardCache()


def clear_board_cache() -> None:
    """Forget every cached board (benchmarks measure the uncached path with it)."""
    global _board_cache
    _board_cache = _BoardCache()


def _audit(session: Session, actor: str, action: str, challenge_id: int | None, **details: Any):
    session.add(AuditEntry(actor=actor, action=action, challenge_id=challenge_id, details=details))


def _challenge(session: Session, slug: str) -> Challenge:
    challenge = session.execute(
        select(Challenge).where(Challenge.slug == slug)
    ).scalar_one_or_none()
    if challenge is None:
        raise NotFound(f"no challenge {slug!r}")
    return challenge


def _phase(session: Session, challenge: Challenge, name: str | None, now: datetime) -> Phase:
    """The named phase, or the open one (the latest opened) when no name is given."""
    phases = (
        session.execute(select(Phase).where(Phase.challenge_id == challenge.id).order_by(Phase.id))
        .scalars()
        .all()
    )
    if name is not None:
        for phase in phases:
            if phase.name == name:
                return phase
        raise NotFound(f"challenge {challenge.slug!r} has no phase {name!r}")
    open_now = [p for p in phases if _is_open(p, now)]
    if open_now:
        return open_now[-1]
    if not phases:
        raise NotFound(f"challenge {challenge.slug!r} has no phase")
    return phases[-1]


def _is_open(phase: Phase, now: datetime) -> bool:
    return (phase.opens_at is None or phase.opens_at <= now) and (
        phase.closes_at is None or now < phase.closes_at
    )


# ---------------------------------------------------------------- organizer setup


def _check_rules(rules: str, ranking_metric: str) -> None:
    from geoarena.evaluator import get_rules

    try:
        get_rules(rules)
    except KeyError as exc:
        raise LeaderboardError(str(exc).strip("'\"")) from None
    if ranking_metric not in METRICS:
        raise LeaderboardError(f"ranking metric must be one of {sorted(METRICS)}")


def _check_truth(truth: bytes, name: str, salt: str, public_fraction: float) -> str:
    """Validate a truth file and its split; returns the split source."""
    from geoarena.evaluator import InputError, read_truth

    try:
        read_truth(truth, name=name, on_error="raise")
    except InputError as exc:
        raise Rejection(errors=exc.errors[:50], total=exc.total) from None
    try:
        assignment, source = assign_splits(truth, salt, public_fraction)
    except (SplitError, UnicodeDecodeError) as exc:
        raise LeaderboardError(f"{name}: {exc}") from None
    for split in (PUBLIC, PRIVATE):
        if split not in assignment.values():
            raise LeaderboardError(f"{name}: the {split} split has no image")
    return source


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
    _check_rules(rules, metric)
    salt = split_salt or secrets.token_hex(16)
    source = _check_truth(truth, truth_filename, salt, public_fraction)
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
        _audit(
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
        challenge = _challenge(session, slug)
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
        _audit(session, actor, "phase.set", challenge.id, phase=name, **shown)
        return phase


def add_team(db: Database, *, slug: str, name: str, actor: str = CLI_ACTOR) -> Team:
    with db.transaction() as session:
        challenge = _challenge(session, slug)
        exists = session.execute(
            select(Team.id).where(Team.challenge_id == challenge.id, Team.name == name)
        ).first()
        if exists:
            raise Conflict(f"team {name!r} already exists in {slug!r}")
        team = Team(challenge_id=challenge.id, name=name)
        session.add(team)
        session.flush()
        _audit(session, actor, "team.add", challenge.id, team=name)
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
            challenge = _challenge(session, slug)
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
        _audit(
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
        _audit(session, actor, "token.revoke", None, key=key)


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


def _require_member_of(principal: Principal, challenge: Challenge) -> None:
    if not principal.is_organizer and principal.challenge_id != challenge.id:
        raise Forbidden(f"your token is not for challenge {challenge.slug!r}")


# ---------------------------------------------------------------- submissions

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

    Raises :class:`Rejection` (row-level errors, nothing stored, no quota used),
    :class:`QuotaExceeded`, :class:`PhaseClosed` or :class:`Forbidden`.
    Organizer submissions must be baselines (``baseline_label``); they use no quota.
    """
    settings = settings or get_settings()
    now = utcnow()
    display_name = (filename or "submission.csv").replace("\\", "/").rsplit("/", 1)[-1][:255]
    if len(data) > settings.max_upload_bytes:
        raise Rejection(
            errors=[
                _file_error(display_name, f"exceeds the {settings.max_upload_bytes} byte limit")
            ],
            total=1,
        )
    with db.session() as session:
        challenge = _challenge(session, slug)
        _require_member_of(principal, challenge)
        phase_row = _phase(session, challenge, phase, now)
        if principal.is_organizer:
            if not baseline_label:
                raise Forbidden("organizer submissions are baselines: give a baseline label")
        else:
            if baseline_label:
                raise Forbidden("only organizers submit baselines")
            if not _is_open(phase_row, now):
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
            _audit(
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


def _file_error(name: str, reason: str):
    from geoarena.evaluator import RowError

    return RowError(file=name, line=0, column="", reason=reason)


_SCORE_COLUMNS = (
    Score.submission_id,
    Score.split,
    Score.f1,
    Score.precision,
    Score.recall,
    Score.tp,
    Score.fp,
    Score.fn,
    Score.mean_city_f1,
)


def _scores(
    session: Session, where: list[Any], generation: int | None = None
) -> dict[int, dict[str, SplitScore]]:
    """{submission_id: {split: SplitScore}} of current scores (or of one generation)."""
    query = select(*_SCORE_COLUMNS, Score.cities).join(
        Submission, Submission.id == Score.submission_id
    )
    query = query.where(*where).where(
        Score.current if generation is None else Score.generation == generation
    )
    out: dict[int, dict[str, SplitScore]] = {}
    for row in session.execute(query):
        out.setdefault(row.submission_id, {})[row.split] = SplitScore(
            f1=row.f1,
            precision=row.precision,
            recall=row.recall,
            tp=row.tp,
            fp=row.fp,
            fn=row.fn,
            mean_city_f1=row.mean_city_f1,
            cities=row.cities,
        )
    return out


def _private_visible(principal: Principal | None, challenge: Challenge) -> bool:
    return challenge.revealed_at is not None or (principal is not None and principal.is_organizer)


def submission_view(
    session: Session, submission: Submission, principal: Principal | None
) -> dict[str, Any]:
    """What the caller may see of a submission (private scores only after reveal)."""
    phase = submission.phase
    challenge = phase.challenge
    scores = _scores(session, [Score.submission_id == submission.id]).get(submission.id, {})
    visible = [PUBLIC] + ([PRIVATE] if _private_visible(principal, challenge) else [])
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
        challenge = _challenge(session, slug)
        _require_member_of(principal, challenge)
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
        challenge = _challenge(session, slug)
        _require_member_of(principal, challenge)
        if principal.team_id is None:
            raise LeaderboardError("organizers have no quota")
        now = utcnow()
        phase_row = _phase(session, challenge, phase, now)
        quota: Quota = quota_for(session, team_id=principal.team_id, phase=phase_row, now=now)
        return {"phase": phase_row.name, "open": _is_open(phase_row, now), **quota.to_dict()}


def select_finals(
    db: Database, *, principal: Principal, slug: str, uuids: list[str], phase: str | None = None
) -> list[str]:
    """Mark the team's final submissions (replacing the previous choice)."""
    if principal.team_id is None:
        raise Forbidden("only teams select final submissions")
    with db.transaction() as session:
        challenge = _challenge(session, slug)
        _require_member_of(principal, challenge)
        phase_row = _phase(session, challenge, phase, utcnow())
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


# ---------------------------------------------------------------- leaderboards


def _entries(
    session: Session, phase: Phase, metric: str, generation: int | None = None
) -> list[Entry]:
    """Every scored submission of ``phase`` with its metric value on each split: one query,
    no per-city data (see :func:`_attach_scores`)."""
    column = "f1" if metric == "f1" else "mean_city_f1"
    splits = {split: aliased(Score) for split in (PUBLIC, PRIVATE)}
    query = (
        select(
            Submission.id,
            Submission.uuid,
            Submission.is_baseline,
            Submission.baseline_label,
            Submission.created_at,
            Submission.selected_final,
            Team.name,
            *(getattr(alias, column) for alias in splits.values()),
        )
        .outerjoin(Team, Team.id == Submission.team_id)
        .where(Submission.phase_id == phase.id, Submission.status == SCORED)
    )
    for split, alias in splits.items():
        which = alias.current if generation is None else alias.generation == generation
        query = query.outerjoin(
            alias, and_(alias.submission_id == Submission.id, alias.split == split, which)
        )
    return [
        Entry(
            submission_id=r[0],
            uuid=r[1],
            team=None if r[2] else r[6],
            created_at=r[4],
            selected_final=r[5],
            baseline_label=r[3],
            values={
                split: value
                for split, value in zip(splits, r[7:], strict=True)
                if value is not None
            },
        )
        for r in session.execute(query)
    ]


def _attach_scores(session: Session, board: Board) -> Board:
    """Load the full scores (counts, per-city) of the rows shown, in one query."""
    shown = [r.entry.submission_id for r in board.rows + board.baselines]
    full = _scores(session, [Score.submission_id.in_(shown)]) if shown else {}

    def filled(row: Row) -> Row:
        return replace(row, score=full[row.entry.submission_id][board.split])

    board.rows = [filled(r) for r in board.rows]
    board.baselines = [filled(r) for r in board.baselines]
    board.cities = sorted({c for r in board.rows + board.baselines for c in r.score.cities})
    return board


def leaderboard(
    db: Database,
    *,
    slug: str,
    split: str = PUBLIC,
    phase: str | None = None,
    principal: Principal | None = None,
) -> tuple[Challenge, Phase, Board]:
    """The ranked board of ``split``; the private one only after reveal (or to organizers)."""
    if split not in (PUBLIC, PRIVATE):
        raise LeaderboardError("split must be public or private")
    with db.session() as session:
        challenge = _challenge(session, slug)
        if split == PRIVATE and not _private_visible(principal, challenge):
            raise Forbidden("the private leaderboard is not revealed yet")
        phase_row = _phase(session, challenge, phase, utcnow())
        key = (db.url, phase_row.id, split)
        version = (phase_row.board_version, challenge.ranking_metric, phase_row.final_selections)
        board = _board_cache.get(key, version)
        if board is None:
            board = rank(
                _entries(session, phase_row, challenge.ranking_metric),
                split=split,
                metric=challenge.ranking_metric,
                final_selections=phase_row.final_selections,
            )
            board = _attach_scores(session, board)
            _board_cache.put(key, version, board)
        return challenge, phase_row, board


def board_to_dict(challenge: Challenge, phase: Phase, board: Board) -> dict[str, Any]:
    def row(r):
        return {
            "rank": r.rank,
            "team": r.team,
            "submission": r.entry.uuid,
            "submitted_at": r.entry.created_at.isoformat(),
            "score": r.value,
            "f1": r.score.f1,
            "precision": r.score.precision,
            "recall": r.score.recall,
            "tp": r.score.tp,
            "fp": r.score.fp,
            "fn": r.score.fn,
            "mean_city_f1": r.score.mean_city_f1,
            "cities": {c: v["f1"] for c, v in r.score.cities.items()},
            "entries": r.submissions,
        }

    return {
        "challenge": challenge.slug,
        "title": challenge.title,
        "phase": phase.name,
        "split": board.split,
        "metric": board.metric,
        "rule": board.rule,
        "revealed": challenge.revealed_at is not None,
        "cities": board.cities,
        "rows": [row(r) for r in board.rows],
        "baselines": [row(r) for r in board.baselines],
    }


def export_csv(
    db: Database,
    *,
    slug: str,
    split: str = PUBLIC,
    phase: str | None = None,
    principal: Principal | None = None,
) -> str:
    """The board as CSV, one column per city F1."""
    _, _, board = leaderboard(db, slug=slug, split=split, phase=phase, principal=principal)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head = [
        "rank",
        "team",
        "submission",
        "submitted_at",
        board.metric,
        "f1",
        "precision",
        "recall",
        "tp",
        "fp",
        "fn",
    ]
    writer.writerow(head + [f"f1_{c}" for c in board.cities])
    for r in board.rows + board.baselines:
        writer.writerow(
            [
                "" if r.rank is None else r.rank,
                r.team,
                r.entry.uuid,
                r.entry.created_at.isoformat(),
                f"{r.value:.6f}",
                f"{r.score.f1:.6f}",
                f"{r.score.precision:.6f}",
                f"{r.score.recall:.6f}",
                r.score.tp,
                r.score.fp,
                r.score.fn,
            ]
            + [
                f"{r.score.cities[c]['f1']:.6f}" if c in r.score.cities else ""
                for c in board.cities
            ]
        )
    return out.getvalue()


def reveal(db: Database, *, slug: str, actor: str = CLI_ACTOR) -> None:
    """Publish the private leaderboard."""
    with db.transaction() as session:
        challenge = _challenge(session, slug)
        if challenge.revealed_at is None:
            challenge.revealed_at = utcnow()
        bump_board(session, challenge_id=challenge.id)
        _audit(session, actor, "challenge.reveal", challenge.id)


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


# ---------------------------------------------------------------- rescoring


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
        challenge = _challenge(session, slug)
        salt = challenge.split_salt
        fraction = min(p.public_fraction for p in challenge.phases)
    if truth is not None:
        _check_truth(truth, truth_filename or "truth.csv", salt, fraction)
    with db.transaction() as session:
        challenge = _challenge(session, slug)
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
        _audit(
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
                old = rank(_entries(session, phase, metric), **kwargs)
                new = rank(_entries(session, phase, metric, generation=run.id), **kwargs)
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
        _audit(
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
        challenge = _challenge(session, slug)
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


def run_local_demo(
    *,
    database: str,
    truth: bytes,
    submissions: dict[str, bytes],
    baseline: bytes | None = None,
    slug: str = "demo",
    title: str = "geoarena demo challenge",
    rules: str = "deepglobe",
    show: bool = True,
) -> dict[str, Any]:
    """Host a whole challenge in one call: for demos and smoke tests.

    Creates (or reuses) challenge ``slug`` in the SQLite file ``database`` (a path or URL),
    adds one team per key of ``submissions``, submits an organizer ``baseline`` and each
    team's CSV, scores everything inline, prints the public leaderboard when ``show`` and
    returns it (the API's leaderboard dict).

    Example::

        from geoarena.leaderboard.service import run_local_demo
        board = run_local_demo(database="demo.db", truth=truth_bytes,
                               submissions={"team-a": csv_bytes}, baseline=base_bytes)
    """
    from geoarena.leaderboard.worker import Worker

    url = database if "://" in database else f"sqlite:///{database}"
    db = open_database(url)
    try:
        with db.session() as session:
            exists = session.execute(select(Challenge.id).where(Challenge.slug == slug)).first()
        if not exists:
            create_challenge(
                db,
                slug=slug,
                title=title,
                truth=truth,
                rules=rules,
                daily_limit=None,
                concurrent_limit=None,
            )
        organizer = authenticate(db, issue_token(db, member="demo-organizer", role=ORGANIZER))
        if baseline is not None:
            submit(
                db,
                principal=organizer,
                slug=slug,
                data=baseline,
                filename="baseline.csv",
                baseline_label="baseline",
            )
        for team, data in submissions.items():
            with db.session() as session:
                known = session.execute(
                    select(Team.id).join(Challenge).where(Challenge.slug == slug, Team.name == team)
                ).first()
            if not known:
                add_team(db, slug=slug, name=team)
            principal = authenticate(
                db, issue_token(db, member=f"{team}-member", slug=slug, team=team)
            )
            submit(db, principal=principal, slug=slug, data=data, filename=f"{team}.csv")
        Worker(db).run(exit_when_idle=True)
        board = board_to_dict(*leaderboard(db, slug=slug))
        if show:
            from rich.console import Console

            from geoarena.leaderboard.report import board_table

            Console().print(board_table(board))
        return board
    finally:
        db.dispose()
