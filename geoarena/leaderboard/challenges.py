"""Challenges, their phases and teams: setting them up and looking them up.

A challenge is created from its hidden truth CSV (validated, split into public and
private images within each city, stored content-addressed) with a first phase named
``main``; phases carry the time window, quotas, the finals rule and the late policy; teams
hold members. The split belongs to the challenge and is frozen once anybody submitted
(``rescoring.resplit`` changes it, audited, by rescoring everything).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from geoarena.errors import Conflict, InvalidInput, NotFound
from geoarena.evaluator import PRESETS, Metric, read_truth
from geoarena.leaderboard import lifecycle
from geoarena.leaderboard.audit import CLI_ACTOR, audit
from geoarena.leaderboard.blobs import get_blob, put_blob
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.lifecycle import Action
from geoarena.leaderboard.phases import PhaseChange, PhaseView
from geoarena.leaderboard.schema import (
    Challenge,
    Member,
    Phase,
    Rescore,
    Submission,
    Team,
    utcnow,
)
from geoarena.leaderboard.splits import SplitError, assign_splits, truth_image_ids
from geoarena.leaderboard.states import (
    Exclusion,
    PhaseState,
    RescoreState,
    Split,
    SplitSource,
)

#: challenge slugs appear in URLs: lower-case letters, digits and dashes.
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
#: longest team name (the column's size).
MAX_TEAM_NAME = 100


class ChallengeView(BaseModel):
    """What anyone may know about a challenge (no truth, no salt)."""

    model_config = ConfigDict(frozen=True)

    slug: str
    title: str
    description: str
    #: the competition's rules, in the organizers' words
    terms: str
    #: what the data is and where to get it
    data_description: str
    rules: str
    ranking_metric: Metric
    split_source: SplitSource
    public_fraction: float
    truth_sha256: str
    #: the score generation the boards show (0, or the last published rescore)
    generation: int
    #: whether any phase's private board is published
    revealed: bool
    phases: list[PhaseView]

    @classmethod
    def of(cls, challenge: Challenge, now: datetime) -> ChallengeView:
        computed = {"revealed", "phases"}
        stored = {f: getattr(challenge, f) for f in cls.model_fields if f not in computed}
        return cls(
            **stored,
            revealed=any(p.revealed_at is not None for p in challenge.phases),
            phases=[PhaseView.of(p, now) for p in challenge.phases],
        )


# --- lookups ---------------------------------------------------------------------------------
def get_challenge(session: Session, slug: str) -> Challenge:
    challenge = session.execute(
        select(Challenge).where(Challenge.slug == slug)
    ).scalar_one_or_none()
    if challenge is None:
        raise NotFound(f"no challenge {slug!r}")
    return challenge


def get_phase(session: Session, challenge: Challenge, name: str | None, now: datetime) -> Phase:
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
    open_now = [p for p in phases if lifecycle.state_of(p, now) is PhaseState.OPEN]
    if open_now:
        return open_now[-1]
    if not phases:
        raise NotFound(f"challenge {challenge.slug!r} has no phase")
    return phases[-1]


def lock_challenge(session: Session, challenge_id: int, *, shared: bool) -> None:
    """Order this transaction with the challenge's others (PostgreSQL row lock; SQLite
    has one writer anyway): uploads take it shared, starting or ending a rescore
    exclusively, so no upload can slip between a rescore's list of submissions and its
    publication."""
    session.execute(
        select(Challenge.id).where(Challenge.id == challenge_id).with_for_update(read=shared)
    )


def active_rescore(session: Session, challenge_id: int) -> Rescore | None:
    """The challenge's rescore that is running or ready (not yet published or discarded)."""
    return session.execute(
        select(Rescore).where(
            Rescore.challenge_id == challenge_id,
            Rescore.status.in_([RescoreState.RUNNING, RescoreState.READY]),
        )
    ).scalar_one_or_none()


def bump_board(session: Session, *, phase_id: int | None = None, challenge_id: int | None = None):
    """Mark the boards of a phase (or of every phase of a challenge) as changed, in the
    transaction of the change: every process's cached board is then invalid."""
    where = Phase.id == phase_id if phase_id is not None else Phase.challenge_id == challenge_id
    session.execute(update(Phase).where(where).values(board_version=Phase.board_version + 1))


