"""Human and machine outputs of a score: rich tables, JSON, CSV, GeoJSON and PNG overlays."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import shapely
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table
from shapely.geometry.base import BaseGeometry

from geoarena.errors import InvalidInput

from .arrays import FloatArray, IntArray
from .breakdown import FN_CLASSES, FP_CLASSES, SIZES, Breakdown, ErrorClass
from .metrics import Counts, Diagnostics, ScoreResult
from .outputs import check_writable_folder, write_atomically
from .prepared import Matches
from .table import PolygonTable

#: outline colours of the PNG overlays (RGB); with a breakdown, FP and FN are coloured
#: by their error class instead (truths drawn thick, proposals thin).
COLOURS: dict[str, tuple[int, int, int]] = {
    "TP": (40, 170, 60),  # matched truth and proposal
    "FN": (220, 40, 40),  # missed truth
    "FP": (255, 150, 0),  # unmatched proposal
    ErrorClass.DUPLICATE: (255, 60, 220),
    ErrorClass.MERGED: (150, 90, 255),
    ErrorClass.SPLIT: (0, 200, 255),
    ErrorClass.LOCALISATION: (255, 230, 0),
    ErrorClass.FALSE_ALARM: (255, 150, 0),  # as FP
    ErrorClass.MISS: (220, 40, 40),  # as FN
}


def render(result: ScoreResult, console: Console | None = None) -> None:
    """Print the per-city table and the headline numbers with rich."""
    console = console or Console()
    table = Table(title=f"geoarena score ({result.rules.name} rules)")
    boot = result.bootstrap
    columns = ["city", "images", "TP", "FP", "FN", "precision", "recall", "F1"]
    if boot is not None:
        columns.append(f"F1 {boot['level']:.0%} CI")
    for col in columns:
        table.add_column(col, justify="left" if col == "city" else "right")
    per_city: dict[str, int] = {}
    for image in result.images:
        per_city[image.city] = per_city.get(image.city, 0) + 1
    for city, c in result.cities.items():
        interval = None if boot is None else boot["cities"][city]
        table.add_row(city, str(per_city.get(city, 0)), *_count_cells(c, interval))
    table.add_section()
    interval = None if boot is None else boot["micro_f1"]
    table.add_row("all (micro)", str(len(result.images)), *_count_cells(result.micro, interval))
    console.print(table)
    interval = None if boot is None else boot["mean_city_f1"]
    mean = f"{result.mean_city_f1:.6f} {_interval(interval)}".rstrip()
    console.print(f"mean per-city F1: [bold]{mean}[/]   micro F1: {result.micro.f1:.6f}")
    console.print(f"headline ({result.rules.headline}): [bold]{result.headline:.6f}[/]")
    if result.rules.modified:
        console.print(f"knobs overridden: {', '.join(result.rules.modified)}")
    notes = _diagnostic_notes(result.diagnostics)
    if notes:
        console.print("[dim]" + "; ".join(notes) + "[/]")
    if result.breakdown is not None:
        render_breakdown(result.breakdown, console)


def render_breakdown(breakdown: Breakdown, console: Console) -> None:
    """Where F1 is lost, by city: FP per error class, FN per error class (each row adds
    up to its FP or FN), then recall per building size."""
    rows = [*breakdown.cities.items(), ("all", breakdown.overall)]
    for side, classes in (("FP", FP_CLASSES), ("FN", FN_CLASSES)):
        table = Table(title=f"{side} by error class")
        for col in ["city", side, *(c.label for c in classes)]:
            table.add_column(col, justify="left" if col == "city" else "right")
        for k, (city, e) in enumerate(rows):
            counts = e.fp if side == "FP" else e.fn
            if k == len(rows) - 1:
                table.add_section()
            table.add_row(city, str(sum(counts.values())), *(str(n) for n in counts.values()))
        console.print(table)
    small, large = breakdown.settings.size_bins
    table = Table(title="recall by building size (truth area: px² for CSVs)")
    table.add_column("city")
    for name, bound in zip(
        SIZES, (f"< {small:g}", f"{small:g}-{large:g}", f">= {large:g}"), strict=True
    ):
        table.add_column(f"{name} {bound}", justify="right")
    for k, (city, e) in enumerate(rows):
        if k == len(rows) - 1:
            table.add_section()
        table.add_row(city, *(f"{r.recall:.4f} of {r.truths}" for r in e.sizes.values()))
    console.print(table)


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


def write_json(result: ScoreResult, path: str | Path, option: str = "--json") -> None:
    """The result's JSON (``ScoreResult.to_dict``), written whole or not at all."""
    write_atomically(Path(path), (json.dumps(result.to_dict(), indent=2) + "\n").encode(), option)


