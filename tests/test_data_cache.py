"""kws.data.FeatureCache, ``kws prepare`` and SpeechCommandsData.features: exact features,
reuse, rebuild, bad clips."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from speech_commands_fakes import make_dataset

import kws.data.cache as cache_module
import kws.data.training as training_module
from kws.cli import main
from kws.config import FrontendConfig
from kws.data import (
    ClipSet,
    DataConfig,
    FeatureCache,
    SpeechCommandsData,
    index_dataset,
    load_split_audio,
)
from kws.data.cache import audio_digest
from kws.errors import DataError
from kws.frontend import mfcc_batch
from kws.run import SplitFeatures, split_features

WORDS = {"yes": 5, "no": 4, "bed": 3, "cat": 3}


@pytest.fixture
def dataset(tmp_path: Path, mini_dir: Path) -> Path:
    root = tmp_path / "sc"
    make_dataset(root, mini_dir, WORDS)
    return root


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Clips that went through the front end inside the cache (0 = loaded from disk)."""
    calls: list[int] = []

    def counting(audio: np.ndarray, config: FrontendConfig | None = None) -> np.ndarray:
        calls.append(audio.shape[0])
        return mfcc_batch(audio, config)

    monkeypatch.setattr(cache_module, "mfcc_batch", counting)
    return calls


def test_cached_features_equal_the_front_end_on_the_audio(dataset: Path, tmp_path: Path) -> None:
    index = index_dataset(dataset)
    cache = FeatureCache(index, cache_dir=tmp_path / "cache")
    for split in ("train", "validation", "test"):
        features, labels = cache.get(split)
        audio, want_labels = load_split_audio(index, split)
        assert features.dtype == np.int8 and features.shape == (len(audio), 49, 10)
        np.testing.assert_array_equal(features, mfcc_batch(audio))
        np.testing.assert_array_equal(labels, want_labels)
        assert labels.dtype == np.int64
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        cache.path(s).name for s in ("train", "validation", "test"))  # no temp files


def test_cache_is_reused_when_nothing_changed(dataset: Path, tmp_path: Path,
                                              counted: list[int]) -> None:
    first = FeatureCache(index_dataset(dataset), cache_dir=tmp_path / "cache")
    features, _ = first.get("train")
    assert sum(counted) == len(first.index.split("train"))
    counted.clear()
    again = FeatureCache(index_dataset(dataset), cache_dir=tmp_path / "cache")
    assert again.is_fresh("train") and again.path("train") == first.path("train")
    np.testing.assert_array_equal(again.get("train")[0], features)
    assert again.fill() == {"train": False, "validation": True, "test": True}
    assert again.fill() == {"train": False, "validation": False, "test": False}
    assert counted == [len(again.index.split("validation")), len(again.index.split("test"))]


def test_cache_is_rebuilt_when_the_front_end_changes(dataset: Path, tmp_path: Path,
                                                     counted: list[int]) -> None:
    index = index_dataset(dataset)
    base = FeatureCache(index, cache_dir=tmp_path / "cache")
    features, _ = base.get("train")
    counted.clear()
    louder = dataclasses.replace(FrontendConfig(), output_gain=(3.0,) + (8.0,) * 9)
    changed = FeatureCache(index, louder, cache_dir=tmp_path / "cache")
    assert not changed.is_fresh("train") and changed.path("train") != base.path("train")
    other, _ = changed.get("train")
    assert counted == [len(index.split("train"))]
    assert not np.array_equal(other, features)
    assert base.is_fresh("train")  # the old entry is still valid for the old config


