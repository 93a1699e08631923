"""A small Speech Commands folder for tests: clips copied from the mini corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import soundfile as sf


def make_dataset(root: Path, mini: Path, per_word: dict[str, int], lists: bool = True,
                 noise_seconds: float = 12.0) -> list[str]:
    """A small dataset copied from the mini corpus (+ a synthetic noise recording).

    With ``lists``, the first clip of each word goes to validation, the second to test.
    Returns the relative paths of the copied clips.
    """
    rels, validation, testing = [], [], []
    for word, count in per_word.items():
        (root / word).mkdir(parents=True)
        for i, path in enumerate(sorted((mini / word).glob("*.wav"))[:count]):
            shutil.copyfile(path, root / word / path.name)
            rel = f"{word}/{path.name}"
            rels.append(rel)
            (validation if i == 0 else testing if i == 1 else []).append(rel)
    if lists:
        (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
        (root / "testing_list.txt").write_text("\n".join(testing) + "\n")
    if noise_seconds:
        (root / "_background_noise_").mkdir()
        rng = np.random.default_rng(7)
        noise = rng.integers(-2000, 2000, size=int(noise_seconds * 16000)).astype(np.int16)
        sf.write(str(root / "_background_noise_" / "noise.wav"), noise, 16000,
                 subtype="PCM_16")
    return rels
