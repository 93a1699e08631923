"""Audio sources behind one narrow interface: ``read(n) -> int16 samples``.

- :class:`ArraySource`: samples in memory; :class:`FileSource` / :func:`file_source`: a
  recording decoded block by block (memory bounded by the block, whatever its length); both
  as fast as asked or at real-time pace (the same path as the microphone, for demos and
  tests);
- :class:`MicrophoneSource`: a sounddevice InputStream whose callback only queues audio;
  the reader thread pulls from the queue. Dropped blocks and PortAudio input overflows are
  counted, never fatal.

sounddevice (and PortAudio) is imported only when a microphone is opened or listed.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kws.audio import read_blocks
from kws.errors import AudioError, DeviceError

QUEUE_SECONDS = 10.0
"""Audio the microphone queue holds before it drops blocks (counted as overflows)."""
BLOCK_SAMPLES = 640
"""Samples per microphone callback: 40 ms at 16 kHz, one classifier hop at the defaults."""
READ_TIMEOUT_S = 5.0
"""A microphone that delivers nothing for this long is reported as stalled."""


class AudioSource(Protocol):
    """Where the pipeline's audio comes from (a file, a microphone, a test)."""

    sample_rate_hz: int
    """Samples per second of what ``read`` returns."""
    overflows: int
    """Blocks of input lost so far (always 0 for a file)."""

    def read(self, n: int) -> np.ndarray:
        """Block until ``n`` samples are available; return int16 (k,), k <= n, 0 at the end."""
        ...

    def close(self) -> None:
        """Release the device or file; further reads return nothing."""
        ...


class ArraySource:
    """int16 samples (n,) served in order; ``realtime`` paces reads to the wall clock.

    With realtime, ``read`` sleeps until the returned audio would have been heard (the
    first read starts the clock), like a microphone.
    """

    def __init__(self, samples: np.ndarray, sample_rate_hz: int = 16000,
                 realtime: bool = False) -> None:
        samples = np.asarray(samples)
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise AudioError(f"source expects 1-D int16 samples, got {samples.dtype} "
                             f"of shape {samples.shape}")
        self.samples = samples
        self.sample_rate_hz = sample_rate_hz
        self.realtime = realtime
        self.overflows = 0
        self.position = 0
        """Samples returned so far."""
        self._start: float | None = None

    def read(self, n: int) -> np.ndarray:
        """Next int16 samples (k,), k = min(n, left); empty at the end."""
        if n < 0:
            raise AudioError(f"read(n={n}) needs n >= 0")
        out = self.samples[self.position:self.position + n]
        self.position += out.size
        if self.realtime and out.size:
            self._start = _pace(self._start, self.position, self.sample_rate_hz)
        return out

    def close(self) -> None:
        """Stop: later reads return nothing."""
        self.position = self.samples.size

    def __enter__(self) -> ArraySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pace(start: float | None, position: int, rate_hz: int) -> float:
    """Sleep until ``position`` samples at ``rate_hz`` would have been heard since ``start``
    (monotonic s; None = now, the first read). Returns the start."""
    if start is None:
        start = time.monotonic()
    delay = start + position / rate_hz - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    return start


class FileSource:
    """A recording decoded on demand: int16 mono at ``sample_rate_hz``, block by block.

    Any file kws.audio reads (WAV/FLAC/OGG, any accepted rate and channel count) is checked
    when the source is made (AudioError names the file and the bad value) and then decoded,
    downmixed and resampled in blocks of kws.audio.BLOCK_SAMPLES as ``read`` asks for audio,
    so memory does not grow with the file's length. The samples equal
    ``kws.audio.read_audio(path, sample_rate_hz)`` (without its length limit: a file may
    last up to kws.audio.MAX_DURATION_S). ``realtime`` paces reads like ArraySource.
    """

    def __init__(self, path: str | Path, sample_rate_hz: int = 16000,
                 realtime: bool = False) -> None:
        self.path = Path(path)
        self.sample_rate_hz = sample_rate_hz
        self.realtime = realtime
        self.overflows = 0
        self.position = 0
        """Samples returned so far."""
        self._blocks: Iterator[np.ndarray] | None = read_blocks(self.path, sample_rate_hz)
        self._pending = np.zeros(0, dtype=np.int16)
        self._start: float | None = None

    def read(self, n: int) -> np.ndarray:
        """Next int16 samples (k,), k = min(n, left); empty at the end.

        Raises AudioError (naming the file) when the rest of the file turns out corrupt.
        """
        if n < 0:
            raise AudioError(f"read(n={n}) needs n >= 0")
        parts = [self._pending]
        have = self._pending.size
        while have < n and self._blocks is not None:
            block = next(self._blocks, None)
            if block is None:
                self._blocks = None
                break
            parts.append(block)
            have += block.size
        buf = np.concatenate(parts) if len(parts) > 1 else self._pending
        out, self._pending = buf[:n], buf[n:]
        self.position += out.size
        if self.realtime and out.size:
            self._start = _pace(self._start, self.position, self.sample_rate_hz)
        return out

    def close(self) -> None:
        """Stop and release the file (idempotent): later reads return nothing."""
        if self._blocks is not None:
            close = getattr(self._blocks, "close", None)
            if close is not None:
                close()
            self._blocks = None
        self._pending = np.zeros(0, dtype=np.int16)

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def file_source(path: str | Path, sample_rate_hz: int = 16000,
                realtime: bool = False) -> FileSource:
    """A recording (any format kws.audio reads, resampled to ``sample_rate_hz``) as a source,
    decoded block by block (:class:`FileSource`)."""
    return FileSource(path, sample_rate_hz, realtime)


