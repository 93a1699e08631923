"""The small validators every config dataclass uses: one check, one message, one place.

Each takes the field's name and value and raises :class:`kws.errors.ConfigError` with a
one-line message that starts ``name=value`` (the value's repr), so that ``from_dict`` can
prefix the section (``train.epochs=0 ...``). Booleans are never numbers here (``True`` is an
int in Python, and ``epochs: yes`` is a typo, not 1). A value is checked for its type
before it is compared, so a string never turns into a TypeError.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from kws.errors import ConfigError

MAX_SEED = 2**32 - 1
"""Largest seed: numpy accepts any int, TensorFlow's and Keras' seeds are 32-bit."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number_in(name: str, value: Any, low: float = -math.inf, high: float = math.inf, *,
              open_low: bool = False, open_high: bool = False) -> None:
    """A finite int or float in [low, high] (``open_low`` / ``open_high``: excluding that
    end), in the field's own units."""
    if not _is_number(value):
        raise ConfigError(f"{name}={value!r} must be a number")
    inside = (low < value if open_low else low <= value) and \
        (value < high if open_high else value <= high)
    if not math.isfinite(value) or not inside:
        raise ConfigError(f"{name}={value!r} must be a finite number in "
                          f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}")


def positive(name: str, value: Any) -> None:
    """A finite number above 0."""
    if not _is_number(value):
        raise ConfigError(f"{name}={value!r} must be a number")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}={value!r} must be a positive finite number")


def int_in(name: str, value: Any, low: int, high: int | None = None) -> None:
    """An int (not a float, not a bool) in [low, high]; no upper bound when ``high`` is
    None."""
    if high is None:
        if not _is_int(value) or value < low:
            raise ConfigError(f"{name}={value!r} must be an int >= {low}")
    elif not _is_int(value) or not low <= value <= high:
        raise ConfigError(f"{name}={value!r} must be an int in [{low}, {high}]")


def seed(name: str, value: Any) -> None:
    """A seed: an int in [0, MAX_SEED]."""
    int_in(name, value, 0)
    if value > MAX_SEED:
        raise ConfigError(f"{name}={value!r} must be at most {MAX_SEED}")


def int_pair(name: str, value: Any, low: int, high: int) -> None:
    """Two ints in [low, high] (a kernel or a stride: time, coefficients)."""
    if not (isinstance(value, tuple) and len(value) == 2
            and all(_is_int(v) and low <= v <= high for v in value)):
        raise ConfigError(f"{name}={value!r} must be two ints in [{low}, {high}]")


def range_in(name: str, value: Any, low: float, high: float) -> None:
    """A (min, max) pair of finite numbers with low <= min <= max <= high."""
    if not isinstance(value, tuple) or len(value) != 2 or not all(map(_is_number, value)):
        raise ConfigError(f"{name}={value!r} must be two numbers [min, max]")
    lo, hi = value
    if not all(math.isfinite(v) for v in value) or not low <= lo <= hi <= high:
        raise ConfigError(f"{name}={list(value)} must satisfy {low} <= min <= max <= {high}")


def numbers(name: str, value: Any, *, empty: bool = True) -> None:
    """A tuple (a YAML list) of finite numbers; ``empty=False`` also refuses ().
    ``name``: the field (e.g. "snrs_db", values in dB)."""
    if not isinstance(value, tuple) or not all(map(_is_number, value)):
        raise ConfigError(f"{name}={value!r} must be a list of numbers")
    if not all(math.isfinite(v) for v in value):
        raise ConfigError(f"{name}={value} has a non-finite value")
    if not value and not empty:
        raise ConfigError(f"{name} is empty: give at least one value")


def names(name: str, value: Any, what: str = "names") -> None:
    """A tuple (a YAML list) of non-empty strings; ``what`` says what they are ("file
    paths", "keywords")."""
    if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{name}={value!r} must be a list of {what}")


def one_of(name: str, value: Any, choices: Sequence[str]) -> None:
    """One of a few names ("cosine" or "constant")."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices[:-1])
        raise ConfigError(f"{name}={value!r} must be "
                          f"{listed + ' or ' if listed else ''}{choices[-1]!r}")
