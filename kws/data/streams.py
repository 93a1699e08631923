"""Long recordings built from Speech Commands clips, with their ground truth.

The recording is a sequence of one-second clips of one split (train, validation or test,
from the dataset's list files; or "tuning", the validation speakers that
``DataConfig.tuning_percent`` holds out) separated by random gaps, over a continuous bed of
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

import csv
import dataclasses
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from kws.audio import active_power, snr_gain
from kws.data.config import MAX_SNR_DB
from kws.data.splits import TUNING, in_tuning
from kws.errors import DataError
from kws.fileio import atomic_write_text
from kws.labels import KEYWORDS, UNKNOWN

TRUTH_FIELDS = ("start_ms", "end_ms", "label")
"""Required columns of a truth CSV (more columns are allowed and ignored)."""


@dataclasses.dataclass(frozen=True)
class TruthEvent:
    """One clip of the stream: [start_ms, end_ms) in ms from the stream start, its label."""

    start_ms: int
    end_ms: int
    label: str


def read_truth(path: str | Path) -> list[TruthEvent]:
    """Read a truth CSV; a missing file, column or a malformed row raises DataError."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [f for f in TRUTH_FIELDS if f not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: truth CSV lacks column {missing[0]!r} "
                                f"(needs {', '.join(TRUTH_FIELDS)})")
            events = []
            for line, row in enumerate(reader, start=2):
                try:
                    start, end = int(row["start_ms"]), int(row["end_ms"])
                except (TypeError, ValueError):
                    raise DataError(f"{path}:{line}: start_ms/end_ms must be integers, got "
                                    f"{row['start_ms']!r}, {row['end_ms']!r}") from None
                if not 0 <= start < end or not row["label"]:
                    raise DataError(f"{path}:{line}: bad event {start}..{end} "
                                    f"{row['label']!r}")
                events.append(TruthEvent(start, end, row["label"]))
    except OSError as exc:
        raise DataError(f"{path}: cannot read truth CSV ({exc.strerror})") from None
    return sorted(events, key=lambda e: (e.start_ms, e.end_ms))


def write_truth(path: str | Path, events: Iterable[TruthEvent],
                sources: Sequence[str] | None = None) -> None:
    """Write a truth CSV atomically (``start_ms,end_ms,label`` and optionally ``source``)."""
    path = Path(path)
    events = list(events)
    fh = io.StringIO(newline="")
    writer = csv.writer(fh)
    writer.writerow([*TRUTH_FIELDS, *(["source"] if sources is not None else [])])
    for i, e in enumerate(events):
        writer.writerow([e.start_ms, e.end_ms, e.label,
                         *([sources[i]] if sources is not None else [])])
    try:
        atomic_write_text(path, fh.getvalue())
    except OSError as exc:
        raise DataError(f"cannot write truth CSV {path}: {exc.strerror or exc}") from None


