"""Georeferenced footprints: GeoJSON, GeoPackage, GeoParquet (and a SpaceNet CSV's geo
column) read into the :class:`PolygonTable` every scorer consumes.

Practitioners' labels and predictions are GIS files in a map CRS, not pixel CSVs. IoU is
a ratio of areas, so it is unchanged by any affine map (pixels to a projected CRS is one)
and a scene scores the same in either frame; what needs care is only (1) which scene a
feature belongs to, (2) that both files are in one planar CRS, and (3) the units of the
area filters. So this module reads each file with GDAL (through pyogrio; GeoParquet
through pyarrow, since GDAL's wheels lack the Parquet driver), decodes the WKB with
shapely, validates every feature with the CSV reader's own checks (``build_table``), and
checks the CRS; matching and metrics never know where a table came from.

* Scenes: a file is one scene (named by ``image_id``, else by the truth file's name, and
  the proposals file is the same scene), or holds many, each feature naming its scene in
  the ``image_id_field`` property.
* CRS: both files must be in one CRS. A geographic CRS (degrees) is an error, because an
  IoU or an area in squared degrees is distorted by latitude, unless ``equal_area`` is
  set: then both files are reprojected to :data:`EQUAL_AREA_CRS`, where areas (hence
  IoUs) are those on the ellipsoid.
* Area filters: in the coordinates' units (square metres in UTM) as given, or in pixels:
  :func:`in_pixels` converts the rules' thresholds with a pixel's area in map units
  (:func:`pixel_area` reads it from the imagery's GeoTIFF).

Problems name the file, the feature (1-based position in the file, as ``line``; for a CSV
the line of the row) and the reason.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import shapely

from geoarena.errors import Problem

from .arrays import FloatArray, ObjectArray, object_array
from .errors import InputError
from .rules import AreaFilter, Rules, get_rules
from .table import DEFAULT_MAX_VERTICES, OnError, PolygonTable, build_table
from .vector_files import (
    PARQUET_SUFFIXES,
    VECTOR_SUFFIXES,
    RawVectors,
    field_texts,
    read_ogr,
    read_parquet,
    require_geo_libraries,
)

if TYPE_CHECKING:
    from rasterio.crs import CRS

#: where geographic inputs are reprojected: WGS 84 / NSIDC EASE-Grid 2.0 Global, a
#: cylindrical equal-area projection defined for the whole inhabited globe, so that one
#: CRS serves truth and proposals wherever they are (a local projection would have to be
#: chosen from one file and imposed on the other).
EQUAL_AREA_CRS = "EPSG:6933"
#: properties tried, in order, for a feature's BuildingId and Confidence when the options
#: name none (the SpaceNet names, geoarena predict's, solaris').
BUILDING_ID_FIELDS = ("BuildingId", "building_id")
CONFIDENCE_FIELDS = ("Confidence", "confidence", "conf")

Source = str | os.PathLike[str]
#: the units of the rules' area filters for georeferenced inputs.
AreaUnits = Literal["map", "pixels"]
#: which of the two files is read (``read_vectors``)
Role = Literal["truth", "proposals"]


@dataclass(frozen=True)
class VectorOptions:
    """How footprints are read from GIS files; one value serves both truth and proposals.

    Parameters
    ----------
    image_id : the scene's ImageId when each file holds one scene (default: the truth
        file's name without its suffix).
    image_id_field : the property naming each feature's scene when a file holds many.
    building_id_field, confidence_field : properties read as BuildingId and Confidence
        (default: the first of :data:`BUILDING_ID_FIELDS` / :data:`CONFIDENCE_FIELDS`
        present; without one, features are numbered and visited in file order). A
        truth's confidence is never read, and a named BuildingId property is required
        in the truth only (:func:`read_vectors`).
    layer : the layer of a multi-layer file (GeoPackage).
    geometry_column : the WKT column of a SpaceNet CSV (``PolygonWKT_Geo``: map coordinates).
    crs : the CRS of the coordinates, overriding the file's ("none": planar coordinates
        without a CRS, e.g. pixels); a CSV's ``PolygonWKT_Geo`` defaults to EPSG:4326, as
        in SpaceNet's CSVs.
    equal_area : accept geographic (degree) coordinates by reprojecting both files to
        :data:`EQUAL_AREA_CRS`.
    """

    image_id: str | None = None
    image_id_field: str | None = None
    building_id_field: str | None = None
    confidence_field: str | None = None
    layer: str | None = None
    geometry_column: str = "PolygonWKT_Pix"
    crs: str | None = None
    equal_area: bool = False


@dataclass(frozen=True, eq=False)
class GeoTable:
    """One file's validated features and the CRS of their coordinates (None: planar
    coordinates without a CRS, such as pixels)."""

    table: PolygonTable
    crs: CRS | None


@dataclass(frozen=True, eq=False)
class GeoInputs:
    """Truth and proposals in one planar CRS, ready for :func:`~geoarena.evaluator.score`."""

    truth: PolygonTable
    proposals: PolygonTable
    #: the CRS both tables are in (None: planar coordinates without a CRS)
    crs: CRS | None
    #: whether the files were reprojected to :data:`EQUAL_AREA_CRS`
    reprojected: bool


def is_vector_file(source: Source, options: VectorOptions | None = None) -> bool:
    """Whether ``source`` is read by this module: a GIS file by its ending, or a CSV whose
    geometry column is not the pixel one.

    Examples
    --------
    >>> is_vector_file("gt.geojson"), is_vector_file("truth.csv")
    (True, False)
    >>> is_vector_file("truth.csv", VectorOptions(geometry_column="PolygonWKT_Geo"))
    True
    """
    if Path(source).suffix.lower() in VECTOR_SUFFIXES:
        return True
    return options is not None and options.geometry_column != "PolygonWKT_Pix"


def read_vectors(
    source: Source,
    options: VectorOptions = VectorOptions(),
    *,
    image_id: str | None = None,
    name: str | None = None,
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
    role: Role = "truth",
) -> GeoTable:
    """Read one file's footprints and validate them like a CSV's rows.

    ``image_id`` names the scene of a one-scene file (default: ``options.image_id``, else
    the file's name without suffix); it is ignored when ``options.image_id_field`` is set.
    ``role`` says which file it is, for what the options require of it: a truth file has
    features and no confidence (none is read, named or not), and a named BuildingId
    property must be in it, since its ids decide which rows are scored; a proposal file
    may be empty (no buildings found), a named Confidence property must be in it, and a
    named BuildingId property is read where present (its ids only label the rows).
    """
    require_geo_libraries()
    path = Path(source)
    label = name or str(path)
    raw = read_parquet(path, label) if path.suffix.lower() in PARQUET_SUFFIXES else None
    if raw is None:
        raw = read_ogr(
            path,
            label,
            layer=options.layer,
            geometry_column=options.geometry_column,
            crs_given=options.crs is not None,
        )
    n = len(raw.wkb)
    proposals = role == "proposals"
    if n == 0 and not proposals:
        raise InputError([Problem(label, 0, "", "file has no features")])
    scene = image_id or options.image_id or path.stem
    # a CSV's rows always name their scene in ImageId
    field = options.image_id_field or (None if is_vector_file(path) else "ImageId")
    columns = {"ImageId": _image_ids(raw, field, scene, label)}
    named_building = options.building_id_field
    if proposals and named_building not in raw.fields:
        named_building = None
    building = _field(raw, named_building, BUILDING_ID_FIELDS, label)
    columns["BuildingId"] = (
        field_texts(raw.fields[building]) if building else object_array([str(i) for i in range(n)])
    )
    confidence = (
        _field(raw, options.confidence_field, CONFIDENCE_FIELDS, label) if proposals else None
    )
    if confidence:
        columns["Confidence"] = field_texts(raw.fields[confidence])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        geometry = np.asarray(shapely.from_wkb(raw.wkb, on_invalid="ignore"), dtype=object)
    table = build_table(
        columns,
        raw.lines,
        name=label,
        on_error=on_error,
        max_vertices=max_vertices,
        allow_empty=proposals,
        geometry=geometry,
    )
    return GeoTable(table, parse_crs(options.crs if options.crs is not None else raw.crs, label))


def read_georeferenced(
    truth: Source,
    proposals: Source,
    options: VectorOptions = VectorOptions(),
    *,
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
) -> GeoInputs:
    """Read a truth and a proposal file into one planar CRS.

    One-scene files are one scene: the proposals take the truth's ImageId. Files in a
    geographic CRS, or in two different CRSs, are an :class:`InputError` unless
    ``options.equal_area``; then both are reprojected to :data:`EQUAL_AREA_CRS`.

    Examples
    --------
    >>> import geoarena.evaluator as ev, pathlib
    >>> samples = pathlib.Path(ev.__file__).parent / "samples"
    >>> pair = read_georeferenced(
    ...     samples / "solaris_geo_gt.geojson", samples / "solaris_geo_pred.geojson"
    ... )
    >>> pair.crs.to_epsg(), pair.truth.image_ids, pair.proposals.image_ids
    (32616, ['solaris_geo_gt'], ['solaris_geo_gt'])
    >>> rules = in_pixels(get_rules("solaris"), 0.5 * 0.5)  # 20 px of 50 cm: 5 m2
    >>> ev.score(pair.truth, pair.proposals, rules).micro  # solaris' own test asserts this
    Counts(tp=8, fp=20, fn=20)
    """
    return read_submissions(
        truth, [proposals], options, on_error=on_error, max_vertices=max_vertices
    )[0]


def read_submissions(
    truth: Source,
    submissions: Sequence[Source],
    options: VectorOptions = VectorOptions(),
    *,
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
) -> list[GeoInputs]:
    """:func:`read_georeferenced` of one truth with each proposal file, the truth read
    once (``geoarena compare`` reads two submissions)."""
    t = read_vectors(truth, options, on_error=on_error, max_vertices=max_vertices)
    pairs = []
    for proposals in submissions:
        p = read_vectors(
            proposals,
            options,
            image_id=options.image_id or Path(truth).stem,
            on_error=on_error,
            max_vertices=max_vertices,
            role="proposals",
        )
        pairs.append(_paired(t, truth, p, proposals, options))
    return pairs


def _paired(
    t: GeoTable, truth: Source, p: GeoTable, proposals: Source, options: VectorOptions
) -> GeoInputs:
    """The two tables in one planar CRS, or the InputError that says why they cannot be."""
    target = _frame((t.crs, t.table, truth), (p.crs, p.table, proposals), options)
    if target == t.crs == p.crs:
        return GeoInputs(t.table, p.table, t.crs, reprojected=False)
    return GeoInputs(_reprojected(t, target), _reprojected(p, target), target, reprojected=True)


#: one side of a pairing: its CRS, its table (None when not at hand: a stored truth) and
#: its file
_Side = tuple["CRS | None", PolygonTable | None, Source]


def _frame(truth_side: _Side, proposal_side: _Side, options: VectorOptions) -> CRS | None:
    """The planar CRS two sides are scored in: theirs when they share a projected one (or
    both have none), else :data:`EQUAL_AREA_CRS` when ``options.equal_area`` accepts a
    reprojection; an InputError that says why otherwise."""
    problems = [_in_degrees(*side, options) for side in (truth_side, proposal_side)]
    if any(problems):
        raise InputError([problem for problem in problems if problem is not None])
    (t_crs, _, truth), (p_crs, _, proposals) = truth_side, proposal_side
    if t_crs == p_crs and (t_crs is None or not t_crs.is_geographic):
        return t_crs
    if t_crs is None or p_crs is None or not options.equal_area:
        raise InputError(
            [
                Problem(
                    str(proposals),
                    0,
                    "",
                    f"proposals are in {_show_crs(p_crs)} but the truth ({truth}) is in"
                    f" {_show_crs(t_crs)}: write both in one CRS"
                    + ("" if t_crs is None or p_crs is None else " (or pass --equal-area)"),
                )
            ]
        )
    return parse_crs(EQUAL_AREA_CRS, "")


def _in_degrees(
    crs: CRS | None, table: PolygonTable | None, path: Source, options: VectorOptions
) -> Problem | None:
    """The problem of a side in a geographic CRS that ``options`` do not reproject."""
    if crs is None or not crs.is_geographic or options.equal_area:
        return None
    return Problem(
        str(path),
        0,
        "",
        f"coordinates are in a geographic CRS ({_show_crs(crs)}, degrees): an area in"
        " square degrees means nothing to the area filters, and a degree of longitude"
        " shrinks with latitude; write the file in a projected CRS, or accept a"
        f" reprojection to the equal-area {EQUAL_AREA_CRS} (equal_area=True, --equal-area)"
        + ("" if table is None else _pixel_hint(table)),
    )


def read_planar(
    source: Source,
    options: VectorOptions = VectorOptions(),
    *,
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
) -> GeoTable:
    """One truth file in the planar CRS it is scored in (``geoarena prepare`` stores it
    so): its own projected CRS, or :data:`EQUAL_AREA_CRS` when ``options.equal_area``
    accepts a reprojection of geographic coordinates; an InputError otherwise."""
    t = read_vectors(source, options, on_error=on_error, max_vertices=max_vertices)
    problem = _in_degrees(t.crs, t.table, source, options)
    if problem is not None:
        raise InputError([problem])
    if t.crs is None or not t.crs.is_geographic:
        return t
    target = parse_crs(EQUAL_AREA_CRS, "")
    return GeoTable(_reprojected(t, target), target)


def read_for_truth(
    crs: CRS | None,
    image_ids: Sequence[str],
    label: str,
    proposals: Source,
    options: VectorOptions = VectorOptions(),
    *,
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
) -> PolygonTable:
    """A proposal file in the CRS of a truth read beforehand: a stored truth, labelled
    ``label``, with these ImageIds. A stored truth is not reprojected, so the proposals
    must come in its CRS, or reach it by the reprojection ``options.equal_area`` accepts
    (of degrees, to a truth stored in :data:`EQUAL_AREA_CRS`). One-scene proposals take
    the truth's ImageId when it has one image, else ``options.image_id`` or the truth
    file's name."""
    scene = options.image_id or (image_ids[0] if len(image_ids) == 1 else Path(label).stem)
    p = read_vectors(
        proposals,
        options,
        image_id=scene,
        on_error=on_error,
        max_vertices=max_vertices,
        role="proposals",
    )
    target = _frame((crs, None, label), (p.crs, p.table, proposals), options)
    if target != crs:
        raise InputError.about(
            f"proposals are in {_show_crs(p.crs)}, the stored truth ({label}) in"
            f" {_show_crs(crs)}: write them in its CRS (a stored truth is not reprojected)",
            file=str(proposals),
        )
    return _reprojected(p, target)


def in_pixels(rules: Rules, pixel_area: float) -> Rules:
    """``rules`` with its area filters, stated in pixels, converted to map units.

    Examples
    --------
    >>> r = in_pixels(get_rules("deepglobe"), 0.3 * 0.3)  # SpaceNet's 30 cm pixels
    >>> str(r.truth_area_filter), r.modified
    ('>=1.8', ('proposal_area_filter', 'truth_area_filter'))
    """
    if not (pixel_area > 0 and np.isfinite(pixel_area)):
        raise ValueError(f"pixel area must be a positive number, not {pixel_area}")

    def scaled(f: AreaFilter | None) -> AreaFilter | None:
        return None if f is None else AreaFilter(f.min_area * pixel_area, f.inclusive)

    return get_rules(
        rules,
        truth_area_filter=scaled(rules.truth_area_filter),
        proposal_area_filter=scaled(rules.proposal_area_filter),
    )


def pixel_area(raster: Source, crs: CRS | None = None) -> float:
    """The area of one pixel of a GeoTIFF (any GDAL raster) in its CRS's units.

    With ``crs`` (the footprints' CRS), a raster in another CRS is an :class:`InputError`:
    its pixel area would be in other units.
    """
    require_geo_libraries()
    import rasterio

    try:
        with rasterio.open(raster) as src:
            area, raster_crs = abs(src.transform.determinant), src.crs
    except rasterio.errors.RasterioIOError as exc:
        raise InputError.about(f"cannot read raster: {exc}", file=str(raster)) from None
    if crs is not None and raster_crs is not None and raster_crs != crs:
        raise InputError.about(
            f"raster is in {_show_crs(raster_crs)}, the footprints in {_show_crs(crs)}",
            file=str(raster),
        )
    if not area > 0:
        raise InputError.about("raster has no georeference (pixel area 0)", file=str(raster))
    return float(area)


def _image_ids(raw: RawVectors, field: str | None, scene: str, label: str) -> ObjectArray:
    """Each feature's ImageId: from ``field``, or ``scene`` for all (a one-scene file)."""
    if field is None:
        return object_array([scene] * len(raw.wkb))
    if field not in raw.fields:
        raise InputError.about(
            f"no property {field!r} to name each feature's scene;"
            f" properties are {', '.join(raw.fields) or 'none'}",
            file=label,
        )
    return field_texts(raw.fields[field])


def _field(raw: RawVectors, named: str | None, defaults: tuple[str, ...], label: str) -> str | None:
    """The property to read: the one named (which must exist), else the first default."""
    if named is not None:
        if named not in raw.fields:
            raise InputError.about(
                f"no property {named!r}; properties are {', '.join(raw.fields) or 'none'}",
                file=label,
            )
        return named
    return next((f for f in defaults if f in raw.fields), None)


def parse_crs(text: str | None, label: str) -> CRS | None:
    """A CRS from user input or WKT (None, or "none": planar coordinates without one); an
    InputError naming ``label`` when it is no CRS."""
    if text is None or text.strip().lower() == "none":
        return None
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        return CRS.from_user_input(text)
    except CRSError as exc:
        raise InputError.about(f"unknown CRS {text[:60]!r}: {exc}", file=label) from None


def _show_crs(crs: CRS | None) -> str:
    if crs is None:
        return "planar coordinates without a CRS"
    return str(crs.to_string()) if crs.to_epsg() is not None else str(crs.to_wkt())[:80]


def _pixel_hint(table: PolygonTable) -> str:
    """A hint when 'degrees' are out of range: pixel coordinates in a file without a CRS
    (GeoJSON without one is WGS 84 by definition)."""
    xy = shapely.get_coordinates(table.geometry)
    if len(xy) and (np.abs(xy[:, 0]).max() > 360 or np.abs(xy[:, 1]).max() > 90):
        return "; its coordinates are not degrees: if they are pixels, pass crs='none' (--crs none)"
    return ""


def _reprojected(side: GeoTable, target: CRS) -> PolygonTable:
    """The table's geometries in ``target`` (z dropped: it is never scored)."""
    if side.crs == target:
        return side.table
    from rasterio.warp import transform

    def project(xy: FloatArray) -> FloatArray:
        x, y = transform(side.crs, target, xy[:, 0].tolist(), xy[:, 1].tolist())
        return np.column_stack([x, y])

    t = side.table
    return PolygonTable(
        name=t.name,
        image_id=t.image_id,
        building_id=t.building_id,
        geometry=np.asarray(shapely.transform(t.geometry, project), dtype=object),
        confidence=t.confidence,
        line=t.line,
        skipped=t.skipped,
    )


__all__ = [
    "BUILDING_ID_FIELDS",
    "CONFIDENCE_FIELDS",
    "EQUAL_AREA_CRS",
    "VECTOR_SUFFIXES",
    "AreaUnits",
    "GeoInputs",
    "GeoTable",
    "VectorOptions",
    "in_pixels",
    "is_vector_file",
    "parse_crs",
    "pixel_area",
    "read_for_truth",
    "read_georeferenced",
    "read_planar",
    "read_submissions",
    "read_vectors",
]
