from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kws.audio import active_power, float_to_int16, read_audio, speech_end
from kws.errors import AudioError


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
