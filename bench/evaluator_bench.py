"""Benchmark ``geoarena score`` on seeded synthetic SpaceNet files.

For 100, 1000 and 10000 images (about 100 buildings each) it times, in one process:
  * read+parse baseline: pyarrow CSV + shapely.from_wkt of both files, nothing else;
  * geoarena read: read_truth + read_proposals (validation included);
  * geoarena score, in process: read + PreparedTruth + score (STRtree and rtree);
  * geoarena score, CLI: the real command in a subprocess (wall time and peak RSS);
  * the oracle: the deliberately simple per-proposal loop of tests/evaluator/oracle.py
    (only up to --oracle-max images: it is slow), also checked for equal counts.
Medians over --repeats runs after one warm-up; ratios are within this run, so the
machine's slow spells cancel out.

    python bench/evaluator_bench.py --sizes 100,1000,10000
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geoarena.evaluator import PreparedTruth, get_rules, read_proposals, read_truth  # noqa: E402
from geoarena.evaluator.synthetic import make_pair  # noqa: E402
from tests.evaluator.oracle import oracle_score  # noqa: E402


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def baseline_read_parse(truth: Path, props: Path) -> None:
    import pyarrow.csv as pacsv
    import shapely

    for path in (truth, props):
        table = pacsv.read_csv(path)
        shapely.from_wkt(table.column("PolygonWKT_Pix").to_numpy(zero_copy_only=False))


def full_score(truth: Path, props: Path, index: str):
    t, p = read_truth(truth), read_proposals(props)
    return PreparedTruth(t, "deepglobe", index=index).score(p)


def cli_run(truth: Path, props: Path) -> tuple[float, float]:
    """Wall seconds and peak memory (MB) of one ``geoarena score`` subprocess: the PSS of
    the process and its forked workers together (shared copy-on-write pages counted once)."""
    import psutil

    exe = Path(sys.executable).with_name("geoarena")
    start = time.perf_counter()
    proc = psutil.Popen([str(exe), "score", str(truth), str(props)], stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_full_info().pss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"geoarena score failed with status {proc.returncode}")
    return wall, peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--buildings", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--oracle-max", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        truth, props = args.out / f"truth_{n}.csv", args.out / f"props_{n}.csv"
        if not truth.exists() or not props.exists():
            t_bytes, p_bytes = make_pair(n, args.buildings, seed=n)
            truth.write_bytes(t_bytes)
            props.write_bytes(p_bytes)
        reps = args.repeats if n <= 1000 else 1
        files = (truth, props)
        base = median_time(lambda f=files: baseline_read_parse(*f), reps)
        ours_read = median_time(lambda f=files: (read_truth(f[0]), read_proposals(f[1])), reps)
        ours = median_time(lambda f=files: full_score(*f, "strtree"), reps)
        tables = (read_truth(truth), read_proposals(props))
        match_only = median_time(
            lambda t=tables: PreparedTruth(t[0], "deepglobe").score(t[1]), reps
        )
        rtree = median_time(lambda f=files: full_score(*f, "rtree"), reps)
        runs = [cli_run(truth, props) for _ in range(reps)]
        cli_wall = statistics.median(r[0] for r in runs)
        peak = max(r[1] for r in runs)
        result = full_score(truth, props, "strtree")
        same_rtree = result.micro == full_score(truth, props, "rtree").micro
        oracle_s = float("nan")
        if n <= args.oracle_max:
            t_tab, p_tab = read_truth(truth), read_proposals(props)
            start = time.perf_counter()
            expected = oracle_score(t_tab, p_tab, get_rules("deepglobe"))
            oracle_s = time.perf_counter() - start
            got = {s.image_id: (s.counts.tp, s.counts.fp, s.counts.fn) for s in result.images}
            if got != dict(expected):
                raise SystemExit(f"MISMATCH with the oracle at {n} images")
        assert same_rtree, "rtree and strtree disagree"
        n_truth = result.diagnostics["truth"]["rows"]
        rows.append(
            (n, n_truth, base, ours_read, ours, match_only, rtree, cli_wall, peak, oracle_s)
        )

    print(
        f"{'images':>7} {'truths':>8} {'read+parse':>10} {'our read':>9} {'score':>7} "
        f"{'match':>6} {'rtree':>7} {'CLI wall':>9} {'peak MB':>8} {'oracle':>8} "
        f"{'x oracle':>9} {'x match':>8} {'/parse':>7} {'s/1k img':>9}"
    )
    for n, nt, base, rd, ours, match, rt, wall, peak, orc in rows:
        print(
            f"{n:>7} {nt:>8} {base:>10.3f} {rd:>9.3f} {ours:>7.3f} {match:>6.3f} {rt:>7.3f} "
            f"{wall:>9.3f} {peak:>8.0f} {orc:>8.2f} {(rd + orc) / ours:>9.1f} "
            f"{orc / match:>8.1f} {ours / base:>7.2f} {1000 * ours / n:>9.3f}"
        )
    print("score: read + prepare + match in one process; match: prepare + match of parsed")
    print("tables; rtree: score with --index rtree; CLI wall: the command (score_files,")
    print("chunked, one worker per core above 8 MB), peak = PSS of it and its workers;")
    print("x oracle = (our read + oracle) / score; x match = oracle / match (both on parsed")
    print("tables); /parse = score / (pyarrow + shapely.from_wkt of both files).")


if __name__ == "__main__":
    main()