def test_cache_is_rebuilt_when_the_file_list_changes(dataset: Path, tmp_path: Path,
                                                     mini_dir: Path, counted: list[int]) -> None:
    config = DataConfig(silence_share=0.0)
    before = FeatureCache(index_dataset(dataset, config), cache_dir=tmp_path / "cache")
    n = before.get("train")[0].shape[0]
    counted.clear()
    extra = sorted((mini_dir / "yes").glob("*.wav"))[10]
    shutil.copyfile(extra, dataset / "yes" / extra.name)  # a new training clip
    after = FeatureCache(index_dataset(dataset, config), cache_dir=tmp_path / "cache")
    assert after.path("train") != before.path("train")
    assert after.path("validation") == before.path("validation")
    assert after.get("train")[0].shape[0] == n + 1 and counted == [n + 1]
    counted.clear()
    # same names, different content (size) -> rebuilt too
    victim = after.index.split("train")[0].path
    victim.write_bytes(victim.read_bytes()[:-3200])
    resized = FeatureCache(index_dataset(dataset, config), cache_dir=tmp_path / "cache")
    assert resized.path("train") != after.path("train")
    resized.get("train")
    assert counted == [n + 1]


def test_damaged_cache_file_is_rebuilt(dataset: Path, tmp_path: Path) -> None:
    cache = FeatureCache(index_dataset(dataset), cache_dir=tmp_path / "cache")
    features, _ = cache.get("test")
    cache.path("test").write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match="unreadable.*rebuilding"):
        again, _ = cache.get("test")
    np.testing.assert_array_equal(again, features)


def _corrupt_clip(dataset: Path) -> str:
    rel = "yes/deadbeef_nohash_0.wav"
    (dataset / rel).write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(100))
    return rel


def test_unreadable_clip_is_skipped_and_listed(dataset: Path, tmp_path: Path) -> None:
    rel = _corrupt_clip(dataset)
    index = index_dataset(dataset)
    cache = FeatureCache(index, cache_dir=tmp_path / "cache")
    features, labels = cache.get("train")
    assert features.shape[0] == len(index.split("train")) - 1
    skipped = cache.skipped("train")
    assert [path for path, _ in skipped] == [rel] and "not a readable audio file" in skipped[0][1]
    assert cache.skipped("validation") == []
    with pytest.raises(DataError, match=f"1 unreadable clips in train: .*{rel}"):
        load_split_audio(index, "train")
    with pytest.warns(UserWarning, match=f"skipped 1 unreadable clips in train: .*{rel}"):
        audio, kept = load_split_audio(index, "train", skip_unreadable=True)
    np.testing.assert_array_equal(kept, labels)
    np.testing.assert_array_equal(mfcc_batch(audio), features)
    entry = cache.lookup("train")
    assert entry is not None and entry.audio_sha256 == audio_digest(audio)   # kept clips only


