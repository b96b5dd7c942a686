"""ORM tables of a hosted challenge.

The Alembic migrations in ``migrations/versions`` create exactly these tables; a test
compares a migrated database with this metadata so that the two never drift.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false

from geoarena.evaluator import Metric
from geoarena.leaderboard.states import (
    Exclusion,
    FailureKind,
    JobState,
    LatePolicy,
    RescoreState,
    Role,
    Split,
    SplitSource,
    SubmissionState,
)

E = TypeVar("E", bound=StrEnum)

#: the largest value of an ``Integer`` column (keys, limits): 32-bit on PostgreSQL.
MAX_KEY = 2**31 - 1

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware now; all stored times are UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, so SQLite and PostgreSQL behave the same."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class EnumText(TypeDecorator[E]):
    """A ``StrEnum`` stored as its string value in a VARCHAR (no database enum type, so a
    new member needs no migration) and read back as the enum."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Blob(Base):
    """An immutable, content-addressed file (truth or submission), stored in the database.

    Living in the database (not on a local disk) lets a worker on any machine that reaches
    the database score any submission.
    """

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    compression: Mapped[str] = mapped_column(String(8))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Challenge(Base):
    __tablename__ = "challenges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: the competition's rules, in the organizers' words (the challenge page shows them).
    terms: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: what the data is and where participants get it.
    data_description: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: evaluator preset name (``geoarena.evaluator.PRESETS``).
    rules: Mapped[str] = mapped_column(String(64))
    ranking_metric: Mapped[Metric] = mapped_column(EnumText(Metric, 32))
    truth_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    truth_filename: Mapped[str] = mapped_column(String(255))
    split_source: Mapped[SplitSource] = mapped_column(EnumText(SplitSource))
    split_salt: Mapped[str] = mapped_column(String(64))
    #: share of images in the public split when the truth has no ``split`` column.
    public_fraction: Mapped[float] = mapped_column(Float, default=0.3, server_default="0.3")
    #: the score generation the boards show: 0 (first scoring) or a published rescore's id.
    #: One generation is one (truth, split), so a board never mixes two.
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    phases: Mapped[list[Phase]] = relationship(back_populates="challenge", order_by="Phase.id")


class Phase(Base):
    __tablename__ = "phases"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    daily_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    concurrent_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: how many final submissions a team may select (Kaggle: 2).
    final_selections: Mapped[int] = mapped_column(Integer, default=2)
    #: finals may still be changed after the close, until then (None: only while open).
    finals_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    late_policy: Mapped[LatePolicy] = mapped_column(
        EnumText(LatePolicy), default=LatePolicy.REFUSE, server_default=LatePolicy.REFUSE.value
    )
    #: when an organizer closed the phase (before ``closes_at``, or without one).
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: when the private board was published; the phase is final from then on.
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: bumped by every change that can reorder the boards (score, finals, rescore, reveal):
    #: servers cache a ranked board until it moves, across processes and machines.
    board_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    challenge: Mapped[Challenge] = relationship(back_populates="phases")


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    #: bumped by every upload: the row lock that serialises a team's quota check.
    lock_version: Mapped[int] = mapped_column(Integer, default=0)
    excluded: Mapped[Exclusion | None] = mapped_column(EnumText(Exclusion), nullable=True)
    excluded_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    challenge: Mapped[Challenge] = relationship()


class Member(Base):
    """A person or robot holding tokens: an organizer (no team) or a team's participant."""

    __tablename__ = "members"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(EnumText(Role))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team | None] = relationship()


class Token(Base):
    """A bearer token: the public ``key`` finds the row, only a hash of the secret is kept."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    member: Mapped[Member] = relationship()


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_team_phase_created", "team_id", "phase_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id"), index=True)
    #: None for organizer baselines.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), nullable=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    file_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    file_size: Mapped[int] = mapped_column(BigInteger)
    #: the uploader's file name, for display only (storage is content-addressed).
    filename: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[SubmissionState] = mapped_column(EnumText(SubmissionState), index=True)
    #: whose fault a failure is (only a participant's counts to quota).
    failure_kind: Mapped[FailureKind | None] = mapped_column(EnumText(FailureKind), nullable=True)
    error_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    baseline_label: Mapped[str | None] = mapped_column(String(100), nullable=True)
    selected_final: Mapped[bool] = mapped_column(Boolean, default=False)
    #: arrived after the phase closed (scored, never ranked).
    is_late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    excluded: Mapped[Exclusion | None] = mapped_column(EnumText(Exclusion), nullable=True)
    excluded_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the table validated at upload, in columnar form: workers score it without parsing
    #: the CSV again (None for submissions stored before 0.2).
    table_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    phase: Mapped[Phase] = relationship()
    team: Mapped[Team | None] = relationship()


class Rescore(Base):
    """One re-scoring of every submission of a challenge (new truth or evaluator version)."""

    __tablename__ = "rescores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id"), index=True)
    truth_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    truth_filename: Mapped[str] = mapped_column(String(255))
    #: the split the rescore scores with (a re-split changes it; else the challenge's)
    split_source: Mapped[SplitSource] = mapped_column(EnumText(SplitSource))
    split_salt: Mapped[str] = mapped_column(String(64))
    public_fraction: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[RescoreState] = mapped_column(EnumText(RescoreState))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Job(Base):
    """A durable scoring job with a lease; written in the same transaction as its submission."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    rescore_id: Mapped[int | None] = mapped_column(ForeignKey("rescores.id"), nullable=True)
    status: Mapped[JobState] = mapped_column(EnumText(JobState))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Score(Base):
    """A submission's score on one split; ``generation`` 0 is the first scoring, a rescore
    writes its own generation, and the challenge's ``generation`` is the one shown."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("submission_id", "split", "generation"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    split: Mapped[Split] = mapped_column(EnumText(Split, 8))
    generation: Mapped[int] = mapped_column(Integer, default=0)
    f1: Mapped[float] = mapped_column(Float)
    precision: Mapped[float] = mapped_column(Float)
    recall: Mapped[float] = mapped_column(Float)
    tp: Mapped[int] = mapped_column(Integer)
    fp: Mapped[int] = mapped_column(Integer)
    fn: Mapped[int] = mapped_column(Integer)
    mean_city_f1: Mapped[float] = mapped_column(Float)
    #: city -> {"tp", "fp", "fn", "f1", "precision", "recall"}
    cities: Mapped[dict[str, Any]] = mapped_column(JSON)
    rules: Mapped[str] = mapped_column(String(64))
    evaluator_version: Mapped[str] = mapped_column(String(64))
    truth_sha256: Mapped[str] = mapped_column(String(64))
    #: the scored ImageIds, one per line (a blob shared by scores listing the same images)
    #: and their TP/FP/FN (``image_counts.ImageCounts``): the honest ranks' bootstrap
    #: resamples them. None for scores written before they were kept.
    image_ids_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"), nullable=True)
    image_counts: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: cities the mean per-city F1 counts though no listed image is in them, one per line
    #: (``city_mean="seen"``: a city whose rows were all filtered, at F1 0); None for none
    unlisted_cities: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Every organizer action, with who did it and what changed."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    challenge_id: Mapped[int | None] = mapped_column(ForeignKey("challenges.id"), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