def import_sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into a DeviceError."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise DeviceError(f"no audio input: sounddevice/PortAudio unavailable ({exc}); "
                          "use --input FILE to play a recording instead") from None
    return sounddevice


def list_devices() -> str:
    """The audio devices PortAudio sees, one per line ('>' marks the default input), or one
    line saying that there is no input device."""
    sd = import_sounddevice()
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices: {exc}") from None
    each = [devices] if isinstance(devices, dict) else list(devices)  # dict: a single device
    if not any(int(d.get("max_input_channels", 0)) > 0 for d in each):
        seen = f"{len(each)} output-only device{'s' * (len(each) != 1)}" if each \
            else "no audio device at all"
        return (f"no audio input device found (PortAudio sees {seen}); use --input FILE to "
                "play a recording instead")
    return str(devices)


class MicrophoneSource:
    """A live microphone through sounddevice: int16 mono at ``sample_rate_hz``.

    device: a PortAudio device index or name substring (None = the default input).
    The PortAudio callback only copies each block into a bounded queue; when the queue is
    full (the reader fell more than ``queue_seconds`` behind) the block is dropped and
    counted in ``overflows``, as are PortAudio's own input-overflow flags. A device that
    cannot record at ``sample_rate_hz`` (many USB microphones only do 44.1/48 kHz) is opened
    at its default rate and resampled (soxr, streaming) in ``read``, outside the callback.
    """

    def __init__(self, device: int | str | None = None, sample_rate_hz: int = 16000,
                 block_samples: int = BLOCK_SAMPLES,
                 queue_seconds: float = QUEUE_SECONDS) -> None:
        sd = import_sounddevice()
        self.sample_rate_hz = sample_rate_hz
        self.overflows = 0
        self._lock = threading.Lock()
        self._pending = np.zeros(0, dtype=np.int16)
        self._closed = False
        self._resampler: Any = None
        where = "the default input" if device is None else f"input device {device!r}"
        self.device_rate_hz = self._device_rate(sd, device, sample_rate_hz, where)
        """The rate the device records at (resampled to sample_rate_hz when different)."""
        device_block = max(1, round(block_samples * self.device_rate_hz / sample_rate_hz))
        self._queue: queue.Queue[np.ndarray] = queue.Queue(
            maxsize=max(1, int(queue_seconds * self.device_rate_hz / device_block)))
        if self.device_rate_hz != sample_rate_hz:
            import soxr

            self._resampler = soxr.ResampleStream(self.device_rate_hz, sample_rate_hz, 1,
                                                  dtype="int16", quality="HQ")
        try:
            self._stream = sd.InputStream(
                samplerate=self.device_rate_hz, channels=1, dtype="int16", device=device,
                blocksize=device_block, callback=self._callback)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise DeviceError(f"cannot open {where} at {self.device_rate_hz} Hz mono ({exc}); "
                              "see --list-devices, or use --input FILE") from None

    @staticmethod
    def _device_rate(sd: Any, device: int | str | None, rate: int, where: str) -> int:
        """``rate`` if the device records int16 mono at it, else the device's default rate."""
        try:
            sd.check_input_settings(device=device, samplerate=rate, channels=1, dtype="int16")
            return rate
        except (sd.PortAudioError, ValueError) as exc:
            first = exc
        try:
            default = int(round(sd.query_devices(device, "input")["default_samplerate"]))
        except (sd.PortAudioError, ValueError):
            default = rate
        if default == rate or default <= 0:
            raise DeviceError(f"cannot open {where} at {rate} Hz mono ({first}); "
                              "see --list-devices, or use --input FILE") from None
        return default

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any,
                  status: Any) -> None:
        # Runs on PortAudio's thread: copy and queue, nothing else.
        lost = 1 if status.input_overflow else 0
        try:
            self._queue.put_nowait(indata[:, 0].copy())
        except queue.Full:
            lost += 1
        if lost:
            with self._lock:
                self.overflows += lost

    def read(self, n: int) -> np.ndarray:
        """Block until ``n`` samples arrived; int16 (n,) (empty once closed).

        Raises DeviceError if the device delivers nothing for READ_TIMEOUT_S seconds.
        """
        parts = [self._pending]
        have = self._pending.size
        while have < n and not self._closed:
            try:
                block = self._queue.get(timeout=READ_TIMEOUT_S)
            except queue.Empty:
                raise DeviceError(f"the microphone delivered no audio for {READ_TIMEOUT_S:g} s"
                                  ) from None
            if self._resampler is not None:
                block = self._resampler.resample_chunk(block)
            parts.append(block)
            have += block.size
        buf = np.concatenate(parts)
        self._pending = buf[n:]
        return buf[:n]

    def close(self) -> None:
        """Stop and close the stream (idempotent)."""
        if not self._closed:
            self._closed = True
            self._stream.stop()
            self._stream.close()

    def __enter__(self) -> MicrophoneSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
