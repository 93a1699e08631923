"""Build a long test recording from Speech Commands clips, with its ground truth.

Run: python -m data_scripts.make_stream --data DIR --split test --duration 1200 --seed 1 \
         --snr 10 --out stream.wav --truth stream.csv        (also: kws make-stream ...)

The recording is a sequence of one-second clips of one split (train, validation or test,
from the dataset's list files) separated by random gaps, over a continuous bed of
``_background_noise_``:

- each event is a keyword with probability ``keyword_fraction`` (the keyword chosen
  uniformly, then its clips taken in a seeded shuffled order, cycling), otherwise an
  "unknown" word (any non-keyword folder, also shuffled and cycled);
- clips keep their recorded level; a gap of uniform(gap_min_s, gap_max_s) follows each clip;
  the recording opens with ``lead_s`` of noise and ends after ``duration_s``;
- the noise bed is made of random pieces (NOISE_PIECE_S) of the six noise files, each scaled
  to unit RMS and cross-faded, taken only from the part of each file that kws.data reserves
  for the stream's split (80/10/10 in time: the test stream's noise was never trained on);
- under every clip the noise is scaled so that the clip's active speech power
  (kws.audio.active_power: mean power of its 20 ms frames within 30 dB of its loudest frame)
  is ``snr_db`` above the noise power under the clip; between clips the noise gain moves
  linearly from one clip's value to the next (no steps);
- every clip starts on a whole millisecond; the truth CSV has one row per clip:
  ``start_ms,end_ms,label,source`` (label = the keyword or ``_unknown_``).

Everything depends only on the arguments (``seed`` included): the same call gives the same
file, byte for byte.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from kws.audio import active_power, snr_gain, write_wav
from kws.errors import DataError, KwsError
from kws.labels import KEYWORDS, UNKNOWN
from kws.stream_eval import TruthEvent, write_truth

RATE_HZ = 16000
"""Sample rate of the dataset and of the stream."""
SAMPLES_PER_MS = RATE_HZ // 1000
NOISE_FOLDER = "_background_noise_"
LIST_FILES = {"validation": "validation_list.txt", "test": "testing_list.txt"}
"""The dataset's held-out lists; every other clip is training."""
SPLITS = ("train", "validation", "test")
NOISE_PIECE_S = (4.0, 12.0)
"""Length range of one piece of a noise file in the bed, in seconds."""
CROSSFADE_MS = 50
"""Cross-fade between two noise pieces."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class StreamSpec:
    """What to build (all times in seconds)."""

    split: str = "test"
    """train, validation or test."""
    duration_s: float = 60.0
    """Length of the recording."""
    seed: int = 0
    """Seed of every random choice."""
    snr_db: float | None = 10.0
    """Speech-to-noise ratio under each clip in dB; None = no background noise."""
    keyword_fraction: float = 0.7
    """Probability that an event is a keyword (else an unknown word)."""
    gap_min_s: float = 1.0
    """Shortest silence (noise only) after a clip."""
    gap_max_s: float = 3.0
    """Longest silence after a clip."""
    lead_s: float = 1.0
    """Noise before the first clip."""
    keywords: tuple[str, ...] = KEYWORDS
    """Keywords to use (a subset of kws.labels.KEYWORDS)."""

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise DataError(f"split={self.split!r} must be one of {', '.join(SPLITS)}")
        if not self.duration_s > 0:
            raise DataError(f"duration_s={self.duration_s} must be positive")
        if not 0 <= self.keyword_fraction <= 1:
            raise DataError(f"keyword_fraction={self.keyword_fraction} must be in [0, 1]")
        if not 0 <= self.gap_min_s <= self.gap_max_s:
            raise DataError(f"gaps {self.gap_min_s}..{self.gap_max_s} s must satisfy "
                            "0 <= min <= max")
        if self.lead_s < 0:
            raise DataError(f"lead_s={self.lead_s} must be >= 0")
        bad = [k for k in self.keywords if k not in KEYWORDS]
        if bad or not self.keywords:
            raise DataError(f"keywords {bad or '(none)'} must be a non-empty subset of "
                            f"{', '.join(KEYWORDS)}")


def split_clips(data: Path, split: str) -> list[str]:
    """Relative paths ('yes/x_nohash_0.wav') of the split's one-second clips, sorted."""
    lists = {}
    for name, file in LIST_FILES.items():
        path = data / file
        if not path.is_file():
            raise DataError(f"{path}: missing (is {data} a Speech Commands folder?)")
        lists[name] = {ln.strip() for ln in path.read_text().splitlines() if ln.strip()}
    every = sorted(p.relative_to(data).as_posix() for p in data.glob("*/*.wav")
                   if p.parent.name != NOISE_FOLDER)
    if split == "train":
        held_out = lists["validation"] | lists["test"]
        return [p for p in every if p not in held_out]
    present = set(every)
    return sorted(p for p in lists[split] if p in present)


