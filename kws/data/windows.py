"""Training examples as a stream shows them: 1-s windows over words laid end to end.

A model trained only on words centred in their one-second clip meets, in a stream, the word
at every position of its window, partly outside it, next to other words, and the gaps in
between. :class:`WindowMaker` makes such windows from the (voiced) training clips:

    previous clip | gap | centre clip | gap | next clip          (a "strip" of three clips)
                    [------- 1 s window -------]                 (cut at a random offset)

- the centre clip starts ``o`` samples after the window start, o uniform in
  [-PLACE_RANGE x n, +PLACE_RANGE x n] (n = clip length): its word lands anywhere, wholly
  inside the window, partly outside it or just outside;
- the previous clip ends and the next clip starts a gap g after / before it, g uniform in
  GAP_RANGE x n (a negative gap overlaps the clips' quiet ends);
- previous and next clips are drawn uniformly from all training clips (any label).

The label rule (:func:`window_label`), from the share of each word's active speech energy
(:func:`speech_energy`: the 20 ms frames within ACTIVE_DB of the clip's loudest) that lies
inside the window:

1. a keyword with at least WINDOW_KEYWORD_SHARE (80 %) of its energy inside labels the
   window; if two different keywords qualify, the window is ``_unknown_`` (ambiguous);
2. otherwise, any word (a keyword's fragment, an unknown word) with at least
   WINDOW_FRAGMENT_SHARE (10 %) inside makes it ``_unknown_``;
3. otherwise the window is ``_silence_`` (gaps, noise, slivers of words).

``_silence_`` clips of the training set (cut from background noise) carry no word: they add
their noise to the strip but never count as speech.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kws.audio import ACTIVE_DB, ACTIVE_FRAME_SAMPLES
from kws.data.config import WINDOW_FRAGMENT_SHARE, WINDOW_KEYWORD_SHARE
from kws.data.index import SILENCE_ID, UNKNOWN_ID

PLACE_RANGE = 0.75
"""Offset of the centre clip: uniform in [-0.75, +0.75] clip lengths from the window start."""
GAP_RANGE = (-0.3, 1.0)
"""Gap between neighbouring clips, in clip lengths (negative: their quiet ends overlap)."""


def speech_energy(clips: np.ndarray) -> np.ndarray:
    """Active speech energy per 20 ms frame: float64 (clips, frames).

    clips: int16 or float (clips, n). A frame's energy is its sum of squares when its mean
    power is within ACTIVE_DB of the clip's loudest frame, else 0 (all 0 for silence).
    """
    x = np.asarray(clips, dtype=np.float64)
    frames = x.shape[1] // ACTIVE_FRAME_SAMPLES
    energy = np.sum(x[:, :frames * ACTIVE_FRAME_SAMPLES].reshape(x.shape[0], frames, -1) ** 2,
                    axis=2)
    loud = energy >= energy.max(axis=1, keepdims=True) * 10 ** (-ACTIVE_DB / 10)
    return np.where(loud & (energy > 0), energy, 0.0)


def share_inside(energy: np.ndarray, start: int, window: int) -> float:
    """Share of a clip's active energy (float (frames,)) inside a window of ``window``
    samples when the clip starts ``start`` samples after the window start (a frame is
    inside when its centre is); 0.0 for a clip without speech."""
    total = energy.sum()
    if total <= 0:
        return 0.0
    centres = start + ACTIVE_FRAME_SAMPLES * np.arange(energy.size) + ACTIVE_FRAME_SAMPLES // 2
    inside = (centres >= 0) & (centres < window)
    return float(energy[inside].sum() / total)


def window_label(shares: Sequence[float], labels: Sequence[int],
                 silence_id: int = SILENCE_ID, unknown_id: int = UNKNOWN_ID) -> int:
    """The label of a window (see the module docstring) from each word's share inside and
    its class id; _silence_ clips are ignored. ``silence_id`` / ``unknown_id``: the ids of
    _silence_ and _unknown_ in the label set (default kws.labels order; a wake word's set
    has its own)."""
    keywords = {lab for s, lab in zip(shares, labels, strict=True)
                if lab not in (silence_id, unknown_id) and s >= WINDOW_KEYWORD_SHARE}
    if len(keywords) == 1:
        return keywords.pop()
    if keywords or any(s >= WINDOW_FRAGMENT_SHARE and lab != silence_id
                       for s, lab in zip(shares, labels, strict=True)):
        return unknown_id
    return silence_id


class WindowMaker:
    """Stream windows from a set of clips (see the module docstring)."""

    def __init__(self, labels: np.ndarray, silence_id: int = SILENCE_ID,
                 unknown_id: int = UNKNOWN_ID) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self.silence_id, self.unknown_id = silence_id, unknown_id

    def make(self, voiced: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """One window. voiced: float (clips, n), the epoch's voiced clips (kws.data.Augmenter
        .voice). Returns (float32 (n,) window, label id)."""
        count, n = voiced.shape
        picks = rng.integers(count, size=3)                     # previous, centre, next
        centre = int(round(rng.uniform(-PLACE_RANGE, PLACE_RANGE) * n))
        gaps = np.rint(rng.uniform(*GAP_RANGE, size=2) * n).astype(int)
        starts = (centre - n - int(gaps[0]), centre, centre + n + int(gaps[1]))
        out = np.zeros(n, dtype=np.float32)
        shares, labels = [], []
        energy = speech_energy(voiced[picks])
        for k, (pick, start) in enumerate(zip(picks.tolist(), starts, strict=True)):
            lo, hi = max(0, start), min(n, start + n)
            if lo < hi:
                out[lo:hi] += voiced[pick, lo - start:hi - start]
            shares.append(share_inside(energy[k], start, n))
            labels.append(int(self.labels[pick]))
        return out, window_label(shares, labels, self.silence_id, self.unknown_id)
