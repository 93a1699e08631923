"""kws.wakeword.phonemes and the negatives of kws.wakeword.data, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from kws.data.windows import share_inside, speech_energy
from kws.errors import ConfigError
from kws.labels import phrase_label, wakeword_labels
from kws.voices import Voice, synthesize
from kws.wakeword.data import (
    WakewordSpec,
    auto_clip_ms,
    cut_spoken,
    fragment,
    place,
    synth_jobs,
)
from kws.wakeword.phonemes import (
    PhonemeError,
    bare,
    distance,
    espeak_phoneme_text,
    near_distance,
    near_words,
    phoneme_edits,
    phonemes,
    phonemes_of,
)


def test_phonemes_of_espeak_and_distance_by_hand() -> None:
    assert [bare(p) for p in phonemes("stop")] == ["s", "t", "0", "p"]
    assert phonemes_of(["stop", "top"]) == [phonemes("stop"), phonemes("top")]
    assert distance(("s", "t", "'0", "p"), ("t", "0", "p")) == 1      # stress ignored
    assert distance(("a", "b"), ("b", "a")) == 2
    assert distance((), ("a", "b", "c")) == 3
    assert near_distance(4) == 1 and near_distance(10) == 3
    with pytest.raises(PhonemeError, match="'a. b'"):
        phonemes("a. b")


def test_phoneme_edits_follow_the_rule() -> None:
    stop = phonemes("stop")
    edits = phoneme_edits(stop)
    keys = {tuple(bare(p) for p in e) for e in edits}
    assert ("t", "0", "p") in keys and ("s", "0", "p") in keys         # a consonant deleted
    assert ("s", "t", "p") not in keys                                 # never a vowel
    assert ("s", "t", "I", "p") in keys and ("f", "t", "0", "p") in keys
    assert ("z", "t", "0", "p") not in keys and ("s", "t", "0", "b") not in keys  # twins
    assert ("s", "d", "0", "p") not in keys
    assert tuple(bare(p) for p in stop) not in keys
    assert all(distance(e, stop) == 1 for e in edits)
    assert espeak_phoneme_text(("s", "t", "'I", "p")) == "[[st'Ip]]"
    # espeak-ng speaks the edit, and it differs from the phrase
    a = synthesize(espeak_phoneme_text(edits[0]), Voice(family="espeak", name="en-us"))
    assert 0.15 < cut_spoken(a).size / 16000 < 1.5


def test_near_words_are_close_but_not_the_phrase() -> None:
    found = near_words("stop", ["top", "stop", "shop", "banana", "Stop", "step"])
    assert found == ["step", "top"]                      # "shop": two edits from "stop"


def test_labels_of_a_phrase() -> None:
    assert wakeword_labels("Hey Computer!") == ("hey_computer", "_unknown_", "_silence_")
    assert phrase_label("ok-google") == "ok_google"
    with pytest.raises(ConfigError, match="'!!'"):
        phrase_label("!!")
    assert phrase_label("_silence_") == "silence"        # never a reserved label


def test_fragments_hold_less_than_the_window_rule_share() -> None:
    take = cut_spoken(synthesize("hey computer", Voice(family="espeak", name="en-us")))
    rng = np.random.default_rng(0)
    energy = speech_energy(take[None, :])[0]
    heads = 0
    for _ in range(10):
        part = fragment(take, rng)
        assert 0 < part.size < take.size
        # the head or the tail of the take, holding less than 80 % of its speech energy
        head = take[:part.size].tobytes() == part.tobytes()
        assert head or take[take.size - part.size:].tobytes() == part.tobytes()
        offset = 0 if head else take.size - part.size
        assert 0.1 < share_inside(energy, -offset, part.size) < 0.8
        heads += head
    assert 0 < heads < 10


def test_place_and_auto_clip() -> None:
    take = np.full(8000, 1000, np.int16)
    out = place(take, 16000, -20.0)
    assert out.shape == (16000,) and not out[:3999].any() and out[4000:12000].all()
    assert auto_clip_ms([np.zeros(16000, np.int16)] * 3) == 1300.0   # 1 s + 250 ms, 100s
    assert auto_clip_ms([np.zeros(8000, np.int16)]) == 1000.0


def test_jobs_hold_phrase_near_misses_and_other_words() -> None:
    spec = WakewordSpec(positives=10, near_miss_takes=40, other_words=8, families=("espeak",))
    jobs, kinds, held = synth_jobs("stop", spec, ["top", "tree"])
    assert kinds.count("phrase") == 10 and kinds.count("near") == 40
    assert all(t == "stop" for (t, _), k in zip(jobs, kinds, strict=True) if k == "phrase")
    near = [t for (t, _), k in zip(jobs, kinds, strict=True) if k == "near"]
    assert "top" in near and any(t.startswith("[[") for t in near)
    assert "stop" not in near and "tree" not in near
    assert sum(held[:10]) == 2                                  # every 5th voice held out
    assert synth_jobs("stop", spec, ["top", "tree"]) == (jobs, kinds, held)
