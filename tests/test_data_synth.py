"""kws.data.synth: espeak-ng words as 1-s clips (CI installs espeak-ng)."""

from __future__ import annotations

import numpy as np
import pytest

from kws.audio import active_power, speech_end
from kws.data.synth import LEVEL_DBFS, centre_clip, read_words, synth_words
from kws.labels import KEYWORDS


def test_word_list_holds_no_keyword_nor_its_homophones() -> None:
    words = read_words()
    assert len(words) > 400 and len(set(words)) == len(words)
    assert not set(words) & set(KEYWORDS)
    assert not set(words) & {"know", "write", "rite", "of", "nope", "yeah"}


def test_synthetic_words_are_speech_of_the_right_length_and_level() -> None:
    audio, names = synth_words(6, seed=3)
    assert audio.shape == (6, 16000) and audio.dtype == np.int16 and len(names) == 6
    for clip, name in zip(audio, names, strict=True):
        start, end = 16000 - int(speech_end(clip[::-1])), int(speech_end(clip))
        assert 1600 < end - start < 16000, name          # 0.1-1 s of speech
        assert abs((start + end) / 2 - 8000) < 1000, name  # centred
        level = 10 * np.log10(active_power(clip) / 32768**2)
        assert LEVEL_DBFS[0] - 3 < level < LEVEL_DBFS[1] + 12, (name, level)
    again, _ = synth_words(6, seed=3)
    np.testing.assert_array_equal(audio, again)


def test_centre_clip_cuts_long_speech_and_sets_the_level() -> None:
    long = np.full(40000, 1000, np.int16)
    out = centre_clip(long, -20.0)
    assert out.shape == (16000,)
    assert 20 * np.log10(np.sqrt(np.mean(out.astype(float) ** 2)) / 32768) == \
        pytest.approx(-20.0, abs=0.01)
