"""Issue 16's benchmark: "stop" as your own wake word, trained from synthetic speech only.

    python benchmarks/bench_wakeword.py [--out runs/bench_wakeword] [--epochs N]
        [--arms synthetic recordings backbone backbone_recordings] [--backbone RUN]

1. ``kws wakeword stop --data MINI`` (configs/wakeword.yaml): every voice family, negatives
   by rule, the Speech Commands words of the train split (never the "stop" folder) and its
   training noise. No real "stop" clip is used.
2. Recall on the real "stop" clips of the mini corpus (all splits, but not speaker
   893705bb, whose takes arm 3 adds): a stream of them among the test split's other words
   over the test part of the background noise at 10 dB SNR on active speech, the model with
   the detector it was tuned with (laptop hop). A detection counts when it falls on a clip
   or within 500 ms after it (kws.stream_eval.match).
3. False accepts per hour on a long stream of other real speech only: the test split's
   other words (every word but "stop", cycled) over the test noise at 10 dB SNR.
4. The same with 20 real takes of one speaker (893705bb's "stop" clips) as --recordings.
   The backbone arms do 1 and 4 starting from a backbone trained on real speech without
   any "stop" (``kws train --config configs/experiments/wakeword_backbone_no_stop.yaml``:
   the other words of the train split). Recall is also printed for the "stop" clips of
   speakers outside the train split alone: voices that neither the backbone nor the
   negatives ever heard.
5. pymicro-wakeword's four shipped models (the peer: okay_nabu, hey_jarvis, hey_mycroft,
   alexa) on the stream of 3: false accepts per hour (a detection = the averaged probability
   above its cutoff, then 1 s refractory), model size and arena (their JSON; TFLite
   Micro's smallest arena when it runs them).

Every stage's time is printed. Nothing of the test split or of the real "stop" clips is
used in training or in tuning (tuning uses held-out synthetic takes and validation words).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kws.audio import read_audio, write_wav  # noqa: E402
from kws.data.clips import load_noise, read_clip  # noqa: E402
from kws.data.config import DataConfig  # noqa: E402
from kws.data.index import BACKGROUND_NOISE_DIR, index_dataset  # noqa: E402
from kws.data.splits import speaker_of  # noqa: E402
from kws.wakeword.build import clip_stream  # noqa: E402
from kws.wakeword.data import cut_spoken  # noqa: E402

MINI = ROOT.parent / "shared" / "data" / "speech_commands_mini_v0.02"
PHRASE = "stop"
SPEAKER = "893705bb"
"""The one speaker with 20+ takes of "stop" in the mini corpus (22)."""
RECORDINGS = 20
SNR_DB = 10.0
REFRACTORY_MS = 1000


def real_takes(index: Any) -> tuple[list[np.ndarray], list[np.ndarray], list[Path],
                                     list[np.ndarray]]:
    """(stop takes of other speakers, those of speakers outside the train split, the
    speaker's stop files, test-split other words)."""
    stops = sorted((MINI / PHRASE).glob("*.wav"))
    heard = index.speakers("train")
    test_stop, unheard = [], []
    for p in stops:
        if not p.name.startswith(SPEAKER):
            take = cut_spoken(read_audio(p))
            test_stop.append(take)
            if speaker_of(p) not in heard:
                unheard.append(take)
    mine = [p for p in stops if p.name.startswith(SPEAKER)][:RECORDINGS]
    others = [cut_spoken(read_clip(c)) for c in index.split("test")
              if c.path.parent.name not in (PHRASE, BACKGROUND_NOISE_DIR)]
    return test_stop, unheard, mine, [o for o in others if o.size >= 320]


def measure(model_path: Path, streams: dict[str, tuple[np.ndarray, list[Any]]]
            ) -> dict[str, float]:
    """FRR, false accepts per hour and phrase events of the model (its tuned laptop
    detector) on each named stream."""
    from kws.runtime import KwsModel
    from kws.stream import detect_audio
    from kws.stream_eval import match

    model = KwsModel(model_path)
    label = model.labels[0]
    out = {}
    for name, (audio, truth) in streams.items():
        found = detect_audio(model, audio)
        m = match(found, truth, [label], audio.size // 16)
        out[f"{name}_frr"] = m.mean_frr
        out[f"{name}_fa_per_hour"] = m.fa_per_hour()
        out[f"{name}_clips"] = sum(e.label == label for e in truth)
    return out


def micro_arena(data: bytes, limit: int = 256 * 1024) -> int:
    """Smallest arena (bytes, 16-byte steps) with which TFLite Micro's Python interpreter
    allocates and invokes a model (a peer model, without kws metadata: kws.micro refuses
    those), by binary search; its error chatter is silenced."""
    from tflite_micro.python.tflite_micro import runtime

    from kws.runtime import _quiet_native_output

    def runs(size: int) -> bool:
        try:
            with _quiet_native_output():
                interp = runtime.Interpreter.from_bytes(data, arena_size=size)
                d = interp.get_input_details(0)
                interp.set_input(np.zeros(d["shape"], d["dtype"]), 0)
                interp.invoke()
            return True
        except Exception:  # noqa: BLE001 - allocation fails below the smallest arena
            return False

    lo, hi = 1024, limit
    if not runs(hi):
        raise RuntimeError(f"does not run in {limit} bytes")
    while hi - lo > 16:
        mid = (lo + hi) // 2 // 16 * 16
        lo, hi = (lo, mid) if runs(mid) else (mid, hi)
    return hi


def peer(neg_audio: np.ndarray, hours: float) -> list[dict[str, object]]:
    """pymicro-wakeword's models on the negative stream."""
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

    rows = []
    for model in Model:
        t0 = time.monotonic()
        mww = MicroWakeWord.from_builtin(model)
        feats = MicroWakeWordFeatures()
        detections, last, t_ms = 0, -10**9, 0
        step = 16000  # feed one second at a time; each feature frame is 10 ms
        for i in range(0, neg_audio.size, step):
            for f in feats.process_streaming(neg_audio[i:i + step].tobytes()):
                t_ms += 10
                if mww.process_streaming(f) and t_ms - last >= REFRACTORY_MS:
                    detections += 1
                    last = t_ms
        path = Path(str(mww.tflite_model))
        config = json.loads(path.with_suffix(".json").read_text())
        try:
            arena: object = micro_arena(path.read_bytes())
        except Exception as exc:  # noqa: BLE001 - a peer model TFLite Micro cannot run
            arena = f"not measured ({type(exc).__name__})"
        rows.append({"model": model.value, "fa_per_hour": detections / hours,
                     "bytes": path.stat().st_size,
                     "arena_json": config["micro"].get("tensor_arena_size"),
                     "arena_measured": arena, "seconds": round(time.monotonic() - t0, 1)})
        mww.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_wakeword")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "wakeword.yaml")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--negative-minutes", type=float, default=60.0)
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--takes-from", type=Path, default=None,
                    help="a run folder whose synthesized takes (takes_*.npz) to reuse")
    ap.add_argument("--arms", nargs="*", default=["synthetic", "recordings"],
                    choices=["synthetic", "recordings", "backbone", "backbone_recordings"],
                    help="arms to run (none: the peer only); the backbone arms need "
                         "--backbone")
    ap.add_argument("--backbone", type=Path, default=None,
                    help="a kws train run without the word (configs/experiments/"
                         "wakeword_backbone_no_stop.yaml) for the backbone arms")
    ap.add_argument("--backbone-trainable-blocks", type=int, default=None,
                    help="override wakeword.backbone_trainable_blocks (default: the "
                         "config's)")
    args = ap.parse_args()
    if any(a.startswith("backbone") for a in args.arms) and args.backbone is None:
        ap.error("the backbone arms need --backbone RUN")
    from kws.wakeword.build import build_wakeword

    t0 = time.monotonic()
    index = index_dataset(MINI, DataConfig())
    test_stop, unheard, mine, others = real_takes(index)
    noise = load_noise(index, "test")
    minutes_pos = len(test_stop) * 2 * 2.3 / 60        # about every real take once
    pos_stream = clip_stream(test_stop, others, noise, PHRASE, minutes_pos, SNR_DB, seed=101)
    pos_unheard = clip_stream(unheard, others, noise, PHRASE, len(unheard) * 2 * 2.3 / 60,
                              SNR_DB, seed=103)
    neg_stream = clip_stream(test_stop, others, noise, PHRASE, args.negative_minutes, SNR_DB,
                             seed=102, keyword_fraction=0.0)
    print(f"streams: {len(test_stop)} real 'stop' takes of other speakers ({len(unheard)} "
          f"of speakers outside the train split) in "
          f"{minutes_pos:.0f} min among {len(others)} test-split words; negative stream "
          f"{args.negative_minutes:g} min of test-split words only; {SNR_DB:g} dB SNR "
          f"({time.monotonic() - t0:.0f} s)", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    rec_dir = args.out / f"takes_{SPEAKER}"
    rec_dir.mkdir(exist_ok=True)
    for p in mine:
        write_wav(rec_dir / p.name, read_audio(p))
    report: dict[str, object] = {}
    synth_out = args.out / "arm_synthetic"
    for arm in args.arms:
        out = args.out / f"arm_{arm}"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        source = args.takes_from or (synth_out if arm != "synthetic" else None)
        if source is not None and source.is_dir():       # reuse the synthesized takes
            for cache in source.glob("takes_*.npz"):
                shutil.copy(cache, out / cache.name)
        t1 = time.monotonic()
        with_takes = arm.endswith("recordings")
        overrides: dict[str, Any] | None = None
        if arm.startswith("backbone"):
            overrides = {"backbone": str(args.backbone)}
            if args.backbone_trainable_blocks is not None:
                overrides["backbone_trainable_blocks"] = args.backbone_trainable_blocks
        result = build_wakeword(PHRASE, out, args.config, MINI,
                                rec_dir if with_takes else None, args.epochs,
                                progress=False, spec_overrides=overrides)
        total = time.monotonic() - t1
        t2 = time.monotonic()
        figures = measure(result.model_path, {"positive": pos_stream, "unheard": pos_unheard,
                                              "negative": neg_stream})
        m = result.manifest
        report[arm] = {"stage_seconds": {k: round(v, 1) for k, v in
                                         result.stage_seconds.items()},
                       "end_to_end_seconds": round(total, 1),
                       "measure_seconds": round(time.monotonic() - t2, 1),
                       "recall": round(1 - figures["positive_frr"], 4),
                       "recall_speakers_outside_train": round(1 - figures["unheard_frr"], 4),
                       "fa_per_hour_negative_stream": round(figures["negative_fa_per_hour"], 2),
                       "fa_per_hour_positive_stream": round(figures["positive_fa_per_hour"], 2),
                       "real_stop_events": figures["positive_clips"],
                       "real_stop_events_outside_train": figures["unheard_clips"],
                       "backbone": m.get("backbone"),
                       "device_bytes": m["files"]["model_device.tflite"]["bytes"],
                       "arena_bytes": m["tensor_arena_bytes"],
                       "clip_ms": result.clip_ms,
                       "detector": m.get("detector")}
        print(f"{arm}: {json.dumps(report[arm])}", flush=True)
    if not args.skip_peer:
        t3 = time.monotonic()
        report["peer"] = peer(neg_stream[0], args.negative_minutes / 60)
        for row in report["peer"]:
            print(f"peer {row}", flush=True)
        print(f"peer total {time.monotonic() - t3:.0f} s")
    name = "report.json" if args.arms else "report_peer.json"
    (args.out / name).write_text(json.dumps(report, indent=2) + "\n")
    print(f"total {time.monotonic() - t0:.0f} s; report {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
