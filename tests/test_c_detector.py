"""The C detector (firmware_export/c/kws_detector.c) against the Python detector.

Score sequences: seeded random ones (bursts of one label over low noise, random configs, ties),
crafted edge cases (exact threshold, window and suppression boundaries, a full ring, ties,
time going backwards, times near 2**31), and the real default model's scores on a stream of
mini-corpus clips. All of them are compiled into one harness (tests/c/detector_harness.c),
built with the host gcc and for a Cortex-M4 run under QEMU; each must print exactly the
detections (and errors) the Python detector gives, twice (the second run after a reset).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kws.config import DetectorConfig
from kws.detector import Detector, DetectorError, build_detector_tables
from kws.labels import LABELS

REPO = Path(__file__).resolve().parents[1]
C_DIR = REPO / "firmware_export" / "c"
HARNESS = REPO / "tests" / "c" / "detector_harness.c"
ERR_TIME = -3
"""KWS_DETECTOR_ERR_TIME in kws_detector.h."""
M4_DIR = REPO / "tests" / "c"
"""Engineer A's Cortex-M4 start-up file and linker script for qemu-system-arm -M mps2-an386."""
STRICT = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


@dataclasses.dataclass
class Case:
    """One recorded score sequence with the detector config it runs under."""

    name: str
    config: DetectorConfig
    labels: tuple[str, ...]
    times_ms: np.ndarray  # int64 (R,)
    scores: np.ndarray    # int8 (R, num_labels)


# ------------------------------------------------------------------------------------------
# The cases
# ------------------------------------------------------------------------------------------

def random_case(rng: np.random.Generator, index: int) -> Case:
    """Bursts of one label's high scores over low noise, under a random config."""
    labels = LABELS if index % 3 else ("_silence_", "_unknown_", "yes", "no", "up")
    n_labels = len(labels)
    rows = int(rng.integers(150, 500))
    gaps = rng.choice([0, 10, 20, 40, 40, 40, 60, 100, 700], size=rows)
    times = int(rng.integers(0, 3000)) + np.cumsum(gaps)
    if index % 4 == 0:   # a few discrete score levels make ties between labels common
        scores = rng.choice([-128, -64, 0, 72, 127], size=(rows, n_labels))
    else:
        scores = rng.integers(-128, -40, size=(rows, n_labels))
        for _ in range(int(rng.integers(3, 12))):
            start = int(rng.integers(0, rows))
            length = int(rng.integers(1, 30))
            scores[start:start + length, int(rng.integers(0, n_labels))] = \
                rng.integers(20, 128, size=min(length, rows - start))
    non_special = [x for x in labels if not x.startswith("_")]
    keywords: tuple[str, ...] = ()
    if rng.random() < 0.4:
        keywords = tuple(rng.choice(non_special + ["_unknown_"],
                                    size=int(rng.integers(1, 4)), replace=False).tolist())
    wake = keywords or tuple(non_special)
    per_kw = {str(k): int(rng.integers(100, 256)) for k in wake if rng.random() < 0.3}
    max_results = int(rng.choice([3, 8, 16, 64]))
    config = DetectorConfig(
        hop_frames=1, average_window_ms=int(rng.choice([1, 40, 100, 500, 1000, 3000])),
        min_count=int(rng.integers(1, min(5, max_results) + 1)),
        threshold=int(rng.integers(90, 256)), keyword_thresholds=per_kw,
        suppression_ms=int(rng.choice([0, 40, 500, 1500])), keywords=keywords,
        max_results=max_results)
    return Case(f"random{index}", config, tuple(labels), times.astype(np.int64),
                scores.astype(np.int8))


def _rows(*rows: list[int]) -> np.ndarray:
    return np.array(rows, dtype=np.int8)


