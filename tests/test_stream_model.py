"""The streaming path with the shipped default model, on streams of real clips."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_scripts.make_stream import StreamSpec, make_stream
from kws.stream import DEFAULT_MODEL, build_pipeline, load_classifier
from kws.stream_eval import match, read_truth

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.is_file(),
                                reason="the default model is not built yet")
REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "kws" / "assets"
AFTER_MS = 500


@pytest.fixture(scope="module")
def model():
    return load_classifier()


def test_every_detection_falls_in_its_keywords_clip(model, mini_dir) -> None:
    """Keywords of the test split at 20 dB SNR: each detection lies between the start of a
    clip of the same keyword and 500 ms after its end, and most clips are found."""
    audio, truth, _ = make_stream(mini_dir, StreamSpec(
        split="test", duration_s=90, seed=11, snr_db=20.0, keyword_fraction=1.0))
    pipe = build_pipeline(model)
    found = [d for i in range(0, audio.size, 4000) for d in pipe.push(audio[i:i + 4000])]
    for d in found:
        assert any(e.label == d.label and e.start_ms <= d.time_ms <= e.end_ms + AFTER_MS
                   for e in truth), (d, truth)
    assert len(found) >= 0.8 * len(truth), (found, truth)


def test_the_demo_recording(model) -> None:
    truth = read_truth(ASSETS / "demo.csv")
    from kws.audio import read_audio
    from kws.stream import detect_audio

    found = detect_audio(model, read_audio(ASSETS / "demo.wav"))
    keywords = sorted({e.label for e in truth if e.label != "_unknown_"})
    m = match([d for d in found if d.label in keywords], truth, keywords, 15000)
    assert m.false_accepts == 0 and all(d.label in keywords for d in found), found
    assert m.pooled_frr <= 0.2, found


def test_ctrl_c_stops_listen_cleanly() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "kws.cli", "listen", "--input",
                             str(ASSETS / "demo.wav")], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert proc.stderr.readline().startswith("Listening to ")
    time.sleep(0.5)                         # let it listen a little (no timing is asserted)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1].startswith("Listened ") and "Traceback" not in err