def test_kws_prepare_prints_counts_fills_cache_and_lists_bad_clips(
        dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rel = _corrupt_clip(dataset)
    argv = ["prepare", str(dataset), "--cache", str(tmp_path / "cache"), "--no-progress"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    # yes: 5 copied + 1 corrupt; first clip -> validation, second -> test
    assert rows["yes"] == ["4", "1", "1", "6"]
    assert rows["_unknown_"] == ["2", "2", "2", "6"]  # bed 3 + cat 3
    assert rows["_silence_"] == ["1", "1", "1", "3"]  # ceil(0.1 x n)
    assert rows["total"] == ["9", "5", "5", "19"]  # train: 8 clips + 1 silence, 1 unreadable
    assert "1 unreadable clips skipped" in out
    assert f"warning: skipped unreadable clip {rel}: " in err
    assert "train: 8 clips x 49 x 10 int8 (built, 1 unreadable skipped)" in out

    assert main(argv) == 0  # second run: cache reused, bad clip still reported
    out, err = capsys.readouterr()
    assert "train: 8 clips x 49 x 10 int8 (up to date, 1 unreadable skipped)" in out
    assert rel in err


def test_kws_prepare_bad_folder_is_a_one_line_error(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", str(tmp_path / "nope"), "--cache", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kws prepare: error:") and "does not exist" in err
    assert "\n" not in err


# --------------------------------------------------------------------------------------------
# SpeechCommandsData.features: the split features train, quantize and evaluate use
# --------------------------------------------------------------------------------------------

@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Clips that SpeechCommandsData.features sent through the front end (0 = read from the
    cache)."""
    calls: list[int] = []

    def counting(audio: np.ndarray, config: FrontendConfig | None = None) -> np.ndarray:
        calls.append(audio.shape[0])
        return mfcc_batch(audio, config)

    monkeypatch.setattr(training_module, "mfcc_batch", counting)
    return calls


def test_split_features_equal_the_front_end_and_are_read_back(
        dataset: Path, tmp_path: Path, computed: list[int]) -> None:
    """features(split) == mfcc_batch(clips(split).audio) exactly, in clips order; the first
    call computes and stores, a second call (a new instance: a new process) reads the cache
    and computes nothing."""
    frontend = FrontendConfig()
    first = SpeechCommandsData(dataset, DataConfig(), tmp_path / "cache")
    for split in ("train", "validation", "test"):
        features = first.features(split, frontend)
        clips = first.clips(split)
        assert features.dtype == np.int8 and features.shape == (len(clips), 49, 10)
        np.testing.assert_array_equal(features, mfcc_batch(clips.audio, frontend))
    assert computed == [len(first.clips(s)) for s in ("train", "validation", "test")]
    computed.clear()
    again = SpeechCommandsData(dataset, DataConfig(), tmp_path / "cache")
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(again.features(split, frontend),
                                      first.features(split, frontend))
    assert computed == []
    # what it read is FeatureCache's own entry (the one kws prepare fills)
    cache = FeatureCache(again.index, frontend, tmp_path / "cache")
    assert all(cache.is_fresh(s) for s in ("train", "validation", "test"))
    np.testing.assert_array_equal(cache.get("test")[0], again.features("test", frontend))


def test_split_features_read_what_kws_prepare_filled(dataset: Path, tmp_path: Path,
                                                     computed: list[int]) -> None:
    assert main(["prepare", str(dataset), "--cache", str(tmp_path / "cache"),
                 "--no-progress"]) == 0
    data = SpeechCommandsData(dataset, DataConfig(), tmp_path / "cache")
    features = data.features("validation", FrontendConfig())
    assert computed == []
    np.testing.assert_array_equal(features, mfcc_batch(data.clips("validation").audio))


def test_split_features_follow_the_front_end(dataset: Path, tmp_path: Path,
                                             computed: list[int]) -> None:
    """Another front-end config is another cache entry: computed, not the old one read."""
    data = SpeechCommandsData(dataset, DataConfig(), tmp_path / "cache")
    base = data.features("test", FrontendConfig())
    louder = dataclasses.replace(FrontendConfig(), output_gain=(3.0,) + (8.0,) * 9)
    computed.clear()
    other = data.features("test", louder)
    assert computed == [len(data.clips("test"))] and not np.array_equal(other, base)
    np.testing.assert_array_equal(other, mfcc_batch(data.clips("test").audio, louder))


def test_split_features_are_recomputed_when_a_clip_changes_at_the_same_size(
        dataset: Path, tmp_path: Path, computed: list[int]) -> None:
    """The key sees names and sizes; the entry's audio_sha256 sees the samples: a clip
    rewritten in place at the same size is not served stale features."""
    import soundfile as sf

    data = SpeechCommandsData(dataset, DataConfig(), tmp_path / "cache")
    before = data.features("test", FrontendConfig())
    victim = data.index.split("test")[0].path
    size = victim.stat().st_size
    samples, rate = sf.read(str(victim), dtype="int16")
    sf.write(str(victim), (samples // 4).astype(np.int16), rate, subtype="PCM_16")
    assert victim.stat().st_size == size
    computed.clear()
    again = SpeechCommandsData(dataset, DataConfig(), tmp_path / "cache")
    cache = FeatureCache(again.index, FrontendConfig(), tmp_path / "cache")
    assert cache.is_fresh("test")                       # same key: names and sizes
    features = again.features("test", FrontendConfig())
    assert computed == [len(again.clips("test"))] and not np.array_equal(features, before)
    np.testing.assert_array_equal(features, mfcc_batch(again.clips("test").audio))
    computed.clear()
    np.testing.assert_array_equal(
        SpeechCommandsData(dataset, DataConfig(), tmp_path / "cache").features(
            "test", FrontendConfig()), features)
    assert computed == []                               # the new entry is read back


def test_prepare_entries_record_the_audio_they_were_computed_from(
        dataset: Path, tmp_path: Path) -> None:
    index = index_dataset(dataset)
    cache = FeatureCache(index, cache_dir=tmp_path / "cache")
    cache.fill()
    for split in ("train", "validation", "test"):
        audio, _ = load_split_audio(index, split)
        entry = cache.lookup(split)
        assert entry is not None and entry.skipped == []
        assert entry.audio_sha256 == audio_digest(audio)


def test_split_features_refuse_an_unreadable_clip_as_clips_does(
        dataset: Path, tmp_path: Path) -> None:
    """A cache entry that skipped a bad clip has fewer rows than the split: features() does
    not use it and refuses the split the way clips() does (naming the file)."""
    rel = _corrupt_clip(dataset)
    assert main(["prepare", str(dataset), "--cache", str(tmp_path / "cache"),
                 "--no-progress"]) == 0
    data = SpeechCommandsData(dataset, DataConfig(), tmp_path / "cache")
    with pytest.raises(DataError, match=f"1 unreadable clips in train: .*{rel}"):
        data.features("train", FrontendConfig())
    assert data.features("validation", FrontendConfig()).shape[0] == len(
        data.clips("validation"))


def test_split_features_without_a_writable_cache_warn_and_compute(
        dataset: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    data = SpeechCommandsData(dataset, DataConfig(), blocker / "cache")
    with pytest.warns(UserWarning, match="cannot write cache file.*not cached"):
        features = data.features("test", FrontendConfig())
    np.testing.assert_array_equal(features, mfcc_batch(data.clips("test").audio))


def test_split_features_of_data_without_a_cache_come_from_the_front_end(
        dataset: Path, tmp_path: Path) -> None:
    """kws.run.split_features: data.features when there is one, else mfcc_batch of the
    clips (a kws.run.TrainingData without features, e.g. the tests' SmallData)."""
    data = SpeechCommandsData(dataset, DataConfig(), tmp_path / "cache")

    class ClipsOnly:
        def clips(self, split: str) -> ClipSet:
            return data.clips(split)

    assert isinstance(data, SplitFeatures) and not isinstance(ClipsOnly(), SplitFeatures)
    for source in (data, ClipsOnly()):
        np.testing.assert_array_equal(
            split_features(source, "validation", FrontendConfig()),  # type: ignore[arg-type]
            mfcc_batch(data.clips("validation").audio))


def test_kws_evaluate_of_the_shipped_model_scores_the_same_from_the_cache(
        mini_dir: Path, tmp_path: Path, computed: list[int],
        capsys: pytest.CaptureFixture[str]) -> None:
    """``kws evaluate`` of the shipped model on the mini test split: the first run computes
    and stores the split's features, the second reads them (nothing through the front end)
    and writes the same report; the README's figures (430 of 476 word clips, 478 of 524)."""
    from kws.runtime import DEFAULT_MODEL

    reports = []
    for run in ("first", "second"):
        argv = ["evaluate", str(DEFAULT_MODEL), "--data", str(mini_dir), "--split", "test",
                "--out", str(tmp_path / run), "--feature-cache", str(tmp_path / "cache")]
        assert main(argv) == 0
        capsys.readouterr()
        reports.append(json.loads((tmp_path / run / "evaluation_test.json").read_text()))
        assert computed == ([524] if run == "first" else [])
        computed.clear()
    assert [p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()] == ["test"]
    assert reports[0] == reports[1]
    report = reports[0]
    assert (report["clips"], report["word_clips"]) == (524, 476)
    assert round(report["int8"]["accuracy"] * 524) == 478
    assert round(report["int8"]["word_accuracy"] * 476) == 430
    assert report["tflite_micro"]["differing_outputs_vs_litert_optimized"] == 0