def crafted_cases() -> list[Case]:
    """Edge cases, each with 3 labels (a, b = wake words, _silence_)."""
    labels = ("a", "b", "_silence_")
    base = DetectorConfig(hop_frames=1, average_window_ms=100, min_count=1, threshold=200,
                          suppression_ms=0, max_results=8)
    out = []

    def add(name: str, times: list[int], scores: np.ndarray, **changes: object) -> None:
        out.append(Case(name, dataclasses.replace(base, **changes), labels,
                        np.array(times, dtype=np.int64), scores))

    # uint8 200 = int8 72, 199 = 71
    add("exact_threshold", [0, 10, 20], _rows([72, -128, -128], [71, -128, -128],
                                              [72, -128, -128]), average_window_ms=1)
    add("tie_lowest_index_wins", [0, 1, 2], _rows([100, 100, -128], [-128, -128, 127],
                                                  [127, 127, 127]))
    add("non_wake_label_never_fires", [0, 10, 20], _rows([-128, -128, 127]).repeat(3, 0),
        threshold=1)
    add("threshold_zero_min_count_one", [0, 5, 5, 5], _rows(*[[-128, -128, -128]] * 4),
        threshold=0)
    # window boundary: rows 40 ms apart, window 80: a row exactly 80 ms old is evicted
    add("window_boundary", [0, 40, 80, 120, 160],
        _rows([127, -128, -128], [-128, -128, -128], [127, -128, -128], [127, -128, -128],
              [127, -128, -128]), average_window_ms=80, min_count=2, threshold=190)
    # suppression boundary: exactly suppression_ms later fires again
    add("suppression_boundary", [0, 499, 500, 999, 1000, 1001], _rows(*[[127, -128, -128]] * 6),
        suppression_ms=500, threshold=250)
    # ring full: window holds 10 s, ring 4 rows: the oldest row is dropped on overflow
    add("ring_full", list(range(0, 200, 10)),
        np.array([[127 if i < 4 else -128, -128 if i < 4 else 127, -128] for i in range(20)],
                 dtype=np.int8), average_window_ms=10000, max_results=4, min_count=4,
        threshold=128)
    # time going back is an error and changes nothing; equal times are fine
    add("time_goes_back", [100, 100, 99, 120, 50, 130],
        _rows(*[[127, -128, -128]] * 6), min_count=2, suppression_ms=1000)
    add("times_near_int32_max", [2**31 - 100, 2**31 - 60, 2**31 - 2, 2**31 - 1, 2**31 - 1],
        _rows(*[[127, 127, -128]] * 5), min_count=2, suppression_ms=50, average_window_ms=1000)
    add("largest_sums", list(range(0, 640, 10)), _rows(*[[127, 127, 127]] * 64),
        average_window_ms=100000, max_results=64, min_count=64, threshold=255)
    add("per_keyword_threshold", [0, 10, 20, 30],
        _rows([50, 60, -128], [50, 60, -128], [60, 50, -128], [60, 50, -128]),
        keyword_thresholds={"b": 250}, threshold=170, min_count=1, average_window_ms=1)
    add("keywords_subset", [0, 10, 20], _rows(*[[127, 100, -128]] * 3), keywords=("b",))
    return out


