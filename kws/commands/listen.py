"""``kws listen``: keyword spotting on the live microphone, or on a file at real-time pace."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from kws.errors import ConfigError
from kws.listen import TerminalView, listen
from kws.outpaths import check_out_file, write_wav
from kws.sources import AudioSource, MicrophoneSource, file_source, list_devices
from kws.stream import build_pipeline, load_classifier


def keyword_list(text: str) -> tuple[str, ...]:
    """Parse ``yes,no`` into ('yes', 'no'); an empty item is an error."""
    words = tuple(w.strip() for w in text.split(","))
    if not all(words):
        raise argparse.ArgumentTypeError(f"bad keyword list {text!r} (expected e.g. yes,no)")
    return words


def threshold_value(text: str) -> int:
    """Parse a detection threshold: an int in 0..255 (int8 score + 128)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold {text!r} is not an integer") from None
    if not 0 <= value <= 255:
        raise argparse.ArgumentTypeError(f"threshold {value} is outside 0..255")
    return value


def add_detector_options(p: argparse.ArgumentParser) -> None:
    """--keywords and --threshold, shared by listen, detect and evaluate-stream."""
    p.add_argument("--keywords", type=keyword_list,
                   help="comma-separated keywords that wake the detector (default: the "
                        "model's detector config, normally every keyword)")
    p.add_argument("--threshold", type=threshold_value,
                   help="detection threshold 0..255 (score = probability * 256; default: "
                        "the model's)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``listen`` sub-command."""
    p = sub.add_parser(
        "listen", help="spot keywords on the microphone (or a file at real-time pace)",
        description="Spot keywords live: microphone (sounddevice) or --input FILE played at "
                    "real-time pace through the same path. Ctrl-C stops. When stdout is not "
                    "a terminal, prints one line per detection: 'Heard yes (0.93) @1234ms'.")
    p.add_argument("--model", type=Path, help="model .tflite (default: the shipped model)")
    add_detector_options(p)
    p.add_argument("--device", help="input device index or name (see --list-devices; "
                                     "default: the system's default input)")
    p.add_argument("--list-devices", action="store_true", help="list audio devices and exit")
    p.add_argument("--input", type=Path, help="play this recording instead of the microphone "
                                               "(default: none, the microphone)")
    p.add_argument("--duration", type=float,
                   help="stop after this many seconds of audio (default: none, until Ctrl-C "
                        "or the end of --input)")
    p.add_argument("--save-audio", type=Path,
                   help="also write the audio that was heard to this WAV (kept in memory; "
                        "default: none)")
    p.set_defaults(func=run)


class _Recorder:
    """An AudioSource wrapper that keeps a copy of everything read."""

    def __init__(self, source: AudioSource) -> None:
        self.source = source
        self.sample_rate_hz = source.sample_rate_hz
        self.chunks: list[np.ndarray] = []

    @property
    def overflows(self) -> int:
        return self.source.overflows

    def read(self, n: int) -> np.ndarray:
        chunk = self.source.read(n)
        self.chunks.append(chunk.copy())
        return chunk

    def close(self) -> None:
        self.source.close()


def _device(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.strip().isdigit() else text


def run(args: argparse.Namespace) -> int:
    if args.list_devices:
        print(list_devices())
        return 0
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise ConfigError(f"--duration {args.duration} must be a positive, finite number of "
                          "seconds")
    if args.save_audio is not None:
        check_out_file(args.save_audio, "--save-audio")
    model = load_classifier(args.model)
    pipeline = build_pipeline(model, args.keywords, args.threshold)
    pipeline.warm_up()                  # before the microphone opens: no backlog at start
    rate = pipeline.frontend_config.sample_rate_hz
    view = TerminalView(sys.stdout)
    info = sys.stdout if view.tty else sys.stderr
    source: AudioSource
    if args.input is not None:
        source = file_source(args.input, rate, realtime=True)
        where = str(args.input)
    else:
        source = MicrophoneSource(_device(args.device), rate)
        where = "the default microphone" if args.device is None else f"device {args.device}"
    if args.save_audio is not None:
        source = _Recorder(source)
    wake = ", ".join(pipeline.labels[i] for i in pipeline.detector.tables.wake)
    print(f"Listening to {where} for: {wake}  (Ctrl-C to stop)", file=info, flush=True)
    max_samples = None if args.duration is None else int(round(args.duration * rate))
    try:
        status = listen(source, pipeline, view, max_samples)
    finally:
        source.close()
    view.close(f"Listened {status.time_ms / 1000:.1f} s: {status.detections} detections, "
               f"{status.overflows} input overflows")
    if isinstance(source, _Recorder):
        audio = np.concatenate(source.chunks) if source.chunks else np.zeros(0, np.int16)
        write_wav(args.save_audio, audio.astype(np.int16), rate)
        print(f"saved {args.save_audio} ({audio.size} samples)", file=info)
    return 0
