"""The 12 Speech Commands labels of the KWS task, in model output order (MLPerf Tiny order)."""

from __future__ import annotations

SILENCE = "_silence_"
UNKNOWN = "_unknown_"
KEYWORDS: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop",
                             "go")
"""The ten command words; every other word of the dataset is _unknown_."""
LABELS: tuple[str, ...] = KEYWORDS + (SILENCE, UNKNOWN)
"""Model outputs, index = class id."""
