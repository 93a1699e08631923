"""The listen loop and its terminal view (file sources and fake classifiers only)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from stream_fakes import FakeClassifier

from kws.detector import Detection
from kws.listen import Status, TerminalView, format_detection, level_dbfs, listen
from kws.sources import ArraySource
from kws.stream import Pipeline, detect_audio


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_detection_line_format() -> None:
    assert format_detection(Detection("yes", 1234, 238)) == "Heard yes (0.93) @1234ms"
    assert format_detection(Detection("go", 0, 255)) == "Heard go (1.00) @0ms"


def test_plain_output_has_only_detection_lines() -> None:
    out = io.StringIO()
    view = TerminalView(out)
    assert not view.tty
    view.status(Status(level_db=-20.0, top_label="yes"), force=True)
    view.detection(Detection("no", 990, 200))
    view.close("Listened 1.0 s: 1 detections, 0 input overflows")
    assert out.getvalue() == ("Heard no (0.78) @990ms\n"
                              "Listened 1.0 s: 1 detections, 0 input overflows\n")


def test_terminal_output_redraws_one_status_line() -> None:
    out = _Tty()
    view = TerminalView(out)
    view.status(Status(level_db=-30.0, top_label="yes", top_probability=0.5, time_ms=1500,
                       overflows=3), force=True)
    view.detection(Detection("no", 990, 200))
    text = out.getvalue()
    assert text.startswith("\r\x1b[2K[############------------]  -30.0 dBFS")
    assert "top       yes 0.50" in text and "1.5 s" in text and "overflows 3" in text
    assert "\r\x1b[2K\x1b[1;32mHeard no (0.78) @990ms\x1b[0m\n" in text


def test_level_meter() -> None:
    assert level_dbfs(np.zeros(10, dtype=np.int16)) == -90.0
    assert level_dbfs(np.full(10, -32768, dtype=np.int16)) == pytest.approx(0.0)
    assert level_dbfs(np.full(10, 3277, dtype=np.int16)) == pytest.approx(-20.0, abs=0.01)


def _speech(mini_dir) -> np.ndarray:
    import soundfile as sf

    clips = sorted(p for p in mini_dir.glob("*/*.wav") if p.parent.name != "_background_noise_")
    return np.concatenate([sf.read(str(p), dtype="int16")[0] for p in clips[::110]])


def test_listen_reports_what_detect_finds(mini_dir) -> None:
    x = _speech(mini_dir)
    expect = detect_audio(FakeClassifier(), x)
    assert len(expect) >= 5
    out = io.StringIO()
    status = listen(ArraySource(x), Pipeline(FakeClassifier()), TerminalView(out))
    assert out.getvalue().splitlines() == [format_detection(d) for d in expect]
    assert status.detections == len(expect) and status.time_ms == x.size // 16


def test_duration_limit_counts_samples(mini_dir) -> None:
    x = _speech(mini_dir)
    status = listen(ArraySource(x), Pipeline(FakeClassifier()), TerminalView(io.StringIO()),
                    max_samples=16000 * 3 + 5)
    assert status.time_ms == 3000


def test_ctrl_c_ends_the_loop_cleanly() -> None:
    class Interrupted(ArraySource):
        def read(self, n: int) -> np.ndarray:
            if self.position >= 16000:
                raise KeyboardInterrupt
            return super().read(n)

    src = Interrupted(np.zeros(48000, dtype=np.int16))
    status = listen(src, Pipeline(FakeClassifier()), TerminalView(io.StringIO()))
    assert status.time_ms == 1000


def test_no_top_class_before_the_first_full_window() -> None:
    status = listen(ArraySource(np.full(15000, 2, dtype=np.int16)), Pipeline(FakeClassifier()),
                    TerminalView(io.StringIO()))
    assert status.top_label == "-" and status.level_db == pytest.approx(-84.29, abs=0.01)
