"""Clip accuracy of a model when background noise is added at a chosen SNR.

Run: python benchmarks/bench_noise_accuracy.py [MODEL] [--data DIR] [--split test]
                                               [--snr none 20 10 5] [--seed 0]

Each word clip of the split (``_silence_`` clips left out) gets a random window of the
split's own part of ``_background_noise_`` (kws.data's 80/10/10 division in time, as in the
streams of data_scripts/make_stream.py), scaled so that the clip's active speech power
(kws.audio.active_power) is the asked SNR above the window's power; the int8 model then
classifies the whole clip (argmax over the 12 labels). Prints the accuracy per SNR; the
noise windows are seeded and the same for every SNR and every model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kws.audio import active_power
from kws.data import index_dataset, load_noise, load_split_audio
from kws.frontend import mfcc_batch
from kws.labels import SILENCE
from kws.runtime import DEFAULT_MODEL, KwsModel

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/speech_commands_mini_v0.02"


def add_noise(audio: np.ndarray, noise: list[np.ndarray], snr_db: float,
              rng: np.random.Generator) -> np.ndarray:
    """int16 (n, samples) clips -> int16 copies with noise at ``snr_db`` on active speech."""
    out = np.empty_like(audio)
    for i, clip in enumerate(audio):
        recording = noise[int(rng.integers(len(noise)))]
        start = int(rng.integers(0, recording.size - clip.size + 1))
        window = recording[start:start + clip.size].astype(np.float64)
        speech, power = active_power(clip), float(np.mean(window**2))
        gain = np.sqrt(speech / (power * 10 ** (snr_db / 10))) if speech > 0 < power else 0.0
        out[i] = np.clip(np.rint(clip + gain * window), -32768, 32767).astype(np.int16)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--split", default="test")
    ap.add_argument("--snr", nargs="+", default=["none", "20", "10", "5"],
                    help="SNRs in dB ('none': the clean clips)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    index = index_dataset(args.data)
    audio, labels = load_split_audio(index, args.split)
    model = KwsModel(args.model)
    words = labels != model.labels.index(SILENCE)
    audio, labels = audio[words], labels[words]
    noise = load_noise(index, args.split)
    print(f"{args.model}: {labels.size} word clips of the {args.split} split, noise from the "
          f"{args.split} part of {len(noise)} background recordings")
    for snr in args.snr:
        rng = np.random.default_rng(args.seed)
        x = audio if snr == "none" else add_noise(audio, noise, float(snr), rng)
        predicted = model.predict(mfcc_batch(x, model.frontend_config)).argmax(axis=1)
        correct = int(np.sum(predicted == labels))
        name = "clean" if snr == "none" else f"{float(snr):g} dB SNR"
        print(f"  {name:>10s}: {100 * correct / labels.size:5.1f}% ({correct} of {labels.size})")


if __name__ == "__main__":
    main()