def _read(path: Path) -> np.ndarray:
    try:
        data, rate = sf.read(str(path), dtype="int16")
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise DataError(f"{path}: unreadable ({str(exc).splitlines()[0]})") from None
    if rate != RATE_HZ or data.ndim != 1:
        raise DataError(f"{path}: expected 16 kHz mono, got {rate} Hz, shape {data.shape}")
    return data


def noise_bed(recordings: Sequence[np.ndarray], num_samples: int,
              rng: np.random.Generator) -> np.ndarray:
    """float64 (num_samples,) of unit-RMS pieces of ``recordings`` (int16 (n_i,)), cross-faded."""
    noises = []
    for x in recordings:
        x = x.astype(np.float64)
        rms = np.sqrt(np.mean(x**2))
        if rms > 0 and x.size > 2 * CROSSFADE_MS * SAMPLES_PER_MS:
            noises.append(x / rms)
    if not noises:
        raise DataError("no usable background noise for the stream")
    fade = CROSSFADE_MS * SAMPLES_PER_MS
    bed = np.zeros(num_samples + fade)
    pos = 0
    ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
    while pos < num_samples:
        src = noises[int(rng.integers(len(noises)))]
        length = min(src.size, int(rng.uniform(*NOISE_PIECE_S) * RATE_HZ) + fade)
        start = int(rng.integers(0, src.size - length + 1))
        piece = src[start:start + length].copy()
        piece[:fade] *= ramp
        piece[-fade:] *= ramp[::-1]
        end = min(bed.size, pos + length)
        bed[pos:end] += piece[:end - pos]
        pos += length - fade
    return bed[:num_samples]


def split_noise(data: Path, split: str) -> list[np.ndarray]:
    """The part of every _background_noise_ recording that kws.data reserves for ``split``
    (int16 (n_i,) each): a test stream never carries noise that training heard."""
    from kws.data import index_dataset, load_noise

    folder = data / NOISE_FOLDER
    if not any(folder.glob("*.wav")):
        raise DataError(f"{folder}: no noise files")
    return load_noise(index_dataset(data), split)


