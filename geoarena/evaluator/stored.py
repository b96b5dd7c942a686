"""A :class:`PreparedTruth` on disk: parse, validate, filter and repair a truth once
(``geoarena prepare``), then score any number of submissions against it without the CSV.

The file is an Arrow IPC file, never a pickle: loading one runs no code, whoever wrote
it. It holds every truth row (ImageId, BuildingId, line, the geometry as WKB, which
round-trips every coordinate bit for bit), what the rules made of each row (scored or
not, the repaired polygon where it differs, its area and box, whether it stayed invalid)
and, in the schema metadata, the format version, the evaluator version, the rules in
full with their sha256, the truth file's sha256, the split, the skipped rows and, for
footprints in map units, their CRS as WKT (proposals must then come in it). A file
of another format or evaluator version, or prepared under other rules than the ones
asked for, is refused with an :class:`InputError` that says which; so is any file whose
columns, types or values are not what this module writes.

``prepared_from_cache`` keeps such files in a user cache directory, keyed by the sha256
of the truth bytes and of everything else that shapes the result, so ``geoarena score
--cache`` parses a truth once per machine.

Examples
--------
>>> from geoarena.evaluator import PolygonTable, score
>>> box = "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))"
>>> truth = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [1], [box])
>>> props = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [0], [box], [1.0])
>>> data = prepared_to_bytes(PreparedTruth(truth, "solaris"))
>>> load_prepared(data, rules="solaris").score(props).micro
Counts(tp=1, fp=0, fn=0)
>>> load_prepared(data, rules="deepglobe")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
geoarena.evaluator.errors.InputError: <bytes>: prepared under the rules 'solaris', not ...
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import shapely

from geoarena.errors import Problem

from .arrays import IntArray, ObjectArray
from .arrow_columns import (
    binary_column,
    column_values,
    decode_strings,
    non_null,
    numeric_column,
    take_values,
)
from .columnar import dictionary_column
from .errors import InputError
from .index import BaseSpatialIndex
from .io import DEFAULT_MAX_BYTES, Source, load_bytes, read_truth
from .outputs import write_atomically
from .prepared import PreparedTruth
from .rules import Rules, get_rules
from .sides import Side
from .table import DEFAULT_MAX_VERTICES, OnError, PolygonTable
from .version import EVALUATOR_VERSION

FORMAT = "geoarena-prepared/1"
#: the first bytes of every Arrow IPC file
MAGIC = b"ARROW1"
_META_KEY = b"geoarena"
_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")
_POLYGONAL = (3, 6)  # Polygon, MultiPolygon

_SCHEMA = pa.schema(
    [
        pa.field("image_id", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("building_id", pa.int64(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("geometry", pa.large_binary(), nullable=False),
        pa.field("scored", pa.bool_(), nullable=False),
        # null where the scored polygon is the row's own (not repaired, not a first part)
        pa.field("scored_geometry", pa.large_binary()),
        pa.field("area", pa.float64(), nullable=False),
        pa.field("xmin", pa.float64(), nullable=False),
        pa.field("ymin", pa.float64(), nullable=False),
        pa.field("xmax", pa.float64(), nullable=False),
        pa.field("ymax", pa.float64(), nullable=False),
        pa.field("invalid", pa.bool_(), nullable=False),
        # IoU bounds from the area do not hold for it (see ``sides.Side``)
        pa.field("unbounded", pa.bool_(), nullable=False),
    ]
)


def rules_digest(rules: Rules) -> str:
    """sha256 of the rules' canonical JSON: every knob, so any change is a new digest."""
    return hashlib.sha256(_canonical(rules.to_dict())).hexdigest()


