"""The real microphone path: sounddevice -> PortAudio -> ALSA, with ALSA's ``file`` plugin
standing in for the sound card.

The test writes a ``.asoundrc`` into a temporary HOME whose default capture PCM is a ``plug``
(S16_LE, 16 kHz, mono) over a ``file`` PCM that reads a known raw recording (``infile``) on
top of the ``null`` device, then runs code in a subprocess with that HOME. PortAudio
enumerates the PCMs of the ALSA configuration, so no sound card is needed. Linux only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_scripts.make_stream import StreamSpec, make_stream
from kws.audio import read_audio, write_wav
from kws.stream import DEFAULT_MODEL

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="ALSA configuration files are Linux only")
REPO = Path(__file__).resolve().parents[1]
SECONDS = 8

ASOUNDRC = """\
pcm.!default {{
  type asym
  playback.pcm "null"
  capture.pcm "kws_capture"
}}
pcm.kws_capture {{
  type plug
  slave {{
    pcm "kws_file"
    format S16_LE
    rate 16000
    channels 1
  }}
}}
pcm.kws_file {{
  type file
  slave.pcm "null"
  file "/dev/null"
  infile "{infile}"
  format "raw"
}}
"""


@pytest.fixture(scope="module")
def fake_mic(mini_dir, tmp_path_factory) -> tuple[dict[str, str], np.ndarray, Path, Path]:
    """(environment for the subprocess, the int16 recording, its WAV and truth CSV)."""
    tmp = tmp_path_factory.mktemp("alsa")
    audio, events, sources = make_stream(
        mini_dir, StreamSpec(split="test", duration_s=SECONDS, seed=3, snr_db=20.0,
                             keyword_fraction=1.0, gap_min_s=0.5, gap_max_s=1.0))
    raw = tmp / "mic.raw"
    audio.astype("<i2").tofile(raw)
    write_wav(tmp / "mic.wav", audio)
    from kws.stream_eval import write_truth

    write_truth(tmp / "mic.csv", events, sources)
    (tmp / ".asoundrc").write_text(ASOUNDRC.format(infile=raw))
    env = dict(os.environ, HOME=str(tmp), PYTHONPATH=str(REPO))
    env.pop("ALSA_CONFIG_PATH", None)
    return env, audio, tmp / "mic.wav", tmp / "mic.csv"


def test_the_microphone_source_delivers_the_recording(fake_mic, tmp_path) -> None:
    env, audio, _, _ = fake_mic
    out = tmp_path / "heard.npy"
    code = ("import numpy as np, sys; from kws.sources import MicrophoneSource\n"
            "mic = MicrophoneSource()\n"
            f"x = mic.read({audio.size}); mic.close(); np.save({str(out)!r}, x)\n"
            "print('overflows', mic.overflows)")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(out), audio)


def test_listen_devices_lists_the_alsa_default(fake_mic) -> None:
    env = fake_mic[0]
    done = subprocess.run([sys.executable, "-m", "kws.cli", "listen", "--list-devices"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "default, ALSA" in done.stdout and "kws_capture" in done.stdout


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="the default model is not built yet")
def test_kws_listen_hears_the_keywords_of_the_recording(fake_mic, tmp_path) -> None:
    env, audio, wav, csv = fake_mic
    heard = tmp_path / "heard.wav"
    done = subprocess.run(
        [sys.executable, "-m", "kws.cli", "listen", "--duration", str(SECONDS),
         "--save-audio", str(heard)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(read_audio(heard), audio)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("Heard ")]
    # the same pipeline on the file gives the same lines
    detect = subprocess.run([sys.executable, "-m", "kws.cli", "detect", str(wav)],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert detect.returncode == 0, detect.stderr
    assert lines == [ln.split(": ", 1)[1] for ln in detect.stdout.splitlines()]
    # and it reports the keywords that were spoken, each in its clip's window
    from kws.stream_eval import read_truth

    truth = [e for e in read_truth(csv)]
    assert len(truth) >= 4
    hits = 0
    for line in lines:
        label = line.split()[1]
        t = int(line.rsplit("@", 1)[1].removesuffix("ms"))
        assert any(e.start_ms <= t <= e.end_ms + 500 for e in truth), line
        hits += any(e.label == label and e.start_ms <= t <= e.end_ms + 500 for e in truth)
    assert hits >= len(truth) - 1, (lines, truth)
