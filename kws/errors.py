"""The one error family of kws: every message is one line and names the bad value.

    KwsError
      ConfigError            a config value, file, option or argument
        ArgumentError        ... an argument of a function call (also a ValueError)
      AudioError             audio that cannot be read or used
      DeviceError            no usable microphone (PortAudio, device)
      DataError              a dataset, split, cache or download
        UnsafeArchiveError   ... an archive member that would land outside its folder
        ArchiveTooLargeError ... an archive larger than the extraction limits
      ModelError             a model or checkpoint file
      DetectorError          detector input malformed or out of time order
      BuildError             the native (C) front end cannot be built or run on this host
      ExportError            generated firmware files, a C build or run for the board

Each class is also importable where it is raised (kws.sources.DeviceError,
kws.detector.DetectorError, firmware_export.ExportError, the archive errors from
data_scripts.download_speech_commands); it is defined here only.
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


class DeviceError(KwsError):
    """No usable microphone: PortAudio missing, no input device, or the device failed."""


class DataError(KwsError):
    """A dataset folder, split list, cache or download is missing or inconsistent."""


class UnsafeArchiveError(DataError):
    """An archive member that would land outside the extraction folder, or a special file."""


class ArchiveTooLargeError(DataError):
    """An archive that unpacks to more bytes or members than the extraction limits allow."""


class ModelError(KwsError):
    """A model or training-checkpoint file is missing, corrupt, lacks metadata or disagrees
    with the front end or the config."""


class DetectorError(KwsError):
    """Detector input is malformed or out of time order."""


class BuildError(KwsError):
    """The native front end (the C front end compiled for this machine, kws.frontend.native)
    cannot be built, loads a library built for another configuration, or fails to run."""


class ExportError(KwsError):
    """Generated files cannot be written, or a C build or run failed."""
