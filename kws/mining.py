"""Hard negatives: the windows of training-split streams where a model false-accepts.

    training-split streams (keywords among other words, noise at each SNR)
      -> the model's scores and its detector with the threshold lowered by a margin
      -> every detection that matches no keyword clip (kws.stream_eval.match)
      -> the 1-s windows ending at that detection and a few hops before it
      -> labelled by kws.data.windows' rule from the clips under each window
      -> kws.data's mined-negatives file (DataConfig.hard_negatives)

Most windows come out ``_unknown_`` or ``_silence_``; a window that holds most of a
keyword (the detection came too late for its clip) keeps that keyword, as the rule says.
Only the training split is used, so the mined windows are training data like any other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kws import validate as check
from kws.data.streams import StreamSpec, TruthEvent, make_stream, read_clip_file
from kws.data.training import ClipSet
from kws.data.windows import share_inside, speech_energy, window_label
from kws.detector import build_detector_tables
from kws.labels import LABELS
from kws.stream import Classifier, detector_config_of, frontend_config_of, score_audio
from kws.stream_eval import match
from kws.tuning import MAX_STREAM_MINUTES, fast_detect

WINDOW_OFFSETS_HOPS = (0, 2, 4)
"""Windows taken per false accept: ending at the detection and 2 and 4 hops before it."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class MiningSpec:
    """What to mine."""

    minutes: float = 60.0
    """Length of each training-split stream."""
    snrs_db: tuple[float, ...] = (10.0, 20.0)
    """One stream per SNR."""
    threshold_margin: int = 32
    """Detect with the model's threshold lowered by this much (near misses count too)."""
    seed: int = 100
    """Seed of the first stream (then + 1, ...); not the tuning or test streams' seeds."""

    def __post_init__(self) -> None:
        check.number_in("minutes", self.minutes, 0.0, MAX_STREAM_MINUTES, open_low=True)
        check.numbers("snrs_db", self.snrs_db, empty=False)
        check.int_in("threshold_margin", self.threshold_margin, 0, 255)
        check.seed("seed", self.seed)


def label_window(start: int, samples: int, truth: list[TruthEvent],
                 clips: dict[int, np.ndarray]) -> int:
    """The kws.data.windows label of stream samples [start, start + samples): each truth
    clip (audio in ``clips`` by its index in ``truth``) with its share inside."""
    shares, labels = [], []
    for i, event in enumerate(truth):
        a = event.start_ms * 16
        if a >= start + samples or a + clips[i].size <= start:
            continue
        shares.append(share_inside(speech_energy(clips[i][None, :])[0], a - start, samples))
        labels.append(LABELS.index(event.label))
    return window_label(shares, labels)


def mine(classifier: Classifier, data_dir: str | Path, spec: MiningSpec,
         progress: Callable[[str], None] | None = None) -> ClipSet:
    """The mined windows (int16 (n, clip_samples)) and their labels."""
    fc = frontend_config_of(classifier)
    base = detector_config_of(classifier)
    config = dataclasses.replace(base, threshold=max(0, base.threshold - spec.threshold_margin),
                                 keyword_thresholds={
                                     k: max(0, t - spec.threshold_margin)
                                     for k, t in base.keyword_thresholds.items()})
    labels = tuple(classifier.labels)
    samples = fc.clip_samples
    hop = base.hop_frames * fc.stride_samples
    audio_out, label_out = [], []
    for i, snr in enumerate(spec.snrs_db):
        stream_spec = StreamSpec(split="train", duration_s=spec.minutes * 60,
                                 seed=spec.seed + i, snr_db=snr, keyword_fraction=0.7,
                                 gap_min_s=0.5, gap_max_s=2.5)
        audio, truth, sources = make_stream(data_dir, stream_spec)
        times, scores = score_audio(classifier, audio, fc, base.hop_frames)
        found = fast_detect(config, labels, times, scores)
        keywords = [labels[j] for j in build_detector_tables(config, labels).wake]
        metrics = match(found, truth, keywords, audio.size * 1000 // fc.sample_rate_hz)
        matched = {id(d) for d, _ in metrics.matches}
        false = [d for d in found if id(d) not in matched]
        clips = {j: read_clip_file(Path(data_dir) / rel) for j, rel in enumerate(sources)}
        for d in false:
            for k in WINDOW_OFFSETS_HOPS:
                end = d.time_ms * 16 - k * hop
                if end - samples < 0:
                    continue
                audio_out.append(audio[end - samples:end])
                label_out.append(label_window(end - samples, samples, truth, clips))
        if progress:
            progress(f"train stream {i + 1} ({spec.minutes:g} min, {snr:g} dB): "
                     f"{len(false)} false accepts at threshold {config.threshold}")
    if not audio_out:
        return ClipSet(np.zeros((0, samples), np.int16), np.zeros(0, np.int64))
    return ClipSet(np.stack(audio_out).astype(np.int16), np.array(label_out, dtype=np.int64))
