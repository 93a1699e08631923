"""Fuzz (issue 13): a few hundred hostile variants of the shipped model (structural edits of
the flatbuffer and byte flips, fixed seed) through ``kws detect``, ``kws evaluate`` and
``kws export``: no exit by a signal, no traceback, only a one-line error or a valid result.
``python benchmarks/bench_fuzz_models.py`` runs 1,000 and more and prints the counts."""

from __future__ import annotations

import sys
from pathlib import Path

from kws.labels import LABELS
from kws.runtime import DEFAULT_MODEL

sys.path.insert(0, str(Path(__file__).parent))
from model_mutants import run_mutants  # noqa: E402
from speech_commands_fakes import make_dataset  # noqa: E402

MUTANTS = 200
SEED = 13


def test_hostile_models_never_crash_or_print_a_traceback(mini_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    words = [w for w in LABELS if not w.startswith("_")] + ["bed", "cat"]
    make_dataset(data, mini_dir, {w: 2 for w in words})
    wav = sorted((mini_dir / "yes").glob("*.wav"))[0]
    counts, problems = run_mutants(DEFAULT_MODEL.read_bytes(), MUTANTS, SEED,
                                   tmp_path / "work", wav, data)
    assert not problems, "\n".join(problems[:20])
    for cmd in ("detect", "evaluate", "export"):
        runs = sum(n for (c, _), n in counts.items() if c == cmd)
        assert runs == MUTANTS, (cmd, counts)
        # most mutants are refused, and some (harmless byte flips) still work
        assert counts[(cmd, "refused")] > MUTANTS // 2, counts
