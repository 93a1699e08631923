"""Stream windows (kws.data.windows), the examples of an epoch (kws.data.training) and
mined negatives: the label rule by hand, shares exact, reproducible epochs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kws.data import DataConfig, SpeechCommandsData
from kws.data.augment import Augmenter
from kws.data.training import ClipSet, epoch_examples, load_negatives, save_negatives
from kws.data.windows import WindowMaker, share_inside, speech_energy, window_label
from kws.errors import DataError
from kws.labels import LABELS

YES, NO, SIL, UNK = (LABELS.index(x) for x in ("yes", "no", "_silence_", "_unknown_"))
QUIET = dict(noise_probability=0.0, shift_ms=0.0, gain_db_range=(0.0, 0.0))


def _word(start_frame: int, frames: int, level: float = 1000.0, n: int = 16000) -> np.ndarray:
    """A clip whose only speech is ``frames`` 20 ms frames of constant level."""
    clip = np.zeros(n, np.float32)
    clip[start_frame * 320:(start_frame + frames) * 320] = level
    return clip


def test_speech_energy_keeps_frames_within_30_db_of_the_loudest() -> None:
    clip = _word(10, 5)
    clip[0:320] = 20.0                     # -34 dB: not speech
    clip[320:640] = 40.0                   # -28 dB: speech
    energy = speech_energy(clip[None, :])[0]
    assert energy.shape == (50,)
    assert energy[0] == 0 and energy[1] == 40.0**2 * 320
    np.testing.assert_array_equal(np.flatnonzero(energy), [1, 10, 11, 12, 13, 14])
    assert not speech_energy(np.zeros((1, 16000))).any()


def test_share_inside_counts_frames_by_their_centre() -> None:
    energy = speech_energy(_word(20, 10)[None, :])[0]     # speech at samples 6400..9600
    assert share_inside(energy, 0, 16000) == 1.0
    assert share_inside(energy, -6400 - 3 * 320, 16000) == pytest.approx(0.7)  # 3 frames out
    assert share_inside(energy, 16000 - 6400 - 5 * 320, 16000) == pytest.approx(0.5)
    assert share_inside(energy, 20000, 16000) == 0.0
    assert share_inside(np.zeros(50), 0, 16000) == 0.0


@pytest.mark.parametrize("shares, labels, want", [
    ((1.0,), (YES,), YES),
    ((0.8,), (YES,), YES),                      # exactly the keyword share
    ((0.79,), (YES,), UNK),                     # a fragment of a keyword
    ((0.05,), (YES,), SIL),                     # a sliver counts as nothing
    ((0.1,), (UNK,), UNK),
    ((1.0, 0.3), (YES, UNK), YES),              # a keyword beside a fragment
    ((1.0, 0.9), (YES, NO), UNK),               # two keywords: ambiguous
    ((1.0, 0.9), (YES, YES), YES),
    ((1.0,), (SIL,), SIL),                      # noise clips carry no word
    ((), (), SIL),
])
def test_window_label_rule(shares: tuple, labels: tuple, want: int) -> None:
    assert window_label(shares, labels) == want
    # The same rule in another label set (a wake word's: phrase 0, _unknown_ 1, _silence_ 2;
    # "no" stands for a second phrase, id 3): the ids are the caller's.
    ids = {YES: 0, UNK: 1, SIL: 2, NO: 3}
    assert window_label(shares, tuple(ids[x] for x in labels), silence_id=2,
                        unknown_id=1) == ids[want]


def test_window_maker_places_three_clips_and_labels_them() -> None:
    voiced = np.stack([_word(20, 10, 1000.0), _word(20, 10, 2000.0), _word(20, 10, 3000.0)])
    maker = WindowMaker(np.array([YES, NO, UNK]))
    seen = set()
    for seed in range(300):
        rng = np.random.default_rng(seed)
        window, label = maker.make(voiced, rng)
        replay = np.random.default_rng(seed)
        picks = replay.integers(3, size=3)
        centre = int(round(replay.uniform(-0.75, 0.75) * 16000))
        gaps = np.rint(replay.uniform(-0.3, 1.0, size=2) * 16000).astype(int)
        starts = (centre - 16000 - gaps[0], centre, centre + 16000 + gaps[1])
        want = np.zeros(16000, np.float32)
        shares, labels = [], []
        for pick, start in zip(picks, starts, strict=True):
            lo, hi = max(0, start), min(16000, start + 16000)
            if lo < hi:
                want[lo:hi] += voiced[pick, lo - start:hi - start]
            shares.append(share_inside(speech_energy(voiced[pick][None])[0], start, 16000))
            labels.append([YES, NO, UNK][pick])
        np.testing.assert_array_equal(window, want)
        assert label == window_label(shares, labels)
        seen.add(label)
    assert seen == {YES, NO, UNK, SIL}


def test_epoch_examples_are_clips_then_windows_then_negatives() -> None:
    rng = np.random.default_rng(0)
    clips = ClipSet(np.rint(rng.standard_normal((20, 16000)) * 500).astype(np.int16),
                    np.array([YES, NO, UNK, SIL] * 5))
    negatives = ClipSet(np.full((3, 16000), 7, np.int16), np.array([UNK, SIL, UNK]))
    aug = Augmenter(DataConfig(**QUIET, stream_windows=1.5), [])
    out = epoch_examples(aug, clips, 0, 0, negatives)
    assert out.audio.shape == (20 + 30 + 3, 16000) and out.audio.dtype == np.int16
    np.testing.assert_array_equal(out.audio[:20], clips.audio)      # all off: clips as they are
    np.testing.assert_array_equal(out.labels[:20], clips.labels)
    np.testing.assert_array_equal(out.audio[-3:], negatives.audio)
    np.testing.assert_array_equal(out.labels[-3:], negatives.labels)
    again = epoch_examples(aug, clips, 0, 0, negatives)
    np.testing.assert_array_equal(out.audio, again.audio)
    other = epoch_examples(aug, clips, 0, 1, negatives)
    assert not np.array_equal(out.audio[20:50], other.audio[20:50])


def test_negatives_file_round_trip_and_refusals(tmp_path: Path) -> None:
    neg = ClipSet(np.arange(32000, dtype=np.int16).reshape(2, 16000) % 300,
                  np.array([UNK, YES]))
    save_negatives(tmp_path / "n.npz", neg)
    back = load_negatives(tmp_path / "n.npz")
    np.testing.assert_array_equal(back.audio, neg.audio)
    np.testing.assert_array_equal(back.labels, neg.labels)
    np.savez(tmp_path / "bad.npz", audio=np.zeros((2, 5), np.float32), labels=np.zeros(2),
             format=np.int64(1))
    with pytest.raises(DataError, match="bad.npz: mined negatives must be"):
        load_negatives(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="missing.npz: not a mined-negatives file"):
        load_negatives(tmp_path / "missing.npz")


def test_speech_commands_epoch_has_keyword_unknown_and_silence_windows(mini_dir: Path) -> None:
    data = SpeechCommandsData(mini_dir, DataConfig(stream_windows=0.5, tuning_percent=50.0))
    n = len(data.clips("train"))
    ex = data.epoch_examples(("train",), 3, 0)
    assert len(ex) == n + round(0.5 * n)
    counts = np.bincount(ex.labels[n:], minlength=len(LABELS))
    assert counts[SIL] > 50 and counts[UNK] > 50 and counts[:10].min() > 10
    assert data.fingerprint != SpeechCommandsData(mini_dir, DataConfig()).fingerprint
    assert not set(data.index.speakers("tuning")) & set(data.index.speakers("validation"))
