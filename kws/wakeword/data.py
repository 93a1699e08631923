"""The training data of one wake phrase: positives, negatives by rule, silence, noise.

    phrase --kws.voices (every family, seeded settings)------------> positive takes
    your recordings (--recordings DIR, WAV/FLAC/OGG) ----------------> positive takes
    near misses (kws.wakeword.phonemes: one-phoneme edits, near words) -> _unknown_
    other words (kws/data/words_en.txt, the phrase's own words) in every family -> _unknown_
    fragments: a take's first or last part holding 20-60 % of its speech energy -> _unknown_
    Speech Commands words (--data; never the phrase's own folder) ---> _unknown_
    background-noise cuts and near-digital silence -------------------> _silence_

Every take is cut to its spoken part (kws.voices.spoken_part) and centred in one classifier
input (``FrontendConfig.clip_ms``; :func:`auto_clip_ms` lengthens it for long phrases) at
a random level. Every :attr:`WakewordSpec.holdout_every`-th voice, take and Speech Commands
validation word goes to "validation" (the epoch kept, the detector tuned), the rest to
"train". Each epoch then goes through the one augmentation pipeline of kws.data (speed,
equalizer, room, gain, shift, noise) and its stream windows, whose label rule
(kws.data.windows: >= 80 % of the phrase's speech energy inside, else a fragment) makes more
fragments. Labels are the model's outputs ``kws.labels.wakeword_labels(phrase)``:
(phrase, _unknown_, _silence_).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from kws import validate as check
from kws.config import FrontendConfig
from kws.data.augment import Augmenter, to_int16
from kws.data.config import DataConfig
from kws.data.synth import read_words
from kws.data.training import ClipSet, concat, epoch_examples
from kws.data.windows import speech_energy
from kws.errors import ConfigError, DataError
from kws.labels import SILENCE, UNKNOWN, wakeword_labels
from kws.voices import FAMILIES, Voice, fit_level, spoken_part, synthesize, voice_grid
from kws.wakeword.phonemes import espeak_phoneme_text, near_words, phoneme_edits, phonemes

RATE_HZ = 16000
LEVEL_DBFS = (-32.0, -12.0)
"""Active speech level range of a placed take, dB below full scale."""
CLIP_MARGIN_MS = 250.0
"""Room around the longest usual take (its 95th percentile) in an automatic clip_ms."""
FRAGMENT_SHARE = (0.2, 0.6)
"""Share of a take's speech energy a fragment keeps (below the 80 % of the window rule)."""
SYNTH_FORMAT = 1
"""Layout version of the synthesized-takes cache file."""
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
"""Files of a --recordings folder that are read."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class WakewordSpec:
    """How much of each kind of example ``kws wakeword`` makes (section ``wakeword:`` of
    configs/wakeword.yaml)."""

    positives: int = 600
    """Synthetic takes of the phrase (voices of kws.voices, round-robin over families)."""
    families: tuple[str, ...] = FAMILIES
    """Voice families used (kws.voices.FAMILIES)."""
    near_miss_takes: int = 400
    """Takes of near misses (one-phoneme edits in espeak-ng voices, near words in all)."""
    other_words: int = 400
    """Takes of other words (words_en.txt and the phrase's own words) in all families."""
    fragments: float = 0.3
    """Fragments per training take of the phrase."""
    speech_commands_words: int = 1500
    """Speech Commands word clips (train split, never the phrase's folder) for _unknown_;
    0 = none. Needs --data."""
    silence_clips: int = 200
    """_silence_ clips: noise cuts (with --data) and near-digital silence."""
    recording_repeats: int = 5
    """Copies of each recorded take per epoch (each augmented its own way)."""
    holdout_every: int = 5
    """Every this-many-th voice/take/word is held out for validation (and tuning)."""
    clip_ms: float | None = None
    """Classifier input length; None: :func:`auto_clip_ms` of the takes."""
    tune_minutes: float = 10.0
    """Length of each tuning stream (validation takes among validation negatives)."""
    tune_snrs_db: tuple[float, ...] = (20.0, 10.0)
    """SNRs of the tuning streams."""
    fa_per_hour: float = 1.0
    """False-accept budget of the tuned detector, per hour."""
    backbone: str | None = None
    """A ``kws train`` run folder whose body (stem and blocks, trained on real speech) the
    model starts from, with its model section (kws.wakeword.backbone); None: trained from
    scratch with the recipe's model."""
    backbone_trainable_blocks: int = 1
    """With a backbone: how many of its last blocks train (the classifier always does);
    the stem and the blocks before stay frozen."""
    seed: int = 0
    """Seed of every random choice of this module."""

    def __post_init__(self) -> None:
        for name in ("positives", "near_miss_takes", "other_words", "speech_commands_words",
                     "silence_clips"):
            check.int_in(name, getattr(self, name), 0, 1_000_000)
        check.int_in("positives", self.positives, 1, 1_000_000)
        check.int_in("recording_repeats", self.recording_repeats, 1, 1000)
        check.int_in("holdout_every", self.holdout_every, 2, 1000)
        check.number_in("fragments", self.fragments, 0.0, 10.0)
        check.names("families", self.families, "voice families")
        bad = [f for f in self.families if f not in FAMILIES]
        if bad or not self.families:
            raise ConfigError(f"families={list(self.families)} must be a non-empty subset of "
                              f"{', '.join(FAMILIES)}")
        if self.clip_ms is not None:
            check.number_in("clip_ms", self.clip_ms, 500.0, 5000.0)
        check.positive("tune_minutes", self.tune_minutes)
        check.numbers("tune_snrs_db", self.tune_snrs_db, empty=False)
        check.positive("fa_per_hour", self.fa_per_hour)
        if self.backbone is not None and (not isinstance(self.backbone, str)
                                          or not self.backbone):
            raise ConfigError(f"backbone={self.backbone!r} must be a run folder path")
        check.int_in("backbone_trainable_blocks", self.backbone_trainable_blocks, 0, 100)
        check.seed("seed", self.seed)


# --------------------------------------------------------------------------------------------
# Takes -> clips
# --------------------------------------------------------------------------------------------

def cut_spoken(audio: np.ndarray) -> np.ndarray:
    """The spoken part of a take (kws.voices.spoken_part): int16 (m,), m >= 0."""
    start, end = spoken_part(audio)
    return np.asarray(audio[start:end], dtype=np.int16)


def auto_clip_ms(takes: Sequence[np.ndarray]) -> float:
    """The classifier input for takes (int16 spoken parts at 16 kHz): 1000 ms, or the
    95th-percentile take plus CLIP_MARGIN_MS rounded up to 100 ms when that is longer."""
    if not takes:
        return 1000.0
    p95 = float(np.percentile([t.size for t in takes], 95)) * 1000 / RATE_HZ
    return float(max(1000.0, math.ceil((p95 + CLIP_MARGIN_MS) / 100) * 100))


def place(take: np.ndarray, samples: int, level: float) -> np.ndarray:
    """A spoken part centred in ``samples`` samples at ``level`` dBFS (cut around its
    middle when longer): int16 (samples,)."""
    part = fit_level(take, level)
    if part.size > samples:
        cut = (part.size - samples) // 2
        part = part[cut:cut + samples]
    out = np.zeros(samples, np.int16)
    offset = (samples - part.size) // 2
    out[offset:offset + part.size] = part
    return out


def fragment(take: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The first or the last part of a take holding a share of its speech energy drawn
    from FRAGMENT_SHARE (kws.data.windows.speech_energy): int16 (m,)."""
    energy = speech_energy(take[None, :])[0]
    if energy.sum() <= 0 or energy.size < 2:
        return take[: take.size // 2].copy()
    share = rng.uniform(*FRAGMENT_SHARE)
    cum = np.cumsum(energy) / energy.sum()
    if rng.random() < 0.5:
        frames = int(np.searchsorted(cum, share)) + 1
        return take[: frames * 320].copy()
    frames = int(np.searchsorted(cum, 1 - share)) + 1
    return take[frames * 320:].copy()


def read_recordings(folder: str | Path) -> tuple[list[np.ndarray], list[str]]:
    """The takes of a --recordings folder: every WAV/FLAC/OGG file (sorted), read as int16
    16 kHz mono and cut to its spoken part; DataError when there are none."""
    from kws.audio import read_audio

    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"--recordings {root}: no such folder")
    paths = sorted(p for p in root.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not paths:
        raise DataError(f"--recordings {root}: no .wav/.flac/.ogg files")
    takes = [cut_spoken(read_audio(p)) for p in paths]
    empty = [p.name for p, t in zip(paths, takes, strict=True) if t.size < 1600]
    if empty:
        raise DataError(f"--recordings {root}: {empty[0]} holds less than 0.1 s of speech")
    return takes, [p.name for p in paths]


# --------------------------------------------------------------------------------------------
# Synthesis of every take (cached)
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Takes:
    """Spoken parts (int16 (m_i,) each) with what they are and whether they are held out."""

    audio: list[np.ndarray]
    kinds: list[str]
    """"phrase", "near", "other"."""
    names: list[str]
    """Text and voice of each take."""
    held_out: list[bool]


def _speak_all(jobs: list[tuple[str, Voice]], progress: Callable[[str, int], Any] | None,
               desc: str) -> list[np.ndarray]:
    bar = progress(desc, len(jobs)) if progress else None

    def one(job: tuple[str, Voice]) -> np.ndarray:
        out = cut_spoken(synthesize(*job))
        if bar is not None:
            bar.update(1)
        return out

    with ThreadPoolExecutor(max_workers=2) as pool:   # engines are subprocesses
        out = list(pool.map(one, jobs))
    if bar is not None:
        bar.close()
    return out


def synth_jobs(phrase: str, spec: WakewordSpec, extra_words: Sequence[str] = ()
               ) -> tuple[list[tuple[str, Voice]], list[str], list[bool]]:
    """Every (text, voice) to speak, its kind and whether it is held out (see the module
    docstring); a pure function of the arguments."""
    rng = np.random.default_rng([spec.seed, 1])
    jobs: list[tuple[str, Voice]] = []
    kinds: list[str] = []
    held: list[bool] = []
    k = spec.holdout_every
    for i, voice in enumerate(voice_grid(spec.positives, spec.seed, spec.families)):
        jobs.append((phrase, voice))
        kinds.append("phrase")
        held.append(i % k == k - 1)
    # near misses: phoneme edits (espeak-ng only speaks phonemes), then near words
    edits = [espeak_phoneme_text(e) for e in phoneme_edits(phonemes(phrase))]
    words = near_words(phrase, [*read_words(), *extra_words])
    near_voices = voice_grid(spec.near_miss_takes, spec.seed + 1, ("espeak",))
    all_voices = voice_grid(spec.near_miss_takes, spec.seed + 2, spec.families)
    items = [(e, True) for e in edits] + [(w, False) for w in words]
    for i in range(spec.near_miss_takes if items else 0):
        text, espeak_only = items[i % len(items)]
        jobs.append((text, near_voices[i] if espeak_only else all_voices[i]))
        kinds.append("near")
        held.append(i % k == k - 1)
    # other words: the phrase's own words (fragments of a longer phrase) and words_en
    own = [w for w in phrase.split() if w.lower() != phrase.lower()]
    pool = [w for w in read_words() if w not in words and w.lower() != phrase.lower()]
    others = voice_grid(spec.other_words, spec.seed + 3, spec.families)
    for i, voice in enumerate(others):
        text = own[i % len(own)] if own and i % 4 == 0 else pool[int(rng.integers(len(pool)))]
        jobs.append((text, voice))
        kinds.append("other")
        held.append(i % k == k - 1)
    return jobs, kinds, held


def synthesize_takes(phrase: str, spec: WakewordSpec, cache_dir: Path | None = None,
                     extra_words: Sequence[str] = (),
                     progress: Callable[[str, int], Any] | None = None) -> Takes:
    """Speak every job of :func:`synth_jobs`; with ``cache_dir`` the takes are kept in
    ``cache_dir/takes_<hash>.npz`` (written atomically) and reused by a later run with the
    same phrase, spec and word list."""
    jobs, kinds, held = synth_jobs(phrase, spec, extra_words)
    names = [f"{text} | {voice.describe()}" for text, voice in jobs]
    key = hashlib.sha256(json.dumps([SYNTH_FORMAT, names]).encode()).hexdigest()[:16]
    path = cache_dir / f"takes_{key}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                flat, ends = npz["audio"], npz["ends"]
            audio = np.split(flat, ends[:-1])
            if len(audio) == len(jobs):
                return Takes(list(audio), kinds, names, held)
        except (OSError, ValueError, KeyError):
            pass                            # a damaged cache is made again
    audio = _speak_all(jobs, progress, "voices")
    if path is not None:
        from kws.fileio import atomic_write_bytes

        buf = io.BytesIO()
        ends = np.cumsum([a.size for a in audio]).astype(np.int64)
        np.savez(buf, audio=np.concatenate(audio).astype(np.int16), ends=ends)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
    return Takes(audio, kinds, names, held)


# --------------------------------------------------------------------------------------------
# The dataset kws.wakeword.train trains on
# --------------------------------------------------------------------------------------------

PHRASE, UNKNOWN_OUT, SILENCE_OUT = 0, 1, 2
"""Output ids of wakeword_labels."""


def synthetic_noise(seconds: float, seed: int) -> list[np.ndarray]:
    """White, pink and brown noise recordings (int16 (n,) at 16 kHz, -30 dBFS RMS) for a
    run without Speech Commands' background noise."""
    rng = np.random.default_rng([seed, 7])
    n = int(seconds * RATE_HZ)
    out = []
    for exponent in (0.0, 1.0, 2.0):
        spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
        f = np.maximum(np.arange(n // 2 + 1), 1.0)
        x = np.fft.irfft(spectrum / f ** (exponent / 2), n)
        x *= 32768 * 10 ** (-30 / 20) / np.sqrt(np.mean(x ** 2))
        out.append(to_int16(x))
    return out


class WakewordData:
    """The examples of one phrase, as kws.run.TrainingData (clips, epoch_examples,
    word_clip_mask, fingerprint) with labels in wakeword_labels order.

    ``clips(split)``: "train" or "validation" clean clips, int16 (n, clip_samples);
    ``tuning_takes()``: the held-out phrase takes and negatives for the tuning streams.
    """

    def __init__(self, phrase: str, spec: WakewordSpec, takes: Takes, data_config: DataConfig,
                 frontend: FrontendConfig, data_dir: str | Path | None = None,
                 recordings: tuple[list[np.ndarray], list[str]] | None = None) -> None:
        self.phrase, self.spec, self.config, self.frontend = phrase, spec, data_config, frontend
        self.labels = wakeword_labels(phrase)
        self.samples = frontend.clip_samples
        rng = np.random.default_rng([spec.seed, 2])
        k = spec.holdout_every
        parts: dict[str, list[tuple[np.ndarray, int]]] = {"train": [], "validation": []}
        self.tuning: dict[str, list[np.ndarray]] = {"phrase": [], "other": []}

        def add(take: np.ndarray, label: int, held: bool) -> None:
            level = float(rng.uniform(*LEVEL_DBFS))
            parts["validation" if held else "train"].append(
                (place(take, self.samples, level), label))

        for audio, kind, held in zip(takes.audio, takes.kinds, takes.held_out, strict=True):
            if audio.size < 320:
                continue
            label = PHRASE if kind == "phrase" else UNKNOWN_OUT
            add(audio, label, held)
            if held:
                self.tuning["phrase" if kind == "phrase" else "other"].append(audio)
            elif kind == "phrase" and rng.random() < spec.fragments:
                add(fragment(audio, rng), UNKNOWN_OUT, False)
        self.recordings = 0
        if recordings is not None:
            for i, audio in enumerate(recordings[0]):
                held = len(recordings[0]) >= k and i % k == k - 1
                repeats = 1 if held else spec.recording_repeats
                for _ in range(repeats):
                    add(audio, PHRASE, held)
                if held:
                    self.tuning["phrase"].append(audio)
                self.recordings += 1
        self._noise_train: list[np.ndarray] = []
        self.noise_validation: list[np.ndarray] = []
        self.speech_commands_words: list[str] = []
        if data_dir is not None:
            self._speech_commands(Path(data_dir), parts, rng)
        else:
            self._noise_train = synthetic_noise(60.0, spec.seed)
            self.noise_validation = synthetic_noise(60.0, spec.seed + 1)
        for split, count in (("train", spec.silence_clips),
                             ("validation", max(1, spec.silence_clips // k))):
            noise = self._noise_train if split == "train" else self.noise_validation
            for i in range(count):
                if i % 4 == 3:             # near-digital silence: dither of a few codes
                    clip = to_int16(rng.normal(0, rng.uniform(0.5, 8), self.samples))
                else:
                    rec = noise[int(rng.integers(len(noise)))]
                    start = int(rng.integers(0, max(1, rec.size - self.samples)))
                    cut = rec[start:start + self.samples].astype(np.float64)
                    clip = to_int16(np.pad(cut, (0, self.samples - cut.size))
                                    * rng.uniform(0.0, 1.0))
                parts[split].append((clip, SILENCE_OUT))
        self._clips = {split: ClipSet(np.stack([a for a, _ in rows]).astype(np.int16),
                                      np.array([lab for _, lab in rows], np.int64))
                       for split, rows in parts.items()}
        for split, clips in self._clips.items():
            if not np.any(clips.labels == PHRASE):
                raise DataError(f"no takes of {phrase!r} in the {split} split (positives="
                                f"{spec.positives}, holdout_every={k})")
        self.augmenter = Augmenter(data_config, self._noise_train, RATE_HZ)
        self._fingerprint: str | None = None

    def _speech_commands(self, root: Path, parts: dict[str, list[tuple[np.ndarray, int]]],
                         rng: np.random.Generator) -> None:
        """Speech Commands words (train / validation split, never the phrase's folder) as
        _unknown_, and the train / validation noise."""
        from kws.data.clips import load_noise, read_clip
        from kws.data.index import BACKGROUND_NOISE_DIR, index_dataset

        index = index_dataset(root, DataConfig())
        self._noise_train = load_noise(index, "train")
        self.noise_validation = load_noise(index, "validation")
        own = {self.labels[0], self.phrase.lower()}
        self.speech_commands_words = sorted({
            c.path.parent.name for c in index.split("train")
            if c.path.parent.name != BACKGROUND_NOISE_DIR})
        for split, count in (("train", self.spec.speech_commands_words),
                             ("validation", self.spec.speech_commands_words
                              // self.spec.holdout_every)):
            words = [c for c in index.split(split) if c.path.parent.name not in own
                     and c.path.parent.name != BACKGROUND_NOISE_DIR]
            picks = rng.permutation(len(words))[:count]
            for i in sorted(picks.tolist()):
                take = cut_spoken(read_clip(words[i]))
                if take.size < 320:
                    continue
                parts[split].append((place(take, self.samples, float(
                    rng.uniform(*LEVEL_DBFS))), UNKNOWN_OUT))
                if split == "validation":
                    self.tuning["other"].append(take)

    # -- kws.run.TrainingData ----------------------------------------------------------------

    def clips(self, split: str) -> ClipSet:
        """The clean clips of "train" or "validation" (labels in wakeword_labels order)."""
        if split not in self._clips:
            raise DataError(f"split {split!r} is not one of train, validation")
        return self._clips[split]

    def word_clip_mask(self, split: str) -> np.ndarray:
        """bool (n,): False for _silence_ clips."""
        return self.clips(split).labels != SILENCE_OUT

    def epoch_examples(self, splits: tuple[str, ...], seed: int, epoch: int) -> ClipSet:
        """The augmented examples of one epoch (kws.data.training.epoch_examples: clips,
        then DataConfig.stream_windows x clips stream windows), labels in output order."""
        clips = concat([self.clips(s) for s in splits])
        return epoch_examples(self.augmenter, clips, seed, epoch, silence_id=SILENCE_OUT,
                              unknown_id=UNKNOWN_OUT)

    @property
    def fingerprint(self) -> str:
        """16 hex digits of the phrase, the settings and every clip and noise sample."""
        if self._fingerprint is None:
            from kws.config import to_dict

            digest = hashlib.sha256(json.dumps(
                [self.phrase, to_dict(self.spec), to_dict(self.config),
                 to_dict(self.frontend)], sort_keys=True).encode())
            for split in ("train", "validation"):
                digest.update(self._clips[split].labels.astype("<i8").tobytes())
                digest.update(self._clips[split].audio.astype("<i2").tobytes())
            for rec in self._noise_train:
                digest.update(rec.astype("<i2").tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def counts(self) -> dict[str, dict[str, int]]:
        """Clips per split and label."""
        return {split: {label: int(np.sum(c.labels == i)) for i, label in
                        enumerate(self.labels)} for split, c in self._clips.items()}


__all__ = ["PHRASE", "SILENCE", "SILENCE_OUT", "UNKNOWN", "UNKNOWN_OUT", "Takes",
           "WakewordData", "WakewordSpec", "auto_clip_ms", "cut_spoken", "fragment", "place",
           "read_recordings", "synth_jobs", "synthesize_takes"]
