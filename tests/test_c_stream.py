"""The C streaming pipeline (firmware_export/c/kws_stream.c) against kws.stream.

kws_stream.c is the one copy of the frame history, the window schedule, the result times and
the detector calls that the Nano sketch and the generic main.cc run. Here it is compiled on the
host (gcc -std=c99 -Wall -Wextra -Werror, plain and with ASan/UBSan) with the shipped model's
front-end tables and fed real audio: the demo recording and a 2-minute stream of test-split
words over noise. The model is replayed: the scores the Python pipeline's classifier (LiteRT on
the shipped model) returned for each window. At the laptop's hop and detector and at the
board's hop and detector (what kws export writes), the C pipeline sees the same windows (CRC-32
of each), stamps them with the same times and reports exactly the Python pipeline's
detections, whatever the chunking.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from firmware_export.frontend_tables import render_frontend_tables
from firmware_export.settings import board_detector_config, board_hop_frames
from kws.config import DetectorConfig, FrontendConfig
from kws.detector import Detection, Detector, build_detector_tables
from kws.stream import Pipeline, detect_audio, result_time_ms

REPO = Path(__file__).resolve().parents[1]
C_DIR = REPO / "firmware_export" / "c"
HARNESS = REPO / "tests" / "c" / "stream_harness.c"
DEMO = REPO / "kws" / "assets" / "demo.wav"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
CHUNKINGS = ("256", "1,160,513,0,4000,7", "16000")
"""Chunk patterns (samples, cycled): the sketch's PDM block, odd sizes with an empty push,
one second."""


@dataclasses.dataclass
class Run:
    """What one pipeline did on one recording."""

    crcs: list[str]
    """CRC-32 (hex) of each window the classifier saw, in order."""
    times: list[int]
    """ms of each result."""
    detections: list[str]
    """"D <label index> <time_ms> <score>" per detection."""
    scores: np.ndarray
    """int8 (windows, labels): the classifier's results."""


class Recorder:
    """kws.stream's Classifier around a model, keeping every window and result."""

    def __init__(self, model) -> None:
        self.model = model
        self.labels = tuple(model.labels)
        self.frontend_config = model.frontend_config
        self.windows: list[np.ndarray] = []
        self.results: list[np.ndarray] = []

    def predict(self, features: np.ndarray) -> np.ndarray:
        out = self.model.predict(features)
        self.windows += [np.ascontiguousarray(w) for w in features]
        self.results.append(out)
        return out


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} required")


@pytest.fixture(scope="module")
def model():
    from kws.stream import load_classifier

    return load_classifier()


