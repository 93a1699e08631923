"""Audio sources: a file at real-time pace, and the microphone behind a fake PortAudio."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from stream_fakes import Flags as _Flags
from stream_fakes import fake_sounddevice

from kws import sources
from kws.errors import AudioError
from kws.sources import ArraySource, DeviceError, FileSource, MicrophoneSource, file_source


def test_array_source_reads_in_order_then_ends() -> None:
    x = np.arange(1000, dtype=np.int16)
    src = ArraySource(x)
    np.testing.assert_array_equal(src.read(300), x[:300])
    np.testing.assert_array_equal(src.read(800), x[300:])
    assert src.read(10).size == 0 and src.overflows == 0


def test_realtime_source_sleeps_until_the_audio_would_be_heard(monkeypatch) -> None:
    clock = [100.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        clock[0] += s

    monkeypatch.setattr(sources.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(sources.time, "sleep", sleep)
    src = ArraySource(np.zeros(16000, dtype=np.int16), realtime=True)
    src.read(1600)                       # 0.1 s of audio: due at 100.1
    clock[0] += 0.03                     # the caller worked 30 ms
    src.read(1600)                       # due at 100.2
    assert sleeps == pytest.approx([0.1, 0.07])
    clock[0] += 0.5                      # the caller fell behind: no sleep
    src.read(1600)
    assert len(sleeps) == 2


def test_file_source_streams_the_same_samples_as_read_audio(tmp_path, monkeypatch) -> None:
    import soundfile as sf

    from kws import audio
    from kws.audio import read_audio

    rng = np.random.default_rng(5)
    sf.write(tmp_path / "s.wav", rng.integers(-9000, 9000, (48000 * 3, 2)).astype(np.int16),
             48000, subtype="PCM_16")
    expect = read_audio(tmp_path / "s.wav")
    monkeypatch.setattr(audio, "BLOCK_SAMPLES", 5000)     # decoded 2500 frames at a time
    src = file_source(tmp_path / "s.wav")
    assert isinstance(src, FileSource)
    got = []
    for n in (1, 999, 0, 20000, 7, 10**6):
        got.append(src.read(n))
        assert got[-1].size == min(n, expect.size - sum(g.size for g in got[:-1]))
    np.testing.assert_array_equal(np.concatenate(got), expect)
    assert src.position == expect.size and src.read(5).size == 0
    with pytest.raises(AudioError, match="needs n >= 0"):
        src.read(-1)


def test_file_source_paces_and_closes(tmp_path, monkeypatch) -> None:
    from kws.audio import write_wav

    clock = [0.0]
    sleeps: list[float] = []
    monkeypatch.setattr(sources.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(sources.time, "sleep", lambda s: sleeps.append(s))
    write_wav(tmp_path / "a.wav", np.ones(16000, np.int16))
    with FileSource(tmp_path / "a.wav", realtime=True) as src:
        assert src.read(4000).size == 4000
        assert sleeps == [0.25]
    assert src.read(10).size == 0                        # closed


def test_file_source_refuses_a_hostile_header_when_made(tmp_path) -> None:
    import struct

    p = tmp_path / "slow.wav"
    fmt = struct.pack("<HHIIHH", 1, 1, 1, 2, 2, 16)      # PCM, mono, 1 Hz
    p.write_bytes(b"RIFF" + struct.pack("<I", 36 + 32000) + b"WAVEfmt " + struct.pack("<I", 16)
                  + fmt + b"data" + struct.pack("<I", 32000) + bytes(32000))
    with pytest.raises(AudioError, match=r"slow.wav: sample rate 1 Hz is outside"):
        file_source(p)


def test_file_source_resamples_and_refuses_missing(tmp_path) -> None:
    from kws.audio import write_wav

    write_wav(tmp_path / "a.wav", (np.arange(8000) % 50).astype(np.int16), rate_hz=8000)
    assert file_source(tmp_path / "a.wav").read(10**6).size == 16000
    with pytest.raises(AudioError, match="no such file"):
        file_source(tmp_path / "missing.wav")


def test_microphone_callback_queues_and_read_reassembles(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice())
    mic = MicrophoneSource(block_samples=4)
    assert mic._stream.kw["samplerate"] == 16000 and mic._stream.kw["dtype"] == "int16"
    assert mic._stream.kw["channels"] == 1 and mic._stream.started
    x = np.arange(12, dtype=np.int16)
    for i in range(0, 12, 4):
        mic._callback(x[i:i + 4, None], 4, None, _Flags())
    np.testing.assert_array_equal(mic.read(5), x[:5])
    np.testing.assert_array_equal(mic.read(7), x[5:])
    assert mic.overflows == 0
    mic.close()
    assert mic._stream.closed and mic.read(3).size == 0


def test_microphone_counts_overflows_and_never_raises_in_the_callback(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice())
    mic = MicrophoneSource(block_samples=100, queue_seconds=200 / 16000)   # room for 2 blocks
    block = np.ones((100, 1), dtype=np.int16)
    mic._callback(block, 100, None, _Flags())
    mic._callback(block, 100, None, _Flags(overflow=True))               # PortAudio overflow
    mic._callback(block, 100, None, _Flags())                            # queue full: dropped
    assert mic.overflows == 2
    assert mic.read(200).size == 200


def test_a_48_khz_only_microphone_is_resampled(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice",
                        fake_sounddevice(rates=(48000,), default_rate=48000))
    mic = MicrophoneSource(block_samples=640)
    assert mic.device_rate_hz == 48000 and mic._stream.kw["samplerate"] == 48000
    assert mic._stream.kw["blocksize"] == 1920
    t = np.arange(48000 * 2) / 48000
    tone = np.rint(8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    for i in range(0, tone.size, 1920):
        mic._callback(tone[i:i + 1920, None], 1920, None, _Flags())
    got = mic.read(16000).astype(np.float64)             # 1 s at 16 kHz
    spectrum = np.abs(np.fft.rfft(got[4000:]))            # skip the resampler's start-up
    assert np.argmax(spectrum) * 16000 / got[4000:].size == pytest.approx(440, abs=2)
    assert np.sqrt(np.mean(got[4000:] ** 2)) == pytest.approx(8000 / np.sqrt(2), rel=0.02)


def test_a_device_without_16_khz_or_a_default_rate_is_refused(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice",
                        fake_sounddevice(rates=(48000,), default_rate=16000))
    with pytest.raises(DeviceError, match=r"at 16000 Hz mono \(Invalid sample rate"):
        MicrophoneSource()


def test_microphone_stall_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice())
    monkeypatch.setattr(sources, "READ_TIMEOUT_S", 0.01)
    with pytest.raises(DeviceError, match="no audio for"):
        MicrophoneSource().read(10)


def test_no_device_suggests_input(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(fail=True))
    with pytest.raises(DeviceError, match=r"cannot open the default input.*--input FILE"):
        MicrophoneSource()


def test_no_portaudio_suggests_input(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)      # import fails
    with pytest.raises(DeviceError, match=r"PortAudio unavailable.*--input FILE"):
        MicrophoneSource()


def test_importing_the_package_does_not_touch_the_audio_device() -> None:
    code = ("import sys, kws.cli, kws.listen, kws.sources, kws.stream, kws.stream_eval; "
            "kws.cli.build_parser(); assert 'sounddevice' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
