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
from kws.stream_eval import read_truth

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.is_file(),
                                reason="the default model is not built yet")
REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "kws" / "assets"
AFTER_MS = 500


@pytest.fixture(scope="module")
def model():
    return load_classifier()


def test_the_demo_hears_only_keywords_that_were_said(model) -> None:
    """What the shipped detector does meet on the demo: every detection is a keyword that
    was said, where it was said (none on its unknown word 'zero'), and at least three of
    the five keywords are found."""
    from kws.audio import read_audio
    from kws.stream import detect_audio

    truth = [e for e in read_truth(ASSETS / "demo.csv") if e.label != "_unknown_"]
    found = detect_audio(model, read_audio(ASSETS / "demo.wav"))
    for d in found:
        assert any(e.label == d.label and e.start_ms <= d.time_ms <= e.end_ms + AFTER_MS
                   for e in truth), found
    assert len(found) >= 3, found


def test_every_detection_falls_in_a_keyword_clip(model, mini_dir) -> None:
    """Issue 6's bound. Keywords of the test split at 20 dB SNR, the detector at the model's
    defaults: every detection lies between the start of a keyword clip and 500 ms after its
    end (never in the gaps, which are longer); most carry that clip's label (the model is not
    perfect: 'off' heard as 'up' happens) and many clips are found."""
    audio, truth, _ = make_stream(mini_dir, StreamSpec(
        split="test", duration_s=90, seed=11, snr_db=20.0, keyword_fraction=1.0))
    assert min(b.start_ms - a.end_ms for a, b in zip(truth, truth[1:], strict=False)) \
        > AFTER_MS
    pipe = build_pipeline(model)
    found = [d for i in range(0, audio.size, 4000) for d in pipe.push(audio[i:i + 4000])]
    right = 0
    for d in found:
        clips = [e for e in truth if e.start_ms <= d.time_ms <= e.end_ms + AFTER_MS]
        assert clips, (d, truth)
        right += any(e.label == d.label for e in clips)
    assert right >= 0.8 * len(found), (found, truth)
    assert len(found) >= 0.4 * len(truth), (found, truth)


UNMET_RECALL = ("issue 12's goal, not met: the shipped model misses keywords at its detector "
                "(measured: demo.wav gives 3 of its 5 keywords, demo_yes.wav is not heard)")


@pytest.mark.xfail(strict=True, reason=UNMET_RECALL)
def test_the_demo_recording_gives_its_five_keywords_and_nothing_else(model) -> None:
    """The bundled demo (demo.csv: off, on, on, go, go and the unknown word 'zero'): each
    keyword is heard once, with its label, between its clip's start and 500 ms after its
    end, and nothing else is heard."""
    from kws.audio import read_audio
    from kws.stream import detect_audio

    truth = [e for e in read_truth(ASSETS / "demo.csv") if e.label != "_unknown_"]
    assert len(truth) == 5
    found = detect_audio(model, read_audio(ASSETS / "demo.wav"))
    assert len(found) == len(truth), found
    for d, e in zip(found, truth, strict=True):
        assert d.label == e.label and e.start_ms <= d.time_ms <= e.end_ms + AFTER_MS, (d, e)


@pytest.mark.xfail(strict=True, reason=UNMET_RECALL)
@pytest.mark.parametrize("pad_s", [0.0, 1.0])
def test_demo_yes_is_heard(model, pad_s: float) -> None:
    """kws/assets/demo_yes.wav, one clean 'yes', as it is and with a second of silence on
    both sides: the detector hears 'yes' once and nothing else."""
    import numpy as np

    from kws.audio import read_audio
    from kws.stream import detect_audio

    audio = read_audio(ASSETS / "demo_yes.wav")
    pad = np.zeros(int(pad_s * 16000), np.int16)
    found = detect_audio(model, np.concatenate([pad, audio, pad]))
    assert [d.label for d in found] == ["yes"], found


def test_tuning_refuses_a_split_the_model_trained_on(mini_dir, tmp_path, capsys) -> None:
    """The shipped model trained on train + validation (its manifest says so; it was
    quantized before the metadata recorded it, so a copy gets the record): tuning on
    validation is refused with a one-line error, so is tuning with no split left, and the
    file is left as it was. (A test never writes into kws/assets.)"""
    import json

    from kws import cli
    from kws.model_edit import add_metadata, remove_metadata
    from kws.runtime import read_metadata

    manifest = json.loads((ASSETS / "default_model.manifest.json").read_text())
    trained = manifest["config"]["train"]["train_splits"]
    assert trained == ["train", "validation"]
    meta = read_metadata(DEFAULT_MODEL)
    meta["training"] = {"train_splits": trained, "tuning_percent": None}
    model = tmp_path / "model.tflite"
    model.write_bytes(add_metadata(remove_metadata(DEFAULT_MODEL.read_bytes()), meta))
    before = model.read_bytes()
    for extra, message in ((["--tune-split", "validation"], "trained on it"),
                           ([], "no split it never heard")):
        assert cli.main(["tune-detector", str(model), "--data", str(mini_dir), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert model.read_bytes() == before


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