def write_per_image(result: ScoreResult, path: str | Path, option: str = "--per-image") -> None:
    """One row per scored image: TP/FP/FN/precision/recall/F1."""
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(["ImageId", "city", "TP", "FP", "FN", "precision", "recall", "F1"])
    for s in result.images:
        c = s.counts
        w.writerow([s.image_id, s.city, c.tp, c.fp, c.fn, c.precision, c.recall, c.f1])
    write_atomically(Path(path), text.getvalue().encode(), option)


def write_matches(matches: Matches, path: str | Path, option: str = "--matches") -> None:
    """GeoJSON (pixel coordinates) of every scored truth and proposal with its outcome."""
    features: list[dict[str, object]] = []
    t, p = matches.truth, matches.proposals
    truth_status, proposal_status = _statuses(matches)
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
    collection = {"type": "FeatureCollection", "features": features}
    write_atomically(Path(path), (json.dumps(collection) + "\n").encode(), option)


def _statuses(matches: Matches) -> tuple[list[str], list[str]]:
    """Outcome of each truth and proposal: TP, or FN/FP, or with a breakdown the error
    class of each FN and FP."""
    if matches.errors is None:
        return (
            ["TP" if j >= 0 else "FN" for j in matches.truth_proposal.tolist()],
            ["TP" if j >= 0 else "FP" for j in matches.proposal_truth.tolist()],
        )
    return (
        _class_names(matches.errors.truth, FN_CLASSES),
        _class_names(matches.errors.proposal, FP_CLASSES),
    )


def _class_names(codes: IntArray, classes: tuple[ErrorClass, ...]) -> list[str]:
    return ["TP" if c < 0 else classes[c].value for c in codes.tolist()]


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


def plot_overlays(matches: Matches, image_ids: list[str], out_dir: str | Path) -> list[Path]:
    """One PNG per image: truth (thick) and proposal (thin) outlines coloured TP / FP / FN,
    or, when the matches carry a breakdown, each FP and FN by its error class (a legend
    in the top-left corner names the colours).

    Raises :class:`~geoarena.errors.InvalidInput` for an ImageId with nothing scored.
    """
    out_dir = Path(out_dir)
    check_writable_folder(out_dir, "--plot-dir")
    t_ids = matches.truth.image_id[matches.truth_rows]
    p_ids = matches.proposals.image_id[matches.proposal_rows]
    truth_status, proposal_status = (np.asarray(s, dtype=object) for s in _statuses(matches))
    written = []
    for image_id in image_ids:
        t_sel, p_sel = np.flatnonzero(t_ids == image_id), np.flatnonzero(p_ids == image_id)
        if len(t_sel) + len(p_sel) == 0:
            raise InvalidInput.about(f"no scored polygon in image {image_id!r}", column="--plot")
        shapes = [
            (g, str(s), 3)
            for g, s in zip(matches.truth_geometry[t_sel], truth_status[t_sel], strict=True)
        ] + [
            (g, str(s), 1)
            for g, s in zip(matches.proposal_geometry[p_sel], proposal_status[p_sel], strict=True)
        ]
        xmax, ymax = shapely.total_bounds(np.array([g for g, _, _ in shapes]))[2:]
        size = int(max(650, xmax + 1, ymax + 1))
        canvas = Image.new("RGB", (size, size), (24, 24, 28))
        draw = ImageDraw.Draw(canvas)
        for geometry, status, width in shapes:
            for ring in _rings(geometry):
                draw.line([tuple(xy) for xy in ring], fill=COLOURS[status], width=width)
        if matches.errors is not None:
            _legend(draw)
        path = out_dir / f"{image_id}.png"
        png = io.BytesIO()
        canvas.save(png, format="PNG")
        write_atomically(path, png.getvalue(), "--plot-dir")
        written.append(path)
    return written


def _legend(draw: ImageDraw.ImageDraw) -> None:
    """The colour of each outcome, one line each, in the top-left corner."""
    names = ["TP", *dict.fromkeys([*FP_CLASSES, *FN_CLASSES])]
    draw.rectangle((2, 2, 96, 8 + 12 * len(names)), fill=(24, 24, 28), outline=(90, 90, 90))
    for k, name in enumerate(names):
        y = 6 + 12 * k
        draw.rectangle((6, y + 2, 14, y + 9), fill=COLOURS[name])
        draw.text((18, y), ErrorClass(name).label if name != "TP" else "TP", fill=(230, 230, 230))


def _rings(geometry: BaseGeometry) -> list[FloatArray]:
    rings = shapely.get_rings(shapely.get_parts(geometry))
    return [shapely.get_coordinates(r) for r in rings if not shapely.is_empty(r)]
