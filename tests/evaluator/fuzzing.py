"""The readers' fuzz property, its seeds and its byte-level mutations.

One property, shared by the CI-sized hypothesis run (``test_fuzz.py``) and the long runs
(``fuzz/fuzz_readers.py``, atheris or a plain random loop): whatever bytes arrive as a
truth or a proposal file, :func:`read_truth`, :func:`read_proposals`, :func:`score` and
``score_files`` (the path ``geoarena score`` takes) either return or raise
:class:`InputError`; any other exception is a bug. The two scoring paths must also agree
(same counts, or the same problems), which checks the chunked reader, the pruning (the
``details=True`` path computes every IoU) and ``on_error="skip"`` against each other.

Seeds are the conformance and sample CSVs (``../shared/data/`` and the samples bundled in
the package), cut to their first lines so that one input costs milliseconds.
"""

from __future__ import annotations

import base64
import gzip
import random
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Literal

from geoarena.evaluator import (
    InputError,
    PolygonTable,
    ScoreResult,
    read_proposals,
    read_truth,
    score,
)
from geoarena.evaluator.parallel import score_files
from geoarena.evaluator.table import OnError

from .helpers import PRESET_NAMES, SAMPLES

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SEED_DIRS = (SAMPLES, SHARED_DATA / "edge-cases", SHARED_DATA / "solaris-samples")
#: lines kept of each seed file: enough rows to reach every code path, few enough to be fast.
SEED_LINES = 30
NAME = "fuzz.csv"

#: fragments that mean something to a CSV, WKT, UTF-8 or gzip parser.
TOKENS: tuple[bytes, ...] = (
    b'"', b",", b"\n", b"\r", b"\r\n", b"\n\n", b"\x00", b"\xef\xbb\xbf", b"\xff", b"\xc3",
    b"nan", b"inf", b"-inf", b"1e308", b"-1e400", b"5e-324", b"-0", b"-1", b"2.0",
    b"9223372036854775808", b"POLYGON EMPTY", b"POLYGON Z", b"MULTIPOLYGON", b"POINT (1 1)",
    b"GEOMETRYCOLLECTION", b"LINESTRING (0 0, 1 1)", b"((", b"))", b"(", b")", b"), (",
    b" ", b"\t", b"ImageId", b"BuildingId", b"PolygonWKT_Pix", b"Confidence", b'""',
    b"ImageId,BuildingId,PolygonWKT_Pix,Confidence\n", b"\x1f\x8b", b"0 0, 0 0", b"EMPTY",
)  # fmt: skip

#: numbers that stress parsers, areas and IoUs (overflow, underflow, signed zero, ids).
NUMBERS: tuple[bytes, ...] = (
    b"nan", b"inf", b"-inf", b"1e308", b"-1e308", b"5e-324", b"-0", b"0", b"1e16",
    b"650.0000000001", b"9007199254740993", b"-1", b"1e400", b"0x10", b"1_0", b"",
)  # fmt: skip
_NUMBER = re.compile(rb"-?[0-9]+(?:\.[0-9]*)?(?:[eE]-?[0-9]+)?")

