"""SVG overlays of a score: each scored truth and proposal of an image outlined in the
colour of its outcome, truths thick and proposals thin.

SVG rather than a raster: an outline carries its source and outcome as a tooltip (file
line, BuildingId, class, IoU, the line it matched), zooms without blur, opens in any
browser, and a score costs no imaging library's import at start-up (Pillow's was ~13 ms
of a ``geoarena score``). The models' overlays, drawn on a tile's imagery, are PNGs
(``geoarena.platform.overlays``) in these colours.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from geoarena.errors import InvalidInput

from .arrays import FloatArray, IntArray, ObjectArray
from .breakdown import FN_CLASSES, FP_CLASSES, ErrorClass
from .outputs import check_writable_folder, write_atomically
from .prepared import Matches
from .table import PolygonTable

#: outline colours (RGB); with a breakdown, FP and FN are coloured by their error class
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
BACKGROUND = (24, 24, 28)
#: the smallest canvas side in pixels (a SpaceNet tile is 650 px): pixel coordinates are
#: drawn 1:1 from the tile's origin, so an overlay lines up with its tile
MIN_SIZE = 650
#: the longer canvas side for map coordinates, framed to the image's polygons
MAP_SIZE = 800
#: outline widths in screen pixels, whatever the zoom
TRUTH_WIDTH, PROPOSAL_WIDTH = 3, 1


@dataclass(frozen=True)
class Frame:
    """Where an image's coordinates land on the canvas: ``(x - x0, y - y0)`` in pixel
    coordinates, ``(x - x0, y0 - y)`` in map coordinates (north up), inside a viewBox
    of ``width`` x ``height`` shown at ``scale`` screen pixels per unit."""

    x0: float
    y0: float
    width: float
    height: float
    scale: float
    y_up: bool

    @classmethod
    def of(cls, bounds: FloatArray, y_up: bool) -> Frame:
        xmin, ymin, xmax, ymax = (float(v) for v in bounds)
        if not y_up:
            side = max(MIN_SIZE, xmax + 1, ymax + 1)
            return cls(0.0, 0.0, side, side, 1.0, False)
        pad = 0.02 * max(xmax - xmin, ymax - ymin, 1.0)
        width, height = xmax - xmin + 2 * pad, ymax - ymin + 2 * pad
        return cls(xmin - pad, ymax + pad, width, height, MAP_SIZE / max(width, height), True)

    def path(self, geometry: shapely.Geometry) -> str:
        """SVG path data of every ring of ``geometry`` (exteriors and holes)."""
        rings = shapely.get_rings(shapely.get_parts(geometry))
        parts = []
        for ring in rings:
            xy = shapely.get_coordinates(ring)
            if len(xy) == 0:
                continue
            u = xy[:, 0] - self.x0
            v = self.y0 - xy[:, 1] if self.y_up else xy[:, 1] - self.y0
            points = " ".join(
                f"{a:.7g},{b:.7g}" for a, b in zip(u.tolist(), v.tolist(), strict=True)
            )
            parts.append(f"M{points}Z")
        return "".join(parts)


def plot_overlays(
    matches: Matches, image_ids: list[str], out_dir: str | Path, *, y_up: bool = False
) -> list[Path]:
    """One ``IMAGE_ID.svg`` per image in ``out_dir``: truth (thick) and proposal (thin)
    outlines coloured TP / FP / FN, or, when the matches carry a breakdown, each FP and FN
    by its error class; a legend in the top-left corner names the colours. ``y_up`` for
    map coordinates (north up, framed to the polygons); pixel coordinates are drawn from
    the tile's origin.

    Raises :class:`~geoarena.errors.InvalidInput` for an ImageId with nothing scored.
    """
    out_dir = Path(out_dir)
    check_writable_folder(out_dir, "--plot-dir")
    statuses = matches.statuses()
    legend = _legend_names(matches)
    written = []
    for image_id in image_ids:
        outlines = list(_outlines(matches, statuses, image_id))
        if not outlines:
            raise InvalidInput.about(f"no scored polygon in image {image_id!r}", column="--plot")
        bounds = shapely.total_bounds(np.array([o.geometry for o in outlines]))
        svg = _svg(Frame.of(bounds, y_up), outlines, legend)
        path = out_dir / f"{image_id}.svg"
        write_atomically(path, svg.encode(), "--plot-dir")
        written.append(path)
    return written


@dataclass(frozen=True)
class Outline:
    """One polygon to draw: its geometry, outcome (a key of :data:`COLOURS`), width and
    tooltip."""

    geometry: shapely.Geometry
    status: str
    width: int
    title: str


def _outlines(
    matches: Matches, statuses: tuple[list[str], list[str]], image_id: str
) -> Iterator[Outline]:
    """The image's truths, then its proposals (drawn over them); ``statuses`` are
    ``matches.statuses()``, named once for every image plotted."""
    t, p = matches.truth, matches.proposals
    truth_status, proposal_status = statuses
    yield from _side_outlines(
        image_id, "truth", t, matches.truth_rows, matches.truth_geometry,
        matches.truth_proposal, matches.truth_iou, truth_status, p.line[matches.proposal_rows],
    )  # fmt: skip
    yield from _side_outlines(
        image_id, "proposal", p, matches.proposal_rows, matches.proposal_geometry,
        matches.proposal_truth, matches.proposal_iou, proposal_status, t.line[matches.truth_rows],
    )  # fmt: skip


def _side_outlines(
    image_id: str,
    role: str,
    table: PolygonTable,
    rows: IntArray,
    geometry: ObjectArray,
    partner: IntArray,
    iou: FloatArray,
    status: list[str],
    partner_line: IntArray,
) -> Iterator[Outline]:
    """One side's outlines in ``image_id``: ``rows`` are its scored rows of ``table``,
    ``partner`` the index of each one's match on the other side (-1: none), whose file
    lines are ``partner_line``."""
    for k in np.flatnonzero(table.image_id[rows] == image_id).tolist():
        j, row = int(partner[k]), int(rows[k])
        matched = f", matches line {partner_line[j]}" if j >= 0 else ""
        yield Outline(
            geometry[k],
            status[k],
            TRUTH_WIDTH if role == "truth" else PROPOSAL_WIDTH,
            f"{role} line {table.line[row]}, BuildingId {table.building_id[row]}: "
            f"{_label(status[k])}, IoU {iou[k]:.3f}{matched}",
        )


def _label(status: str) -> str:
    return status if status in ("TP", "FP", "FN") else ErrorClass(status).label


def _legend_names(matches: Matches) -> list[str]:
    if matches.errors is None:
        return ["TP", "FP", "FN"]
    return ["TP", *dict.fromkeys([*FP_CLASSES, *FN_CLASSES])]


def _svg(frame: Frame, outlines: list[Outline], legend: list[str]) -> str:
    """The document: background, the outlines in the frame's viewBox, then the legend in
    screen pixels."""
    width, height = round(frame.width * frame.scale), round(frame.height * frame.scale)
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
        f'<rect width="100%" height="100%" fill="{_rgb(BACKGROUND)}"/>',
        f'<svg width="{width}" height="{height}" viewBox="0 0 {frame.width:.7g} '
        f'{frame.height:.7g}">',
        '<g fill="none" stroke-linejoin="round">',
    ]
    for o in outlines:
        lines.append(
            f'<path d="{frame.path(o.geometry)}" stroke="{_rgb(COLOURS[o.status])}" '
            f'stroke-width="{o.width}" vector-effect="non-scaling-stroke">'
            f"<title>{_escape(o.title)}</title></path>"
        )
    lines += ["</g>", "</svg>", *_legend(legend), "</svg>"]
    return "\n".join(lines) + "\n"


def _legend(names: list[str]) -> list[str]:
    """The colour of each outcome, one line each, in the top-left corner."""
    lines = [
        f'<g font-family="sans-serif" font-size="11" fill="rgb(230,230,230)">'
        f'<rect x="2" y="2" width="96" height="{8 + 14 * len(names)}" '
        f'fill="{_rgb(BACKGROUND)}" stroke="rgb(90,90,90)"/>'
    ]
    for k, name in enumerate(names):
        y = 6 + 14 * k
        lines.append(
            f'<rect x="6" y="{y + 2}" width="9" height="9" fill="{_rgb(COLOURS[name])}"/>'
            f'<text x="20" y="{y + 10}">{_label(name)}</text>'
        )
    lines.append("</g>")
    return lines


def _escape(text: str) -> str:
    """``text`` as XML character data (the ``html`` module's escape costs its import)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rgb(colour: tuple[int, int, int]) -> str:
    return "rgb({},{},{})".format(*colour)
