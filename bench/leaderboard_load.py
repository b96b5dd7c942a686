"""Load benchmark of the leaderboard against a real server (``leaderboard serve``).

Four measurements, each with its baseline measured in the same run:

1. throughput: concurrent clients upload realistic CSVs (1,000 images x 100 buildings,
   ~100k polygons); submissions scored per second by the server's inline workers, and
   the ratio to the evaluator alone scoring the same files in this process;
2. board: ``GET /leaderboard`` p50/p99 with ``--stored`` submissions in the database, and
   the same board computed in-process;
3. big upload: one ~200 MB accepted CSV; the server's peak RSS (its validation processes
   included) against the file's size;
4. flood: clients upload gzip'd ~190 MB files of unknown ImageIds (all rejected) as fast
   as they can while one reader measures the board's latency; p99 against the idle p99.

Usage: python bench/leaderboard_load.py [--phases throughput,board,big,flood] [--db URL]
       [--clients 4] [--per-client 2] [--images 1000] [--buildings 100] [--stored 10000]
       [--big-mb 200] [--flood-seconds 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import psutil

from geoarena import leaderboard as lb
from geoarena.evaluator import PreparedTruth, read_proposals
from geoarena.evaluator.synthetic import make_pair
from geoarena.leaderboard.blobs import put_blob
from geoarena.leaderboard.challenges import bump_board
from geoarena.leaderboard.schema import Phase, Score, Submission, Team, utcnow

CLI = [sys.executable, "-c", "from geoarena.cli import main; main()"]
BOARD = "/api/v1/challenges/bench/leaderboard"
UPLOAD = "/api/v1/challenges/bench/submissions"


def variant(proposals: bytes, seed: int) -> bytes:
    """A distinct but equally realistic submission: drop ~5% of rows at random."""
    rng = random.Random(seed)
    lines = proposals.split(b"\n")
    keep = [lines[0]] + [x for x in lines[1:] if x and (b",-1," in x or rng.random() > 0.05)]
    return b"\n".join(keep) + b"\n"


def inflate(proposals: bytes, megabytes: float) -> bytes:
    """A valid proposal file of about ``megabytes``: the rows repeated with new
    BuildingIds (more proposals per image, still no duplicate (ImageId, BuildingId))."""
    header, *rows = [r for r in proposals.split(b"\n") if r]
    copies = max(1, round(megabytes * 1e6 / len(proposals)))
    out = [header]
    for k in range(copies):
        for row in rows:
            image, building, rest = row.split(b",", 2)
            if building != b"-1":
                out.append(b"%s,%d,%s" % (image, int(building) + 1_000_000 * k, rest))
    return b"\n".join(out) + b"\n"


class PeakRSS(threading.Thread):
    """Polls the resident memory of a process and its children (the validation pool)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def current(self) -> int:
        procs = [self.process, *self.process.children(recursive=True)]
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):  # a process that just ended
                total += proc.memory_info().rss
        return total

    def reset(self) -> None:
        self.peak = self.current()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            try:
                self.peak = max(self.peak, self.current())
            except psutil.Error:
                return


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GEOARENA_RATE_LIMIT_PER_MINUTE="1000000")
    proc = subprocess.Popen(
        [*CLI, "leaderboard", "serve", "--db", url, "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).is_success:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def store_many(db: lb.Database, slug: str, n: int, teams: int) -> None:
    """Insert ``n`` scored submissions (with both split scores) straight into the database."""
    cities = [f"AOI_{i}_City" for i in range(1, 6)]
    rng = random.Random(0)
    with db.transaction() as session:
        phase = session.query(Phase).join(Phase.challenge).filter_by(slug=slug).one()
        team_ids = []
        for t in range(teams):
            team = Team(challenge_id=phase.challenge_id, name=f"bulk-{t:03d}")
            session.add(team)
            session.flush()
            team_ids.append(team.id)
        sha = put_blob(session, b"ImageId,BuildingId,PolygonWKT_Pix,Confidence\n")
        start = utcnow() - timedelta(days=30)
        subs = [
            {
                "uuid": str(uuidlib.uuid4()),
                "phase_id": phase.id,
                "team_id": team_ids[i % teams],
                "file_sha256": sha,
                "file_size": 10,
                "filename": "bulk.csv",
                "description": "",
                "status": "scored",
                "is_baseline": False,
                "selected_final": False,
                "is_late": False,
                "created_at": start + timedelta(seconds=i),
            }
            for i in range(n)
        ]
        session.execute(Submission.__table__.insert(), subs)
        ids = dict(
            session.query(Submission.uuid, Submission.id)
            .filter(Submission.phase_id == phase.id)
            .all()
        )
        scores = []
        for s in subs:
            for split in ("public", "private"):
                f1s = {c: rng.random() for c in cities}
                scores.append(
                    {
                        "submission_id": ids[s["uuid"]],
                        "split": split,
                        "generation": 0,
                        "f1": rng.random(),
                        "precision": rng.random(),
                        "recall": rng.random(),
                        "tp": 1,
                        "fp": 1,
                        "fn": 1,
                        "mean_city_f1": statistics.fmean(f1s.values()),
                        "cities": {
                            c: {"tp": 1, "fp": 1, "fn": 1, "f1": v, "precision": v, "recall": v}
                            for c, v in f1s.items()
                        },
                        "rules": "deepglobe",
                        "evaluator_version": "bulk",
                        "truth_sha256": sha,
                        "created_at": utcnow(),
                    }
                )
        session.execute(Score.__table__.insert(), scores)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed_gets(base: str, n: int, clients: int = 1) -> list[float]:
    with httpx.Client(base_url=base, timeout=60) as http:

        def read(_: int) -> float:
            t = time.perf_counter()
            http.get(BOARD).raise_for_status()
            return time.perf_counter() - t

        with ThreadPoolExecutor(clients) as pool:
            return list(pool.map(read, range(n)))


class Bench:
    def __init__(self, args: argparse.Namespace, url: str) -> None:
        self.args = args
        truth, self.proposals = make_pair(args.images, args.buildings, seed=0)
        self.db = lb.open_database(url, migrate=True)
        lb.create_challenge(
            self.db,
            slug="bench",
            title="Bench",
            truth=truth,
            split_salt="bench",
            phase=lb.PhaseChange(daily_limit=None, concurrent_limit=None),
        )
        lb.add_team(self.db, slug="bench", name="load")
        token = lb.issue_token(self.db, member="load", slug="bench", team="load")
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
        self.truth = truth
        port = random.randint(20000, 60000)
        self.server = start_server(url, port, args.workers)
        self.base = f"http://127.0.0.1:{port}"
        self.memory = PeakRSS(self.server.pid)
        self.memory.start()
        print(
            f"database {url.split('@')[-1]}; {args.images} images x {args.buildings} "
            f"buildings ({len(self.proposals) / 1e6:.1f} MB per submission, truth "
            f"{len(truth) / 1e6:.1f} MB); server with {args.workers} inline workers"
        )

    def close(self) -> None:
        self.memory.stop.set()
        self.server.terminate()
        self.server.wait(timeout=60)
        self.db.dispose()

    def upload(self, http: httpx.Client, data: bytes, name: str = "p.csv") -> httpx.Response:
        return http.post(UPLOAD, params={"filename": name}, content=data, headers=self.headers)

    def wait_scored(self, uuids: list[str]) -> None:
        with httpx.Client(base_url=self.base, timeout=60, headers=self.headers) as http:
            while True:
                states = [http.get(f"/api/v1/submissions/{u}").json()["status"] for u in uuids]
                if all(s in ("scored", "failed") for s in states):
                    assert states.count("scored") == len(uuids), states
                    return
                time.sleep(0.2)

    def throughput(self) -> None:
        args = self.args
        n = args.clients * args.per_client
        files = [variant(self.proposals, i) for i in range(n)]
        prepared = PreparedTruth(self.truth, "deepglobe")
        read_proposals(files[0])  # warm-up
        t0 = time.perf_counter()
        for data in files[: min(3, n)]:
            prepared.score(read_proposals(data))
        direct = min(3, n) / (time.perf_counter() - t0)

        def client(k: int) -> list[str]:
            with httpx.Client(base_url=self.base, timeout=600) as http:
                return [
                    self.upload(http, files[k * args.per_client + j])
                    .raise_for_status()
                    .json()["uuid"]
                    for j in range(args.per_client)
                ]

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            uuids = [u for batch in pool.map(client, range(args.clients)) for u in batch]
        uploaded = time.perf_counter() - t0
        self.wait_scored(uuids)
        total = time.perf_counter() - t0
        rate = n / total
        print(
            f"[throughput] {n} submissions uploaded in {uploaded:.1f} s, all scored in "
            f"{total:.1f} s -> {rate:.2f} scored/s (evaluator alone in-process, parse + "
            f"score: {direct:.2f}/s; ratio {rate / direct:.2f})"
        )

    def board(self) -> None:
        args = self.args
        store_many(self.db, "bench", args.stored, args.teams)
        timed_gets(self.base, 5)  # warm-up
        latencies = timed_gets(self.base, args.requests, args.clients)
        cold = []
        for _ in range(10):
            self.db.cache.clear()
            t = time.perf_counter()
            lb.leaderboard(self.db, slug="bench").model_dump(mode="json")
            cold.append(time.perf_counter() - t)
        changed = []
        for _ in range(20):
            with self.db.transaction() as session:
                bump_board(session, challenge_id=1)
            changed.append(timed_gets(self.base, 1)[0])
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        print(
            f"[board] {args.stored} submissions stored, {args.clients} concurrent readers: "
            f"p50 {p50 * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms; recomputed in-process median "
            f"{statistics.median(cold) * 1e3:.0f} ms; first GET after a change median "
            f"{statistics.median(changed) * 1e3:.0f} ms"
        )

    def big(self) -> None:
        data = inflate(self.proposals, self.args.big_mb)
        self.memory.reset()
        idle = self.memory.peak
        t0 = time.perf_counter()
        with httpx.Client(base_url=self.base, timeout=3600) as http:
            r = self.upload(http, data, "big.csv")
        elapsed = time.perf_counter() - t0
        r.raise_for_status()
        rows = data.count(b"\n") - 1
        print(
            f"[big upload] {len(data) / 1e6:.0f} MB, {rows:,} rows accepted in "
            f"{elapsed:.1f} s; server peak RSS (with its validation processes) "
            f"{self.memory.peak / 2**20:.0f} MiB, {idle / 2**20:.0f} MiB before"
        )

    def flood(self) -> None:
        unknown = inflate(self.proposals, self.args.big_mb * 0.95).replace(b"AOI_", b"ZZZ_")
        packed = gzip.compress(unknown, 6)
        idle = timed_gets(self.base, 100)
        stop = threading.Event()
        rejected = [0]

        def attacker() -> None:
            with httpx.Client(base_url=self.base, timeout=3600) as http:
                while not stop.is_set():
                    r = http.post(
                        UPLOAD,
                        params={"filename": "flood.csv.gz"},
                        content=packed,
                        headers={**self.headers, "Content-Type": "application/gzip"},
                    )
                    if r.status_code in (422, 429):
                        rejected[0] += 1

        self.memory.reset()
        threads = [threading.Thread(target=attacker) for _ in range(self.args.clients)]
        for t in threads:
            t.start()
        under: list[float] = []
        deadline = time.monotonic() + self.args.flood_seconds
        while time.monotonic() < deadline:
            under += timed_gets(self.base, 1)
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join()
        print(
            f"[flood] {self.args.clients} clients x {len(packed) / 1e6:.0f} MB gzip "
            f"({len(unknown) / 1e6:.0f} MB unpacked, unknown ImageIds) for "
            f"{self.args.flood_seconds:.0f} s: {rejected[0]} rejected; board p50 "
            f"{percentile(under, 50) * 1e3:.0f} ms, p99 {percentile(under, 99) * 1e3:.0f} ms "
            f"(idle p99 {percentile(idle, 99) * 1e3:.0f} ms); server peak RSS "
            f"{self.memory.peak / 2**20:.0f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", default="throughput,board,big,flood")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-client", type=int, default=2)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--buildings", type=int, default=100)
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--big-mb", type=float, default=200)
    parser.add_argument("--flood-seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args, args.db or f"sqlite:///{Path(tmp) / 'bench.db'}")
        phases: dict[str, Callable[[], None]] = {
            "throughput": bench.throughput,
            "board": bench.board,
            "big": bench.big,
            "flood": bench.flood,
        }
        try:
            for name in args.phases.split(","):
                phases[name]()
        finally:
            bench.close()


if __name__ == "__main__":
    main()
