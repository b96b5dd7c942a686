"""Benchmark ``geoarena score`` on seeded synthetic SpaceNet files.

For 100, 1000 and 10000 images (about 100 buildings each) it times, in one process:
  * read+parse floor: pyarrow CSV + shapely.from_wkt of both files, nothing else;
  * geoarena read: read_truth + read_proposals (validation included);
  * geoarena score, in process: read + PreparedTruth + score (the default grid index,
    and --other-index for comparison), in one process; and ``score_files``, what the
    command runs: the same on every core (forked workers for files over 1 MB); and the
    same from a prepared truth loaded beforehand (what a resident scorer pays);
  * geoarena score, CLI: the real command in a subprocess, from the two CSVs and from a
    truth stored by ``geoarena prepare`` (wall time, CPU time of it and its workers,
    peak PSS); and the command's start-up alone (``geoarena score --help``);
  * the least a prepared score can cost with these libraries (``least_score.py``: start-up,
    both files read, the proposals parsed, validated, measured and boxed on every core,
    nothing else), in turns with the command from the prepared truth;
  * the oracle: the deliberately simple per-proposal loop of tests/evaluator/oracle.py
    (only up to --oracle-max images: it is slow), also checked for equal counts.
Medians over --repeats runs after one warm-up; the in-process measurements take turns
within each repeat, as do the CLI runs of the two kinds and a floor run beside them (the
CLI's time over the floor's is also given as the median of these paired ratios), so the
machine's slow spells cancel out of the ratios. The spread (max/min of the CSV
command's wall times) says how noisy it was.

    python bench/evaluator_bench.py --sizes 100,1000,10000
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geoarena.evaluator import PreparedTruth, get_rules, read_proposals, read_truth  # noqa: E402
from geoarena.evaluator.parallel import score_files  # noqa: E402
from geoarena.evaluator.stored import load_prepared  # noqa: E402
from geoarena.evaluator.synthetic import make_pair  # noqa: E402
from tests.evaluator.oracle import oracle_score  # noqa: E402


def median_times(fns: dict, repeats: int) -> dict[str, float]:
    """Median wall seconds of each function, after one warm-up, the functions taking
    turns within each repeat so that a slow spell of the machine hits all of them."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for rep in range(repeats + 1):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            if rep:  # repeat 0 is the warm-up
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(values) for name, values in times.items()}


def baseline_read_parse(truth: Path, props: Path) -> None:
    import pyarrow.csv as pacsv
    import shapely

    for path in (truth, props):
        table = pacsv.read_csv(path)
        shapely.from_wkt(table.column("PolygonWKT_Pix").to_numpy(zero_copy_only=False))


def full_score(truth: Path, props: Path, index: str):
    t, p = read_truth(truth), read_proposals(props)
    return PreparedTruth(t, "deepglobe", index=index).score(p)


