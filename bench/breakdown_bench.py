"""What the diagnostics cost: ``score(..., breakdown=True)`` against the plain score.

On seeded synthetic SpaceNet pairs (``evaluator/synthetic.py``: jittered, merged, split,
missed, misplaced and false buildings), with both tables parsed and the truth prepared
once, it times in one process: the plain score (pruned), ``details=True`` (every
candidate IoU, per-polygon matches) and ``breakdown=True`` (every IoU, then the error
classes and recall by size). Medians over --repeats runs after a warm-up, interleaved so
the machine's slow spells hit every variant alike; ratios are to the plain score.

    python bench/breakdown_bench.py --sizes 100,1000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geoarena.evaluator import PreparedTruth, read_proposals, read_truth  # noqa: E402
from geoarena.evaluator.synthetic import make_pair  # noqa: E402

VARIANTS = {"plain": {}, "details": {"details": True}, "breakdown": {"breakdown": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--buildings", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print("| images | plain (s) | details (s) | breakdown (s) | breakdown / plain |")
    print("|---:|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        truth_csv, props_csv = make_pair(n, args.buildings, seed=0)
        prepared = PreparedTruth(read_truth(truth_csv))
        props = read_proposals(props_csv)
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for k in range(args.repeats + 1):
            for name, kwargs in VARIANTS.items():
                start = time.perf_counter()
                prepared.score(props, **kwargs)
                if k:  # the first round is the warm-up
                    times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(t) for name, t in times.items()}
        print(
            f"| {n:,} | {med['plain']:.3f} | {med['details']:.3f} | {med['breakdown']:.3f} "
            f"| {med['breakdown'] / med['plain']:.1f}x |"
        )


if __name__ == "__main__":
    main()
