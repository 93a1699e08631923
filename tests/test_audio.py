import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from kws import audio
from kws.audio import (
    MonoResampler,
    active_power,
    audio_info,
    float_to_int16,
    read_audio,
    read_blocks,
    speech_end,
    to_mono_int16,
    write_wav,
)
from kws.errors import AudioError


def raw_wav(path: Path, rate_hz: int, channels: int, data: bytes) -> Path:
    """A 16-bit PCM WAV whose header says whatever it is told (as an attacker writes it)."""
    align = 2 * channels
    fmt = struct.pack("<HHIIHH", 1, channels, rate_hz, (rate_hz * align) & 0xFFFFFFFF, align,
                      16)
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
                     + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data))
                     + data)
    return path


def test_int16_wav_is_read_unchanged(tmp_path: Path) -> None:
    x = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    sf.write(tmp_path / "a.wav", x, 16000, subtype="PCM_16")
    np.testing.assert_array_equal(read_audio(tmp_path / "a.wav"), x)


def test_float_is_clipped_and_rounded() -> None:
    y = float_to_int16(np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, 1.5 / 32768, -1.5 / 32768]))
    np.testing.assert_array_equal(y, [0, 16384, -16384, 32767, -32768, 32767, 2, -2])


def test_stereo_float_flac_is_downmixed(tmp_path: Path) -> None:
    left = np.full(1600, 0.25)
    right = np.full(1600, -0.75)
    sf.write(tmp_path / "s.flac", np.stack([left, right], axis=1), 16000, subtype="PCM_24")
    y = read_audio(tmp_path / "s.flac")
    assert y.dtype == np.int16 and y.shape == (1600,)
    np.testing.assert_array_equal(y, np.full(1600, -8192))


def test_other_rates_are_resampled(tmp_path: Path) -> None:
    t = np.arange(8000) / 8000
    sf.write(tmp_path / "r.ogg", 0.5 * np.sin(2 * np.pi * 440 * t), 8000, format="OGG")
    y = read_audio(tmp_path / "r.ogg")
    assert y.dtype == np.int16 and abs(y.size - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(y.astype(float)))
    assert abs(np.argmax(spectrum) * 16000 / y.size - 440) < 3