def cli_run(*args: object, memory: bool = False) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and, with ``memory``, peak memory (MB; else NaN) of one
    ``geoarena`` subprocess: CPU is user + system of the process and its forked workers,
    memory the PSS of all of them together (shared copy-on-write pages counted once).

    Memory is sampled in separate runs: reading every process's smaps each 50 ms costs
    the 2-core machine enough CPU to slow the measured command by ~15%."""
    import psutil

    # the command of this checkout (the console script would import the installed copy)
    command = [sys.executable, "-c", "from geoarena.cli import main; main()", *map(str, args)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    peak = float("nan")
    if memory:
        proc = psutil.Popen(command, stdout=subprocess.DEVNULL, cwd=REPO)
        peak = 0
        while proc.poll() is None:
            try:
                tree = [proc, *proc.children(recursive=True)]
                peak = max(peak, sum(p.memory_full_info().pss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.05)
        status = proc.returncode
    else:
        status = subprocess.run(command, stdout=subprocess.DEVNULL, cwd=REPO).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if status != 0:
        raise SystemExit(f"geoarena {args[0]} failed with status {status}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak / 2**20


def least_run(stored: Path, props: Path) -> float:
    """Wall seconds of ``least_score.py`` (a lower bound of the prepared score)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, REPO / "bench" / "least_score.py", stored, props], check=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--buildings", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--oracle-max", type=int, default=1000)
    ap.add_argument("--other-index", default="strtree", help="index compared with the grid")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    startup = statistics.median(cli_run("score", "--help")[0] for _ in range(5))
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        truth, props = args.out / f"truth_{n}.csv", args.out / f"props_{n}.csv"
        if not truth.exists() or not props.exists():
            t_bytes, p_bytes = make_pair(n, args.buildings, seed=n)
            truth.write_bytes(t_bytes)
            props.write_bytes(p_bytes)
        reps = args.repeats if n <= 1000 else 1
        files = (truth, props)
        stored = args.out / f"truth_{n}.prepared"
        prepare = cli_run("prepare", truth, "-o", stored)
        loaded = load_prepared(stored)
        tables = (read_truth(truth), read_proposals(props))
        timed = median_times(
            {
                "base": lambda f=files: baseline_read_parse(*f),
                "read": lambda f=files: (read_truth(f[0]), read_proposals(f[1])),
                "score": lambda f=files: full_score(*f, "grid"),
                "files": lambda f=files: score_files(*f),
                "resident": lambda t=loaded, p=props: score_files(t, p, t.rules),
                "match": lambda t=tables: PreparedTruth(t[0], "deepglobe").score(t[1]),
                "other": lambda f=files: full_score(*f, args.other_index),
            },
            reps,
        )
        base, ours_read, ours = timed["base"], timed["read"], timed["score"]
        every_core, resident = timed["files"], timed["resident"]
        match_only, other = timed["match"], timed["other"]
        del tables
        del loaded
        csv_runs, prepared_runs, least_runs, floor_runs = [], [], [], []
        for _ in range(reps):  # alternate, so all kinds meet the same slow spells
            start = time.perf_counter()
            baseline_read_parse(*files)
            floor_runs.append(time.perf_counter() - start)
            csv_runs.append(cli_run("score", truth, props))
            prepared_runs.append(cli_run("score", stored, props))
            least_runs.append(least_run(stored, props))
        csv_memory = cli_run("score", truth, props, memory=True)[2]
        prepared_memory = cli_run("score", stored, props, memory=True)[2]
        result = full_score(truth, props, "grid")
        same_other = result.micro == full_score(truth, props, args.other_index).micro
        oracle_s = float("nan")
        if n <= args.oracle_max:
            t_tab, p_tab = read_truth(truth), read_proposals(props)
            start = time.perf_counter()
            expected = oracle_score(t_tab, p_tab, get_rules("deepglobe"))
            oracle_s = time.perf_counter() - start
            got = {s.image_id: (s.counts.tp, s.counts.fp, s.counts.fn) for s in result.images}
            if got != dict(expected):
                raise SystemExit(f"MISMATCH with the oracle at {n} images")
        assert same_other, f"grid and {args.other_index} disagree"
        n_truth = result.diagnostics["truth"]["rows"]
        rows.append(
            (
                n,
                n_truth,
                base,
                ours_read,
                ours,
                every_core,
                match_only,
                other,
                prepare,
                csv_runs,
                prepared_runs,
                statistics.median(least_runs),
                resident,
                (csv_memory, prepared_memory),
                oracle_s,
                (_paired(csv_runs, floor_runs), _paired(prepared_runs, floor_runs)),
            )
        )

    def med(runs: list[tuple[float, float, float]], k: int) -> float:
        return statistics.median(r[k] for r in runs)

    print(f"start-up (geoarena score --help): {startup:.3f} s")
    print(
        f"{'images':>7} {'truths':>8} {'floor':>7} {'read':>7} {'score':>7} {'/floor':>7} "
        f"{'cores':>6} {'/floor':>7} {'match':>6} {args.other_index:>8} {'prepare':>8} | "
        f"{'CLI csv':>8} {'cpu':>6} "
        f"{'MB':>6} | {'CLI prep':>8} {'cpu':>6} {'MB':>6} "
        f"{'least':>6} {'x least':>7} {'resident':>8} | {'spread':>6} {'oracle':>7} "
        f"{'x match':>7} | {'csv/fl':>6} {'prep/fl':>7}"
    )
    for row in rows:
        n, nt, base, rd, ours, cores, match, oth, prep, csv_runs, prep_runs = row[:11]
        least, res, mb, orc, (csv_floor, prep_floor) = row[11:]
        walls = [r[0] for r in csv_runs]
        print(
            f"{n:>7} {nt:>8} {base:>7.3f} {rd:>7.3f} {ours:>7.3f} {ours / base:>7.2f} "
            f"{cores:>6.3f} {cores / base:>7.2f} {match:>6.3f} {oth:>8.3f} {prep[0]:>8.2f} | "
            f"{med(csv_runs, 0):>8.3f} "
            f"{med(csv_runs, 1):>6.2f} {mb[0]:>6.0f} | "
            f"{med(prep_runs, 0):>8.3f} {med(prep_runs, 1):>6.2f} "
            f"{mb[1]:>6.0f} {least:>6.3f} {med(prep_runs, 0) / least:>7.2f} {res:>8.3f} | "
            f"{max(walls) / min(walls):>6.2f} "
            f"{orc:>7.2f} {orc / match:>7.1f} | {csv_floor:>6.2f} {prep_floor:>7.2f}"
        )
    print("floor: pyarrow + shapely.from_wkt of both files; read: our validated read;")
    print("score: read + prepare + match in one process (grid index); cores: the same by")
    print("score_files on every core (what the command runs); /floor = either / floor;")
    print("match: prepare + match of parsed tables; prepare: `geoarena prepare`")
    print("wall; CLI csv / CLI prep: `geoarena score` from the CSVs / from the prepared")
    print("truth, wall and CPU (s, with its workers), and peak PSS (one more run each,")
    print("sampled); least: least_score.py, the library calls a prepared score cannot skip;")
    print("x least = CLI prep / least; resident: the prepared score on every core in a")
    print("process that holds the loaded truth (a server's cost: no start-up, no load);")
    print("spread: max/min wall of the CSV command; x match = oracle / match (both on")
    print("parsed tables); csv/fl, prep/fl: the CLI's wall over the floor's, each run")
    print("beside a floor run in this process (median of the paired ratios: a slow spell")
    print("slows both, so this scales to another machine better than the medians' ratio).")


def _paired(runs: list[tuple[float, float, float]], floors: list[float]) -> float:
    """Median of each CLI run's wall time over the floor run just before it."""
    return statistics.median(run[0] / floor for run, floor in zip(runs, floors, strict=True))


if __name__ == "__main__":
    main()
