"""Synthetic speech from espeak-ng, as 1-s int16 clips at 16 kHz.

    word (kws/data/words_en.txt) + a random voice (ESPEAK_VOICES x ESPEAK_VARIANTS),
    rate and pitch -> espeak-ng --stdout (22,050 Hz WAV) -> soxr to 16 kHz -> the spoken part
    (kws.audio.speech_end and its mirror) centred in one second -> a random level

The mini corpus has about 150 training clips of words that are not keywords, and a model
that has heard few other words hears keywords in them: ``kws synth-unknown`` makes thousands
of other words, many voices, for the ``_unknown_`` class (``DataConfig.extra_clips``).
Everything depends on the seed and on the espeak-ng build (its version is recorded).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np

from kws.audio import speech_end
from kws.data.augment import to_int16
from kws.errors import DataError

WORDS_FILE = Path(__file__).with_name("words_en.txt")
"""Common English words, none a keyword nor sounding like one."""
ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                 "en-gb-x-gbcwmd", "en-029")
"""espeak-ng's English voices used."""
ESPEAK_VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3",
                   "+f4", "+f5", "+klatt", "+klatt2", "+klatt4")
"""Voice variants (male, female, Klatt synthesis) appended to a voice name."""
RATE_WPM = (110, 200)
"""Speaking rate range, words per minute."""
PITCH = (20, 80)
"""espeak-ng pitch range (0-99)."""
LEVEL_DBFS = (-32.0, -12.0)
"""RMS level range of the spoken part, dB below full scale."""
RATE_HZ = 16000
CLIP_SAMPLES = 16000


def read_words(path: Path = WORDS_FILE) -> list[str]:
    """The words of a word list (one or more per line, '#' comments)."""
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words += line.split("#", 1)[0].split()
    return words


def espeak_version() -> str:
    """espeak-ng's version line; DataError when it is not installed."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DataError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    return subprocess.run([exe, "--version"], capture_output=True, text=True,
                          check=False).stdout.strip()


def espeak(text: str, voice: str, rate_wpm: int, pitch: int) -> np.ndarray:
    """espeak-ng's audio of ``text`` as int16 (n,) at 16 kHz."""
    import soundfile as sf
    import soxr

    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), "-p", str(pitch),
                           "--stdout", text], capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise DataError(f"espeak-ng failed on {text!r} with voice {voice!r}: "
                        f"{proc.stderr.decode(errors='replace').strip()[:200]}")
    audio, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    audio = soxr.resample(audio, rate, RATE_HZ)
    return np.clip(np.rint(audio * 32767), -32768, 32767).astype(np.int16)


def centre_clip(audio: np.ndarray, level_dbfs: float) -> np.ndarray:
    """The spoken part of ``audio`` (int16 (n,)) centred in a 1-s clip at ``level_dbfs`` RMS;
    a part longer than a second is cut around its middle. Returns int16 (16000,)."""
    end = int(speech_end(audio))
    start = audio.size - int(speech_end(audio[::-1]))
    part = audio[start:end].astype(np.float64) if end > start else audio.astype(np.float64)
    if part.size > CLIP_SAMPLES:
        cut = (part.size - CLIP_SAMPLES) // 2
        part = part[cut:cut + CLIP_SAMPLES]
    rms = np.sqrt(np.mean(part ** 2)) if part.size else 0.0
    if rms > 0:
        part = part * (32768 * 10 ** (level_dbfs / 20) / rms)
    out = np.zeros(CLIP_SAMPLES)
    offset = (CLIP_SAMPLES - part.size) // 2
    out[offset:offset + part.size] = part
    return to_int16(out)


def synth_words(count: int, seed: int, words: list[str] | None = None,
                progress: bool = False) -> tuple[np.ndarray, list[str]]:
    """``count`` clips of random words in random voices: (int16 (count, 16000), the
    description of each: 'word voice rate pitch')."""
    espeak_version()
    words = words or read_words()
    rng = np.random.default_rng(seed)
    out = np.zeros((count, CLIP_SAMPLES), np.int16)
    names = []
    steps = range(count)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="espeak-ng", unit="word")
    for i in steps:
        word = words[int(rng.integers(len(words)))]
        voice = (ESPEAK_VOICES[int(rng.integers(len(ESPEAK_VOICES)))]
                 + ESPEAK_VARIANTS[int(rng.integers(len(ESPEAK_VARIANTS)))])
        rate = int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1))
        pitch = int(rng.integers(PITCH[0], PITCH[1] + 1))
        out[i] = centre_clip(espeak(word, voice, rate, pitch), float(rng.uniform(*LEVEL_DBFS)))
        names.append(f"{word} {voice} {rate} {pitch}")
    return out, names
