"""Validation of an uploaded prediction file before anything is stored, in bounded memory.

The upload lies in a spool file. A first pass over its bytes undoes gzip (with a cap on
the decompressed size), checks the bytes (empty, binary, foreign byte-order marks, UTF-8)
and hashes and compresses the plain CSV for storage. A second pass parses it in chunks of
whole lines with the evaluator's reader, checks what only the leaderboard knows (the
challenge's ImageIds, duplicate (ImageId, BuildingId) rows) and writes the validated rows
in columnar form (``geoarena.evaluator.columnar``), so workers score them without
parsing the CSV again. Only the first problems are kept and the rest are counted: a file
with a million bad rows costs one chunk's memory, not a million error objects.

Every problem is a ``Problem(file, line, column, reason)``; a rejected file raises the
evaluator's ``InputError`` with them.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np

from geoarena.errors import Problem
from geoarena.evaluator import InputError, PolygonTable
from geoarena.evaluator.columnar import TableWriter
from geoarena.evaluator.io import read_columns, read_header
from geoarena.evaluator.table import build_table, encode, strip_all

#: byte-order marks of encodings that are not UTF-8.
FOREIGN_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}
UTF8_BOM = b"\xef\xbb\xbf"
#: bytes read at a time from a spool file.
READ_SIZE = 1 << 20


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_vertices: int
    #: problems kept on a rejection (all are counted).
    max_problems: int = 50
    #: bytes of CSV parsed at a time (the memory a validation needs is a few times this).
    chunk_bytes: int = 4 << 20


@dataclass(frozen=True)
class UploadCheck:
    """One upload to validate: the spooled file, the name it is shown by, the ImageIds it
    may name, the limits, and a folder for what validation writes."""

    source: Path
    name: str
    image_ids: frozenset[str]
    limits: UploadLimits
    workdir: Path


@dataclass(frozen=True)
class StoredFile:
    """A file ready to be stored as a blob: its digest and size uncompressed, and where
    its stored form (``compression`` applied) lies."""

    sha256: str
    size: int
    compression: str
    path: Path


@dataclass(frozen=True)
class ValidatedUpload:
    """An accepted upload: the plain CSV and its parsed table, both ready to store."""

    name: str
    csv: StoredFile
    table: StoredFile
    rows: int


class ProblemLog:
    """The first ``keep`` problems in line order, and how many there were in all."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.total = 0
        self._kept: list[Problem] = []

    def add(self, problems: Collection[Problem]) -> None:
        self.total += len(problems)
        self._kept.extend(problems)
        if len(self._kept) > 4 * self.keep:
            self._kept = self.first()

    def count(self, n: int, make: Iterator[Problem]) -> None:
        """Count ``n`` problems, building at most ``keep`` of them from ``make``."""
        built = [p for _, p in zip(range(min(n, self.keep)), make, strict=False)]
        self.add(built)
        self.total += n - len(built)

    def first(self) -> list[Problem]:
        return sorted(set(self._kept), key=lambda p: (p.line, p.column, p.reason))[: self.keep]

    def reject(self) -> None:
        """Raise the evaluator's InputError if any problem was found."""
        if self.total:
            raise InputError(self.first(), total=self.total)


def _whole_file(name: str, reason: str) -> InputError:
    return InputError([Problem(name, 0, "", reason)])


# --- pass 1: bytes --------------------------------------------------------------------------
def _open_plain(source: Path) -> BinaryIO:
    """The plain bytes of ``source``, through gzip when it starts with gzip's magic."""
    with source.open("rb") as head:
        magic = head.read(2)
    if magic == b"\x1f\x8b":
        return cast(BinaryIO, gzip.open(source, "rb"))
    return source.open("rb")