def prepared_to_bytes(prepared: PreparedTruth, *, truth_sha256: str | None = None) -> bytes:
    """``prepared`` as the bytes of an Arrow IPC file; ``truth_sha256`` records which
    truth file it came from (the cache checks it)."""
    table, side = prepared.table, prepared.side
    n = len(table)
    scored = np.zeros(n, dtype=bool)
    scored[side.rows] = True
    own = table.geometry[side.rows]
    changed = np.fromiter((a is not b for a, b in zip(side.geometry, own, strict=True)), bool)
    scored_wkb = np.full(n, None, dtype=object)
    if changed.any():
        scored_wkb[side.rows[changed]] = shapely.to_wkb(side.geometry[changed], output_dimension=3)
    per_row = {"area": side.area, "invalid": side.invalid, "unbounded": side.unbounded}
    for k, name in enumerate(("xmin", "ymin", "xmax", "ymax")):
        per_row[name] = side.bounds[:, k]
    spread = {}
    for name, values in per_row.items():
        full = np.zeros(n, dtype=values.dtype)
        full[side.rows] = values
        spread[name] = numeric_column(full)
    metadata = {
        "format": FORMAT,
        "evaluator_version": EVALUATOR_VERSION,
        "rules": prepared.rules.to_dict(),
        "rules_sha256": rules_digest(prepared.rules),
        "truth_sha256": truth_sha256,
        "truth_name": table.name,
        "split": prepared.split,
        "counts": side.counts,
        "skipped": [[p.file, p.line, p.column, p.reason] for p in table.skipped],
        "crs": prepared.crs,
    }
    columns = [
        dictionary_column(table.image_id),
        numeric_column(table.building_id.astype(np.int64)),
        numeric_column(table.line.astype(np.int64)),
        binary_column(shapely.to_wkb(table.geometry, output_dimension=3)),
        numeric_column(scored),
        binary_column(scored_wkb),
        *(
            spread[name]
            for name in ("area", "xmin", "ymin", "xmax", "ymax", "invalid", "unbounded")
        ),
    ]
    schema = _SCHEMA.with_metadata({_META_KEY: _canonical(metadata)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, schema, options=_OPTIONS) as writer:
        writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
    return bytes(sink.getvalue().to_pybytes())


def save_prepared(
    prepared: PreparedTruth, path: str | os.PathLike[str], *, truth_sha256: str | None = None
) -> None:
    """Write ``prepared`` to ``path`` atomically (a reader never sees half a file; a
    failure is an InvalidInput naming the path)."""
    write_atomically(Path(path), prepared_to_bytes(prepared, truth_sha256=truth_sha256))


def is_prepared(source: Source) -> bool:
    """Whether ``source`` (a path or bytes) starts like a prepared truth, not a CSV."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source[: len(MAGIC)]) == MAGIC
    if isinstance(source, str | os.PathLike):
        try:
            with Path(source).open("rb") as file:
                return file.read(len(MAGIC)) == MAGIC
        except OSError:
            return False
    return False


def load_prepared(
    source: str | os.PathLike[str] | bytes,
    *,
    rules: str | Rules | None = None,
    truth_sha256: str | None = None,
    index: str | type[BaseSpatialIndex] | None = "grid",
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> PreparedTruth:
    """The PreparedTruth stored in ``source``, checked before use.

    ``rules``, when given, must be the rules it was prepared under; ``truth_sha256``, when
    given, the sha256 of the truth file it was prepared from.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data, label = bytes(source[: max_bytes + 1]), name or "<bytes>"
    else:
        label = name or str(source)
        try:
            with Path(source).open("rb") as file:
                data = file.read(max_bytes + 1)
        except OSError as exc:
            raise _error(label, f"cannot read file: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise _error(label, f"file exceeds the limit of {max_bytes} bytes")
    if not data.startswith(MAGIC):
        raise _error(label, "not a prepared truth (run `geoarena prepare TRUTH.csv -o FILE`)")
    try:
        reader = pa.ipc.open_file(pa.py_buffer(data))
        meta = json.loads((reader.schema.metadata or {}).get(_META_KEY, b"{}"))
    except (pa.ArrowException, ValueError) as exc:
        raise _error(label, f"damaged prepared truth ({exc})") from None
    stored_rules = _check_metadata(meta, label)
    if rules is not None:
        require_rules(stored_rules, rules, label)
    if truth_sha256 is not None and meta.get("truth_sha256") != truth_sha256:
        raise _error(label, "prepared from another truth file (its sha256 differs)")
    table, side, decoder = _read_columns(reader, meta, label)
    return PreparedTruth.from_side(
        table,
        stored_rules,
        side,
        image_ids=meta["split"],
        index=index,
        stored=decoder,
        crs=meta.get("crs"),
    )


def require_rules(stored: Rules, wanted: str | Rules, label: str) -> None:
    """Refuse a stored truth prepared under other rules than ``wanted``, naming the knobs
    that differ (a score under other rules would silently be another metric)."""
    wanted = get_rules(wanted)
    if wanted != stored:
        knobs = [k for k, v in wanted.to_dict().items() if stored.to_dict().get(k) != v]
        raise _error(
            label,
            f"prepared under the rules {stored.name!r}, not {wanted.name!r} (differing: "
            f"{', '.join(knobs)}); prepare it again with these rules",
        )


def cache_dir() -> Path:
    """Where ``prepared_from_cache`` keeps its files: ``$GEOARENA_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/geoarena/prepared``, else ``~/.cache/geoarena/prepared``."""
    if os.environ.get("GEOARENA_CACHE_DIR"):
        return Path(os.environ["GEOARENA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "geoarena" / "prepared"


def prepared_from_cache(
    truth: Source,
    rules: str | Rules = "deepglobe",
    *,
    index: str | type[BaseSpatialIndex] | None = "grid",
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    directory: Path | None = None,
) -> PreparedTruth:
    """The PreparedTruth of a truth file, from the cache when this exact file was
    prepared before under the same rules and reading options, else built and cached.

    A cache entry that cannot be loaded (damaged, another evaluator version) is rebuilt.
    """
    rules = get_rules(rules)
    data, label = load_bytes(truth, None, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    key = {
        "format": FORMAT,
        "evaluator_version": EVALUATOR_VERSION,
        "truth_sha256": digest,
        "rules": rules.to_dict(),
        "on_error": on_error,
        "max_vertices": max_vertices,
    }
    path = (directory or cache_dir()) / f"{hashlib.sha256(_canonical(key)).hexdigest()}.arrow"
    if path.exists():
        try:
            return load_prepared(path, rules=rules, truth_sha256=digest, index=index)
        except InputError:
            pass  # rebuilt below
    table = read_truth(data, name=label, on_error=on_error, max_vertices=max_vertices)
    prepared = PreparedTruth(table, rules, index=index)
    write_atomically(path, prepared_to_bytes(prepared, truth_sha256=digest), "--cache")
    return prepared


def _check_metadata(meta: Any, label: str) -> Rules:
    """The stored rules, once the format, the version and the rules' digest check out."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise _error(label, f"unsupported prepared truth format {found!r} (expected {FORMAT!r})")
    if meta.get("evaluator_version") != EVALUATOR_VERSION:
        raise _error(
            label,
            f"prepared by evaluator {meta.get('evaluator_version')!r}, this is "
            f"{EVALUATOR_VERSION!r}: prepare it again",
        )
    try:
        rules = Rules.from_dict(meta.get("rules"))
    except (TypeError, ValueError) as exc:
        raise _error(label, f"unreadable rules ({exc})") from None
    # a knob added since (or a hand-edited file) would silently take its default: refuse
    if meta.get("rules_sha256") != rules_digest(rules):
        raise _error(label, "the stored rules do not match their sha256")
    split = meta.get("split")
    if split is not None and not (
        isinstance(split, list) and all(isinstance(s, str) for s in split)
    ):
        raise _error(label, "the stored split is not a list of ImageIds")
    if not isinstance(meta.get("crs"), str | None):
        raise _error(label, "the stored CRS is not WKT text")
    counts, skipped = meta.get("counts"), meta.get("skipped")
    if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
        raise _error(label, "the stored counts are not a mapping of integers")
    if not isinstance(skipped, list) or not all(
        isinstance(s, list) and [type(x) for x in s] == [str, int, str, str] for s in skipped
    ):
        raise _error(label, "the stored skipped rows are malformed")
    return rules


def _read_columns(
    reader: pa.ipc.RecordBatchFileReader, meta: dict[str, Any], label: str
) -> tuple[PolygonTable, Side, _Decoder]:
    """The truth table and its scored side, validated column by column."""
    if not reader.schema.remove_metadata().equals(_SCHEMA):
        raise _error(label, "the columns are not those of a prepared truth")
    if reader.num_record_batches != 1:
        raise _error(label, "a prepared truth holds exactly one record batch")
    try:
        columns = reader.get_batch(0)
        columns.validate(full=True)
    except pa.ArrowException as exc:
        raise _error(label, f"damaged prepared truth ({exc})") from None
    nulls = [columns.column(k).null_count for k in _SCHEMA.names if k != "scored_geometry"]
    image_id = cast("pa.DictionaryArray[Any, Any]", columns.column("image_id"))
    if any(nulls) or image_id.dictionary.null_count:
        raise _error(label, "a required column has nulls")

    def number(key: str) -> np.ndarray:
        return column_values(columns.column(key))

    scored = number("scored")
    rows = np.flatnonzero(scored)
    bounds = np.stack([number(k)[rows] for k in ("xmin", "ymin", "xmax", "ymax")], axis=1)
    area = number("area")[rows]
    if not (np.isfinite(bounds).all() and np.isfinite(area).all() and (area >= 0).all()):
        raise _error(label, "an area or a box is negative or not finite")
    line = number("line").astype(np.int64)
    if (line < 0).any():
        raise _error(label, "a line number is negative")
    table = PolygonTable(
        name=str(meta.get("truth_name", label)),
        image_id=decode_strings(image_id),
        building_id=number("building_id").astype(np.int64),
        geometry=np.full(len(line), None, dtype=object),  # decoded on demand
        confidence=None,
        line=line,
        skipped=tuple(Problem(*s) for s in meta["skipped"]),
    )
    side = Side(
        rows=rows.astype(np.int64),
        geometry=np.full(len(rows), None, dtype=object),
        area=area,
        bounds=bounds,
        invalid=number("invalid")[rows].astype(bool),
        unbounded=number("unbounded")[rows].astype(bool),
        counts=dict(meta["counts"]),
    )
    return table, side, _Decoder(columns, side.rows, label)


class _Decoder:
    """Decodes a stored truth's polygons from their WKB when a score needs them (the
    ``stored`` of :meth:`PreparedTruth.from_side`); a malformed one is an InputError."""

    def __init__(self, columns: pa.RecordBatch, rows: IntArray, label: str):
        self._own, self._replaced = columns.column("geometry"), columns.column("scored_geometry")
        self._rows, self._label = rows, label
        #: per side position: its polygon is the repaired one stored apart
        self._changed = non_null(self._replaced)[rows]

    def scored(self, positions: IntArray) -> ObjectArray:
        out = np.empty(len(positions), dtype=object)
        changed = self._changed[positions]
        rows = self._rows[positions]
        out[~changed] = self._decode(self._own, rows[~changed])
        out[changed] = self._decode(self._replaced, rows[changed])
        return out

    def all_rows(self) -> ObjectArray:
        return self._decode(self._own, np.arange(len(self._own)))

    def _decode(self, column: pa.Array[Any], rows: IntArray) -> ObjectArray:
        if len(rows) == 0:
            return np.empty(0, dtype=object)
        return _geometries(take_values(column, rows), self._label)


def _geometries(wkb: ObjectArray, label: str) -> ObjectArray:
    """Decode WKB; anything but (Multi)Polygons is a damaged file."""
    try:
        geometry = np.asarray(shapely.from_wkb(wkb, on_invalid="raise"), dtype=object)
    except (shapely.errors.GEOSException, TypeError, ValueError) as exc:
        raise _error(label, f"undecodable geometry ({exc})") from None
    if len(geometry) and not np.isin(shapely.get_type_id(geometry), _POLYGONAL).all():
        raise _error(label, "a stored geometry is not a Polygon or MultiPolygon")
    return geometry


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _error(label: str, reason: str) -> InputError:
    return InputError([Problem(label, 0, "", reason)])
