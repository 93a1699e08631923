"""Recording your own takes of a wake phrase (``kws record PHRASE --count N --out DIR``).

    microphone (kws.sources.MicrophoneSource, or any AudioSource)
      -> one window of ``seconds`` per take, prompted on stdout
      -> the spoken part (:func:`speech_frames`) with MARGIN_MS of context each side
      -> checks: speech long enough and not cut off by the window, level, clipping, noise
      -> DIR/<label>_<nnn>.wav, 16 kHz mono int16, written atomically (kws.audio.write_wav)

A take that fails a check is said why (one line) and recorded again, at most
``max_attempts`` windows in all. Files already in DIR are kept: numbering continues after
the highest one. The folder is what ``kws wakeword PHRASE --recordings DIR`` reads.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kws.errors import AudioError, ConfigError
from kws.labels import phrase_label
from kws.sources import AudioSource
from kws.voices import clipped_share, level_dbfs

RATE_HZ = 16000
MARGIN_MS = 150
"""Context kept before and after the spoken part of a take, in ms."""
MIN_SPEECH_S = 0.15
"""Shortest spoken part accepted (a cough or a click is shorter)."""
EDGE_MS = 60
"""Speech this close to the start or end of the window was probably cut off."""
MIN_LEVEL_DBFS = -45.0
"""Quietest active speech level accepted (dB below full scale)."""
MAX_CLIPPED = 1e-3
"""Largest share of samples at full scale accepted."""
SPEECH_DB = 40.0
"""Speech frames are within this many dB of the loudest frame of the window ..."""
FLOOR_DB = 10.0
"""... and at least this many dB above its background (a quiet room's hum is not speech)."""
MIN_SNR_DB = 12.0
"""Speech must be this many dB above the quiet part of the window (its quietest 20 %)."""


@dataclasses.dataclass(frozen=True)
class TakeCheck:
    """The verdict on one window: ``ok``, or the reason it was refused; the spoken part
    [start, end) in samples, its level (dBFS), clipped share and SNR (dB)."""

    ok: bool
    reason: str
    start: int
    end: int
    level_dbfs: float
    clipped: float
    snr_db: float


def speech_frames(window: np.ndarray) -> tuple[int, int, float]:
    """[start, end) samples of the speech in a window and its background power: the 20 ms
    frames within SPEECH_DB of the loudest and at least FLOOR_DB above the background (the
    mean power of the quietest 20 % of frames). (0, 0, floor) when no frame qualifies."""
    x = np.asarray(window, dtype=np.float64)
    frames = x[: x.size // 320 * 320].reshape(-1, 320)
    if frames.size == 0:
        return 0, 0, 0.0
    power = np.mean(frames ** 2, axis=1)
    floor = float(np.mean(np.sort(power)[: max(1, len(power) // 5)]))
    loud = (power > 0) & (power >= power.max() * 10 ** (-SPEECH_DB / 10)) \
        & (power >= floor * 10 ** (FLOOR_DB / 10))
    if not loud.any():
        return 0, 0, floor
    idx = np.nonzero(loud)[0]
    return int(idx[0]) * 320, int(idx[-1] + 1) * 320, floor


def check_take(window: np.ndarray) -> TakeCheck:
    """Judge one recorded window (int16 (n,) at 16 kHz) by the module's rules."""
    x = np.asarray(window)
    start, end, floor = speech_frames(x)
    level = level_dbfs(x[start:end]) if end > start else -np.inf
    clipped = clipped_share(x)
    speech = 10 ** (level / 10) * 32768.0 ** 2 if np.isfinite(level) else 0.0
    snr = 10 * np.log10(speech / floor) if floor > 0 and speech > 0 else (
        np.inf if speech > 0 else -np.inf)
    edge = EDGE_MS * RATE_HZ // 1000

    def verdict(reason: str) -> TakeCheck:
        return TakeCheck(not reason, reason, start, end, float(level), clipped, float(snr))

    if end - start < MIN_SPEECH_S * RATE_HZ:
        background = 10 * np.log10(floor / 32768.0 ** 2) if floor > 0 else -np.inf
        if background > MIN_LEVEL_DBFS:
            return verdict(f"too noisy (background at {background:.0f} dBFS, no speech "
                           f"{FLOOR_DB:g} dB above it)")
        return verdict(f"no speech heard (background at {background:.0f} dBFS)")
    if clipped > MAX_CLIPPED:
        return verdict(f"clipped ({100 * clipped:.1f}% of samples at full scale): "
                       "speak softer or further away")
    if level < MIN_LEVEL_DBFS:
        return verdict(f"too quiet ({level:.0f} dBFS, needs {MIN_LEVEL_DBFS:g}): "
                       "speak louder or closer")
    if snr < MIN_SNR_DB:
        return verdict(f"too noisy (speech {snr:.0f} dB above the background, needs "
                       f"{MIN_SNR_DB:g})")
    if start < edge or end > x.size - edge:
        return verdict("cut off at the edge of the window: start speaking after the prompt "
                       "and finish before the next")
    return verdict("")


def cut_take(window: np.ndarray, check: TakeCheck) -> np.ndarray:
    """The spoken part of an accepted window with MARGIN_MS each side: int16 (m,)."""
    margin = MARGIN_MS * RATE_HZ // 1000
    return np.asarray(window[max(0, check.start - margin):check.end + margin], np.int16)


def _next_number(folder: Path, label: str) -> int:
    pattern = re.compile(rf"{re.escape(label)}_(\d+)\.wav$")
    numbers = [int(m.group(1)) for p in folder.glob(f"{label}_*.wav")
               if (m := pattern.match(p.name))]
    return max(numbers, default=0) + 1


def read_window(source: AudioSource, samples: int) -> np.ndarray:
    """Exactly ``samples`` samples of ``source`` (int16), fewer only at its end."""
    parts, have = [], 0
    while have < samples:
        block = source.read(samples - have)
        if block.size == 0:
            break
        parts.append(block)
        have += block.size
    return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)


def record_takes(source: AudioSource, phrase: str, count: int, out_dir: str | Path,
                 seconds: float = 2.5, max_attempts: int | None = None,
                 say: Callable[[str], None] = print) -> list[Path]:
    """Record ``count`` accepted takes of ``phrase`` from ``source`` into ``out_dir``.

    Each take is one window of ``seconds`` (1-10 s); ``say`` gets the prompts and verdicts.
    Returns the written files. Raises ConfigError for bad arguments and AudioError when
    ``max_attempts`` windows (default 3 x count) gave fewer accepted takes, or the source
    ended; the takes accepted so far stay written.
    """
    from kws.audio import write_wav

    label = phrase_label(phrase)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise ConfigError(f"--count {count!r} must be an int in 1..1000")
    if not 1.0 <= seconds <= 10.0:
        raise ConfigError(f"--seconds {seconds!r} must be in 1..10")
    if source.sample_rate_hz != RATE_HZ:
        raise ConfigError(f"source rate {source.sample_rate_hz} Hz must be {RATE_HZ}")
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {folder}: is a file, expected a folder")
    folder.mkdir(parents=True, exist_ok=True)
    attempts = max_attempts if max_attempts is not None else 3 * count
    number = _next_number(folder, label)
    samples = int(seconds * RATE_HZ)
    written: list[Path] = []
    for attempt in range(1, attempts + 1):
        say(f"take {len(written) + 1}/{count}: say {phrase!r} now")
        window = read_window(source, samples)
        if window.size < samples:
            raise AudioError(f"the input ended after {len(written)} of {count} takes")
        check = check_take(window)
        if not check.ok:
            say(f"  again: {check.reason}")
            continue
        path = folder / f"{label}_{number:03d}.wav"
        write_wav(path, cut_take(window, check))
        written.append(path)
        number += 1
        say(f"  kept {path.name}: {(check.end - check.start) / RATE_HZ:.2f} s of speech at "
            f"{check.level_dbfs:.0f} dBFS, {check.snr_db:.0f} dB above the background")
        if len(written) == count:
            return written
        if attempt == attempts:
            break
    raise AudioError(f"only {len(written)} of {count} takes passed the checks in {attempts} "
                     "attempts (see the reasons above)")
