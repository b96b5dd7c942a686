"""Public/private split of a challenge's images.

Taken from a ``split`` column of the truth CSV when there is one (the evaluator ignores
extra columns, so it is read here with the csv module); otherwise the images are ordered by
a salted sha256 of their ImageId and the first ``round(n * public_fraction)`` are public.
Ordering (rather than thresholding each hash) gives the exact fraction and never an empty
split for two or more images, and the salt keeps the split unguessable and reproducible.
"""

from __future__ import annotations

import csv
import hashlib
import io

from geoarena.leaderboard.schema import PRIVATE, PUBLIC
from geoarena.leaderboard.validation import allow_long_fields

SPLIT_VALUES = {PUBLIC, PRIVATE}


class SplitError(ValueError):
    """The truth's split column is unusable (unknown value or an image in both splits)."""


def _rows(truth: bytes) -> tuple[list[str], csv.DictReader]:
    allow_long_fields()
    text = truth.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    return [f.strip() for f in (reader.fieldnames or [])], reader


def split_column(truth: bytes) -> dict[str, str] | None:
    """ImageId -> split from the truth's ``split`` column, or None when it has none."""
    fields, reader = _rows(truth)
    names = {f.lower(): f for f in fields}
    if "split" not in names:
        return None
    column, image_column = names["split"], names.get("imageid", "ImageId")
    assigned: dict[str, str] = {}
    for row in reader:
        image, value = row[image_column], (row[column] or "").strip().lower()
        line = reader.line_num
        if value not in SPLIT_VALUES:
            raise SplitError(f"truth line {line}: split must be public or private, not {value!r}")
        if assigned.setdefault(image, value) != value:
            raise SplitError(f"truth line {line}: image {image} is in both splits")
    return assigned


def hashed_split(image_ids: list[str], salt: str, public_fraction: float) -> dict[str, str]:
    """Deterministic salted split with exactly ``round(n * public_fraction)`` public images."""
    if not 0.0 < public_fraction < 1.0:
        raise SplitError(f"public fraction must be between 0 and 1, not {public_fraction}")
    unique = sorted(set(image_ids))
    order = sorted(unique, key=lambda i: hashlib.sha256(f"{salt}:{i}".encode()).hexdigest())
    n_public = round(len(order) * public_fraction)
    if len(order) >= 2:
        n_public = min(max(n_public, 1), len(order) - 1)
    public = set(order[:n_public])
    return {i: PUBLIC if i in public else PRIVATE for i in unique}


def truth_image_ids(truth: bytes) -> list[str]:
    """Sorted unique ImageIds of a truth CSV (including images with no building)."""
    fields, reader = _rows(truth)
    names = {f.lower(): f for f in fields}
    column = names.get("imageid", "ImageId")
    return sorted({row[column] for row in reader})


def assign_splits(truth: bytes, salt: str, public_fraction: float) -> tuple[dict[str, str], str]:
    """(ImageId -> split, source) where source is ``column`` or ``hash``."""
    from_column = split_column(truth)
    if from_column is not None:
        return from_column, "column"
    return hashed_split(truth_image_ids(truth), salt, public_fraction), "hash"
