"""Near misses of a wake phrase: what sounds almost like it, by a documented rule.

    phrase --espeak-ng -q -x --sep=_--> phonemes ("stop" -> s t '0 p)
      -> one-phoneme edits (:func:`phoneme_edits`), spoken by espeak-ng from phonemes [[...]]
      -> words within a small phoneme edit distance (:func:`near_words`), spoken as text

The rule (Kirchhoff-style "confusable" negatives, kept simple enough to check by hand):

1. **Substitute one phoneme** by another of its class (:data:`PHONEME_CLASSES`: vowels,
   stops, fricatives, nasals, liquids and glides, affricates), but never by its voicing twin
   (:data:`VOICING_TWINS`: p/b, t/d, s/z ...): after /s/ or at a word's end such a pair is
   often the same sound, and a negative that sounds like the phrase teaches the model to
   miss it.
2. **Delete one consonant** (a deleted vowel leaves no syllable to hear) when the phrase has
   at least three phonemes.
3. **Words** of a list (kws/data/words_en.txt, the Speech Commands words, the phrase's own
   words) whose phoneme sequence is within :func:`near_distance` of the phrase's
   (Levenshtein distance over phonemes, stress marks ignored), but not equal to it.

Every edit is a different phoneme string from the phrase's (equal strings are dropped).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence

from kws.errors import KwsError

PHONEME_CLASSES: dict[str, tuple[str, ...]] = {
    "vowel": ("a", "A:", "0", "O:", "V", "@", "3:", "E", "I", "i:", "U", "u:", "eI", "aI",
              "oU", "aU", "OI", "e@", "I@"),
    "stop": ("p", "b", "t", "d", "k", "g"),
    "fricative": ("f", "v", "T", "D", "s", "z", "S", "Z", "h"),
    "nasal": ("m", "n", "N"),
    "approximant": ("l", "r", "w", "j"),
    "affricate": ("tS", "dZ"),
}
"""espeak-ng's English phoneme mnemonics by class: a substitution stays within a class."""
VOICING_TWINS = {("p", "b"), ("t", "d"), ("k", "g"), ("f", "v"), ("T", "D"), ("s", "z"),
                 ("S", "Z"), ("tS", "dZ")}
"""Voiced/voiceless pairs never substituted for each other (rule 1)."""
STRESS = "',"
"""espeak-ng's primary and secondary stress marks (before a vowel)."""
MAX_EDITS = 200
"""Most one-phoneme edits returned."""
_PAUSE = re.compile(r"^_*:*_*$")


class PhonemeError(KwsError):
    """espeak-ng is missing or cannot phonemize a text."""


def _class_of(phoneme: str) -> str | None:
    for name, members in PHONEME_CLASSES.items():
        if phoneme in members:
            return name
    return None


def _twins(a: str, b: str) -> bool:
    return (a, b) in VOICING_TWINS or (b, a) in VOICING_TWINS


_CACHE: dict[str, tuple[str, ...]] = {}


def _tokens(line: str) -> tuple[str, ...]:
    tokens = [t for word in line.split() for t in word.split("_")]
    return tuple(t for t in tokens if t and not _PAUSE.match(t))


def phonemes_of(texts: Sequence[str]) -> list[tuple[str, ...]]:
    """espeak-ng's phonemes (en-us) of each text, in one espeak-ng call: stress marks kept
    on their vowel, pauses and word boundaries dropped ("stop" -> ("s", "t2", "'0", "p")).
    PhonemeError when espeak-ng is missing or a text gives no phonemes."""
    todo = sorted({t for t in texts if t not in _CACHE})
    if todo:
        if shutil.which("espeak-ng") is None:
            raise PhonemeError("espeak-ng is not installed (apt-get install espeak-ng)")
        bad = [t for t in todo if not t.strip() or "\n" in t or "." in t]
        if bad:
            raise PhonemeError(f"text {bad[0]!r:.60} must be one line of words")
        proc = subprocess.run(["espeak-ng", "-q", "-v", "en-us", "-x", "--sep=_"],
                              input="".join(f"{t}.\n" for t in todo), capture_output=True,
                              text=True, check=False, timeout=120)
        lines = proc.stdout.splitlines()
        if proc.returncode != 0 or len(lines) != len(todo):
            raise PhonemeError(f"espeak-ng phonemized {len(lines)} of {len(todo)} texts "
                               f"(exit {proc.returncode})")
        for text, line in zip(todo, lines, strict=True):
            _CACHE[text] = _tokens(line)
    out = [_CACHE[t] for t in texts]
    for text, phones in zip(texts, out, strict=True):
        if not phones:
            raise PhonemeError(f"espeak-ng gives no phonemes for {text!r:.60}")
    return out


def phonemes(text: str) -> tuple[str, ...]:
    """espeak-ng's phonemes of one text (see :func:`phonemes_of`)."""
    return phonemes_of([text])[0]


def bare(phoneme: str) -> str:
    """A phoneme without stress marks nor espeak-ng's allophone marks ("'0" -> "0",
    "t2" -> "t", "t#" -> "t"): what distances and classes compare."""
    return phoneme.lstrip(STRESS).rstrip("2#") or phoneme


def distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two phoneme sequences, stress ignored (insert, delete
    and substitute cost 1)."""
    x, y = [bare(p) for p in a], [bare(p) for p in b]
    row = list(range(len(y) + 1))
    for i, p in enumerate(x, start=1):
        prev, row[0] = row[0], i
        for j, q in enumerate(y, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (p != q))
    return row[-1]


def near_distance(length: int) -> int:
    """Largest distance that still counts as a near miss of a phrase of ``length``
    phonemes: one edit per three phonemes, at least one ("stop": 1, "hey computer": 3)."""
    return max(1, length // 3)


def phoneme_edits(phones: Sequence[str]) -> list[tuple[str, ...]]:
    """Rules 1 and 2 of the module docstring, in position order (substitutions in class
    order, then the deletion), at most MAX_EDITS, none equal to ``phones`` (stress ignored)."""
    base = tuple(bare(p) for p in phones)
    out: list[tuple[str, ...]] = []
    seen = {base}
    for i, phone in enumerate(phones):
        stress = phone[:len(phone) - len(phone.lstrip(STRESS))]
        cls = _class_of(bare(phone))
        candidates = [] if cls is None else [
            p for p in PHONEME_CLASSES[cls] if p != bare(phone) and not _twins(p, bare(phone))]
        edits = [(*phones[:i], stress + p, *phones[i + 1:]) for p in candidates]
        if cls not in ("vowel", None) and len(phones) >= 3:
            edits.append((*phones[:i], *phones[i + 1:]))
        for edit in edits:
            key = tuple(bare(p) for p in edit)
            if key not in seen:
                seen.add(key)
                out.append(tuple(edit))
    return out[:MAX_EDITS]


def espeak_phoneme_text(phones: Sequence[str]) -> str:
    """Input that makes espeak-ng speak these phonemes: "[[st'Ip]]"."""
    return "[[" + "".join(phones) + "]]"


def near_words(phrase: str, words: Iterable[str]) -> list[str]:
    """Rule 3: the words (or phrases) of ``words`` whose phonemes are within
    near_distance of the phrase's but not equal to them, sorted by distance then spelling."""
    target = phonemes(phrase)
    limit = near_distance(len(target))
    found = []
    candidates = sorted({w for w in words if w.lower() != phrase.lower()})
    for word, phones in zip(candidates, phonemes_of(candidates), strict=True):
        d = distance(phones, target)
        if 0 < d <= limit:
            found.append((d, word))
    return [w for _, w in sorted(found)]
