"""Audio in: any WAV/FLAC/OGG file -> int16, 16 kHz (or the asked rate), mono.

Integer PCM is kept as is; float PCM is clipped to [-1, 1] and converted with rounding
(never a bare cast). Other sample rates are resampled with soxr (high quality); stereo is
downmixed by averaging. Empty, corrupt, non-audio and non-finite input raises AudioError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from kws.errors import AudioError

INT16_SCALE = 32768
"""Full scale of int16 PCM: float sample 1.0 maps to 32768 (then clipped to 32767)."""
ACTIVE_DB = 30.0
"""A 20 ms frame is 'active speech' when within this many dB of the loudest frame."""
ACTIVE_FRAME_SAMPLES = 320
"""20 ms frames (at 16 kHz) for the active speech power."""


def active_power(clip: np.ndarray) -> float:
    """Active speech power of one clip, the reference of every SNR in this project.

    clip: int16 or float (n,) samples at 16 kHz. Returns the mean power (int16 units squared)
    of its 20 ms frames within ACTIVE_DB of the loudest frame (a clip shorter than one frame
    is one frame); 0.0 for digital silence.
    """
    x = np.asarray(clip, dtype=np.float64)
    n = max(1, x.size // ACTIVE_FRAME_SAMPLES)
    frames = (x[:n * ACTIVE_FRAME_SAMPLES].reshape(n, -1) if x.size >= ACTIVE_FRAME_SAMPLES
              else x[None, :])
    power = np.mean(frames**2, axis=1)
    peak = power.max()
    if peak <= 0:
        return 0.0
    return float(power[power >= peak * 10 ** (-ACTIVE_DB / 10)].mean())


def speech_end(clips: np.ndarray, within_db: float = ACTIVE_DB) -> np.ndarray:
    """Where the speech of each clip ends: the end of its last 20 ms frame within
    ``within_db`` dB of its loudest frame.

    clips: int16 or float (n,) or (clips, n) at 16 kHz. Returns int64 sample indices in
    [0, n] (one per clip; a 0-d array for one clip): n // 320 * 320 at most, 0 for digital
    silence. A clip shorter than one frame ends at 0.
    """
    x = np.asarray(clips, dtype=np.float64)
    one = x.ndim == 1
    x = np.atleast_2d(x)
    frames = x.shape[1] // ACTIVE_FRAME_SAMPLES
    if frames == 0:
        return np.zeros((), np.int64) if one else np.zeros(x.shape[0], np.int64)
    power = np.mean(x[:, :frames * ACTIVE_FRAME_SAMPLES].reshape(x.shape[0], frames, -1) ** 2,
                    axis=2)
    loud = power >= power.max(axis=1, keepdims=True) * 10 ** (-within_db / 10)
    last = frames - np.argmax(loud[:, ::-1], axis=1)        # 1 + index of the last loud frame
    end = np.where(power.max(axis=1) > 0, last * ACTIVE_FRAME_SAMPLES, 0).astype(np.int64)
    return end[0] if one else end


def snr_gain(speech_power: float, noise_power: float, snr_db: float) -> float:
    """Linear gain that puts noise of ``noise_power`` ``snr_db`` dB under ``speech_power``
    (both mean powers in the same units, e.g. active_power and the noise's mean square);
    0.0 when either power is not positive (nothing to scale to)."""
    if speech_power <= 0 or noise_power <= 0:
        return 0.0
    return float(np.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10))))


def float_to_int16(samples: np.ndarray) -> np.ndarray:
    """Convert float audio in [-1, 1] to int16 with rounding and clipping.

    samples: float array, any shape, nominal range [-1, 1]; values beyond are clipped.
    Returns int16 of the same shape. Raises AudioError on NaN or infinity.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if not np.all(np.isfinite(samples)):
        raise AudioError("audio contains NaN or infinite samples")
    scaled = np.rint(samples * INT16_SCALE)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def to_mono_int16(samples: np.ndarray, rate_hz: int, target_rate_hz: int = 16000,
                  name: str = "audio") -> np.ndarray:
    """Bring a decoded buffer to int16 mono at ``target_rate_hz``.

    samples: int16 or float array of shape (n,) or (n, channels); float in [-1, 1].
    Returns int16 of shape (m,), m = round(n * target_rate_hz / rate_hz).
    """
    samples = np.asarray(samples)
    if samples.ndim == 2:
        if samples.shape[1] == 0:
            raise AudioError(f"{name}: no channels")
        if samples.dtype == np.int16:
            samples = samples.astype(np.float64).mean(axis=1) / INT16_SCALE
        else:
            samples = samples.astype(np.float64).mean(axis=1)
    elif samples.ndim != 1:
        raise AudioError(f"{name}: expected 1-D or 2-D samples, got shape {samples.shape}")
    if samples.size == 0:
        raise AudioError(f"{name}: no samples (empty audio)")
    if samples.dtype.kind == "f" and not np.all(np.isfinite(samples)):
        raise AudioError(f"{name}: contains NaN or infinite samples")
    if rate_hz <= 0:
        raise AudioError(f"{name}: invalid sample rate {rate_hz}")
    if rate_hz != target_rate_hz:
        import soxr

        as_float = (samples.astype(np.float64) / INT16_SCALE
                    if samples.dtype == np.int16 else samples.astype(np.float64))
        samples = soxr.resample(as_float, rate_hz, target_rate_hz, quality="HQ")
        if samples.size == 0:
            raise AudioError(f"{name}: too short to resample from {rate_hz} Hz")
    if samples.dtype == np.int16:
        return samples.copy()
    try:
        return float_to_int16(samples)
    except AudioError:
        raise AudioError(f"{name}: contains NaN or infinite samples") from None


def read_audio(path: str | Path, target_rate_hz: int = 16000) -> np.ndarray:
    """Read an audio file as int16 mono samples at ``target_rate_hz``.

    Returns int16 array of shape (n,), n >= 1, values in [-32768, 32767].
    Raises AudioError, naming the file, for a missing, empty, corrupt or non-audio file.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(f"{path}: not a readable audio file ({detail})") from None
    is_int = info.subtype in ("PCM_16", "PCM_S8", "PCM_U8")
    try:
        data, rate = sf.read(str(path), dtype="int16" if is_int else "float64",
                             always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{path}: corrupt audio ({str(exc).splitlines()[0]})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no samples (empty audio)")
    if data.shape[1] == 1:
        data = data[:, 0]
    return to_mono_int16(data, int(rate), target_rate_hz, name=str(path))


def write_wav(path: str | Path, samples: np.ndarray, rate_hz: int = 16000) -> None:
    """Write int16 mono samples to a 16-bit PCM WAV file atomically (temp file, then rename)."""
    path = Path(path)
    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        raise AudioError(f"{path}: write_wav expects int16 samples, got {samples.dtype}")
    tmp = path.with_name(path.name + ".tmp")
    sf.write(str(tmp), samples, rate_hz, subtype="PCM_16", format="WAV")
    tmp.replace(path)
