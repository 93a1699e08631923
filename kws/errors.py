"""The one error family of kws: every message is one line and names the bad value.

    KwsError
      ConfigError        a config value, file, option or argument
        ArgumentError    ... an argument of a function call (also a ValueError)
      AudioError         audio that cannot be read or used
      DataError          a dataset, split, cache or download
      ModelError         a model or checkpoint file

Not yet here (defined beside their code, each a KwsError subclass): kws.sources.DeviceError,
kws.detector.DetectorError, firmware_export.ExportError and the archive errors of
data_scripts/download_speech_commands.py.
"""

from __future__ import annotations


class KwsError(Exception):
    """Base of every error kws raises on purpose (bad input, bad config, bad model)."""


class ConfigError(KwsError):
    """A configuration value or file is unknown, missing or out of range."""


class ArgumentError(ConfigError, ValueError):
    """An argument passed in code is not one of its choices (``backend="gpu"``); also a
    ValueError, as Python's own functions raise for such arguments."""


class AudioError(KwsError):
    """An audio file or buffer cannot be read or is not usable audio."""


class DataError(KwsError):
    """A dataset folder, split list, cache or download is missing or inconsistent."""


class ModelError(KwsError):
    """A model or training-checkpoint file is missing, corrupt, lacks metadata or disagrees
    with the front end or the config."""
