"""The one error family of kws: every message is one line and names the bad value."""

from __future__ import annotations


class KwsError(Exception):
    """Base of every error kws raises on purpose (bad input, bad config, bad model)."""


class ConfigError(KwsError):
    """A configuration value or file is unknown, missing or out of range."""


class AudioError(KwsError):
    """An audio file or buffer cannot be read or is not usable audio."""


class DataError(KwsError):
    """A dataset folder, split list, cache or download is missing or inconsistent."""


class ModelError(KwsError):
    """A model file is corrupt, lacks metadata or disagrees with the front end."""
