"""Who may do what: bearer tokens, the caller they name, and membership checks.

Tokens look like ``ga_<key>_<secret>``; only sha256(secret) is stored. The public ``key``
finds the row with an indexed lookup, then the secret's hash is compared with
:func:`hmac.compare_digest`, so response time does not depend on how much of a guessed
secret is right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from geoarena.errors import Forbidden, InvalidInput, NotFound
from geoarena.leaderboard.audit import CLI_ACTOR, audit
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.schema import Challenge, Member, Phase, Team, Token, utcnow
from geoarena.leaderboard.states import Role

PREFIX = "ga"


@dataclass(frozen=True)
class NewToken:
    key: str
    secret_hash: str
    raw: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> NewToken:
    key = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewToken(key=key, secret_hash=hash_secret(secret), raw=f"{PREFIX}_{key}_{secret}")


def split_token(raw: str) -> tuple[str, str] | None:
    """(key, secret) of a well-formed token, else None."""
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a bearer token."""

    member_id: int
    name: str
    role: Role
    team_id: int | None
    team_name: str | None
    challenge_id: int | None

    @property
    def is_organizer(self) -> bool:
        return self.role is Role.ORGANIZER

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"{self.role}:{self.name}"


#: the command line's organizer: it reaches the database directly, so it holds no token.
CLI_ORGANIZER = Principal(0, CLI_ACTOR, Role.ORGANIZER, None, None, None)


def require_member_of(principal: Principal, challenge: Challenge) -> None:
    if not principal.is_organizer and principal.challenge_id != challenge.id:
        raise Forbidden(f"your token is not for challenge {challenge.slug!r}")


def private_visible(principal: Principal | None, phase: Phase) -> bool:
    """Whether ``principal`` may see the private scores of ``phase`` now."""
    return phase.revealed_at is not None or (principal is not None and principal.is_organizer)


def issue_token(
    db: Database,
    *,
    member: str,
    role: Role = Role.PARTICIPANT,
    slug: str | None = None,
    team: str | None = None,
    actor: str = CLI_ACTOR,
) -> str:
    """A new bearer token for ``member`` (created when new); the raw token is shown once."""
    role = Role(role)
    if role is Role.PARTICIPANT and (slug is None or team is None):
        raise InvalidInput.about("a participant token needs a challenge and a team", column="team")
    token = new_token()
    with db.transaction() as session:
        team_row, challenge_id = None, None
        if role is Role.PARTICIPANT:
            challenge = session.execute(
                select(Challenge).where(Challenge.slug == slug)
            ).scalar_one_or_none()
            if challenge is None:
                raise NotFound(f"no challenge {slug!r}")
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
            role=role.value,
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


class TokenView(BaseModel):
    """A token as organizers may list it: its public key, never its secret."""

    model_config = ConfigDict(frozen=True)

    key: str
    member: str
    role: Role
    team: str | None
    challenge: str | None
    created_at: datetime
    revoked_at: datetime | None


def list_tokens(db: Database, *, slug: str | None = None) -> list[TokenView]:
    """Every token (of one challenge's teams, with ``slug``), oldest first: to find the
    key of a lost or leaked token and revoke it."""
    query = (
        select(Token, Member, Team, Challenge)
        .join(Member, Member.id == Token.member_id)
        .outerjoin(Team, Team.id == Member.team_id)
        .outerjoin(Challenge, Challenge.id == Team.challenge_id)
        .order_by(Token.id)
    )
    if slug is not None:
        query = query.where(Challenge.slug == slug)
    with db.session() as session:
        return [
            TokenView(
                key=token.key,
                member=member.name,
                role=member.role,
                team=team.name if team else None,
                challenge=challenge.slug if challenge else None,
                created_at=token.created_at,
                revoked_at=token.revoked_at,
            )
            for token, member, team, challenge in session.execute(query)
        ]


class Identity(BaseModel):
    """Who a token speaks for, as its holder may see it (``GET /api/v1/me``): lets a
    participant check a token before saving it, and a script check whose it holds."""

    model_config = ConfigDict(frozen=True)

    member: str
    role: Role
    team: str | None
    challenge: str | None


def identity(db: Database, principal: Principal) -> Identity:
    slug = None
    if principal.challenge_id is not None:
        with db.session() as session:
            slug = session.scalar(
                select(Challenge.slug).where(Challenge.id == principal.challenge_id)
            )
    return Identity(
        member=principal.name, role=principal.role, team=principal.team_name, challenge=slug
    )
