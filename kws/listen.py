"""Listen: an audio source through the pipeline, shown in a terminal.

The loop reads one hop of audio at a time from any :class:`kws.sources.AudioSource`
(microphone or file), pushes it through :class:`kws.stream.Pipeline` and hands what happened
to a view. :class:`TerminalView` redraws one ANSI status line (input level, current top
class, time, overflows) and prints a line per detection above it; when the output is not a
terminal it prints only the fixed-format detection lines::

    Heard yes (0.93) @1234ms
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import TextIO

import numpy as np

from kws.detector import SCORE_OFFSET, SCORE_SCALE, Detection
from kws.sources import AudioSource
from kws.stream import Pipeline

LEVEL_FLOOR_DB = -90.0
"""Level shown for digital silence (dBFS)."""
METER_WIDTH = 24
"""Characters of the level bar."""
METER_RANGE_DB = 60.0
"""The level bar covers -METER_RANGE_DB .. 0 dBFS."""
REDRAW_S = 0.1
"""Minimum time between two redraws of the status line."""


def format_detection(found: Detection) -> str:
    """The fixed log line of one detection: ``Heard yes (0.93) @1234ms``."""
    return f"Heard {found.label} ({found.probability:.2f}) @{found.time_ms}ms"


def level_dbfs(chunk: np.ndarray) -> float:
    """RMS level of int16 samples in dB relative to full scale (LEVEL_FLOOR_DB if silent)."""
    if chunk.size == 0:
        return LEVEL_FLOOR_DB
    power = float(np.mean(np.square(chunk.astype(np.float64)))) / 32768.0**2
    return max(LEVEL_FLOOR_DB, 10.0 * np.log10(power)) if power > 0 else LEVEL_FLOOR_DB


@dataclasses.dataclass
class Status:
    """What the view shows: level (dBFS), top label and its probability, audio time."""

    level_db: float = LEVEL_FLOOR_DB
    top_label: str = "-"
    top_probability: float = 0.0
    time_ms: int = 0
    overflows: int = 0
    detections: int = 0


class TerminalView:
    """Plain ANSI: a status line redrawn in place, detection lines scrolling above it.

    out: the text stream; tty: force terminal mode on/off (default: ``out.isatty()``).
    """

    def __init__(self, out: TextIO | None = None, tty: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self._last_draw = 0.0

    def detection(self, found: Detection) -> None:
        """Print one detection line (above the status line on a terminal)."""
        if self.tty:
            self.out.write(f"\r\x1b[2K\x1b[1;32m{format_detection(found)}\x1b[0m\n")
        else:
            self.out.write(format_detection(found) + "\n")
        self.out.flush()

    def status(self, status: Status, force: bool = False) -> None:
        """Redraw the status line (terminal only, at most every REDRAW_S unless forced)."""
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < REDRAW_S:
            return
        self._last_draw = now
        filled = int(round(METER_WIDTH * min(1.0, max(
            0.0, (status.level_db + METER_RANGE_DB) / METER_RANGE_DB))))
        bar = "#" * filled + "-" * (METER_WIDTH - filled)
        warn = f"  \x1b[33moverflows {status.overflows}\x1b[0m" if status.overflows else ""
        self.out.write(f"\r\x1b[2K[{bar}] {status.level_db:6.1f} dBFS  "
                       f"top {status.top_label:>9s} {status.top_probability:4.2f}  "
                       f"{status.time_ms / 1000:7.1f} s  heard {status.detections}{warn}")
        self.out.flush()

    def close(self, summary: str) -> None:
        """End the status line and print a summary line."""
        if self.tty:
            self.out.write("\r\x1b[2K")
        self.out.write(summary + "\n")
        self.out.flush()


def listen(source: AudioSource, pipeline: Pipeline, view: TerminalView,
           max_samples: int | None = None, block_samples: int | None = None) -> Status:
    """Run until the source ends, ``max_samples`` were read, or Ctrl-C.

    block_samples: samples per read (default: one classifier hop). Returns the final Status;
    a KeyboardInterrupt ends the loop cleanly (the caller still closes the source).
    """
    fc = pipeline.frontend_config
    block = block_samples or pipeline.detector_config.hop_frames * fc.stride_samples
    status = Status()
    read = 0
    try:
        while max_samples is None or read < max_samples:
            want = block if max_samples is None else min(block, max_samples - read)
            chunk = source.read(want)
            if chunk.size == 0:
                break
            read += chunk.size
            for found in pipeline.push(chunk):
                status.detections += 1
                view.detection(found)
            status.level_db = level_dbfs(chunk)
            if pipeline.last_time_ms >= 0:                 # a first result exists
                top = int(np.argmax(pipeline.last_scores))
                status.top_label = pipeline.labels[top]
                status.top_probability = (int(pipeline.last_scores[top]) + SCORE_OFFSET) \
                    / SCORE_SCALE
            status.time_ms = read * 1000 // fc.sample_rate_hz
            status.overflows = source.overflows
            view.status(status)
    except KeyboardInterrupt:
        pass
    status.overflows = source.overflows
    status.time_ms = read * 1000 // fc.sample_rate_hz
    return status
