"""kws.record: takes cut, checked and saved; the microphone path through ALSA's file plugin
(the way tests/test_listen_alsa.py does it: a .asoundrc in a temporary HOME whose default
capture PCM reads a known raw recording)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kws.audio import read_audio
from kws.errors import AudioError, ConfigError
from kws.record import MARGIN_MS, check_take, cut_take, record_takes
from kws.sources import ArraySource
from kws.voices import Voice, spoken_part, synthesize

REPO = Path(__file__).resolve().parents[1]
WINDOW = 40000                      # 2.5 s at 16 kHz


def _word(level: float = 0.3) -> np.ndarray:
    take = synthesize("stop", Voice(family="espeak", name="en-us"))
    start, end = spoken_part(take)
    x = take[start:end].astype(np.float64)
    return x / np.abs(x).max() * level * 32767


def _window(word: np.ndarray, at: int = 12000, noise: float = 30.0, seed: int = 0
            ) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, noise, WINDOW)
    part = word[:max(0, WINDOW - at)]
    x[at:at + part.size] += part
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def test_checks_by_hand() -> None:
    word = _word()
    good = check_take(_window(word))
    assert good.ok and good.reason == "" and -40 < good.level_dbfs < -5 and good.snr_db > 20
    assert good.start <= 12000 + 320 and good.end >= 12000 + word.size - 640
    silent = check_take(_window(word * 0))
    assert not silent.ok and silent.reason.startswith("no speech heard")
    quiet = check_take(_window(word * 0.003, noise=0.3))
    assert not quiet.ok and quiet.reason.startswith("too quiet")
    loud = check_take(_window(word * 10))
    assert not loud.ok and loud.reason.startswith("clipped")
    noisy = check_take(_window(word, noise=3000))
    assert not noisy.ok and noisy.reason.startswith("too noisy")
    edge = check_take(_window(word, at=WINDOW - word.size // 2))
    assert not edge.ok and edge.reason.startswith("cut off")
    cut = cut_take(_window(word), good)
    margin = MARGIN_MS * 16
    assert cut.size == good.end - good.start + 2 * margin


def test_record_takes_keeps_good_takes_and_says_why_not(tmp_path: Path) -> None:
    word = _word()
    windows = [_window(word, seed=1), _window(word * 10), _window(word, seed=2),
               _window(word * 0), _window(word, seed=3)]
    lines: list[str] = []
    (tmp_path / "stop_004.wav").write_bytes(b"")          # earlier takes are kept
    written = record_takes(ArraySource(np.concatenate(windows)), "Stop", 3, tmp_path,
                           seconds=2.5, say=lines.append)
    assert [p.name for p in written] == ["stop_005.wav", "stop_006.wav", "stop_007.wav"]
    assert sum(line.startswith("  again: clipped") for line in lines) == 1
    assert sum(line.startswith("  again: no speech") for line in lines) == 1
    for path, window in zip(written, [windows[0], windows[2], windows[4]], strict=True):
        audio = read_audio(path)
        check = check_take(window)
        np.testing.assert_array_equal(audio, cut_take(window, check))
    assert not list(tmp_path.glob(".*kws-tmp*"))          # written atomically
    with pytest.raises(AudioError, match="only 0 of 2 takes"):
        record_takes(ArraySource(np.concatenate([windows[1]] * 4)), "stop", 2,
                     tmp_path / "b", max_attempts=2, say=lines.append)
    with pytest.raises(AudioError, match="ended after 0 of 2"):
        record_takes(ArraySource(windows[0][:100]), "stop", 2, tmp_path / "c", say=print)
    with pytest.raises(ConfigError, match="--count 0"):
        record_takes(ArraySource(windows[0]), "stop", 0, tmp_path / "d")


def test_record_through_the_alsa_file_microphone(tmp_path: Path) -> None:
    """``kws record`` in a subprocess: MicrophoneSource (sounddevice -> PortAudio -> ALSA's
    file plugin) feeds record_takes; the saved takes are the spoken parts of the raw
    recording, and the silent take in between is refused and recorded again."""
    if not sys.platform.startswith("linux"):
        pytest.fail("the ALSA file-plugin microphone needs Linux")
    sys.path.insert(0, str(REPO / "tests"))
    from test_listen_alsa import ASOUNDRC as TEMPLATE

    word = _word()
    windows = [_window(word, seed=4), _window(word * 0), _window(word, seed=5)]
    audio = np.concatenate(windows + [np.zeros(WINDOW * 2, np.int16)])
    raw = tmp_path / "mic.raw"
    audio.astype("<i2").tofile(raw)
    (tmp_path / ".asoundrc").write_text(TEMPLATE.format(infile=raw))
    env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=str(REPO))
    env.pop("ALSA_CONFIG_PATH", None)
    out = tmp_path / "takes"
    done = subprocess.run([sys.executable, "-m", "kws.cli", "record", "stop", "--count", "2",
                           "--out", str(out)], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "again: no speech heard" in done.stdout
    files = sorted(out.glob("*.wav"))
    assert [p.name for p in files] == ["stop_001.wav", "stop_002.wav"]
    for path, window in zip(files, [windows[0], windows[2]], strict=True):
        np.testing.assert_array_equal(read_audio(path), cut_take(window, check_take(window)))
