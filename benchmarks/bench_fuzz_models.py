"""Fuzz the model loaders (issue 13): N hostile variants of a model through kws detect,
kws evaluate and kws export; prints the outcome counts (goal: 0 crashes, 0 tracebacks).

    python benchmarks/bench_fuzz_models.py [--mutants 1000] [--seed 1] [--model M.tflite]

Half the mutants are structural edits made with the official TFLite schema (indices, shapes,
types, buffers, quantization, options, operator codes, graph order, metadata JSON; half of
those also drop the content hash, as an attacker would), half are byte flips and cuts. See
tests/model_mutants.py for the outcomes. Uses a small dataset copied from the mini corpus.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from model_mutants import COMMANDS, OUTCOMES, run_mutants  # noqa: E402
from speech_commands_fakes import make_dataset  # noqa: E402

from kws.labels import LABELS  # noqa: E402
from kws.runtime import DEFAULT_MODEL  # noqa: E402

MINI = REPO.parent / "shared" / "data" / "speech_commands_mini_v0.02"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=MINI, help="mini corpus to copy from")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        words = [w for w in LABELS if not w.startswith("_")] + ["bed", "cat"]
        make_dataset(work / "data", args.data, {w: 2 for w in words})
        wav = sorted((args.data / "yes").glob("*.wav"))[0]
        began = time.perf_counter()
        counts, problems = run_mutants(args.model.read_bytes(), args.mutants, args.seed,
                                       work / "work", wav, work / "data")
        seconds = time.perf_counter() - began
    print(f"{args.mutants} mutants of {args.model.name} (seed {args.seed}), "
          f"{seconds:.0f} s")
    print(f"{'command':<10}" + "".join(f"{o:>11}" for o in OUTCOMES))
    total: Counter[str] = Counter()
    for cmd in COMMANDS:
        print(f"{cmd:<10}" + "".join(f"{counts[(cmd, o)]:>11}" for o in OUTCOMES))
        for o in OUTCOMES:
            total[o] += counts[(cmd, o)]
    print(f"{'all':<10}" + "".join(f"{total[o]:>11}" for o in OUTCOMES))
    for line in problems[:50]:
        print("  " + line)
    return 0 if not (total["crash"] or total["traceback"] or total["unclear"]) else 1


if __name__ == "__main__":
    sys.exit(main())