@pytest.mark.parametrize("content, problem", [
    (b"", "empty file"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt garbage", "not a readable audio file"),
    (b"hello, I am text\n" * 20, "not a readable audio file"),
])
def test_bad_files_give_one_line_errors(tmp_path: Path, content: bytes, problem: str) -> None:
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(AudioError, match=problem) as info:
        read_audio(p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        read_audio(tmp_path / "none.wav")
    with pytest.raises(AudioError, match="folder"):
        read_audio(tmp_path)


def test_wav_with_no_samples(tmp_path: Path) -> None:
    sf.write(tmp_path / "z.wav", np.zeros(0, dtype=np.int16), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="no samples"):
        read_audio(tmp_path / "z.wav")


def test_non_finite_float_wav(tmp_path: Path) -> None:
    x = np.zeros(100, dtype=np.float32)
    x[10] = np.nan
    sf.write(tmp_path / "n.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        read_audio(tmp_path / "n.wav")


def test_active_power_counts_only_frames_near_the_loudest() -> None:
    clip = np.zeros(16000, dtype=np.int16)
    assert active_power(clip) == 0.0                          # digital silence
    t = np.arange(640)
    clip[3200:3840] = np.rint(8000 * np.sin(2 * np.pi * t / 32)).astype(np.int16)  # 2 frames
    clip[8000:8320] = 100                                     # 38 dB down: not active
    assert active_power(clip) == pytest.approx(8000**2 / 2, rel=1e-3)
    clip[8000:8320] = 1000                                    # 21 dB down: active
    assert active_power(clip) == pytest.approx((2 * 8000**2 / 2 + 1000**2) / 3, rel=1e-3)
    assert active_power(np.full(100, 3, dtype=np.int16)) == 9.0  # shorter than a frame


def test_speech_end_is_the_end_of_the_last_loud_frame() -> None:
    clips = np.zeros((3, 16000), dtype=np.int16)
    clips[0, 3200:3840] = 8000                                # loud frames 10-11
    clips[0, 8000:8320] = 100                                 # 38 dB down: not speech
    clips[1, 3200:3840] = 8000
    clips[1, 8000:8640] = 1000                                # 18 dB down: frames 25-26
    assert speech_end(clips).tolist() == [3840, 27 * 320, 0]  # the last one: silence
    assert int(speech_end(clips[1], within_db=10.0)) == 3840
    assert int(speech_end(clips[0])) == 3840 and speech_end(clips[0]).ndim == 0
    assert speech_end(np.full((2, 100), 3, dtype=np.int16)).tolist() == [0, 0]


def noise_bytes(n_bytes: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(-3000, 3000, n_bytes // 2).astype("<i2").tobytes()


def test_a_1_hz_header_is_refused_at_once(tmp_path: Path) -> None:
    # The attack: 32 KB of samples claiming 1 Hz took 49 s and 6.4 GB to "resample" to 16 kHz.
    p = raw_wav(tmp_path / "slow.wav", 1, 1, noise_bytes(32768))
    start = time.monotonic()
    with pytest.raises(AudioError, match=r"sample rate 1 Hz is outside the accepted "
                                         r"4000\.\.768000 Hz") as info:
        read_audio(p)
    assert time.monotonic() - start < 1.0
    assert str(info.value).startswith(f"{p}: ") and "\n" not in str(info.value)
    with pytest.raises(AudioError, match="1 Hz"):
        read_blocks(p)                                   # refused before any block is asked


@pytest.mark.parametrize("rate_hz, channels, problem", [
    (audio.MIN_RATE_HZ - 1, 1, "sample rate 3999 Hz is outside"),
    (audio.MAX_RATE_HZ + 1, 1, "sample rate 768001 Hz is outside"),
    (2**31 - 1, 1, "sample rate 2147483647 Hz"),
    (16000, audio.MAX_CHANNELS + 1, "65 channels, more than the 64 accepted"),
    (16000, 1000, "1000 channels"),
])
def test_headers_out_of_bounds_are_refused(tmp_path: Path, rate_hz: int, channels: int,
                                           problem: str) -> None:
    p = raw_wav(tmp_path / "bad.wav", rate_hz, channels, noise_bytes(2 * 64 * 500))
    with pytest.raises(AudioError, match=problem) as info:
        read_audio(p)
    assert str(p) in str(info.value)


def test_the_lowest_accepted_rate_is_read(tmp_path: Path) -> None:
    p = raw_wav(tmp_path / "low.wav", audio.MIN_RATE_HZ, 1, noise_bytes(2 * 4000))
    assert read_audio(p).size == 16000                   # 1 s at 4 kHz -> 1 s at 16 kHz
    assert audio_info(p).duration_s == 1.0


def test_too_long_a_recording_is_refused_before_decoding(tmp_path: Path) -> None:
    p = tmp_path / "long.wav"
    sf.write(p, np.zeros(16000 * 3, np.int16), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"header claims 3 s of audio, more than the 2 s"):
        read_audio(p, max_duration_s=2)
    assert read_audio(p, max_duration_s=3).size == 16000 * 3
    assert audio.MAX_READ_DURATION_S <= audio.MAX_DURATION_S


def test_wav_header_claiming_more_data_than_the_file_has(tmp_path: Path) -> None:
    p = raw_wav(tmp_path / "claim.wav", 16000, 1, noise_bytes(3200))
    blob = bytearray(p.read_bytes())
    blob[40:44] = struct.pack("<I", 0xFFFFFFF0)          # data chunk "4 GB"
    p.write_bytes(bytes(blob))
    np.testing.assert_array_equal(read_audio(p), np.frombuffer(noise_bytes(3200), "<i2"))


def whole_file_reference(path: Path, target_rate_hz: int = 16000) -> np.ndarray:
    """What read_audio did before it read in blocks: everything at once, one soxr call."""
    info = sf.info(str(path))
    is_int = info.subtype in ("PCM_16", "PCM_S8", "PCM_U8")
    data, rate = sf.read(str(path), dtype="int16" if is_int else "float64", always_2d=True)
    x = data.astype(np.float64).mean(axis=1) / (32768 if is_int else 1)
    if data.shape[1] == 1 and is_int and rate == target_rate_hz:
        return data[:, 0]
    if rate != target_rate_hz:
        x = soxr.resample(x, rate, target_rate_hz, quality="HQ")
    return float_to_int16(x)


@pytest.mark.parametrize("rate_hz, channels, subtype", [
    (48000, 2, "PCM_16"), (44100, 1, "FLOAT"), (8000, 3, "PCM_24"), (16000, 2, "PCM_16"),
    (16000, 1, "PCM_16"), (22050, 2, "PCM_U8"),
])
def test_blocks_equal_whole_file_processing(tmp_path: Path, monkeypatch, rate_hz: int,
                                            channels: int, subtype: str) -> None:
    rng = np.random.default_rng(rate_hz + channels)
    p = tmp_path / "x.wav"
    sf.write(p, rng.uniform(-0.8, 0.8, (rate_hz * 2 + 77, channels)), rate_hz, subtype=subtype)
    expect = whole_file_reference(p)
    monkeypatch.setattr(audio, "BLOCK_SAMPLES", 3001)    # many odd-sized blocks
    blocks = list(read_blocks(p))
    assert len(blocks) > 5 and all(b.dtype == np.int16 and b.size for b in blocks)
    got = np.concatenate(blocks)
    assert got.shape == expect.shape
    np.testing.assert_array_equal(got, expect)           # soxr's stream is exact, not close
    np.testing.assert_array_equal(read_audio(p), expect)


def test_mono_resampler_any_cut_equals_one_push() -> None:
    x = np.random.default_rng(3).integers(-20000, 20000, (44100, 2)).astype(np.int16)
    whole = to_mono_int16(x, 44100)
    assert whole.size == 16000
    for cut in (1, 441, 10000):
        conv = MonoResampler(44100, 16000)
        parts = [conv.push(x[i:i + cut]) for i in range(0, x.shape[0], cut)] + [conv.flush()]
        np.testing.assert_array_equal(np.concatenate(parts), whole)
        assert conv.samples_in == 44100 and conv.samples_out == 16000


def test_to_mono_int16_checks_the_rate() -> None:
    with pytest.raises(AudioError, match="invalid sample rate 0"):
        to_mono_int16(np.zeros(10, np.int16), 0)
    with pytest.raises(AudioError, match="buf: sample rate 1 Hz is outside"):
        to_mono_int16(np.zeros(10, np.int16), 1, name="buf")
    with pytest.raises(AudioError, match="too short to resample from 48000 Hz"):
        to_mono_int16(np.zeros(1, np.int16), 48000)


def test_reading_memory_is_bounded_by_the_block(tmp_path: Path) -> None:
    # 60 s of 48 kHz stereo: 46 MB as float64 if read whole; the blocks need about 1 MB.
    p = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(p, "w", 48000, 2, subtype="PCM_16") as fh:
        for _ in range(60):
            fh.write(rng.integers(-8000, 8000, (48000, 2)).astype(np.int16))
    tracemalloc.start()
    try:
        total = sum(b.size for b in read_blocks(p))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 60 * 16000
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MB"


def test_a_hostile_header_in_a_child_with_256_mb_of_address_space(tmp_path: Path) -> None:
    # Before the bounds this needed 6.4 GB; the child fails with a MemoryError if it grows.
    p = raw_wav(tmp_path / "slow.wav", 1, 1, noise_bytes(32768))
    code = ("import resource, sys; from kws.audio import read_audio; "
            "from kws.errors import AudioError\n"
            "resource.setrlimit(resource.RLIMIT_AS, (2**28, 2**28))\n"
            "try:\n    read_audio(sys.argv[1])\nexcept AudioError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "sample rate 1 Hz" in out


def test_write_wav_leaves_no_temporary(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", np.arange(100, dtype=np.int16))
    assert [q.name for q in tmp_path.iterdir()] == ["a.wav"]
    with pytest.raises(AudioError, match="expects int16 samples, got float64"):
        write_wav(tmp_path / "b.wav", np.zeros(3))