Kind = Literal["flip", "insert", "token", "number", "delete", "duplicate", "truncate", "swap_lines"]
KINDS: tuple[Kind, ...] = (
    "flip", "insert", "token", "number", "delete", "duplicate", "truncate", "swap_lines"
)  # fmt: skip
Envelope = Literal["plain", "gzip", "gzip_cut", "gzip_flip", "gzip_tail", "gzip_members"]
ENVELOPES: tuple[Envelope, ...] = (
    "plain", "gzip", "gzip_cut", "gzip_flip", "gzip_tail", "gzip_members"
)  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One mutation: what, where (taken modulo the length), how much, and what to insert."""

    kind: Kind
    at: int
    size: int = 1
    payload: bytes = b""


@dataclass(frozen=True, eq=False)
class Pair:
    """A valid truth and proposal file scored against each other (the fuzzed file's partner)."""

    name: str
    truth: bytes
    proposals: bytes

    @property
    def truth_table(self) -> PolygonTable:
        return _table(self.truth, "truth")

    @property
    def proposals_table(self) -> PolygonTable:
        return _table(self.proposals, "proposals")


@cache
def _table(data: bytes, role: str) -> PolygonTable:
    return (read_truth if role == "truth" else read_proposals)(data)


def _head(path: Path) -> bytes:
    return b"".join(path.read_bytes().splitlines(keepends=True)[:SEED_LINES])


@cache
def seeds() -> tuple[bytes, ...]:
    """Every seed CSV's first lines, without duplicates (the package bundles copies)."""
    found: dict[bytes, None] = {}
    for folder in SEED_DIRS:
        for path in sorted(folder.glob("*.csv")) if folder.is_dir() else ():
            found.setdefault(_head(path), None)
    return tuple(found)


@cache
def pairs() -> tuple[Pair, ...]:
    """Truth/proposal pairs of the seeds (``X_truth.csv`` with ``X_preds.csv``)."""
    out: dict[str, Pair] = {}
    for folder in SEED_DIRS:
        for truth in sorted(folder.glob("*_truth.csv")) if folder.is_dir() else ():
            preds = truth.with_name(truth.name.replace("_truth", "_preds"))
            if preds.exists():
                pair = Pair(truth.stem, _head(truth), _head(preds))
                if _readable(pair):
                    out.setdefault(pair.name, pair)
    return tuple(out.values())


def _readable(pair: Pair) -> bool:
    """Whether a pair can partner a fuzzed file (edge24's header-only file cannot, today)."""
    try:
        _table(pair.truth, "truth")
        _table(pair.proposals, "proposals")
    except InputError:
        return False
    return True


def mutate(data: bytes, steps: Sequence[Step]) -> bytes:
    """Apply each step in turn (positions wrap around the current length)."""
    for step in steps:
        n = max(len(data), 1)
        at = step.at % n
        if step.kind == "flip" and data:
            data = data[:at] + bytes([data[at] ^ (1 << step.size % 8)]) + data[at + 1 :]
        elif step.kind == "insert":
            data = data[:at] + step.payload + data[at:]
        elif step.kind == "token":
            data = data[:at] + TOKENS[step.size % len(TOKENS)] + data[at:]
        elif step.kind == "number":  # the first number at or after ``at``
            found = _NUMBER.search(data, at) or _NUMBER.search(data)
            if found:
                number = NUMBERS[step.size % len(NUMBERS)]
                data = data[: found.start()] + number + data[found.end() :]
        elif step.kind == "delete":
            data = data[:at] + data[at + step.size :]
        elif step.kind == "duplicate":
            data = data[:at] + data[at : at + step.size] + data[at:]
        elif step.kind == "truncate":
            data = data[:at]
        elif step.kind == "swap_lines":
            lines = data.splitlines(keepends=True)
            if len(lines) > 1:
                i, j = at % len(lines), step.size % len(lines)
                lines[i], lines[j] = lines[j], lines[i]
                data = b"".join(lines)
    return data


def wrap(data: bytes, envelope: Envelope, at: int = 0) -> bytes:
    """Put the bytes in a (possibly broken) gzip envelope; ``at`` picks where it breaks."""
    if envelope == "plain":
        return data
    packed = gzip.compress(data, mtime=0)
    if envelope == "gzip_cut":  # truncated: EOFError inside gzip
        return packed[: at % len(packed)]
    if envelope == "gzip_flip":  # a bad header, deflate block or CRC
        k = 10 + at % (len(packed) - 10)
        return packed[:k] + bytes([packed[k] ^ 0x41]) + packed[k + 1 :]
    if envelope == "gzip_tail":  # a valid member, then garbage
        return packed + TOKENS[at % len(TOKENS)] + b"tail"
    if envelope == "gzip_members":  # two members: still one valid file
        cut = at % (len(data) + 1)
        return gzip.compress(data[:cut], mtime=0) + gzip.compress(data[cut:], mtime=0)
    return packed


def corrupt_gzip(csv_bytes: bytes) -> dict[str, bytes]:
    """The family of broken gzip files around one CSV (issue #13): each must be an
    InputError naming the file, whatever exception zlib or gzip raises inside."""
    packed = gzip.compress(csv_bytes, mtime=0)
    crc = packed[-8:-4]
    return {
        "bad deflate block (zlib.error)": base64.b64decode("H4sIMTNLAAAAAAAAACA1OAAK"),
        "truncated stream (EOFError)": packed[:-12],
        "header only": packed[:10],
        "member then garbage": packed + b"garbage",
        "bad CRC": packed[:-8] + bytes([crc[0] ^ 1]) + crc[1:] + packed[-4:],
        "bad length": packed[:-4] + (len(csv_bytes) + 1).to_bytes(4, "little"),
        "second member truncated": packed + packed[:-5],
    }


def random_input(rng: random.Random) -> bytes:
    """A seed mutated a few times (mostly below its header, where rows are checked), in a
    random envelope now and then: the long runs' generator when atheris is missing."""
    pair = rng.choice(pairs())
    seed = rng.choice([pair.truth, pair.proposals] * 4 + list(seeds()))
    header = seed.find(b"\n") + 1
    steps: list[Step] = []
    while not steps or (len(steps) < 8 and rng.random() < 0.5):
        body = rng.random() < 0.8 and header < len(seed)
        at = rng.randrange(header, len(seed)) if body else rng.randrange(max(len(seed), 1))
        payload = rng.randbytes(rng.randrange(1, 8))
        steps.append(Step(rng.choice(KINDS), at, rng.randrange(64), payload))
    envelope = rng.choice(ENVELOPES) if rng.random() < 0.2 else "plain"
    return wrap(mutate(seed, steps), envelope, rng.randrange(1 << 16))


# -- the property ---------------------------------------------------------------------

Outcome = ScoreResult | InputError
Role = Literal["truth", "proposals"]


def check(data: bytes, pair: Pair, preset: str, *, skip: bool = False) -> None:
    """The fuzz property: ``data`` as truth and as proposals, read and scored against
    ``pair`` by both scoring paths. Returns None, or lets the first unexpected exception
    (anything but :class:`InputError`) escape, or raises AssertionError when the two
    scoring paths disagree."""
    on_error: OnError = "skip" if skip else "raise"
    roles: tuple[Role, ...] = ("truth", "proposals")
    for role in roles:
        exact = _outcome(partial(_read_and_score, data, pair, preset, role, on_error))
        truth, proposals = (data, pair.proposals) if role == "truth" else (pair.truth, data)
        chunked = _outcome(
            partial(score_files, truth, proposals, preset, on_error=on_error, workers=1)
        )
        assert summary(chunked) == summary(exact), f"score_files != score with {role} = data"


def check_derived(data: bytes) -> None:
    """:func:`check` with the partner, preset and error mode derived from the bytes, for
    fuzzers that hand over nothing but bytes (atheris, the random loop)."""
    h = zlib.crc32(data)
    check(data, pairs()[h % len(pairs())], PRESET_NAMES[h // 7 % 4], skip=h // 31 % 2 == 1)


def _read_and_score(
    data: bytes, pair: Pair, preset: str, role: Role, on_error: OnError
) -> ScoreResult:
    """The library path: read with the public reader, then score tables (every IoU)."""
    if role == "truth":
        truth = read_truth(data, name=NAME, on_error=on_error)
        return score(truth, pair.proposals_table, preset, details=True)
    proposals = read_proposals(data, name=NAME, on_error=on_error)
    return score(pair.truth_table, proposals, preset, details=True)


def _outcome(run: Callable[[], ScoreResult]) -> Outcome:
    try:
        return run()
    except InputError as exc:  # the one exception a bad file may raise
        return exc


def summary(outcome: Outcome) -> tuple[object, ...]:
    """What two scoring paths must agree on (problems without the file label: the chunked
    path labels bytes ``<bytes>``)."""
    if isinstance(outcome, InputError):
        problems = [(p.line, p.column, p.reason) for p in outcome.problems]
        assert problems and all(p.reason for p in outcome.problems), "an error without reasons"
        return ("error", outcome.total, problems)
    return (
        "result",
        outcome.micro,
        [(s.image_id, s.counts) for s in outcome.images],
        [(p.line, p.column, p.reason) for p in outcome.skipped],
    )
