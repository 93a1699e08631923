"""The kws metadata inside a .tflite: its keys, and the checks it passes before any use.

``kws quantize`` writes one JSON entry (:data:`METADATA_NAME`) into the model's flatbuffer
metadata. Everything that reads a model (the runtime, the tuner, the exporter) goes through
:func:`validate_metadata` first, because a model file is user input: a name ends up in
generated C, a front-end size decides how much memory the front end allocates.

Rules (each refusal is a one-line :class:`kws.errors.ModelError` naming the file and value):

- the JSON is at most ``kws.model_file.MAX_METADATA_JSON_BYTES`` and nested at most
  ``MAX_JSON_DEPTH`` deep (checked when it is parsed);
- ``format`` / ``format_version`` are this code's, every key of :data:`METADATA_KEYS` is there;
- ``model_name`` matches :data:`NAME_PATTERN` (letters, digits, ``_ . -``; 1-64 characters),
  each label matches :data:`LABEL_PATTERN` and labels are unique, at most :data:`MAX_LABELS`;
- ``frontend`` and ``detector`` load into their config classes and stay inside
  :data:`FRONTEND_LIMITS` / :data:`DETECTOR_LIMITS` (so that a model cannot make the front end
  allocate gigabytes);
- ``content_sha256``, when present, is 64 hex digits (compared with the weights by the
  runtime).
"""

from __future__ import annotations

import re
from typing import Any

from kws.config import DetectorConfig, FrontendConfig, from_dict
from kws.errors import ConfigError, ModelError

METADATA_NAME = "kws_metadata"
"""Name of the flatbuffer metadata entry that holds the kws JSON."""
FORMAT = "kws-model"
"""Value of the ``format`` key of the metadata."""
FORMAT_VERSION = 1
"""The metadata layout this code reads; another version is refused."""
METADATA_KEYS = ("format", "format_version", "model_name", "labels", "frontend", "detector",
                 "input", "output")
"""Keys every kws metadata has (``input``/``output``: dtype, shape, scale, zero_point)."""
CONTENT_HASH_KEY = "content_sha256"
"""Metadata key of kws.model_file.content_hash of the weights it was written with."""

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
"""What a model name may be (it reaches generated C and file names)."""
LABEL_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-']{0,31}")
"""What a label may be (``yes``, ``_silence_``, ``_unknown_``, ``hey_kws``)."""
MAX_LABELS = 64
_HEX64 = re.compile(r"[0-9a-f]{64}")

FRONTEND_LIMITS: dict[str, tuple[float, float]] = {
    "sample_rate_hz": (4000, 48000),
    "window_ms": (1, 100),
    "stride_ms": (1, 100),
    "fft_size": (16, 4096),
    "num_mel": (1, 128),
    "num_coeffs": (1, 64),
    "clip_ms": (100, 10000),
}
"""Front-end fields and the closed range each may take in a model's metadata."""
DETECTOR_LIMITS: dict[str, tuple[float, float]] = {
    "hop_frames": (1, 500),
    "average_window_ms": (1, 10000),
    "min_count": (1, 1024),
    "suppression_ms": (0, 60000),
    "max_results": (1, 1024),
}
"""Detector fields and the closed range each may take in a model's metadata."""


def _check_limits(config: Any, limits: dict[str, tuple[float, float]], section: str,
                  name: str) -> None:
    for field, (low, high) in limits.items():
        value = getattr(config, field)
        if not low <= value <= high:
            raise ModelError(f"{name}: metadata {section}.{field}={value!r} is outside "
                             f"{low:g}..{high:g}")


def validate_metadata(meta: Any, name: str) -> dict[str, Any]:
    """Check parsed kws metadata (see the module docstring); returns it unchanged.

    meta: the JSON value of the metadata entry; name: the file, for messages.
    """
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{name}: {METADATA_NAME} is not kws model metadata")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(f"{name}: metadata format_version {version!r:.40} is not supported "
                         f"(this kws reads version {FORMAT_VERSION})")
    missing = [key for key in METADATA_KEYS if key not in meta]
    if missing:
        raise ModelError(f"{name}: metadata lacks {missing[0]!r}")
    model_name = meta["model_name"]
    if not isinstance(model_name, str) or not NAME_PATTERN.fullmatch(model_name):
        raise ModelError(f"{name}: metadata model_name {model_name!r:.80} is not a name "
                         "(letters, digits, '_', '.', '-'; at most 64)")
    labels = meta["labels"]
    if not isinstance(labels, list) or not labels or len(labels) > MAX_LABELS:
        raise ModelError(f"{name}: metadata labels must be a list of 1..{MAX_LABELS} names")
    for label in labels:
        if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label):
            raise ModelError(f"{name}: metadata label {label!r:.60} is not a label name "
                             "(letters, digits, '_', '-', \"'\"; at most 32)")
    if len(set(labels)) != len(labels):
        raise ModelError(f"{name}: metadata labels repeat a name")
    try:
        frontend = from_dict(FrontendConfig, meta["frontend"], "frontend.")
        detectors = [("detector", from_dict(DetectorConfig, meta["detector"], "detector."))]
        if meta.get("board_detector") is not None:
            detectors.append(("board_detector", from_dict(
                DetectorConfig, meta["board_detector"], "board_detector.")))
    except ConfigError as exc:
        raise ModelError(f"{name}: bad metadata: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"{name}: bad metadata ({type(exc).__name__})") from None
    _check_limits(frontend, FRONTEND_LIMITS, "frontend", name)
    for section, detector in detectors:
        _check_limits(detector, DETECTOR_LIMITS, section, name)
        unknown = [k for k in (*detector.keywords, *detector.keyword_thresholds)
                   if k not in labels]
        if unknown:
            raise ModelError(f"{name}: metadata {section} names {unknown[0]!r:.40}, which is "
                             "not a label")
    digest = meta.get(CONTENT_HASH_KEY)
    if digest is not None and not (isinstance(digest, str) and _HEX64.fullmatch(digest)):
        raise ModelError(f"{name}: metadata {CONTENT_HASH_KEY} is not a sha256 hex digest")
    return meta
