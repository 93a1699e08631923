"""Audio in: any WAV/FLAC/OGG file -> int16, 16 kHz (or the asked rate), mono.

Integer PCM is kept as is; float PCM is clipped to [-1, 1] and converted with rounding
(never a bare cast). Other sample rates are resampled with soxr (high quality); stereo is
downmixed by averaging. Empty, corrupt, non-audio and non-finite input raises AudioError.

A file is read in blocks of at most BLOCK_SAMPLES samples (all channels together) and each
block is downmixed and resampled with the resampler's state carried to the next one
(:class:`MonoResampler`), so the memory of reading is bounded by the block, not by what the
file's header claims; the result equals converting the whole file at once, bit for bit.
A header is refused (AudioError naming the file and the value) when its sample rate is
outside [MIN_RATE_HZ, MAX_RATE_HZ], it has more than MAX_CHANNELS channels, or it (or what
actually decodes) lasts longer than MAX_DURATION_S; :func:`read_audio`, which returns the
whole recording, also refuses more than MAX_READ_DURATION_S (use :func:`read_blocks`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from kws.errors import AudioError
from kws.fileio import atomic_path

INT16_SCALE = 32768
"""Full scale of int16 PCM: float sample 1.0 maps to 32768 (then clipped to 32767)."""
ACTIVE_DB = 30.0
"""A 20 ms frame is 'active speech' when within this many dB of the loudest frame."""
ACTIVE_FRAME_SAMPLES = 320
"""20 ms frames (at 16 kHz) for the active speech power."""

MIN_RATE_HZ = 4000
"""Lowest sample rate accepted (Hz). Below it a file carries no speech band (< 2 kHz) and
the upsampling to 16 kHz would multiply the sample count by more than 4 (a 1 Hz header
turned a 32 KB file into 2 GB of samples)."""
MAX_RATE_HZ = 768000
"""Highest sample rate accepted (Hz): the fastest audio interfaces sold record at 768 kHz."""
MAX_CHANNELS = 64
"""Most channels accepted: more than any microphone array we would downmix."""
MAX_DURATION_S = 24 * 3600
"""Longest recording accepted (s), as the header claims it and as it decodes: one day."""
MAX_READ_DURATION_S = 2 * 3600
"""Longest recording :func:`read_audio` returns whole (s): 2 h is 230 MB of int16 at
16 kHz. Longer files go through :func:`read_blocks` (``kws detect`` does)."""
BLOCK_SAMPLES = 1 << 17
"""Samples (frames x channels) decoded per block: 1 MB as float64, whatever the file."""
_INT_SUBTYPES = ("PCM_16", "PCM_S8", "PCM_U8")
"""Subtypes read as int16 (exactly); everything else is read as float64."""


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


def check_rate(rate_hz: int, name: str = "audio") -> None:
    """Raise AudioError unless ``rate_hz`` (Hz) is an int in [MIN_RATE_HZ, MAX_RATE_HZ]."""
    if isinstance(rate_hz, bool) or not isinstance(rate_hz, (int, np.integer)) \
            or not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        raise AudioError(f"{name}: sample rate {rate_hz!r} Hz is outside the accepted "
                         f"{MIN_RATE_HZ}..{MAX_RATE_HZ} Hz")


class MonoResampler:
    """Decoded blocks in, int16 mono at ``target_rate_hz`` out, state carried across blocks.

    Each block is int16 or float64 (n,) or (n, channels), float nominally in [-1, 1], at
    ``rate_hz``. Channels are averaged; a different rate goes through one soxr HQ stream
    (float64), so pushing a recording in any cut and then :meth:`flush` gives exactly what
    pushing it whole does. Memory is the block plus soxr's fixed filter state. Both rates
    must be in [MIN_RATE_HZ, MAX_RATE_HZ]; ``name`` (the file) starts every error message.
    """

    def __init__(self, rate_hz: int, target_rate_hz: int = 16000, name: str = "audio") -> None:
        check_rate(rate_hz, name)
        check_rate(target_rate_hz, f"{name}: target")
        self.rate_hz = int(rate_hz)
        self.target_rate_hz = int(target_rate_hz)
        self.name = name
        self.samples_in = 0
        """Input frames (samples per channel) pushed so far."""
        self.samples_out = 0
        """int16 samples returned so far."""
        self._stream = None
        if self.rate_hz != self.target_rate_hz:
            import soxr

            self._stream = soxr.ResampleStream(self.rate_hz, self.target_rate_hz, 1,
                                               dtype="float64", quality="HQ")

    def push(self, block: np.ndarray) -> np.ndarray:
        """Convert one block; returns int16 (m,), m >= 0 (the resampler holds a delay)."""
        block = np.asarray(block)
        if block.ndim == 2:
            if block.shape[1] == 0:
                raise AudioError(f"{self.name}: no channels")
            if block.shape[1] == 1:
                block = block[:, 0]
            elif block.dtype == np.int16:
                block = block.astype(np.float64).mean(axis=1) / INT16_SCALE
            else:
                block = block.astype(np.float64).mean(axis=1)
        elif block.ndim != 1:
            raise AudioError(f"{self.name}: expected 1-D or 2-D samples, got shape "
                             f"{block.shape}")
        if block.dtype.kind == "f" and not np.all(np.isfinite(block)):
            raise AudioError(f"{self.name}: contains NaN or infinite samples")
        self.samples_in += block.shape[0]
        if self._stream is not None:
            as_float = (block.astype(np.float64) / INT16_SCALE if block.dtype == np.int16
                        else block.astype(np.float64))
            block = self._stream.resample_chunk(as_float)
        return self._out(block)

    def flush(self) -> np.ndarray:
        """The resampler's last samples after the final block: int16 (m,), m >= 0."""
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        return self._out(self._stream.resample_chunk(np.zeros(0, np.float64), last=True))

    def _out(self, block: np.ndarray) -> np.ndarray:
        out = block.copy() if block.dtype == np.int16 else float_to_int16(block)
        self.samples_out += out.size
        return out