RATE_HZ = 16000
"""Sample rate of the dataset and of the stream."""
MAX_STREAM_S = 2 * 3600.0
"""Longest stream: building one holds about six float64 copies of it, 5.5 GB at two hours."""
MIN_STREAM_SNR_DB = -MAX_SNR_DB / 3
"""Lowest stream SNR: the range of augmentation (kws.data.config), -20 .. 60 dB."""
SAMPLES_PER_MS = RATE_HZ // 1000
NOISE_FOLDER = "_background_noise_"
LIST_FILES = {"validation": "validation_list.txt", "test": "testing_list.txt"}
"""The dataset's held-out lists; every other clip is training."""
SPLITS = ("train", "validation", "test", TUNING)
NOISE_PIECE_S = (4.0, 12.0)
"""Length range of one piece of a noise file in the bed, in seconds."""
CROSSFADE_MS = 50
"""Cross-fade between two noise pieces."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class StreamSpec:
    """What to build (all times in seconds)."""

    split: str = "test"
    """train, validation, test or tuning."""
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
    tuning_percent: float | None = None
    """DataConfig.tuning_percent of the model's data: the validation speakers it moves to
    the tuning split are left out of "validation" and make up "tuning"."""

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise DataError(f"split={self.split!r} must be one of {', '.join(SPLITS)}")
        for name in ("duration_s", "keyword_fraction", "gap_min_s", "gap_max_s", "lead_s",
                     *(("snr_db",) if self.snr_db is not None else ()),
                     *(("tuning_percent",) if self.tuning_percent is not None else ())):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
                    or not math.isfinite(value):
                raise DataError(f"{name}={value!r} must be a finite number")
        if not 0 < self.duration_s <= MAX_STREAM_S:
            raise DataError(f"duration_s={self.duration_s} must be in (0, {MAX_STREAM_S}] s")
        if self.snr_db is not None and not MIN_STREAM_SNR_DB <= self.snr_db <= MAX_SNR_DB:
            raise DataError(f"snr_db={self.snr_db} must be in [{MIN_STREAM_SNR_DB}, "
                            f"{MAX_SNR_DB}] dB (no noise: snr_db None)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or self.seed < 0:
            raise DataError(f"seed={self.seed!r} must be an int >= 0")
        if not 0 <= self.keyword_fraction <= 1:
            raise DataError(f"keyword_fraction={self.keyword_fraction} must be in [0, 1]")
        if not 0 <= self.gap_min_s <= self.gap_max_s <= self.duration_s:
            raise DataError(f"gaps {self.gap_min_s}..{self.gap_max_s} s must satisfy "
                            f"0 <= min <= max <= duration_s={self.duration_s}")
        if not 0 <= self.lead_s < self.duration_s:
            raise DataError(f"lead_s={self.lead_s} must be >= 0 and below "
                            f"duration_s={self.duration_s}")
        if self.tuning_percent is not None and not 1 <= self.tuning_percent <= 99:
            raise DataError(f"tuning_percent={self.tuning_percent} must be in [1, 99]")
        if self.split == TUNING and self.tuning_percent is None:
            raise DataError("the tuning split needs tuning_percent (DataConfig.tuning_percent)")
        bad = [k for k in self.keywords if k not in KEYWORDS]
        if bad or not self.keywords:
            raise DataError(f"keywords {bad or '(none)'} must be a non-empty subset of "
                            f"{', '.join(KEYWORDS)}")


def split_clips(data: Path, split: str, tuning_percent: float | None = None) -> list[str]:
    """Relative paths ('yes/x_nohash_0.wav') of the split's one-second clips, sorted
    (with ``tuning_percent``, "validation" and "tuning" divide the validation speakers)."""
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
    held = lists["validation" if split == TUNING else split]
    clips = sorted(p for p in held if p in present)
    if split in ("validation", TUNING) and tuning_percent is not None:
        clips = [p for p in clips if in_tuning(p, tuning_percent) == (split == TUNING)]
    return clips


def read_clip_file(path: Path) -> np.ndarray:
    """A 16 kHz mono clip as int16 (n,); DataError otherwise."""
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


def split_noise(data: Path, split: str, tuning_percent: float | None = None
                ) -> list[np.ndarray]:
    """The part of every _background_noise_ recording that kws.data reserves for ``split``
    (int16 (n_i,) each): a test stream never carries noise that training heard."""
    from kws.data.clips import load_noise
    from kws.data.config import DataConfig
    from kws.data.index import index_dataset

    folder = data / NOISE_FOLDER
    if not any(folder.glob("*.wav")):
        raise DataError(f"{folder}: no noise files")
    return load_noise(index_dataset(data, DataConfig(tuning_percent=tuning_percent)), split)


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
    clips = split_clips(data, spec.split, spec.tuning_percent)
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
        clip = read_clip_file(data / rel)
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
        bed = noise_bed(split_noise(data, spec.split, spec.tuning_percent), total, rng)
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


