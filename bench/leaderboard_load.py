"""Load benchmark of the leaderboard: concurrent clients submitting realistic CSVs to a
real server, and leaderboard reads with 10,000 submissions stored.

Prints
- submissions scored per second (uploads through HTTP, validation, storage, queue,
  scoring by the server's inline workers), with the ratio to the evaluator alone scoring
  the same files in this process (the ceiling: parse + score, no platform);
- p50/p99 latency of GET /leaderboard with ``--stored`` submissions in the database, with
  the ratio to the same ranking computed in-process (HTTP + serialisation overhead);
- peak memory (RSS) of the server process and of this process.

Usage: python bench/leaderboard_load.py [--clients 4] [--per-client 2] [--images 1000]
       [--buildings 100] [--stored 10000] [--requests 200] [--workers 2] [--db URL]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib
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


def variant(proposals: bytes, seed: int) -> bytes:
    """A distinct but equally realistic submission: drop ~5% of rows at random."""
    rng = random.Random(seed)
    lines = proposals.split(b"\n")
    keep = [lines[0]] + [x for x in lines[1:] if x and (b",-1," in x or rng.random() > 0.05)]
    return b"\n".join(keep) + b"\n"


def start_server(url: str, port: int, workers: int) -> subprocess.Popen:
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


class PeakRSS(threading.Thread):
    """Polls a process's resident memory (children included) until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return


def store_many(db, slug: str, n: int, teams: int) -> None:
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
        subs, scores = [], []
        for i in range(n):
            subs.append(
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
                    "created_at": start + timedelta(seconds=i),
                }
            )
        session.execute(Submission.__table__.insert(), subs)
        ids = dict(
            session.query(Submission.uuid, Submission.id)
            .filter(Submission.phase_id == phase.id)
            .all()
        )
        for s in subs:
            for split in ("public", "private"):
                f1s = {c: rng.random() for c in cities}
                scores.append(
                    {
                        "submission_id": ids[s["uuid"]],
                        "split": split,
                        "generation": 0,
                        "current": True,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-client", type=int, default=2)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--buildings", type=int, default=100)
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    print(
        f"database {url.split('@')[-1]}; {args.images} images x {args.buildings} buildings; "
        f"{args.clients} clients x {args.per_client} submissions; {args.workers} workers"
    )
    truth, proposals = make_pair(args.images, args.buildings, seed=0)
    n_files = args.clients * args.per_client
    files = [variant(proposals, i) for i in range(n_files)]
    print(f"submission size {len(files[0]) / 1e6:.1f} MB, truth {len(truth) / 1e6:.1f} MB")

    db = lb.open_database(url, migrate=True)
    lb.create_challenge(
        db,
        slug="bench",
        title="Bench",
        truth=truth,
        split_salt="bench",
        phase=lb.PhaseChange(daily_limit=None, concurrent_limit=None),
    )
    lb.add_team(db, slug="bench", name="load")
    token = lb.issue_token(db, member="load", slug="bench", team="load")

    # Baseline: the evaluator alone, in this process (truth prepared once, as the workers do).
    prepared = PreparedTruth(truth, "deepglobe")
    read_proposals(files[0])  # warm-up
    t0 = time.perf_counter()
    for data in files[: min(3, n_files)]:
        prepared.score(read_proposals(data))
    direct_rate = min(3, n_files) / (time.perf_counter() - t0)

    port = random.randint(20000, 60000)
    server = start_server(url, port, args.workers)
    peak = PeakRSS(server.pid)
    peak.start()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    try:

        def client(k: int) -> list[str]:
            out = []
            with httpx.Client(base_url=base, timeout=600, headers=headers) as http:
                for j in range(args.per_client):
                    r = http.post(
                        "/api/v1/challenges/bench/submissions",
                        content=files[k * args.per_client + j],
                    )
                    r.raise_for_status()
                    out.append(r.json()["uuid"])
                    http.get("/api/v1/challenges/bench/leaderboard").raise_for_status()
            return out

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            uuids = [u for batch in pool.map(client, range(args.clients)) for u in batch]
        upload_s = time.perf_counter() - t0
        with httpx.Client(base_url=base, timeout=60, headers=headers) as http:
            while True:
                states = [http.get(f"/api/v1/submissions/{u}").json()["status"] for u in uuids]
                if all(s in ("scored", "failed") for s in states):
                    break
                time.sleep(0.2)
        total_s = time.perf_counter() - t0
        assert states.count("scored") == n_files, states
        rate = n_files / total_s
        print(
            f"scoring: {n_files} submissions uploaded in {upload_s:.1f} s, all scored in "
            f"{total_s:.1f} s -> {rate:.2f} submissions/s "
            f"(evaluator alone in-process: {direct_rate:.2f}/s; ratio {rate / direct_rate:.2f})"
        )

        store_many(db, "bench", args.stored - n_files, args.teams)
        with httpx.Client(base_url=base, timeout=60) as http:
            for _ in range(5):  # warm-up
                http.get("/api/v1/challenges/bench/leaderboard").raise_for_status()

            def read(_: int) -> float:
                t = time.perf_counter()
                r = http.get("/api/v1/challenges/bench/leaderboard")
                r.raise_for_status()
                return time.perf_counter() - t

            with ThreadPoolExecutor(args.clients) as pool:
                latencies = list(pool.map(read, range(args.requests)))
            rows = len(http.get("/api/v1/challenges/bench/leaderboard").json()["rows"])
        cold = []
        for _ in range(10):
            db.cache.clear()
            t = time.perf_counter()
            lb.leaderboard(db, slug="bench").model_dump(mode="json")
            cold.append(time.perf_counter() - t)
        # Every request after a change recomputes the board: bump the version each time.
        changed = []
        with httpx.Client(base_url=base, timeout=60) as http:
            for _ in range(30):
                with db.transaction() as session:
                    bump_board(session, challenge_id=1)
                t = time.perf_counter()
                http.get("/api/v1/challenges/bench/leaderboard").raise_for_status()
                changed.append(time.perf_counter() - t)
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        direct = statistics.median(cold)
        print(
            f"leaderboard with {args.stored} submissions stored ({rows} ranked teams), "
            f"{args.clients} concurrent readers: p50 {p50 * 1e3:.0f} ms, p99 "
            f"{p99 * 1e3:.0f} ms"
        )
        print(
            f"  uncached ranking in-process median {direct * 1e3:.0f} ms; GET right after "
            f"each change (recomputed) median {statistics.median(changed) * 1e3:.0f} ms, "
            f"max {max(changed) * 1e3:.0f} ms; cached p50 is "
            f"{direct / p50:.1f}x faster than recomputing"
        )
    finally:
        peak.stop.set()
        peak.join()
        server.terminate()
        server.wait(timeout=30)
        db.dispose()
    print(
        f"peak RSS: server {peak.peak / 2**20:.0f} MiB, bench process "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