def to_mono_int16(samples: np.ndarray, rate_hz: int, target_rate_hz: int = 16000,
                  name: str = "audio") -> np.ndarray:
    """Bring a decoded buffer to int16 mono at ``target_rate_hz``.

    samples: int16 or float array of shape (n,) or (n, channels); float in [-1, 1]; rate_hz
    in [MIN_RATE_HZ, MAX_RATE_HZ]. Returns int16 of shape (m,), m = round(n * target_rate_hz
    / rate_hz), m >= 1.
    """
    samples = np.asarray(samples)
    if samples.ndim not in (1, 2):
        raise AudioError(f"{name}: expected 1-D or 2-D samples, got shape {samples.shape}")
    if samples.ndim == 2 and samples.shape[1] == 0:
        raise AudioError(f"{name}: no channels")
    if samples.shape[0] == 0:
        raise AudioError(f"{name}: no samples (empty audio)")
    if isinstance(rate_hz, (int, np.integer)) and not isinstance(rate_hz, bool) and rate_hz <= 0:
        raise AudioError(f"{name}: invalid sample rate {rate_hz}")
    conv = MonoResampler(rate_hz, target_rate_hz, name)
    out = np.concatenate((conv.push(samples), conv.flush()))
    if out.size == 0:
        raise AudioError(f"{name}: too short to resample from {rate_hz} Hz")
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class AudioInfo:
    """What a file's header says, checked against the bounds of this module."""

    path: Path
    """The file."""
    sample_rate_hz: int
    """Samples per second per channel, in [MIN_RATE_HZ, MAX_RATE_HZ]."""
    channels: int
    """Channels, in [1, MAX_CHANNELS]."""
    frames: int
    """Samples per channel the header claims (>= 1; the decoder may deliver fewer)."""
    subtype: str
    """libsndfile subtype, e.g. 'PCM_16', 'FLOAT', 'VORBIS'."""

    @property
    def duration_s(self) -> float:
        """Claimed length in seconds."""
        return self.frames / self.sample_rate_hz