@pytest.fixture(scope="module", params=["plain", "sanitized"])
def harness(request, model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The harness built with the model's front-end tables (gcc, strict warnings)."""
    _need("gcc")
    build = tmp_path_factory.mktemp(f"stream_{request.param}")
    for name, text in render_frontend_tables(model.frontend_config).items():
        (build / name).write_text(text)
    flags = SANITIZE if request.param == "sanitized" else ["-O2"]
    exe = build / "kws_stream_harness"
    proc = subprocess.run(
        ["gcc", *STRICT, *flags, f"-I{build}", f"-I{C_DIR}", str(HARNESS),
         str(C_DIR / "kws_stream.c"), str(C_DIR / "kws_frontend.c"),
         str(C_DIR / "kws_detector.c"), str(build / "kws_frontend_tables.c"), "-o", str(exe)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return exe


@pytest.fixture(scope="module")
def configs(model) -> dict[str, DetectorConfig]:
    """The laptop's detector (metadata) and the board's (hop and settings as exported)."""
    from kws.quantize import strip_for_device
    from kws.runtime import DEFAULT_MODEL
    from kws.tflite_ops import parse_tflite

    laptop = model.detector_config
    device = parse_tflite(strip_for_device(DEFAULT_MODEL.read_bytes()))
    hop = board_hop_frames(device, model.frontend_config, laptop.hop_frames)
    board = board_detector_config(model.metadata, hop, model.frontend_config)
    assert board.hop_frames > laptop.hop_frames   # the board runs the model less often
    return {"laptop": laptop, "board": board}


@pytest.fixture(scope="module")
def recordings(mini_dir: Path) -> dict[str, np.ndarray]:
    """int16 (n,): the demo recording and a 2-minute test-split stream at 20 dB SNR."""
    from data_scripts.make_stream import StreamSpec, make_stream
    from kws.audio import read_audio

    stream, _, _ = make_stream(mini_dir, StreamSpec(split="test", duration_s=120, seed=5,
                                                    snr_db=20.0, gap_min_s=0.5,
                                                    gap_max_s=2.0))
    return {"demo": read_audio(DEMO), "stream": stream}


def python_run(model, config: DetectorConfig, audio: np.ndarray) -> Run:
    """kws.stream.Pipeline on the recording (in one-minute pushes, as detect_audio does)."""
    recorder = Recorder(model)
    found = detect_audio(recorder, audio, model.frontend_config, config)
    fc = model.frontend_config
    scores = np.concatenate(recorder.results) if recorder.results else \
        np.zeros((0, len(model.labels)), np.int8)
    ends = fc.frames_per_clip - 1 + config.hop_frames * np.arange(len(recorder.windows))
    labels = list(model.labels)
    return Run(crcs=[f"{zlib.crc32(w.tobytes()):08x}" for w in recorder.windows],
               times=result_time_ms(ends, fc).tolist(),
               detections=[_line(labels, d) for d in found], scores=scores)


def _line(labels: list[str], d: Detection) -> str:
    return f"D {labels.index(d.label)} {d.time_ms} {d.score}"


def c_run(exe: Path, model, config: DetectorConfig, audio: np.ndarray, scores: np.ndarray,
          chunks: str, skip: tuple[int, int] | None = None) -> Run:
    """The C pipeline on the recording, the model replaying ``scores``."""
    tables = build_detector_tables(config, model.labels)
    args = [str(exe), "run", str(config.hop_frames), str(tables.average_window_ms),
            str(tables.min_count), str(tables.suppression_ms), str(tables.max_results),
            ",".join(map(str, tables.thresholds.tolist())),
            ",".join(map(str, tables.wake.tolist())), chunks]
    if skip is not None:
        args += [str(skip[0]), str(skip[1])]
    data = (np.uint32(audio.size).tobytes() + audio.astype("<i2").tobytes()
            + np.array([len(scores), len(model.labels)], "<u4").tobytes()
            + np.ascontiguousarray(scores, np.int8).tobytes())
    proc = subprocess.run(args, input=data, capture_output=True, timeout=300)
    out = proc.stdout.decode().splitlines()
    assert proc.returncode == 0, (out[-3:], proc.stderr.decode()[-2000:])
    windows = [line.split() for line in out if line.startswith("W ")]
    assert [int(w[1]) for w in windows] == list(range(len(windows)))
    assert out[-1] == f"done windows {len(windows)} samples {audio.size}"
    return Run(crcs=[w[3] for w in windows], times=[int(w[2]) for w in windows],
               detections=[line for line in out if line.startswith("D ")], scores=scores)


@pytest.mark.parametrize("where", ["laptop", "board"])
@pytest.mark.parametrize("name", ["demo", "stream"])
def test_c_pipeline_gives_the_python_pipelines_detections(harness: Path, model, configs,
                                                          recordings, where: str,
                                                          name: str) -> None:
    config = configs[where]
    audio = recordings[name]
    want = python_run(model, config, audio)
    fc = model.frontend_config
    expected_windows = max(0, (fc.num_frames(audio.size) - fc.frames_per_clip)
                           // config.hop_frames + 1)
    assert len(want.crcs) == expected_windows > 0
    if name == "stream":   # two minutes of words at 20 dB: the detector must fire
        assert len(want.detections) >= (10 if where == "laptop" else 3), want.detections
    else:
        assert want.detections, "the demo wakes the detector at least once"
    for chunks in CHUNKINGS:
        got = c_run(harness, model, config, audio, want.scores, chunks)
        assert got.crcs == want.crcs, chunks          # the same windows, in order
        assert got.times == want.times, chunks        # stamped with the same times
        assert got.detections == want.detections, chunks


def test_the_stream_detections_are_the_shipped_detector_figures(model, configs,
                                                                recordings) -> None:
    """The Python side is kws.stream's ordinary path: Pipeline.push in any chunks equals
    Detector.run on the scored windows (so the C twin is held to what kws detect prints)."""
    audio = recordings["stream"]
    for config in configs.values():
        run = python_run(model, config, audio)
        pipe = Pipeline(model, model.frontend_config, config)
        pushed = [d for i in range(0, audio.size, 5000) for d in pipe.push(audio[i:i + 5000])]
        labels = list(model.labels)
        assert [_line(labels, d) for d in pushed] == run.detections
        replay = Detector(config, model.labels).run(np.array(run.times), run.scores)
        assert [_line(labels, d) for d in replay] == run.detections


def test_skip_restarts_the_front_end_and_keeps_audio_time(harness: Path, model, configs,
                                                          recordings) -> None:
    """kws_stream_skip (the board lost audio): the C windows are those of kws.stream on the
    audio before the gap and, separately, on the audio after it, with the times of the
    whole recording; one detector runs across both (its results stay in time order)."""
    audio = recordings["stream"]
    fc = model.frontend_config
    config = configs["board"]
    at, lost = 16000 * 40 + 123, 16000 * 3 + 77
    before, after = python_run(model, config, audio[:at]), \
        python_run(model, config, audio[at + lost:])
    offset = at + lost
    ends = fc.frames_per_clip - 1 + config.hop_frames * np.arange(len(after.crcs))
    after_times = ((offset + ends * fc.stride_samples + fc.window_samples) * 1000
                   // fc.sample_rate_hz).tolist()
    scores = np.concatenate([before.scores, after.scores])
    times = before.times + after_times
    labels = list(model.labels)
    want = [_line(labels, d) for d in Detector(config, model.labels).run(np.array(times),
                                                                          scores)]
    assert want, "the crafted split should still leave detections"
    got = c_run(harness, model, config, audio, scores, "256", skip=(at, lost))
    assert got.crcs == before.crcs + after.crcs
    assert got.times == times
    assert got.detections == want


def test_api_contract(harness: Path) -> None:
    """Argument checks, call order, the schedule and its times, chunking, reset, skip."""
    proc = subprocess.run([str(harness), "api"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("checks, 0 failed")
    assert int(proc.stdout.split("api: ")[-1].split()[0]) >= 25


def test_the_sketch_and_main_use_the_one_pipeline() -> None:
    """Neither target keeps its own copy of the history, schedule or times any more."""
    for path in (REPO / "firmware_export" / "arduino" / "kws_nano33ble.ino",
                 REPO / "firmware_export" / "generic" / "main.cc"):
        text = path.read_text()
        assert '#include "kws_stream.h"' in text, path.name
        for call in ("kws_stream_init(", "kws_stream_push(", "kws_stream_window(",
                     "kws_stream_result("):
            assert call in text, (path.name, call)
        for own in ("kws_frontend_push(", "kws_detector_update(", "* KWS_STRIDE_SAMPLES",
                    "% KWS_HOP_FRAMES", "history["):
            assert own not in text, (path.name, own)


def test_stream_state_is_fixed_size(model, tmp_path: Path) -> None:
    """sizeof(kws_stream_t): front end + detector + history + a few counters (no heap)."""
    _need("gcc")
    for name, text in render_frontend_tables(model.frontend_config).items():
        (tmp_path / name).write_text(text)
    src = tmp_path / "size.c"
    src.write_text('#include <stdio.h>\n#include "kws_stream.h"\nint main(void) {\n'
                   '  printf("%lu %lu %lu\\n", (unsigned long)sizeof(kws_stream_t),\n'
                   '         (unsigned long)sizeof(kws_frontend_t),\n'
                   '         (unsigned long)sizeof(KwsDetector));\n  return 0;\n}\n')
    exe = tmp_path / "size"
    proc = subprocess.run(["gcc", *STRICT, f"-I{tmp_path}", f"-I{C_DIR}", str(src), "-o",
                           str(exe)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    total, frontend, detector = map(int, subprocess.run([str(exe)], capture_output=True,
                                                        text=True).stdout.split())
    fc: FrontendConfig = model.frontend_config
    history = fc.frames_per_clip * fc.num_coeffs
    assert frontend + detector + history < total <= frontend + detector + history + 64
    libc_alloc = subprocess.run(["grep", "-E", r"\b(malloc|calloc|realloc|free)\b",
                                 str(C_DIR / "kws_stream.c")], capture_output=True)
    assert libc_alloc.returncode == 1   # not found
