"""``kws tune-detector MODEL --data DIR``: tune and stamp a model's detector defaults.

A ``kws wakeword`` model is tuned again on the streams of its own run instead
(kws.wakeword.build.retune_wakeword: its held-out takes among held-out negatives).

Also run by ``kws quantize`` at the end (unless ``--detector`` or ``--no-tune``).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from kws.config import DetectorConfig


def add_tuning_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``tune-detector`` and ``quantize``."""
    from kws.tuning import TuningSpec

    d = TuningSpec()
    p.add_argument("--fa-per-hour", type=float, default=d.fa_per_hour,
                   help="false-accept budget per keyword per hour on every tuning stream "
                        "(default: %(default)s)")
    p.add_argument("--tune-minutes", type=float, default=d.minutes,
                   help="length of each tuning stream in minutes (default: %(default)s)")
    p.add_argument("--tune-snr", type=float, nargs="+", default=list(d.snrs_db),
                   help="SNRs (dB) of the tuning streams (default: %(default)s)")
    p.add_argument("--tune-split", choices=("validation", "tuning"),
                   help="split to tune on (default: the one the model never trained on)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``tune-detector`` sub-command."""
    p = sub.add_parser(
        "tune-detector", help="tune the detector of a model on streams it never heard",
        description="Build streams of speakers the model never trained on (the validation "
                    "split, or the tuning split of a model trained on train + validation), "
                    "sweep the detector (averaging window, minimum count, suppression, "
                    "threshold) at the laptop's hop and at the board's hop, and write the "
                    "setting with the lowest false-reject rate within the false-accept "
                    "budget into the model's metadata (weights unchanged). A kws wakeword "
                    "model tunes again on its run's held-out takes (only --fa-per-hour "
                    "applies).")
    p.add_argument("model", type=Path, help="model .tflite (rewritten in place)")
    p.add_argument("--data", type=Path, default=None,
                   help="Speech Commands folder (a kws wakeword model: default its run's)")
    add_tuning_options(p)
    p.add_argument("--also-budgets", type=float, nargs="+", default=[],
                   help="also print the best setting at these budgets (to compare models)")
    p.add_argument("--dry-run", action="store_true", help="print the figures, write nothing")
    p.set_defaults(func=run)


def tuning_spec(args: argparse.Namespace) -> Any:
    """The TuningSpec of parsed options."""
    from kws.tuning import TuningSpec

    return TuningSpec(fa_per_hour=args.fa_per_hour, minutes=args.tune_minutes,
                      snrs_db=tuple(args.tune_snr))


def tune_model(model_path: Path, data_dir: Path, spec: Any, split: str | None = None,
               write: bool = True, also_budgets: tuple[float, ...] = ()) -> dict[str, Any]:
    """Tune the laptop and board detectors of ``model_path`` and (``write``) stamp them.

    Prints progress and the figures; returns the tuning summary stored in the metadata.
    """
    from kws.board import board_hop_frames
    from kws.model_edit import strip_for_device
    from kws.publish import recover_published_set
    from kws.quantize import stamp_detectors
    from kws.runtime import KwsModel
    from kws.tflite_ops import parse_tflite
    from kws.tuning import build_streams, choose, choose_split, evaluate_grid

    recover_published_set(model_path.parent)  # finish (or drop) a killed quantize first
    model = KwsModel(model_path)
    split, percent = choose_split(model.metadata, split)
    laptop_hop = model.detector_config.hop_frames
    device = parse_tflite(strip_for_device(model.data))
    board_hop = board_hop_frames(device, model.frontend_config, laptop_hop,
                                 meta=model.metadata)  # measured when it holds one
    print(f"tuning the detector of {model_path} on the {split} split (never trained on): "
          f"budget {spec.fa_per_hour:g} false accepts per hour per keyword at "
          f"{', '.join(f'{s:g}' for s in spec.snrs_db)} dB; laptop hop {laptop_hop} frames, "
          f"board hop {board_hop} frames", flush=True)
    streams = build_streams(data_dir, split, percent, spec)
    base = dataclasses.replace(DetectorConfig(), keywords=model.detector_config.keywords)
    results = {}
    for name, hop in (("laptop", laptop_hop), ("board", board_hop)):
        rows = evaluate_grid(model, streams, base, hop,
                             progress=lambda m: print("  " + m, flush=True))
        tuned = choose(rows, spec.fa_per_hour)
        results[name] = tuned
        c = tuned.config
        print(f"{name} (hop {hop} frames = {hop * model.frontend_config.stride_ms:g} ms): "
              f"average_window_ms={c.average_window_ms} min_count={c.min_count} "
              f"threshold={c.threshold} suppression_ms={c.suppression_ms}"
              + ("" if tuned.within_budget else "  (NO setting meets the budget: the fewest "
                                                "false accepts instead)"))
        for f in tuned.figures:
            print(f"  {f.name:>32s}: FRR {100 * f.mean_frr:5.1f}% (mean keyword), "
                  f"{f.fa_per_hour_per_keyword:5.2f} false accepts/hour per keyword, "
                  f"{f.late} late")
        for budget in also_budgets:
            other = choose(rows, budget)
            c = other.config
            print(f"  at <= {budget:g}/hour per keyword: " + ", ".join(
                f"{f.name} FRR {100 * f.mean_frr:.1f}% ({f.fa_per_hour_per_keyword:.1f}/h)"
                for f in other.figures) + f"  [{c.average_window_ms} ms, {c.min_count}, "
                f"{c.threshold}, {c.suppression_ms} ms]"
                + ("" if other.within_budget else " NOT within the budget"))
    summary = {"split": split, "fa_per_hour_per_keyword": spec.fa_per_hour,
               "snrs_db": list(spec.snrs_db), "minutes": spec.minutes, "seed": spec.seed,
               "laptop": results["laptop"].to_dict(), "board": results["board"].to_dict()}
    if write:
        stamp_detectors(model_path, results["laptop"].config, results["board"].config, summary)
        print(f"stamped into {model_path}")
    return summary


def run(args: argparse.Namespace) -> int:
    from kws.errors import ConfigError
    from kws.runtime import KwsModel

    if KwsModel(args.model).metadata.get("wakeword"):
        # A wake word tunes on the held-out takes of its own run (kws.wakeword.build).
        if args.dry_run or args.tune_split or args.also_budgets:
            raise ConfigError(f"{args.model}: a kws wakeword model tunes on its run's "
                              "held-out takes; --dry-run, --tune-split and --also-budgets "
                              "are for Speech Commands models")
        from kws.wakeword.build import retune_wakeword

        retune_wakeword(args.model, args.data, args.fa_per_hour)
        print(f"stamped into {args.model}")
        return 0
    if args.data is None:
        raise ConfigError("--data DIR is needed: the Speech Commands folder whose streams "
                          "tune the detector")
    tune_model(args.model, args.data, tuning_spec(args), args.tune_split,
               write=not args.dry_run, also_budgets=tuple(args.also_budgets))
    return 0