def check_truth(
    truth: bytes,
    name: str,
    salt: str,
    public_fraction: float,
    *,
    rules: str,
    method: SplitSource = SplitSource.HASH_BY_CITY,
) -> SplitSource:
    """Validate a truth file (raises the evaluator's ``InputError``) and its split; returns
    where the split comes from (its ``split`` column, or the hash ``method``)."""
    read_truth(truth, name=name, on_error="raise")
    try:
        assignment, source = assign_splits(truth, salt, public_fraction, rules=rules, method=method)
    except (SplitError, UnicodeDecodeError) as exc:
        raise InvalidInput.about(str(exc), file=name) from None
    for split in Split:
        if split not in assignment.values():
            raise InvalidInput.about(f"the {split} split has no image", file=name)
    return source


# --- changes ---------------------------------------------------------------------------------
def create_challenge(
    db: Database,
    *,
    slug: str,
    title: str,
    truth: bytes,
    truth_filename: str = "truth.csv",
    rules: str = "deepglobe",
    ranking_metric: Metric | None = None,
    description: str = "",
    terms: str = "",
    data_description: str = "",
    split_salt: str | None = None,
    public_fraction: float = 0.3,
    phase: PhaseChange | None = None,
    actor: str = CLI_ACTOR,
) -> ChallengeView:
    """Create a challenge from its hidden truth CSV, with a first phase named ``main``.

    ``ranking_metric`` defaults to mean per-city F1 for the ``deepglobe`` rules (the prize
    rule of that challenge) and to overall F1 otherwise.
    """
    if not SLUG.fullmatch(slug):
        raise InvalidInput.about(
            f"slug {slug!r}: use 1-64 lower-case letters, digits and dashes", column="slug"
        )
    if rules not in PRESETS:
        raise InvalidInput.about(
            f"unknown rules preset {rules!r}; choose one of {', '.join(PRESETS)}", column="rules"
        )
    if not 0 < public_fraction < 1:
        raise InvalidInput.about(
            f"public fraction must be between 0 and 1, not {public_fraction}",
            column="public_fraction",
        )
    metric = Metric(ranking_metric or (Metric.MEAN_CITY_F1 if rules == "deepglobe" else Metric.F1))
    phase = phase or PhaseChange()
    salt = split_salt or secrets.token_hex(16)
    source = check_truth(truth, truth_filename, salt, public_fraction, rules=rules)
    with db.transaction() as session:
        if session.execute(select(Challenge.id).where(Challenge.slug == slug)).first():
            raise Conflict(f"challenge {slug!r} already exists")
        challenge = Challenge(
            slug=slug,
            title=title,
            description=description,
            terms=terms,
            data_description=data_description,
            rules=rules,
            ranking_metric=metric,
            truth_sha256=put_blob(session, truth),
            truth_filename=truth_filename,
            split_source=source,
            split_salt=salt,
            public_fraction=public_fraction,
        )
        session.add(challenge)
        session.flush()
        session.add(Phase(challenge_id=challenge.id, name="main", **phase.model_dump()))
        audit(
            session,
            actor,
            "challenge.create",
            challenge.id,
            slug=slug,
            rules=rules,
            ranking_metric=metric.value,
            truth_sha256=challenge.truth_sha256,
            split=source.value,
            public_fraction=public_fraction,
        )
        session.flush()
        return ChallengeView.of(challenge, utcnow())


