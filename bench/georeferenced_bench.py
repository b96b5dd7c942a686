"""Benchmark georeferenced inputs: the evaluator bench's synthetic tiles as GeoParquet.

The pixel coordinates of ``evaluator_bench.py``'s files are halved into metres of UTM
11N (0.5 m pixels; halving is exact in binary floating point, so every IoU and area
filter gives the same verdict and the counts must equal the CSVs': checked). It times:
  * the floor: pyarrow's Parquet read + ``shapely.from_wkb`` of both files;
  * ``read_georeferenced`` (checks, properties, CRS) in this process;
  * the score of the two tables in one process (PreparedTruth) and on every core
    (``score_files``, what the command runs);
  * ``geoarena score`` of the GeoParquet pair, of the GeoParquet proposals against the
    truth stored by ``geoarena prepare``, and of the CSV pair, in turns.
Medians over --repeats runs after one warm-up, the measurements taking turns.

    python bench/georeferenced_bench.py --tiles 1000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely
from rasterio.crs import CRS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.evaluator_bench import cli_run, median_times  # noqa: E402
from geoarena.evaluator import (  # noqa: E402
    PreparedTruth,
    VectorOptions,
    get_rules,
    in_pixels,
    read_georeferenced,
    score_files,
)
from geoarena.evaluator.synthetic import make_pair  # noqa: E402

UTM = "EPSG:32611"
PIXEL = 0.5
OPTIONS = VectorOptions(image_id_field="ImageId")


def to_geoparquet(csv: Path, out: Path) -> None:
    """A SpaceNet CSV as GeoParquet: ImageId, BuildingId (and Confidence) properties."""
    table = pacsv.read_csv(csv)
    pixels = shapely.from_wkt(table.column("PolygonWKT_Pix").to_pylist())
    metres = shapely.transform(pixels, lambda xy: xy * PIXEL)
    names = [c for c in ("ImageId", "BuildingId", "Confidence") if c in table.column_names]
    columns = {c: table.column(c) for c in names}
    columns["geometry"] = pa.array(shapely.to_wkb(metres).tolist(), pa.binary())
    column = {"encoding": "WKB", "geometry_types": [], "crs": CRS.from_string(UTM).to_dict(True)}
    geo = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": column}}
    pq.write_table(pa.table(columns).replace_schema_metadata({"geo": json.dumps(geo)}), out)


def floor(truth: Path, props: Path) -> None:
    for path in (truth, props):
        table = pq.ParquetFile(path).read()
        shapely.from_wkb(table.column("geometry").to_pylist())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, default=1000)
    ap.add_argument("--buildings", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    n = args.tiles
    csvs = args.out / f"truth_{n}.csv", args.out / f"props_{n}.csv"
    if not all(path.exists() for path in csvs):
        for path, data in zip(csvs, make_pair(n, args.buildings, seed=n), strict=True):
            path.write_bytes(data)
    geo = args.out / f"truth_{n}.parquet", args.out / f"props_{n}.parquet"
    for csv, parquet in zip(csvs, geo, strict=True):
        to_geoparquet(csv, parquet)

    pair = read_georeferenced(*geo, OPTIONS)
    rules = in_pixels(get_rules("deepglobe"), PIXEL**2)
    expected = score_files(*csvs).micro
    if score_files(pair.truth, pair.proposals, rules).micro != expected:
        raise SystemExit("MISMATCH: the GeoParquet pair scores otherwise than its CSVs")
    timed = median_times(
        {
            "floor": lambda: floor(*geo),
            "read": lambda: read_georeferenced(*geo, OPTIONS),
            "one": lambda: PreparedTruth(pair.truth, rules).score(pair.proposals),
            "every": lambda: score_files(pair.truth, pair.proposals, rules),
        },
        args.repeats,
    )
    flags = ["--image-id-field", "ImageId", "--area-units", "pixels", "--pixel-size", PIXEL]
    stored = args.out / f"truth_{n}.parquet.prepared"
    cli_run("prepare", geo[0], "-o", stored, *flags)
    geo_runs, stored_runs, csv_runs = [], [], []
    for _ in range(args.repeats):  # in turns, so all meet the same slow spells
        geo_runs.append(cli_run("score", *geo, *flags)[0])
        stored_runs.append(cli_run("score", stored, geo[1], *flags)[0])
        csv_runs.append(cli_run("score", *csvs)[0])
    cli_geo, cli_csv = statistics.median(geo_runs), statistics.median(csv_runs)
    cli_stored = statistics.median(stored_runs)
    read, one, every = timed["read"], timed["one"], timed["every"]
    print(f"{n} tiles, {len(pair.truth)} truths, counts equal to the CSVs': {expected}")
    print(f"floor (Parquet read + from_wkb)  {timed['floor']:.3f} s")
    print(f"read_georeferenced              {read:.3f} s  ({read / timed['floor']:.2f} x floor)")
    print(f"score, one process              {one:.3f} s")
    print(f"score, every core               {every:.3f} s  ({one / every:.2f} x faster)")
    print(f"CLI GeoParquet                  {cli_geo:.3f} s  ({cli_geo / cli_csv:.2f} x the CSVs)")
    print(f"CLI GeoParquet, stored truth    {cli_stored:.3f} s  ({cli_stored / cli_geo:.2f} x)")
    print(f"CLI CSV                         {cli_csv:.3f} s")


if __name__ == "__main__":
    main()
