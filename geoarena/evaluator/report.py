"""Human and machine outputs of a score: text tables, JSON, CSV and GeoJSON (the SVG
overlays are in :mod:`.overlays`)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
import shapely
from shapely.geometry.base import BaseGeometry

from .breakdown import FN_CLASSES, FP_CLASSES, SIZES, Breakdown
from .metrics import Counts, Diagnostics, ScoreResult
from .outputs import write_atomically
from .prepared import Matches
from .table import PolygonTable
from .text_tables import TextTable

if TYPE_CHECKING:
    from rasterio.crs import CRS


def render(result: ScoreResult) -> str:
    """The per-city table, the headline numbers and the notes, as the terminal shows them
    (the headline bold where the terminal shows styles)."""
    boot = result.bootstrap
    columns = ["city", "images", "TP", "FP", "FN", "precision", "recall", "F1"]
    if boot is not None:
        columns.append(f"F1 {boot['level']:.0%} CI")
    table = TextTable(f"geoarena score ({result.rules.name} rules)", columns)
    per_city: dict[str, int] = {}
    for image in result.images:
        per_city[image.city] = per_city.get(image.city, 0) + 1
    for city, c in result.cities.items():
        interval = None if boot is None else boot["cities"][city]
        table.add_row(city, str(per_city.get(city, 0)), *_count_cells(c, interval))
    table.add_rule()
    interval = None if boot is None else boot["micro_f1"]
    table.add_row("all (micro)", str(len(result.images)), *_count_cells(result.micro, interval))
    interval = None if boot is None else boot["mean_city_f1"]
    mean = f"{result.mean_city_f1:.6f} {_interval(interval)}".rstrip()
    headline = click.style(f"{result.headline:.6f}", bold=True)
    lines = [
        table.render(),
        f"mean per-city F1: {mean}   micro F1: {result.micro.f1:.6f}",
        f"headline ({result.rules.headline}): {headline}",
    ]
    if result.rules.modified:
        lines.append(f"knobs overridden: {', '.join(result.rules.modified)}")
    notes = _diagnostic_notes(result.diagnostics)
    single = sum(n == 1 for n in per_city.values())
    if boot is not None and single:
        # its replicates all redraw the one image: a zero-width interval that is no
        # measure of noise (``compare`` gives such a city p = 1)
        notes.append(
            f"bootstrap: {single} of {len(per_city)} cities hold a single image, whose"
            " interval has no width and measures no noise"
        )
    if notes:
        lines.append(click.style("; ".join(notes), dim=True))
    if result.breakdown is not None:
        lines += ["", render_breakdown(result.breakdown)]
    return "\n".join(lines)


def submission_warnings(result: ScoreResult) -> list[str]:
    """What must not pass unseen: a submission none of whose images is in the truth (its
    ImageIds spelt otherwise, another split's), which scores 0 for that reason alone."""
    counts = result.diagnostics["proposals"]
    images = counts.get("images", 0)
    if not images or counts.get("images_not_in_truth", 0) < images:
        return []
    # every proposal image is then one without truths, and every truth image one without
    # proposals
    theirs = [s.image_id for s in result.images if s.counts.tp + s.counts.fn == 0 and s.counts.fp]
    ours = [s.image_id for s in result.images if s.counts.fn]
    return [
        f"no proposal image is in the truth (proposals: {_examples(theirs)}; truth:"
        f" {_examples(ours)}): check the submission's ImageIds"
    ]


def _examples(ids: list[str], shown: int = 2) -> str:
    more = f", ... ({len(ids)} in all)" if len(ids) > shown else ""
    return ", ".join(repr(i) for i in ids[:shown]) + more


def render_breakdown(breakdown: Breakdown) -> str:
    """Where F1 is lost, by city: FP per error class, FN per error class (each row adds
    up to its FP or FN), then recall per building size."""
    rows = [*breakdown.cities.items(), ("all", breakdown.overall)]
    tables = []
    for side, classes in (("FP", FP_CLASSES), ("FN", FN_CLASSES)):
        table = TextTable(f"{side} by error class", ["city", side, *(c.label for c in classes)])
        for k, (city, e) in enumerate(rows):
            counts = e.fp if side == "FP" else e.fn
            if k == len(rows) - 1:
                table.add_rule()
            table.add_row(city, str(sum(counts.values())), *(str(n) for n in counts.values()))
        tables.append(table)
    small, large = breakdown.settings.size_bins
    bounds = (f"< {small:g}", f"{small:g}-{large:g}", f">= {large:g}")
    table = TextTable(
        f"recall by building size (truth area in {breakdown.settings.size_unit})",
        ["city", *(f"{name} {bound}" for name, bound in zip(SIZES, bounds, strict=True))],
    )
    for k, (city, e) in enumerate(rows):
        if k == len(rows) - 1:
            table.add_rule()
        table.add_row(city, *(f"{r.recall:.4f} of {r.truths}" for r in e.sizes.values()))
    tables.append(table)
    return "\n\n".join(t.render() for t in tables)


def _count_cells(c: Counts, interval: list[float] | None) -> list[str]:
    """The count and rate cells of one row, and its F1 interval when bootstrapped."""
    cells = [str(c.tp), str(c.fp), str(c.fn), f"{c.precision:.4f}", f"{c.recall:.4f}"]
    cells.append(f"{c.f1:.4f}")
    if interval is not None:
        cells.append(_interval(interval))
    return cells


def _interval(interval: list[float] | None) -> str:
    return f"[{interval[0]:.4f}, {interval[1]:.4f}]" if interval else ""


def _diagnostic_notes(d: Diagnostics) -> list[str]:
    notes = []
    unknown = d["proposals"].get("images_not_in_truth", 0)
    if unknown:
        images = d["proposals"]["images"]
        notes.append(f"proposals: {unknown} of {images} images not in the truth (all FP)")
    for side, s in (("truth", d["truth"]), ("proposals", d["proposals"])):
        if s.get("invalid") and not s.get("repaired"):
            notes.append(f"{side}: {s['invalid']} invalid polygons scored as they are")
        for key, label in (
            ("repaired", "invalid polygons repaired"),
            ("dropped_small", "below the area filter"),
            ("dropped_negative_id", "BuildingId -1 rows dropped"),
            ("multipolygon", "MultiPolygons"),
            ("skipped_rows", "bad rows skipped"),
        ):
            if s.get(key):
                notes.append(f"{side}: {s[key]} {label}")
    if d.get("geos_failures"):
        notes.append(f"{d['geos_failures']} pairs GEOS could not intersect (IoU 0)")
    return notes


def write_json(
    result: ScoreResult, path: str | Path, option: str = "--json", *, crs: CRS | None = None
) -> None:
    """The result's JSON (``ScoreResult.to_dict``), written whole or not at all, with the
    CRS of the coordinates scored (``crs_name``; null for pixels): the area filters and
    size bins it records are in that CRS's units."""
    data = {**result.to_dict(), "crs": None if crs is None else crs_name(crs)}
    write_atomically(Path(path), (json.dumps(data, indent=2) + "\n").encode(), option)


def write_per_image(result: ScoreResult, path: str | Path, option: str = "--per-image") -> None:
    """One row per scored image: TP/FP/FN/precision/recall/F1."""
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(["ImageId", "city", "TP", "FP", "FN", "precision", "recall", "F1"])
    for s in result.images:
        c = s.counts
        w.writerow([s.image_id, s.city, c.tp, c.fp, c.fn, c.precision, c.recall, c.f1])
    write_atomically(Path(path), text.getvalue().encode(), option)


def write_matches(
    matches: Matches, path: str | Path, option: str = "--matches", *, crs: CRS | None = None
) -> None:
    """GeoJSON of every scored truth and proposal with its outcome, in the coordinates
    scored: pixels, or the map coordinates of georeferenced footprints in ``crs``.

    A GeoJSON without a ``crs`` member is read as longitude and latitude (RFC 7946), so
    map coordinates carry one (``crs_name``), in the form GDAL (hence QGIS and geopandas)
    reads. Pixel coordinates have none.
    """
    features: list[dict[str, object]] = []
    t, p = matches.truth, matches.proposals
    truth_status, proposal_status = matches.statuses()
    for k, row in enumerate(matches.truth_rows.tolist()):
        j = int(matches.truth_proposal[k])
        features.append(
            _feature(
                matches.truth_geometry[k],
                role="truth",
                status=truth_status[k],
                **_source_row(t, row),
                iou=float(matches.truth_iou[k]),
                matched_line=int(p.line[matches.proposal_rows[j]]) if j >= 0 else None,
            )
        )
    for k, row in enumerate(matches.proposal_rows.tolist()):
        j = int(matches.proposal_truth[k])
        best = int(matches.proposal_best_truth[k])
        features.append(
            _feature(
                matches.proposal_geometry[k],
                role="proposal",
                status=proposal_status[k],
                **_source_row(p, row),
                confidence=None if p.confidence is None else float(p.confidence[row]),
                iou=float(matches.proposal_iou[k]),
                matched_line=int(t.line[matches.truth_rows[j]]) if j >= 0 else None,
                best_truth_line=int(t.line[matches.truth_rows[best]]) if best >= 0 else None,
            )
        )
    collection: dict[str, object] = {"type": "FeatureCollection"}
    if crs is not None:  # GeoJSON 2008's named CRS
        collection["crs"] = {"type": "name", "properties": {"name": crs_name(crs)}}
    collection["features"] = features
    write_atomically(Path(path), (json.dumps(collection) + "\n").encode(), option)


def crs_name(crs: CRS) -> str:
    """A CRS as outputs name it: its OGC URN (``urn:ogc:def:crs:EPSG::32616``), or its WKT
    when no authority names it; GDAL, pyproj and rasterio read either."""
    authority = crs.to_authority()
    return crs.to_wkt() if authority is None else "urn:ogc:def:crs:{}::{}".format(*authority)


def _source_row(table: PolygonTable, row: int) -> dict[str, object]:
    """Where a polygon came from: its ImageId, BuildingId and line of the file."""
    return {
        "image_id": table.image_id[row],
        "building_id": int(table.building_id[row]),
        "line": int(table.line[row]),
    }


def _feature(geometry: BaseGeometry, **properties: object) -> dict[str, object]:
    return {
        "type": "Feature",
        "geometry": json.loads(shapely.to_geojson(geometry)),
        "properties": properties,
    }
