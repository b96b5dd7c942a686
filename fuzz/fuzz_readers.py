"""Long fuzz runs of the evaluator's readers and scorer (CI runs a short one:
``tests/evaluator/test_fuzz.py``).

The property is ``tests/evaluator/fuzzing.py``'s: any bytes, read as a truth or a proposal
file and scored both ways (``score`` and ``score_files``, the path of ``geoarena score``),
end in a result or an ``InputError``, and both paths agree. Run from the repository root::

    pip install atheris   # coverage-guided (libFuzzer); optional
    python fuzz/fuzz_readers.py -runs=1000000           # or -max_total_time=3600
    python fuzz/fuzz_readers.py fuzz/crashes/crash-...  # replay one input

With atheris the arguments are libFuzzer's: the corpus starts as the seed CSVs in
``fuzz/corpus/`` and grows there, and the first failing input is written to
``fuzz/crashes/``. Instrumented, atheris' own memory grows by about 2 MB/s (the evaluator's
stays flat at ~130 MB: a plain loop over 20,000 inputs and over atheris' corpus), past
libFuzzer's 2 GB limit after ~15 minutes; run longer hunts as sessions that resume the
corpus::

    for i in 1 2 3 4 5 6; do python fuzz/fuzz_readers.py -max_total_time=600 fuzz/corpus; done

Without atheris (or with ``--random``) a plain loop mutates the seeds
at random for ``--seconds``, keeps going after a failure, writes each distinct one (by
exception type and place) to ``fuzz/crashes/`` and exits 1 if there was any::

    python fuzz/fuzz_readers.py --random --seconds 600 --seed 1
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import random
import sys
import time
import traceback
import warnings
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
CORPUS, CRASHES = HERE / "corpus", HERE / "crashes"
sys.path.insert(0, str(HERE.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random", action="store_true", help="plain random loop, no atheris")
    parser.add_argument("--seconds", type=float, default=60.0, help="random loop: time budget")
    parser.add_argument("--seed", type=int, default=0, help="random loop: RNG seed")
    args, rest = parser.parse_known_args()
    # overflowing coordinates (1e308) make numpy warn on every area; the property is
    # about exceptions, and the warnings would drown the fuzzer's own output
    warnings.simplefilter("ignore", RuntimeWarning)
    atheris = None if args.random else _optional("atheris")
    if atheris is None:
        fuzzing = importlib.import_module("tests.evaluator.fuzzing")
        replay = [Path(a) for a in rest if Path(a).is_file()]
        if replay:
            for path in replay:
                fuzzing.check_derived(path.read_bytes())
                print(f"{path}: no failure")
            return 0
        return random_loop(fuzzing, args.seconds, args.seed)
    # geoarena must be first imported inside this block for atheris to see its coverage
    with atheris.instrument_imports(include=["geoarena"]):
        fuzzing = importlib.import_module("tests.evaluator.fuzzing")
    CRASHES.mkdir(exist_ok=True)
    _write_corpus(fuzzing.seeds())  # the seeds are always in it (a no-op when they are)
    if not any(a for a in rest if not a.startswith("-")):  # no corpus or input given
        rest.append(str(CORPUS))
    atheris.Setup([sys.argv[0], f"-artifact_prefix={CRASHES}/", *rest], fuzzing.check_derived)
    atheris.Fuzz()
    return 0


def random_loop(fuzzing: ModuleType, seconds: float, seed: int) -> int:
    """Mutate seeds for ``seconds``; report inputs tried and distinct failures found."""
    rng = random.Random(seed)
    failures: dict[tuple[str, str, int], Path] = {}
    start = time.perf_counter()
    tried = 0
    while time.perf_counter() - start < seconds:
        data = fuzzing.random_input(rng)
        tried += 1
        try:
            fuzzing.check_derived(data)
        except Exception as exc:  # the property failed: keep the input, go on
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            key = (type(exc).__name__, frame.filename, frame.lineno or 0)
            if key not in failures:
                failures[key] = _save(data)
                print(f"failure {len(failures)} at input {tried}: {type(exc).__name__}: {exc}")
                print(f"  at {frame.filename}:{frame.lineno}; input in {failures[key]}")
    elapsed = time.perf_counter() - start
    print(
        f"{tried} inputs in {elapsed:.0f} s ({tried / elapsed:.0f}/s), "
        f"{len(failures)} distinct failures"
    )
    return 1 if failures else 0


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        print(f"{name} is not installed: running the plain random loop", file=sys.stderr)
        return None


def _write_corpus(seeds: tuple[bytes, ...]) -> None:
    CORPUS.mkdir(exist_ok=True)
    for data in seeds:
        (CORPUS / hashlib.sha1(data).hexdigest()).write_bytes(data)


def _save(data: bytes) -> Path:
    CRASHES.mkdir(exist_ok=True)
    path = CRASHES / f"crash-{hashlib.sha1(data).hexdigest()}"
    path.write_bytes(data)
    return path


if __name__ == "__main__":
    sys.exit(main())
