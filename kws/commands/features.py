"""``kws features FILE``: the fixed-point MFCC of one audio file."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

from kws.audio import read_audio
from kws.config import FrontendConfig, load_section
from kws.errors import KwsError
from kws.fileio import atomic_path, atomic_write_bytes
from kws.frontend import mfcc
from kws.outpaths import check_out_file, writing


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``features`` sub-command."""
    p = sub.add_parser("features", help="compute the int8 MFCC of an audio file",
                       description="Compute the fixed-point int8 MFCC of an audio file.")
    p.add_argument("file", type=Path, help="WAV/FLAC/OGG file (resampled to 16 kHz mono)")
    p.add_argument("--out", type=Path, help="save the int8 features (frames x coeffs) as .npy")
    p.add_argument("--png", type=Path, help="save a picture of the features")
    p.add_argument("--config", type=Path, help="YAML with a 'frontend' section (default: "
                                                         "the built-in front end)")
    p.set_defaults(func=run)


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` as .npy via a temporary file and a rename."""
    buf = io.BytesIO()
    np.save(buf, array)
    with writing(path):
        atomic_write_bytes(path, buf.getvalue())


def save_feature_png(path: Path, features: np.ndarray, title: str) -> None:
    """Draw int8 features (frames, coeffs) as an image: time across, coefficient up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    im = ax.imshow(features.T, origin="lower", aspect="auto", cmap="magma",
                   vmin=-128, vmax=127, interpolation="nearest")
    ax.set_xlabel("frame (20 ms)")
    ax.set_ylabel("MFCC coefficient")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="int8 code")
    fig.tight_layout()
    try:
        with writing(path), atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)


def run(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_out_file(args.out, "--out")
    if args.png is not None:
        check_out_file(args.png, "--png")
    config = load_section(FrontendConfig, args.config, "frontend") if args.config \
        else FrontendConfig()
    audio = read_audio(args.file, config.sample_rate_hz)
    feats = mfcc(audio, config)
    if feats.shape[0] == 0:
        raise KwsError(f"{args.file}: {audio.size} samples is shorter than one "
                       f"{config.window_ms} ms window")
    print(f"{args.file}: {audio.size} samples ({audio.size / config.sample_rate_hz:.3f} s) -> "
          f"features {feats.shape[0]} x {feats.shape[1]} int8, "
          f"range [{int(feats.min())}, {int(feats.max())}]")
    if args.out:
        atomic_save_npy(args.out, feats)
        print(f"saved {args.out}")
    if args.png:
        save_feature_png(args.png, feats, args.file.name)
        print(f"saved {args.png}")
    return 0
