"""The 12 Speech Commands labels of the KWS task, in model output order (MLPerf Tiny order)."""

from __future__ import annotations

SILENCE = "_silence_"
UNKNOWN = "_unknown_"
KEYWORDS: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop",
                             "go")
"""The ten command words; every other word of the dataset is _unknown_."""
LABELS: tuple[str, ...] = KEYWORDS + (SILENCE, UNKNOWN)
"""Model outputs, index = class id."""


def phrase_label(phrase: str) -> str:
    """The model label of a wake phrase: lower case, runs of spaces and hyphens -> "_",
    other characters than letters, digits and apostrophes dropped, at most 32 characters
    ("Hey Computer!" -> "hey_computer"). Matches kws.metadata.LABEL_PATTERN; ValueError
    (kws.errors.ConfigError) naming the phrase when nothing is left or it is a reserved
    label."""
    import re

    from kws.errors import ConfigError

    words = re.sub(r"[^a-z0-9' _-]", "", str(phrase).lower())
    label = "_".join(re.split(r"[\s_-]+", words.strip(" _-'")))[:32].strip("_")
    if not label or label.startswith("'") or label in (SILENCE, UNKNOWN):
        raise ConfigError(f"phrase {phrase!r:.60} gives no usable label (letters or digits "
                          "needed, not _silence_ or _unknown_)")
    return label


def wakeword_labels(phrase: str) -> tuple[str, ...]:
    """Model outputs of a custom wake-word model: (phrase label, _unknown_, _silence_)."""
    return (phrase_label(phrase), UNKNOWN, SILENCE)