def _lines(data: bytes) -> int:
    """Line breaks as the csv module counts them (``\\n``, ``\\r\\n`` and a lone ``\\r``)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def store_plain(source: Path, *, name: str, limits: UploadLimits, workdir: Path) -> StoredFile:
    """Check the bytes of ``source`` (plain or gzip'd CSV) and write the plain CSV, zlib
    compressed, for storage. Returns it with the plain CSV's sha256 and size."""
    digest, compressor = hashlib.sha256(), zlib.compressobj(1)
    stored = workdir / "csv.zlib"
    size, lines_before, carry, seen_text = 0, 0, b"", False
    with _open_plain(source) as plain, stored.open("wb") as out:
        gzipped = isinstance(plain, gzip.GzipFile)
        while True:
            try:
                block = plain.read(READ_SIZE)
            except (OSError, EOFError, zlib.error) as exc:
                raise _whole_file(name, f"not a valid gzip file ({exc})") from None
            size += len(block)
            if size > limits.max_bytes:
                what = "decompressed size" if gzipped else "file"
                raise _whole_file(name, f"{what} exceeds the {limits.max_bytes} byte limit")
            if size == len(block):
                for bom, encoding in FOREIGN_BOMS.items():
                    if block.startswith(bom):
                        raise _whole_file(name, f"file is {encoding}-encoded; save it as UTF-8")
            digest.update(block)
            out.write(compressor.compress(block))
            data = carry + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            complete, carry = data[:cut], data[cut:]
            _check_text(complete, name, lines_before)
            seen_text = seen_text or bool(complete.strip())
            lines_before += _lines(complete)
            if not block:
                break
        out.write(compressor.flush())
    if not seen_text:
        raise _whole_file(name, "file is empty")
    return StoredFile(digest.hexdigest(), size, "zlib", stored)


def _check_text(data: bytes, name: str, lines_before: int) -> None:
    """Whole lines must be UTF-8 text without NUL bytes."""
    nul = data.find(b"\x00")
    if nul >= 0:
        line = lines_before + _lines(data[:nul]) + 1
        raise InputError([Problem(name, line, "", "binary data (NUL byte): expected a UTF-8 CSV")])
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = lines_before + _lines(data[: exc.start]) + 1
        reason = (
            f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded; save the file as UTF-8"
        )
        raise InputError([Problem(name, line, "", reason)]) from None


# --- pass 2: rows ---------------------------------------------------------------------------
def _safe_cut(block: bytes) -> int:
    """Length of the longest prefix of ``block`` made of whole CSV lines: it ends at a
    line break outside any quoted field (a quoted WKT may hold a line break)."""
    raw = np.frombuffer(block, dtype=np.uint8)
    breaks = np.flatnonzero(raw == 0x0A)
    if len(breaks) == 0:
        return 0
    quotes = np.flatnonzero(raw == 0x22)
    even = breaks[np.searchsorted(quotes, breaks) % 2 == 0]
    return int(even[-1]) + 1 if len(even) else 0


def _chunks(plain: BinaryIO, chunk_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(first line, bytes) of consecutive chunks of whole lines, after the header."""
    line, carry = 2, b""
    while True:
        block = plain.read(chunk_bytes)
        data = carry + block
        if not data:
            return
        cut = _safe_cut(data) if block else len(data)
        if cut == 0:  # one line longer than a chunk (or an open quote): read on
            carry = data
            continue
        chunk, carry = data[:cut], data[cut:]
        yield line, chunk
        line += _lines(chunk)


def _shifted(problem: Problem, offset: int) -> Problem:
    return Problem(problem.file, problem.line + offset, problem.column, problem.reason)


class _Rows:
    """The checks that span chunks: known ImageIds, and (ImageId, BuildingId) pairs seen."""

    def __init__(self, name: str, image_ids: Collection[str], log: ProblemLog) -> None:
        self.name = name
        self.vocabulary = np.asarray(sorted(image_ids), dtype=object)
        self.log = log
        self.keys: list[np.ndarray] = []

    def drop_unknown(
        self, columns: dict[str, np.ndarray], lines: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Report rows naming an image the challenge does not have, and drop them before
        their WKT is parsed: a flood of such files costs little to reject. (Empty ImageIds
        and repeated header rows are left to the reader, which names them.)"""
        ids = strip_all(columns["ImageId"])
        unknown = (encode(ids, self.vocabulary) < 0) & (ids != "") & (ids != "ImageId")
        where = np.flatnonzero(unknown)
        self.log.count(
            len(where),
            (
                Problem(
                    self.name, int(lines[k]), "ImageId", f"ImageId {ids[k]!r} is not in this phase"
                )
                for k in where
            ),
        )
        if not len(where):
            return columns, lines
        keep = ~unknown
        return {c: v[keep] for c, v in columns.items()}, lines[keep]

    def check(self, table: PolygonTable) -> None:
        """Remember the (image, building) pairs of the table's rows (all known images)."""
        codes = encode(table.image_id, self.vocabulary)
        self.keys.append(np.stack([codes, table.building_id, table.line], axis=1))

    def duplicates(self) -> None:
        """Every row repeating an earlier (ImageId, BuildingId), naming the earlier line."""
        keys = np.concatenate(self.keys) if self.keys else np.empty((0, 3), dtype=np.int64)
        order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))
        keys = keys[order]
        same = (keys[1:, 0] == keys[:-1, 0]) & (keys[1:, 1] == keys[:-1, 1])
        repeats = np.flatnonzero(same) + 1
        starts = np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(len(keys)), 0))

        def problem(k: int) -> Problem:
            code, building, line = keys[k]
            first = keys[starts[k], 2]
            reason = (
                f"duplicate row: ImageId {self.vocabulary[code]!r} BuildingId {building} "
                f"already on line {first}"
            )
            return Problem(self.name, int(line), "BuildingId", reason)

        by_line = repeats[np.argsort(keys[repeats, 2], kind="stable")]
        self.log.count(len(by_line), (problem(int(k)) for k in by_line))