def make_stream(data: str | Path, spec: StreamSpec) -> tuple[np.ndarray, list[TruthEvent],
                                                                list[str]]:
    """Build the recording.

    Returns (audio int16 (round(duration_s * 16000),), truth events in time order, the
    source clip of each event). Raises DataError when the split lacks keywords or files.
    """
    data = Path(data)
    if not data.is_dir():
        raise DataError(f"{data}: no such dataset folder")
    rng = np.random.default_rng(spec.seed)
    clips = split_clips(data, spec.split)
    by_word: dict[str, list[str]] = {k: [] for k in spec.keywords}
    unknown: list[str] = []
    for rel in clips:
        word = rel.split("/")[0]
        if word in by_word:
            by_word[word].append(rel)
        elif word not in KEYWORDS:
            unknown.append(rel)
    empty = [k for k, v in by_word.items() if not v]
    if empty:
        raise DataError(f"split {spec.split!r} of {data} has no clips of {', '.join(empty)}")
    if not unknown and spec.keyword_fraction < 1:
        raise DataError(f"split {spec.split!r} of {data} has no unknown words")
    pools = {k: list(rng.permutation(v)) for k, v in by_word.items()}
    pools[UNKNOWN] = list(rng.permutation(unknown)) if unknown else []
    cursor = dict.fromkeys(pools, 0)

    total = int(round(spec.duration_s * RATE_HZ))
    speech = np.zeros(total, dtype=np.float64)
    events: list[TruthEvent] = []
    sources: list[str] = []
    powers: list[float] = []
    t_ms = int(round(spec.lead_s * 1000))
    while True:
        label = (spec.keywords[int(rng.integers(len(spec.keywords)))]
                 if rng.random() < spec.keyword_fraction else UNKNOWN)
        pool = pools[label]
        rel = pool[cursor[label] % len(pool)]
        cursor[label] += 1
        clip = _read(data / rel)
        start = t_ms * SAMPLES_PER_MS
        if start + clip.size > total:
            break
        speech[start:start + clip.size] = clip
        end_ms = t_ms + -(-clip.size // SAMPLES_PER_MS)
        events.append(TruthEvent(t_ms, end_ms, label))
        sources.append(rel)
        powers.append(active_power(clip))
        gap_ms = int(round(rng.uniform(spec.gap_min_s, spec.gap_max_s) * 1000))
        t_ms = end_ms + gap_ms

    mix = speech
    if spec.snr_db is not None:
        bed = noise_bed(split_noise(data, spec.split), total, rng)
        gain = _noise_gain(bed, events, powers, spec.snr_db, total)
        mix = speech + gain * bed
    audio = np.clip(np.rint(mix), -32768, 32767).astype(np.int16)
    return audio, events, sources


def _noise_gain(bed: np.ndarray, events: Sequence[TruthEvent], powers: Sequence[float],
                snr_db: float, total: int) -> np.ndarray:
    """float64 (total,): noise gain, constant under each clip (its SNR), linear in between."""
    knots_x: list[float] = []
    knots_y: list[float] = []
    for e, p in zip(events, powers, strict=True):
        a, b = e.start_ms * SAMPLES_PER_MS, e.end_ms * SAMPLES_PER_MS
        noise_power = float(np.mean(bed[a:b] ** 2))
        if p <= 0 or noise_power <= 0:
            continue
        g = snr_gain(p, noise_power, snr_db)
        knots_x += [a, b - 1]
        knots_y += [g, g]
    if not knots_x:
        return np.zeros(total)
    return np.interp(np.arange(total, dtype=np.float64), knots_x, knots_y)


def write_stream(out: str | Path, truth: str | Path, audio: np.ndarray,
                 events: Sequence[TruthEvent], sources: Sequence[str]) -> None:
    """Write the WAV and its truth CSV (both atomically)."""
    write_wav(out, audio, RATE_HZ)
    write_truth(truth, events, sources)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command-line options (shared by ``python -m data_scripts.make_stream`` and
    ``kws make-stream``)."""
    p.add_argument("--data", type=Path, required=True, help="Speech Commands folder")
    p.add_argument("--split", choices=SPLITS, default="test", help="clips from this split")
    p.add_argument("--duration", type=float, default=60.0, help="length in seconds")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--snr", type=float, default=10.0,
                   help="speech-to-noise ratio in dB (default 10)")
    p.add_argument("--no-noise", action="store_true", help="no background noise")
    p.add_argument("--keyword-fraction", type=float, default=0.7,
                   help="share of events that are keywords (default 0.7)")
    p.add_argument("--gap", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"),
                   help="seconds of noise after each clip (default 1 3)")
    p.add_argument("--keywords", type=lambda s: tuple(w for w in s.split(",") if w),
                   default=KEYWORDS, help="comma-separated keywords (default: all ten)")
    p.add_argument("--out", type=Path, required=True, help="output WAV (16 kHz int16 mono)")
    p.add_argument("--truth", type=Path, help="output CSV (default: OUT with .csv)")


def run(args: argparse.Namespace) -> int:
    """Build and write the stream described by parsed arguments; print a summary."""
    spec = StreamSpec(split=args.split, duration_s=args.duration, seed=args.seed,
                      snr_db=None if args.no_noise else args.snr,
                      keyword_fraction=args.keyword_fraction, gap_min_s=args.gap[0],
                      gap_max_s=args.gap[1], keywords=args.keywords)
    audio, events, sources = make_stream(args.data, spec)
    truth = args.truth or args.out.with_suffix(".csv")
    write_stream(args.out, truth, audio, events, sources)
    kws = sum(e.label != UNKNOWN for e in events)
    print(f"{args.out}: {audio.size / RATE_HZ:.1f} s, {len(events)} clips ({kws} keywords, "
          f"{len(events) - kws} unknown) from the {spec.split} split, "
          f"{'no noise' if spec.snr_db is None else f'noise at {spec.snr_db:g} dB SNR'}, "
          f"seed {spec.seed}; truth {truth}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m data_scripts.make_stream``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except KwsError as exc:
        print(f"make_stream: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