def audio_info(path: str | Path, max_duration_s: float = MAX_DURATION_S) -> AudioInfo:
    """Read and check an audio file's header (nothing is decoded).

    Raises AudioError, naming the file and the bad value, for a missing, empty or non-audio
    file, a sample rate outside [MIN_RATE_HZ, MAX_RATE_HZ], more than MAX_CHANNELS channels,
    no samples, or a claimed length over ``max_duration_s`` seconds.
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
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(f"{path}: not a readable audio file ({detail})") from None
    check_rate(int(info.samplerate), str(path))
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise AudioError(f"{path}: {info.channels} channels, more than the {MAX_CHANNELS} "
                         "accepted")
    if info.frames <= 0:
        raise AudioError(f"{path}: no samples (empty audio)")
    found = AudioInfo(path=path, sample_rate_hz=int(info.samplerate), channels=info.channels,
                      frames=int(info.frames), subtype=str(info.subtype))
    if found.duration_s > max_duration_s:
        raise AudioError(f"{path}: header claims {found.duration_s:.0f} s of audio, more than "
                         f"the {max_duration_s:g} s accepted")
    return found


def read_blocks(path: str | Path, target_rate_hz: int = 16000,
                max_duration_s: float = MAX_DURATION_S) -> Iterator[np.ndarray]:
    """A recording as consecutive int16 mono blocks at ``target_rate_hz``.

    The header is checked now (:func:`audio_info`; errors raise here); the returned iterator
    then decodes BLOCK_SAMPLES samples at a time and yields int16 (m,), 1 <= m, values in
    [-32768, 32767]: about BLOCK_SAMPLES / channels * target_rate_hz / rate samples each.
    Their concatenation equals :func:`read_audio`. Decoding errors, non-finite samples and
    more than ``max_duration_s`` s of decoded audio raise AudioError naming the file.
    """
    info = audio_info(path, max_duration_s)
    conv = MonoResampler(info.sample_rate_hz, target_rate_hz, str(info.path))
    return _decode(info, conv, max_duration_s)


def _decode(info: AudioInfo, conv: MonoResampler, max_duration_s: float) -> Iterator[np.ndarray]:
    block_frames = max(1, BLOCK_SAMPLES // info.channels)
    limit = int(max_duration_s * info.sample_rate_hz)
    dtype = "int16" if info.subtype in _INT_SUBTYPES else "float64"
    try:
        with sf.SoundFile(str(info.path)) as fh:
            while True:
                data = fh.read(block_frames, dtype=dtype, always_2d=True)
                if data.shape[0] == 0:
                    break
                if conv.samples_in + data.shape[0] > limit:
                    raise AudioError(f"{info.path}: decodes to more than the "
                                     f"{max_duration_s:g} s accepted")
                out = conv.push(data)
                if out.size:
                    yield out
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(f"{info.path}: corrupt audio ({detail})") from None
    if conv.samples_in == 0:
        raise AudioError(f"{info.path}: no samples (empty audio)")
    out = conv.flush()
    if out.size:
        yield out
    if conv.samples_out == 0:
        raise AudioError(f"{info.path}: too short to resample from {info.sample_rate_hz} Hz")


def read_audio(path: str | Path, target_rate_hz: int = 16000,
               max_duration_s: float = MAX_READ_DURATION_S) -> np.ndarray:
    """Read an audio file as int16 mono samples at ``target_rate_hz``.

    Returns int16 array of shape (n,), n >= 1, values in [-32768, 32767]. Decodes in blocks
    (:func:`read_blocks`): memory is the result plus one block. Raises AudioError, naming
    the file, for a missing, empty, corrupt or non-audio file, a header out of this module's
    bounds, or more than ``max_duration_s`` seconds of audio.
    """
    return np.concatenate(list(read_blocks(path, target_rate_hz, max_duration_s)))


def write_wav(path: str | Path, samples: np.ndarray, rate_hz: int = 16000) -> None:
    """Write int16 mono samples (n,) at ``rate_hz`` Hz to a 16-bit PCM WAV file atomically
    (kws.fileio.atomic_path: a hidden temporary, then a rename)."""
    path = Path(path)
    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        raise AudioError(f"{path}: write_wav expects int16 samples, got {samples.dtype}")
    with atomic_path(path) as tmp:
        sf.write(str(tmp), samples, rate_hz, subtype="PCM_16", format="WAV")
