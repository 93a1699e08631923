"""Shared fixtures: the read-only mini Speech Commands corpus beside the checkout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
MINI = REPO.parent / "shared" / "data" / "speech_commands_mini_v0.02"


def mini_clips() -> list[Path]:
    """Every one-second clip of the mini corpus (not the background noise), sorted."""
    return sorted(p for p in MINI.glob("*/*.wav") if p.parent.name != "_background_noise_")


@pytest.fixture(scope="session")
def mini_dir() -> Path:
    if not MINI.is_dir():
        pytest.fail(f"mini corpus not found at {MINI} (../shared must sit beside the checkout)")
    return MINI


@pytest.fixture(scope="session")
def mini_audio(mini_dir: Path) -> np.ndarray:
    """int16 (2654, 16000): every mini-corpus clip, zero-padded or cut to one second."""
    import soundfile as sf

    clips = mini_clips()
    out = np.zeros((len(clips), 16000), dtype=np.int16)
    for i, path in enumerate(clips):
        data, rate = sf.read(str(path), dtype="int16")
        assert rate == 16000
        out[i, : min(16000, data.size)] = data[:16000]
    return out