def validate_upload(check: UploadCheck) -> ValidatedUpload:
    """Check the upload completely; raise ``InputError`` with its first problems (and the
    count of all), or return the plain CSV and its parsed table ready to store."""
    source, name, limits, workdir = check.source, check.name, check.limits, check.workdir
    image_ids = check.image_ids
    csv = store_plain(source, name=name, limits=limits, workdir=workdir)
    log = ProblemLog(limits.max_problems)
    rows = _Rows(name, image_ids, log)
    table_path = workdir / "table.arrow"
    writer: TableWriter | None = None
    with _open_plain(source) as plain:
        header_line = plain.readline()
        header_text = header_line.removeprefix(UTF8_BOM)
        header, _ = read_header(header_text, name)
        for first_line, chunk in _chunks(plain, limits.chunk_bytes):
            columns, lines, ragged = read_columns(header_text + chunk, header, 1, name)
            offset = first_line - 2
            columns, lines = rows.drop_unknown(columns, lines + offset)
            table = build_table(
                columns,
                lines,
                name=name,
                on_error="skip",
                max_vertices=limits.max_vertices,
                errors=[_shifted(p, offset) for p in ragged],
                allow_empty=True,
            )
            log.add(table.skipped)
            rows.check(table)
            if log.total == 0 and len(table):
                if writer is None:
                    writer = TableWriter(str(table_path), confidence=table.confidence is not None)
                writer.write(table)
    if writer is not None:
        writer.close()
    rows.duplicates()
    log.reject()
    if writer is None or writer.rows == 0:
        # `geoarena score` scores a header-only file (all misses, conformance case 24); an
        # upload would spend quota on a certain zero, which is almost always a broken export
        raise InputError([Problem(name, 1, "", "file has a header but no rows")])
    return ValidatedUpload(name, csv, _stored_as_is(table_path), writer.rows)


def _stored_as_is(path: Path) -> StoredFile:
    """A file stored without further compression (its own buffers are compressed)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(READ_SIZE):
            digest.update(block)
    return StoredFile(digest.hexdigest(), path.stat().st_size, "none", path)