class ChallengeText(BaseModel):
    """The texts an organizer may change at any time; a field left out is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=20_000)
    terms: str | None = Field(None, max_length=20_000)
    data_description: str | None = Field(None, max_length=20_000)


def edit_challenge(
    db: Database, *, slug: str, text: ChallengeText, actor: str = CLI_ACTOR
) -> ChallengeView:
    """Change a challenge's title and texts (overview, rules, data); audited. Nothing that
    scores depend on (truth, rules preset, metric, split) changes here."""
    fields = {k: v for k, v in text.model_dump().items() if v is not None}
    with db.transaction() as session:
        challenge = get_challenge(session, slug)
        for key, value in fields.items():
            setattr(challenge, key, value)
        bump_board(session, challenge_id=challenge.id)  # boards show the title
        audit(session, actor, "challenge.edit", challenge.id, fields=sorted(fields))
        session.flush()
        return ChallengeView.of(challenge, utcnow())


def set_phase(
    db: Database, *, slug: str, name: str, change: PhaseChange, actor: str = CLI_ACTOR
) -> PhaseView:
    """Create phase ``name`` or apply ``change`` to it (only the fields it sets); a
    revealed phase is final and refuses every change."""
    fields = change.given()
    now = utcnow()
    with db.transaction() as session:
        challenge = get_challenge(session, slug)
        phase = session.execute(
            select(Phase).where(Phase.challenge_id == challenge.id, Phase.name == name)
        ).scalar_one_or_none()
        if phase is None:
            phase = Phase(challenge_id=challenge.id, name=name, **change.model_dump())
            session.add(phase)
        else:
            lifecycle.require(phase, Action.EDIT, now)
        for key, value in fields.items():
            setattr(phase, key, value)
        session.flush()
        bump_board(session, phase_id=phase.id)
        shown = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}
        audit(session, actor, "phase.set", challenge.id, phase=name, **shown)
        return PhaseView.of(phase, now)


def add_team(db: Database, *, slug: str, name: str, actor: str = CLI_ACTOR) -> None:
    """Add team ``name`` (any characters, up to ``MAX_TEAM_NAME``) to challenge ``slug``."""
    if not name.strip() or len(name) > MAX_TEAM_NAME or not name.isprintable():
        raise InvalidInput.about(
            f"team names are 1-{MAX_TEAM_NAME} printable characters", column="name"
        )
    with db.transaction() as session:
        challenge = get_challenge(session, slug)
        exists = session.execute(
            select(Team.id).where(Team.challenge_id == challenge.id, Team.name == name)
        ).first()
        if exists:
            raise Conflict(f"team {name!r} already exists in {slug!r}")
        session.add(Team(challenge_id=challenge.id, name=name))
        audit(session, actor, "team.add", challenge.id, team=name)


class TeamView(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    members: list[str]
    submissions: int
    excluded: Exclusion | None
    excluded_reason: str | None
    created_at: datetime


def list_teams(db: Database, *, slug: str) -> list[TeamView]:
    """The challenge's teams with their members and submission counts."""
    with db.session() as session:
        challenge = get_challenge(session, slug)
        teams = session.execute(
            select(Team).where(Team.challenge_id == challenge.id).order_by(Team.id)
        ).scalars()
        members = session.execute(
            select(Member.team_id, Member.name).join(Team).where(Team.challenge_id == challenge.id)
        ).all()
        counted = session.execute(
            select(Submission.team_id, func.count())
            .join(Team)
            .where(Team.challenge_id == challenge.id)
            .group_by(Submission.team_id)
        )
        counts = {team_id: n for team_id, n in counted}
        return [
            TeamView(
                name=team.name,
                members=sorted(name for team_id, name in members if team_id == team.id),
                submissions=counts.get(team.id, 0),
                excluded=team.excluded,
                excluded_reason=team.excluded_reason,
                created_at=team.created_at,
            )
            for team in teams
        ]


def challenge_view(db: Database, *, slug: str) -> ChallengeView:
    """One challenge with its phases (no hidden data)."""
    with db.session() as session:
        return ChallengeView.of(get_challenge(session, slug), utcnow())


#: the header of a prediction CSV, as the sample submission spells it.
SUBMISSION_HEADER = "ImageId,BuildingId,PolygonWKT_Pix,Confidence"


def sample_submission(db: Database, *, slug: str) -> bytes:
    """A valid submission that predicts no building on any image of the challenge: the
    header, and one ``-1, POLYGON EMPTY`` row per ImageId (public and private images
    alike, in sorted order, so it says nothing about the split)."""
    with db.session() as session:
        challenge = get_challenge(session, slug)
        sha = challenge.truth_sha256
        ids: list[str] = db.cache.get_or_compute(
            ("truth_id_list", sha), sha, lambda: truth_image_ids(get_blob(session, sha))
        )
    rows = [SUBMISSION_HEADER, *(f"{image_id},-1,POLYGON EMPTY,1" for image_id in ids)]
    return ("\n".join(rows) + "\n").encode()


def list_challenges(db: Database) -> list[ChallengeView]:
    """Every challenge with its phases (no hidden data)."""
    now = utcnow()
    with db.session() as session:
        rows = session.execute(select(Challenge).order_by(Challenge.id)).scalars()
        return [ChallengeView.of(c, now) for c in rows]
