"""Your own wake word, offline (issue 16; docs/wakeword.md).

- :mod:`kws.wakeword.phonemes`: near misses of a phrase by rule (espeak-ng phonemes, one
  phoneme substituted or deleted, words within a phoneme edit distance);
- :mod:`kws.wakeword.data`: positives (kws.voices, your recordings) and negatives as a
  kws.run.TrainingData with the labels (phrase, _unknown_, _silence_);
- :mod:`kws.wakeword.build`: voices -> data -> train -> quantize -> tune
  (``kws wakeword "PHRASE" --out runs/NAME``).
"""

__all__ = ["build", "data", "phonemes"]
