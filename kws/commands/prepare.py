"""``kws prepare DATA_DIR``: index Speech Commands, print the class counts, fill the cache."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kws.config import FrontendConfig, load_section
from kws.data import DataConfig, FeatureCache, default_cache_dir, index_dataset
from kws.data.index import DatasetIndex
from kws.data.splits import SPLITS
from kws.errors import DataError
from kws.labels import LABELS, SILENCE

REQUIRED_SPLITS = ("train", "validation")
"""Splits that must hold word clips: ``kws train`` learns on train and keeps the weights of
the best validation epoch, ``kws quantize`` tunes the detector on validation. An empty test
split only gets a warning (evaluation needs it, training does not)."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``prepare`` sub-command."""
    p = sub.add_parser("prepare", help="index Speech Commands and cache its features",
                       description="Index a Speech Commands folder (original layout), print "
                                   "the clips per class and split, and compute the clean int8 "
                                   "features of every split into the cache ('kws train', "
                                   "'quantize' and 'evaluate' read them: their "
                                   "--feature-cache).")
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR",
                   help="dataset folder (e.g. speech_commands_v0.02 from 'kws download')")
    p.add_argument("--cache", type=Path, default=None,
                   help=f"feature cache folder (default: {default_cache_dir()})")
    p.add_argument("--data-config", type=Path,
                   help="YAML with a 'data' section (default: the built-in data config, as "
                        "configs/data.yaml)")
    p.add_argument("--frontend-config", type=Path,
                   help="YAML with a 'frontend' section (default: the built-in front end, as "
                        "configs/frontend.yaml)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")
    p.set_defaults(func=run)


def count_table(index: DatasetIndex) -> str:
    """Clips per class (rows, kws.labels order) and split (columns), with totals."""
    counts = {split: index.class_counts(split) for split in SPLITS}
    width = max(len(label) for label in LABELS)
    head = f"{'class':<{width}}" + "".join(f"{s:>12}" for s in (*SPLITS, "total"))
    lines = [head, "-" * len(head)]
    for i, label in enumerate(LABELS):
        row = [int(counts[s][i]) for s in SPLITS]
        lines.append(f"{label:<{width}}" + "".join(f"{n:>12}" for n in (*row, sum(row))))
    totals = [int(counts[s].sum()) for s in SPLITS]
    lines.append("-" * len(head))
    lines.append(f"{'total':<{width}}" + "".join(f"{n:>12}" for n in (*totals, sum(totals))))
    return "\n".join(lines)


def check_splits(index: DatasetIndex) -> list[str]:
    """Raise DataError if a REQUIRED_SPLITS split has no word clips; returns warning lines.

    ``_silence_`` clips cut from the noise recordings do not count: a split of silence alone
    cannot train or validate a keyword model.
    """
    silence = LABELS.index(SILENCE)
    words = {s: int(index.class_counts(s).sum() - index.class_counts(s)[silence])
             for s in SPLITS}
    empty = [s for s in REQUIRED_SPLITS if words[s] == 0]
    if empty:
        raise DataError(f"{index.root}: the {' and '.join(empty)} split"
                        f"{'s have' if len(empty) > 1 else ' has'} no word clips (clips per "
                        f"split: {', '.join(f'{s} {n}' for s, n in words.items())}); check "
                        "validation_list.txt / testing_list.txt or the data config's "
                        "percentages")
    return [f"warning: {index.root}: the {s} split has no word clips ('kws evaluate "
            f"--split {s}' will have nothing to score)" for s in SPLITS
            if s not in REQUIRED_SPLITS and words[s] == 0]


def run(args: argparse.Namespace) -> int:
    """Index, check the splits, print the counts, fill the cache; returns the exit code."""
    data_config = load_section(DataConfig, args.data_config, "data") if args.data_config \
        else DataConfig()
    frontend = load_section(FrontendConfig, args.frontend_config, "frontend") \
        if args.frontend_config else FrontendConfig()
    index = index_dataset(args.data_dir, data_config)
    warnings = check_splits(index)  # before anything is written to the cache
    speakers = {s: len(index.speakers(s)) for s in SPLITS}
    source = ("validation_list.txt / testing_list.txt" if index.split_source == "lists"
              else "the hash rule")
    print(f"{index.root}: splits from {source}; speakers "
          + ", ".join(f"{s} {n}" for s, n in speakers.items()))
    print(count_table(index))
    for line in warnings:
        print(line, file=sys.stderr)
    cache = FeatureCache(index, frontend, args.cache, progress=args.progress)
    began = time.perf_counter()
    built = cache.fill()
    elapsed = time.perf_counter() - began
    skipped_total = 0
    for split in SPLITS:
        features, _ = cache.get(split)
        skipped = cache.skipped(split)
        skipped_total += len(skipped)
        state = "built" if built[split] else "up to date"
        print(f"{split}: {features.shape[0]} clips x {features.shape[1]} x {features.shape[2]} "
              f"int8 ({state}, {len(skipped)} unreadable skipped) -> {cache.path(split)}")
        for rel, reason in skipped:
            print(f"warning: skipped unreadable clip {rel}: {reason}", file=sys.stderr)
    for split in REQUIRED_SPLITS:
        if cache.get(split)[0].shape[0] == 0:
            raise DataError(f"every clip of the {split} split of {index.root} is unreadable "
                            "(listed above): nothing to train on")
    print(f"cache ready in {elapsed:.1f} s"
          + (f"; {skipped_total} unreadable clips skipped (listed above)" if skipped_total
             else ""))
    return 0