def stream_case() -> Case:
    """The real default model's scores on a stream of mini-corpus clips over noise."""
    import soundfile as sf
    from conftest import MINI, mini_clips

    from kws.runtime import KwsModel
    from kws.stream import score_audio

    model = KwsModel.default()
    rng = np.random.default_rng(7)
    clips = mini_clips()
    keyword_clips = [p for p in clips if p.parent.name in LABELS]
    picks = [keyword_clips[i] for i in rng.choice(len(keyword_clips), 24, replace=False)]
    noise, _ = sf.read(str(MINI / "_background_noise_" / "white_noise.wav"), dtype="int16")
    parts = []
    for path in picks:
        data, _ = sf.read(str(path), dtype="int16")
        parts += [data, (noise[: int(rng.integers(4000, 16000))] // 16).astype(np.int16)]
    audio = np.concatenate(parts)
    config = model.detector_config
    times, scores = score_audio(model, audio, model.frontend_config, config.hop_frames)
    return Case("default_model_stream", config, tuple(model.labels), times, scores)


# ------------------------------------------------------------------------------------------
# Python expectation, C source of the cases, build and run
# ------------------------------------------------------------------------------------------

def python_lines(case: Case, index: int) -> list[str]:
    """What the harness must print for one run of ``case`` (see detector_harness.c)."""
    detector = Detector(case.config, case.labels)
    lines, found, errors = [f"case {index} run 0"], 0, 0
    for row, (time_ms, scores) in enumerate(zip(case.times_ms.tolist(), case.scores,
                                                strict=True)):
        try:
            hit = detector.update(scores, time_ms)
        except DetectorError:
            lines.append(f"E {row} {ERR_TIME}")
            errors += 1
            continue
        if hit is not None:
            lines.append(f"D {row} {case.labels.index(hit.label)} {hit.time_ms} {hit.score}")
            found += 1
    lines.append(f"end {index} {found} {errors}")
    return lines


def cases_header(cases: list[Case]) -> str:
    """detector_cases.h: every case's integer detector tables and score sequence as C data."""
    out = ['#include "kws_detector.h"', "",
           "typedef struct {", "  KwsDetectorConfig config;", "  int32_t num_results;",
           "  const int32_t *times_ms;", "  const int8_t *scores;", "} DetectorCase;", ""]
    entries = []
    for i, case in enumerate(cases):
        t = build_detector_tables(case.config, case.labels)
        ints = ", ".join
        out.append(f"static const int32_t kThresholds{i}[] = "
                   f"{{{ints(str(v) for v in t.thresholds)}}};")
        out.append(f"static const int32_t kWake{i}[] = {{{ints(str(v) for v in t.wake)}}};")
        out.append(f"static const int32_t kTimes{i}[] = "
                   f"{{{ints(str(v) for v in case.times_ms.tolist())}}};")
        out.append(f"static const int8_t kScores{i}[] = "
                   f"{{{ints(str(v) for v in case.scores.ravel().tolist())}}};")
        entries.append(f"  {{{{{len(case.labels)}, kThresholds{i}, kWake{i}, {t.wake.size}, "
                       f"{t.average_window_ms}, {t.min_count}, {t.suppression_ms}, "
                       f"{t.max_results}}}, {case.times_ms.size}, kTimes{i}, kScores{i}}},")
    out += [f"#define NUM_DETECTOR_CASES {len(cases)}",
            "static const DetectorCase kDetectorCases[NUM_DETECTOR_CASES] = {", *entries, "};"]
    return "\n".join(out) + "\n"


def expected_output(cases: list[Case]) -> list[str]:
    lines = []
    for i, case in enumerate(cases):
        run = python_lines(case, i)
        lines += run + [run[0].replace("run 0", "run 1"), *run[1:]]
    lines += ["init ok 0", "init too_many_results -2", "init too_many_labels -2",
              "init min_count_above_max -1", "init wake_unsorted -1", "init zero_window -1",
              "init null_config -1", f"init negative_time {ERR_TIME}", "done"]
    return lines


@pytest.fixture(scope="module")
def model_case() -> Case:
    """The default model's scores on a stream (see stream_case)."""
    from kws.runtime import DEFAULT_MODEL

    if not DEFAULT_MODEL.is_file():
        pytest.fail(f"the shipped default model {DEFAULT_MODEL} is missing")
    return stream_case()


@pytest.fixture(scope="module")
def cases(model_case: Case) -> list[Case]:
    rng = np.random.default_rng(20261127)
    return [random_case(rng, i) for i in range(40)] + crafted_cases() + [model_case]


def build_dir(tmp_path: Path, cases: list[Case]) -> Path:
    (tmp_path / "detector_cases.h").write_text(cases_header(cases))
    return tmp_path


def check_output(stdout: str, cases: list[Case]) -> None:
    got = stdout.replace("\r\n", "\n").strip().splitlines()
    want = expected_output(cases)
    assert sum(1 for x in want if x.startswith("D ")) > 100, "cases must detect something"
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        assert g == w, f"line {i}: C printed {g!r}, Python expects {w!r}"
    assert len(got) == len(want)


# ------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------

def test_crafted_cases_mean_what_they_say() -> None:
    """The crafted cases hit the edges they are named for (checked on the Python twin)."""
    by_name = {c.name: c for c in crafted_cases()}
    lines = {name: python_lines(case, 0) for name, case in by_name.items()}
    assert lines["exact_threshold"][1:3] == ["D 0 0 0 200", "D 2 0 20 200"]
    assert lines["tie_lowest_index_wins"][1] == "D 0 0 0 228"
    assert lines["non_wake_label_never_fires"][-1] == "end 0 0 0"
    assert lines["suppression_boundary"][1:-1] == ["D 0 0 0 255", "D 2 0 500 255",
                                                   "D 4 0 1000 255"]
    assert lines["time_goes_back"][1:-1] == ["D 1 0 100 255", "E 2 -3", "E 4 -3"]
    assert lines["per_keyword_threshold"][1:-1] == ["D 2 0 20 188", "D 3 0 30 188"]
    assert lines["keywords_subset"][1] == "D 0 1 0 228"
    assert lines["threshold_zero_min_count_one"][1:-1] == ["D 0 0 0 0", "D 1 0 5 0",
                                                           "D 2 0 5 0", "D 3 0 5 0"]
    assert lines["window_boundary"][1:-1] == ["D 3 0 120 255", "D 4 0 160 255"]
    # the fifth row pushes the first out of the 4-row ring: a = 3 * 255 / 4, then b wins
    assert lines["ring_full"][1:4] == ["D 3 0 30 255", "D 4 0 40 191", "D 6 1 60 191"]
    assert lines["largest_sums"][1:] == ["D 63 0 630 255", "end 0 1 0"]
    assert lines["times_near_int32_max"][1:-1] == ["D 1 0 2147483588 255",
                                                   "D 2 0 2147483646 255"]


def test_c_detector_equals_python_on_host(tmp_path: Path, cases: list[Case]) -> None:
    exe = tmp_path / "harness"
    build_dir(tmp_path, cases)
    subprocess.run(["gcc", *STRICT, f"-I{C_DIR}", f"-I{tmp_path}", str(HARNESS),
                    str(C_DIR / "kws_detector.c"), "-o", str(exe)], check=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=60)
    check_output(run.stdout, cases)


def test_default_model_stream_wakes_the_detector(model_case: Case) -> None:
    """The recorded default-model case is in ``cases`` (host and QEMU runs) and not empty."""
    assert model_case.times_ms.size > 500
    found = python_lines(model_case, 0)
    assert sum(x.startswith("D ") for x in found) >= 5, "the stream should wake the detector"


def test_c_detector_equals_python_on_cortex_m4_under_qemu(tmp_path: Path,
                                                           cases: list[Case]) -> None:
    """The same harness built for a Cortex-M4F (hard float ABI) and run under QEMU."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required for the Cortex-M4 check")
    build_dir(tmp_path, cases)
    elf = tmp_path / "harness.elf"
    subprocess.run(["arm-none-eabi-gcc", *M4_FLAGS, *STRICT, "--specs=rdimon.specs",
                    "-nostartfiles", "-T", str(M4_DIR / "mps2_an386.ld"), f"-I{C_DIR}",
                    f"-I{tmp_path}", str(M4_DIR / "m4_startup.c"), str(HARNESS),
                    str(C_DIR / "kws_detector.c"), "-Wl,--gc-sections", "-o", str(elf)],
                   check=True)
    run = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor",
                          "none", "-semihosting-config", "enable=on,target=native", "-kernel",
                          str(elf)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    check_output(run.stdout, cases)


def test_harness_catches_a_wrong_detector(tmp_path: Path, cases: list[Case]) -> None:
    """The comparison can fail: a detector whose tie-break prefers the last label differs."""
    broken = (C_DIR / "kws_detector.c").read_text().replace("if (avg > best_avg)",
                                                           "if (avg >= best_avg)")
    assert broken != (C_DIR / "kws_detector.c").read_text()
    (tmp_path / "kws_detector.c").write_text(broken)
    build_dir(tmp_path, cases)
    exe = tmp_path / "harness"
    subprocess.run(["gcc", *STRICT, f"-I{C_DIR}", f"-I{tmp_path}", str(HARNESS),
                    str(tmp_path / "kws_detector.c"), "-o", str(exe)], check=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=60)
    with pytest.raises(AssertionError, match="line"):
        check_output(run.stdout, cases)


def test_detector_header_has_the_python_constants() -> None:
    from kws import detector as py

    header = (C_DIR / "kws_detector.h").read_text()
    consts = dict(re.findall(r"#define (KWS_DETECTOR_\w+) \(?(-?\d+)\)?", header))
    assert int(consts["KWS_DETECTOR_SCORE_OFFSET"]) == py.SCORE_OFFSET
    assert int(consts["KWS_DETECTOR_NEVER"]) == py.NEVER
