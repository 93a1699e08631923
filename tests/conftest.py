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


@pytest.fixture(scope="session", autouse=True)
def _private_feature_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests fill a feature cache of their own, not the user's ``~/.cache/kws``; the
    TFLite Micro library build (minutes) keeps its shared cache folder."""
    import os

    from firmware_export.m4_build import default_cache_root

    os.environ.setdefault("KWS_TFLM_CACHE", str(default_cache_root()))
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg_cache"))
