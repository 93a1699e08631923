"""Clip accuracy of a model when background noise is added at a chosen SNR.

Run: python benchmarks/bench_noise_accuracy.py [MODEL] [--data DIR] [--split test]
                                               [--snr none 20 10 5] [--seed 0]

Each word clip of the split (``_silence_`` clips left out) gets a random window of the
split's own part of ``_background_noise_`` (kws.data's 80/10/10 division in time, as in the
streams of data_scripts/make_stream.py), scaled so that the clip's active speech power
(kws.audio.active_power) is the asked SNR above the window's power (kws.data.Augmenter with
``noise_snr_db_range`` and nothing else, the training augmentation); the int8 model then
classifies the whole clip (argmax over the 12 labels). Prints the accuracy per SNR; the
noise windows are seeded and the same for every SNR and every model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kws.data import Augmenter, DataConfig, index_dataset, load_noise, load_split_audio
from kws.frontend import mfcc_batch
from kws.labels import SILENCE
from kws.runtime import DEFAULT_MODEL, KwsModel

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/speech_commands_mini_v0.02"


def with_noise(audio: np.ndarray, noise: list[np.ndarray], snr_db: float,
               seed: int) -> np.ndarray:
    """int16 (n, samples) clips -> copies with noise at ``snr_db`` on active speech: kws.data's
    Augmenter with every other augmentation off."""
    config = DataConfig(noise_probability=1.0, shift_ms=0.0, gain_db_range=(0.0, 0.0),
                        noise_snr_db_range=(snr_db, snr_db))
    return Augmenter(config, noise).augment(audio, np.random.default_rng(seed))


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
        x = audio if snr == "none" else with_noise(audio, noise, float(snr), args.seed)
        predicted = model.predict(mfcc_batch(x, model.frontend_config)).argmax(axis=1)
        correct = int(np.sum(predicted == labels))
        name = "clean" if snr == "none" else f"{float(snr):g} dB SNR"
        print(f"  {name:>10s}: {100 * correct / labels.size:5.1f}% ({correct} of {labels.size})")


if __name__ == "__main__":
    main()
