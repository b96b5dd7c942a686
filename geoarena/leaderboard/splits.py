"""Public/private split of a challenge's images.

Taken from a ``split`` column of the truth CSV when there is one (the evaluator ignores
extra columns, so it is read here with the csv module); otherwise, within each city, the
images are ordered by a salted sha256 of their ImageId and the first
``round(n * public_fraction)`` are public.
Ordering (rather than thresholding each hash) gives the exact fraction and never an empty
split for two or more images, and the salt keeps the split unguessable and reproducible.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable

import pyarrow as pa
from pyarrow import csv as pacsv

from geoarena.evaluator import get_rules
from geoarena.leaderboard.states import Split, SplitSource


class SplitError(ValueError):
    """The truth's split column is unusable (unknown value or an image in both splits)."""


UTF8_BOM = b"\xef\xbb\xbf"


def _header(truth: bytes) -> dict[str, str]:
    """Lower-cased, stripped column name -> the name as written."""
    first = truth.removeprefix(UTF8_BOM).split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    return {c.strip().lower(): c for c in next(csv.reader([first]), [])}


def _columns(truth: bytes, names: list[str]) -> list[list[str]]:
    """The given columns as strings, read with Arrow (no per-field size limit, unlike the
    csv module, and fast on a 20 MB truth)."""
    body = truth.removeprefix(UTF8_BOM)
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(block_size=max(len(body) + 1, 1 << 20)),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                include_columns=names,
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, KeyError) as exc:
        raise SplitError(f"cannot read columns {names}: {exc}") from None
    return [[v or "" for v in table.column(n).to_pylist()] for n in names]


def split_column(truth: bytes) -> dict[str, Split] | None:
    """ImageId -> split from the truth's ``split`` column, or None when it has none."""
    names = _header(truth)
    if "split" not in names:
        return None
    images, splits = _columns(truth, [names.get("imageid", "ImageId"), names["split"]])
    assigned: dict[str, Split] = {}
    for row, (image, raw) in enumerate(zip(images, splits, strict=True)):
        line = row + 2
        try:
            value = Split(raw.strip().lower())
        except ValueError:
            raise SplitError(
                f"truth row {line}: split must be public or private, not {raw!r}"
            ) from None
        if assigned.setdefault(image, value) != value:
            raise SplitError(f"truth row {line}: image {image} is in both splits")
    return assigned


def hashed_split(image_ids: list[str], salt: str, public_fraction: float) -> dict[str, Split]:
    """Deterministic salted split with exactly ``round(n * public_fraction)`` public images."""
    if not 0.0 < public_fraction < 1.0:
        raise SplitError(f"public fraction must be between 0 and 1, not {public_fraction}")
    unique = sorted(set(image_ids))
    order = sorted(unique, key=lambda i: hashlib.sha256(f"{salt}:{i}".encode()).hexdigest())
    n_public = round(len(order) * public_fraction)
    if len(order) >= 2:
        n_public = min(max(n_public, 1), len(order) - 1)
    public = set(order[:n_public])
    return {i: Split.PUBLIC if i in public else Split.PRIVATE for i in unique}


def city_split(
    image_ids: list[str], salt: str, public_fraction: float, city_of: Callable[[str], str]
) -> dict[str, Split]:
    """:func:`hashed_split` within each city, so every city with two or more images is in
    both splits in about the same proportion (a plain hash once put only Khartoum in one
    challenge's public split)."""
    by_city: dict[str, list[str]] = {}
    for image_id in sorted(set(image_ids)):
        by_city.setdefault(city_of(image_id), []).append(image_id)
    out: dict[str, Split] = {}
    for ids in by_city.values():
        out.update(hashed_split(ids, salt, public_fraction))
    return out


def truth_image_ids(truth: bytes) -> list[str]:
    """Sorted unique ImageIds of a truth CSV (including images with no building)."""
    (images,) = _columns(truth, [_header(truth).get("imageid", "ImageId")])
    return sorted(set(images))


def assign_splits(
    truth: bytes,
    salt: str,
    public_fraction: float,
    *,
    rules: str,
    method: SplitSource = SplitSource.HASH_BY_CITY,
) -> tuple[dict[str, Split], SplitSource]:
    """(ImageId -> split, where the split came from): the truth's ``split`` column when it
    has one, else the salted hash ``method`` (per city by the ``rules``' city rule, or over
    all images for challenges created before the per-city split)."""
    from_column = split_column(truth)
    if from_column is not None:
        return from_column, SplitSource.COLUMN
    ids = truth_image_ids(truth)
    if method is SplitSource.HASH:
        return hashed_split(ids, salt, public_fraction), SplitSource.HASH
    city = get_rules(rules).city_of
    return city_split(ids, salt, public_fraction, city), SplitSource.HASH_BY_CITY
