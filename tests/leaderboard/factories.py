"""Builders for leaderboard tests: synthetic truth and submissions, a ready challenge."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from functools import cache

from geoarena import leaderboard as lb
from geoarena.evaluator.synthetic import make_pair
from geoarena.leaderboard import Database, PhaseChange, Principal

HEADER = "ImageId,BuildingId,PolygonWKT_Pix,Confidence\n"


@cache
def synthetic(n_images: int = 12, per_image: int = 8, seed: int = 0) -> tuple[bytes, bytes]:
    """(truth, proposals) CSV bytes from the evaluator's synthetic generator."""
    return make_pair(n_images, per_image, seed=seed)


def perfect(truth: bytes) -> bytes:
    """The truth rewritten as a proposal CSV (F1 = 1 on every split)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ImageId", "BuildingId", "PolygonWKT_Pix", "Confidence"])
    for row in csv.DictReader(io.StringIO(truth.decode())):
        writer.writerow([row["ImageId"], row["BuildingId"], row["PolygonWKT_Pix"], 1])
    return out.getvalue().encode()


def degrade(proposals: bytes, keep: float, seed: int = 0) -> bytes:
    """Drop building rows at random (keeps 'empty image' rows): lower recall, valid CSV."""
    rng = random.Random(seed)
    lines = proposals.decode().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if ",-1," in line or rng.random() < keep]
    return ("\n".join(kept) + "\n").encode()


@dataclass
class Arena:
    """A challenge with teams, tokens and principals, ready for submissions."""

    db: Database
    slug: str
    truth: bytes
    organizer_token: str
    organizer: Principal
    tokens: dict[str, str] = field(default_factory=dict)
    members: dict[str, Principal] = field(default_factory=dict)


def make_arena(
    db: Database,
    *,
    slug: str = "bldg",
    teams: tuple[str, ...] = ("alpha", "beta"),
    truth: bytes | None = None,
    **options,
) -> Arena:
    """A challenge ``slug`` with ``teams``; ``options`` are phase fields (``PhaseChange``)
    or ``create_challenge`` arguments. Limits default to none."""
    truth = truth if truth is not None else synthetic()[0]
    phase = {"daily_limit": None, "concurrent_limit": None}
    phase.update({k: v for k, v in options.items() if k in PhaseChange.model_fields})
    create = {"split_salt": "test-salt"}
    create.update({k: v for k, v in options.items() if k not in PhaseChange.model_fields})
    lb.create_challenge(
        db,
        slug=slug,
        title=f"Challenge {slug}",
        truth=truth,
        phase=PhaseChange.model_validate(phase),
        **create,
    )
    raw = lb.issue_token(db, member="org", role=lb.Role.ORGANIZER)
    arena = Arena(db, slug, truth, raw, _principal(db, raw))
    for team in teams:
        lb.add_team(db, slug=slug, name=team)
        token = lb.issue_token(db, member=f"{team}-1", slug=slug, team=team)
        arena.tokens[team] = token
        arena.members[team] = _principal(db, token)
    return arena


def _principal(db: Database, token: str) -> Principal:
    principal = lb.authenticate(db, token)
    assert principal is not None
    return principal
