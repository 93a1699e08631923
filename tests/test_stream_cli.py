"""kws detect / listen / evaluate-stream / make-stream, with a fake model patched in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from stream_fakes import FakeClassifier, fake_sounddevice

from kws import cli
from kws.audio import read_audio
from kws.listen import format_detection
from kws.stream import detect_audio


@pytest.fixture()
def fake_model(monkeypatch) -> FakeClassifier:
    fake = FakeClassifier()
    for module in ("detect", "listen", "evaluate_stream"):
        monkeypatch.setattr(f"kws.commands.{module}.load_classifier", lambda path=None: fake)
    return fake


@pytest.fixture(scope="module")
def stream(mini_dir, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("stream") / "s.wav"
    code = cli.main(["make-stream", "--data", str(mini_dir), "--split", "test",
                     "--duration", "30", "--seed", "9", "--out", str(out)])
    assert code == 0
    return out, out.with_suffix(".csv")


def test_make_stream_command_writes_wav_and_truth(stream) -> None:
    wav, csv = stream
    assert read_audio(wav).size == 30 * 16000
    assert csv.read_text().startswith("start_ms,end_ms,label,source\n1000,")


def test_detect_prints_every_detection(fake_model, stream, capsys) -> None:
    wav, _ = stream
    expect = detect_audio(FakeClassifier(), read_audio(wav))
    assert len(expect) >= 3
    assert cli.main(["detect", str(wav)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{wav}: {format_detection(d)}"
                                                    for d in expect]
    assert cli.main(["detect", str(wav), str(wav), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 2 and records[0] == records[1]
    assert records[0]["file"] == str(wav) and records[0]["duration_s"] == 30.0
    assert "error" not in records[0] and len(records[0]["detections"]) == len(expect)
    assert records[0]["detections"][0] == {"time_ms": expect[0].time_ms,
                                           "label": expect[0].label, "score": expect[0].score,
                                           "probability": expect[0].score / 256}


def hostile_files(folder: Path) -> list[Path]:
    """A 1 Hz header (the 49 s / 6.4 GB attack), text named .wav, and a missing file."""
    import struct

    slow = folder / "slow.wav"
    fmt = struct.pack("<HHIIHH", 1, 1, 1, 2, 2, 16)          # PCM, mono, 1 Hz
    slow.write_bytes(b"RIFF" + struct.pack("<I", 36 + 32768) + b"WAVEfmt "
                     + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 32768)
                     + bytes(32768))
    text = folder / "text.wav"
    text.write_text("not audio\n" * 50)
    return [slow, text, folder / "missing.wav"]


def test_detect_reports_bad_files_and_keeps_the_others(fake_model, stream, tmp_path,
                                                       capsys) -> None:
    wav, _ = stream
    slow, text, missing = hostile_files(tmp_path)
    expect = [f"{wav}: {format_detection(d)}" for d in detect_audio(FakeClassifier(),
                                                                    read_audio(wav))]
    assert cli.main(["detect", str(wav), str(slow), str(text), str(missing), str(wav)]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines() == expect + expect      # before and after the bad ones
    err = captured.err.splitlines()
    assert len(err) == 3
    assert err[0] == (f"kws detect: error: {slow}: sample rate 1 Hz is outside the accepted "
                      "4000..768000 Hz")
    assert err[1].startswith(f"kws detect: error: {text}: not a readable audio file (")
    assert err[1].endswith("Format not recognised.)")
    assert err[2] == f"kws detect: error: {missing}: no such file"


def test_detect_json_has_one_record_per_file_with_errors(fake_model, stream, tmp_path,
                                                         capsys) -> None:
    wav, _ = stream
    slow, text, missing = hostile_files(tmp_path)
    assert cli.main(["detect", "--json", str(slow), str(wav), str(text), str(missing)]) == 2
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["file"] for r in records] == [str(slow), str(wav), str(text), str(missing)]
    assert [("error" in r) for r in records] == [True, False, True, True]
    assert records[0] == {"file": str(slow), "detections": [],
                          "error": f"{slow}: sample rate 1 Hz is outside the accepted "
                                   "4000..768000 Hz"}
    assert records[3]["error"] == f"{missing}: no such file"
    assert len(records[1]["detections"]) == len(detect_audio(FakeClassifier(),
                                                             read_audio(wav)))
    assert cli.main(["detect", "--json", str(wav)]) == 0    # all good: exit code 0
    capsys.readouterr()


def test_detect_streams_a_file_in_blocks_equal_to_whole_reading(fake_model, tmp_path,
                                                                monkeypatch, stream,
                                                                capsys) -> None:
    import soundfile as sf

    from kws import audio

    wav, _ = stream
    x = read_audio(wav)
    stereo = tmp_path / "stereo48k.wav"           # the 30-s stream at 48 kHz, two channels
    sf.write(stereo, np.stack([x, x], axis=1).repeat(3, axis=0), 48000, subtype="PCM_16")
    expect = detect_audio(FakeClassifier(), read_audio(stereo))
    assert len(expect) >= 3
    monkeypatch.setattr(audio, "BLOCK_SAMPLES", 12345)        # about 120 blocks
    assert cli.main(["detect", str(stereo)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{stereo}: {format_detection(d)}"
                                                    for d in expect]


def test_detect_says_when_it_heard_nothing(fake_model, tmp_path, capsys) -> None:
    from kws.audio import write_wav

    quiet = tmp_path / "quiet.wav"
    write_wav(quiet, np.zeros(32000, np.int16), 16000)
    assert cli.main(["detect", str(quiet), "--keywords", "yes", "--threshold", "255"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{quiet}: no keyword heard (2.0 s, threshold 255)"]


def test_detect_keywords_and_threshold_options(fake_model, stream, capsys) -> None:
    wav, _ = stream
    assert cli.main(["detect", str(wav), "--keywords", "yes", "--threshold", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all("Heard yes" in ln for ln in lines)
    assert cli.main(["detect", str(wav), "--keywords", "maybe"]) == 2
    assert "keyword 'maybe' is not a label" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["detect", str(wav), "--threshold", "300"])


def test_listen_on_a_file_prints_plain_lines(fake_model, stream, capsys) -> None:
    wav, _ = stream
    audio = read_audio(wav)[:16000 * 2]
    short = wav.with_name("short.wav")
    from kws.audio import write_wav

    write_wav(short, audio)
    expect = detect_audio(FakeClassifier(), audio)
    saved = wav.with_name("heard.wav")
    assert cli.main(["listen", "--input", str(short), "--save-audio", str(saved)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [format_detection(d) for d in expect] + [
        f"Listened 2.0 s: {len(expect)} detections, 0 input overflows"]
    np.testing.assert_array_equal(read_audio(saved), audio)


def test_listen_without_a_microphone_suggests_input(fake_model, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(fail=True))
    assert cli.main(["listen", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kws listen: error: cannot open the default input") and "--input" in err
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    assert cli.main(["listen", "--list-devices"]) == 2
    assert "PortAudio unavailable" in capsys.readouterr().err


def test_evaluate_stream_reports_and_draws(fake_model, stream, tmp_path, capsys) -> None:
    wav, csv = stream
    png, js = tmp_path / "det.png", tmp_path / "m.json"
    assert cli.main(["evaluate-stream", "model.tflite", str(wav), str(csv), "--png", str(png),
                     "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "threshold 160" in out and "FA/h" in out and "delay after clip end" in out
    assert "false accepts/hour per keyword" in out
    assert png.read_bytes()[:4] == b"\x89PNG"
    figures = json.loads(js.read_text())["streams"][0]
    assert figures["duration_ms"] == 30000 and len(figures["keywords"]) == 10
    assert [p["threshold"] for p in figures["sweep"]][:3] == [0, 8, 16]
    within = [p for p in figures["sweep"] if p["fa_per_hour"] / 10 <= 1.0]
    best = figures["frr_at_budget"]
    if within:
        assert best["mean_frr"] == min(p["mean_frr"] for p in within)
    else:
        assert best is None


def test_evaluate_stream_builds_streams_at_several_snrs(fake_model, mini_dir, tmp_path,
                                                        capsys) -> None:
    js = tmp_path / "m.json"
    assert cli.main(["evaluate-stream", "model.tflite", "--data", str(mini_dir), "--snr", "40",
                     "10", "--minutes", "0.5", "--json", str(js), "--png",
                     str(tmp_path / "det.png")]) == 0
    out = capsys.readouterr().out
    assert "test 0.5 min 40 dB" in out and "test 0.5 min 10 dB" in out
    assert out.count("delay after the spoken word") == 2
    streams = json.loads(js.read_text())["streams"]
    assert [s["duration_ms"] for s in streams] == [30000, 30000]
    assert (tmp_path / "det_40dB.png").is_file() and (tmp_path / "det_10dB.png").is_file()
