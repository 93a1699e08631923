"""kws.data index and splits: counts on the mini corpus, speakers, the hash rule, shares."""

from __future__ import annotations

import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from speech_commands_fakes import make_dataset

from kws.cli import main
from kws.data import DataConfig, DatasetIndex, index_dataset, load_split_audio, read_clip, which_set
from kws.data.splits import hash_percentage, speaker_of
from kws.errors import DataError

TEN_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
CLASS_NAMES = (*TEN_WORDS, "_silence_", "_unknown_")
SPLIT_NAMES = ("train", "validation", "test")


def expected_counts(mini: Path) -> dict[str, Counter]:
    """Clips per class and split, computed from the list files and folder names alone."""
    validation = set((mini / "validation_list.txt").read_text().split())
    testing = set((mini / "testing_list.txt").read_text().split())
    counts: dict[str, Counter] = {s: Counter() for s in SPLIT_NAMES}
    for path in mini.glob("*/*.wav"):
        word = path.parent.name
        if word == "_background_noise_":
            continue
        rel = f"{word}/{path.name}"
        split = "validation" if rel in validation else "test" if rel in testing else "train"
        counts[split][word if word in TEN_WORDS else "_unknown_"] += 1
    return counts


@pytest.fixture(scope="module")
def mini_index(mini_dir: Path) -> DatasetIndex:
    return index_dataset(mini_dir, DataConfig())


def test_mini_corpus_counts_per_class_and_split(mini_dir: Path, mini_index: DatasetIndex) -> None:
    expected = expected_counts(mini_dir)
    assert {s: sum(c.values()) for s, c in expected.items()} == {
        "train": 1675, "validation": 503, "test": 476}
    assert mini_index.split_source == "lists"
    for split in SPLIT_NAMES:
        got = mini_index.class_counts(split)
        want = [expected[split][name] for name in CLASS_NAMES]
        want[CLASS_NAMES.index("_silence_")] = got[CLASS_NAMES.index("_silence_")]
        assert got.tolist() == want, split
        words = int(got.sum() - got[CLASS_NAMES.index("_silence_")])
        assert words == sum(expected[split].values())
        # silence: 10 % of the split's word clips, rounded up
        assert got[CLASS_NAMES.index("_silence_")] == math.ceil(0.1 * words)
    assert [int(mini_index.class_counts(s).sum()) for s in SPLIT_NAMES] == [
        1675 + 168, 503 + 51, 476 + 48]


def test_every_clip_once_and_no_speaker_in_two_splits(mini_index: DatasetIndex) -> None:
    words = [c.path for s in SPLIT_NAMES for c in mini_index.split(s) if c.label_id != 10]
    assert len(words) == len(set(words)) == 2654
    speakers = {s: mini_index.speakers(s) for s in SPLIT_NAMES}
    assert [len(speakers[s]) for s in SPLIT_NAMES] == [92, 24, 23]
    assert sum(len(v) for v in speakers.values()) == 139  # = the corpus's speaker count
    assert not speakers["train"] & speakers["validation"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["validation"] & speakers["test"]


def test_hash_rule_pinned_values_and_speaker_only() -> None:
    assert speaker_of("bed/0ea0e2f4_nohash_1.wav") == "0ea0e2f4"
    assert hash_percentage("0ea0e2f4_nohash_1.wav") == pytest.approx(18.730742623886037,
                                                                     abs=1e-12)
    assert which_set("bed/0ea0e2f4_nohash_1.wav", 10, 10) == "test"
    assert which_set("0ea0e2f4_nohash_1.wav", 10, 10) == "test"
    assert which_set("0ea0e2f4_nohash_1.wav", 20, 10) == "validation"
    assert which_set("0ea0e2f4_nohash_1.wav", 5, 5) == "train"
    # every clip of a speaker, in any word folder, lands in the same split (a name without
    # "_nohash_" is its own speaker: the whole file name is hashed)
    assert speaker_of("0ea0e2f4.wav") == "0ea0e2f4.wav"
    for name in ["yes/0ea0e2f4_nohash_0.wav", "go/0ea0e2f4_nohash_4.wav"]:
        assert which_set(name, 10, 10) == "test"


def test_hash_rule_gives_80_10_10_and_is_deterministic() -> None:
    rng = np.random.default_rng(1234)
    names = [f"{int(v):08x}_nohash_0.wav" for v in rng.integers(0, 2**32, size=20000)]
    first = [which_set(n, 10.0, 10.0) for n in names]
    assert first == [which_set(n, 10.0, 10.0) for n in names]
    shares = {s: first.count(s) / len(names) for s in SPLIT_NAMES}
    assert shares["train"] == pytest.approx(0.80, abs=0.01)
    assert shares["validation"] == pytest.approx(0.10, abs=0.01)
    assert shares["test"] == pytest.approx(0.10, abs=0.01)


def test_mini_corpus_speakers_all_hash_to_testing(mini_dir: Path) -> None:
    # A fact about the data that explains why its list files must be used: the mini corpus
    # was drawn from speakers the hash rule puts in "testing" (10..20 %), so without the
    # lists it would be all test and no train.
    percentages = [hash_percentage(p) for p in mini_dir.glob("*/*_nohash_*.wav")]
    assert len(percentages) == 2654
    assert 10 <= min(percentages) and max(percentages) < 20


def test_hash_rule_is_used_without_list_files(tmp_path: Path, mini_dir: Path) -> None:
    rels = make_dataset(tmp_path, mini_dir, {"yes": 3, "cat": 2}, lists=False)
    index = index_dataset(tmp_path, DataConfig(silence_share=0.0))
    assert index.split_source == "hash"
    placed = {index.relative(c): s for s in SPLIT_NAMES for c in index.split(s)}
    assert placed == {rel: which_set(rel, 10.0, 10.0) for rel in rels}


def test_unknown_share_samples_reproducibly(mini_dir: Path, mini_index: DatasetIndex) -> None:
    config = DataConfig(unknown_share=0.05)
    a, b = index_dataset(mini_dir, config), index_dataset(mini_dir, config)
    other = index_dataset(mini_dir, DataConfig(unknown_share=0.05, seed=1))
    for split in SPLIT_NAMES:
        full = mini_index.class_counts(split)
        counts = a.class_counts(split)
        keywords = int(full[:10].sum())
        assert counts[:10].tolist() == full[:10].tolist()
        assert counts[11] == min(int(full[11]), math.ceil(0.05 * keywords))
        assert a.split(split) == b.split(split)
        unknown = {c.path for c in a.split(split) if c.label_id == 11}
        assert unknown <= {c.path for c in mini_index.split(split) if c.label_id == 11}
    assert any(a.split(s) != other.split(s) for s in SPLIT_NAMES)


def test_silence_clips_are_cut_from_their_split_region(mini_index: DatasetIndex) -> None:
    regions = {s: {r.path: r for r in mini_index.noise[s]} for s in SPLIT_NAMES}
    for path, train in regions["train"].items():
        validation, test = regions["validation"][path], regions["test"][path]
        # each recording is divided 80/10/10, in time, without overlap
        assert train.start == 0 and train.stop == validation.start
        assert validation.stop == test.start
        assert sf.info(str(path)).frames == test.stop
        assert (validation.stop - validation.start) == pytest.approx(0.1 * test.stop, abs=1)
    for split in SPLIT_NAMES:
        silence = [c for c in mini_index.split(split) if c.label_id == 10]
        assert silence
        for clip in silence:
            region = regions[split][clip.path]
            assert region.start <= clip.start and clip.start + 16000 <= region.stop
            assert 0.0 <= clip.volume <= 1.0
    clip = next(c for c in mini_index.split("test") if c.label_id == 10)
    raw, _ = sf.read(str(clip.path), dtype="int16", start=clip.start, frames=16000)
    want = np.clip(np.rint(raw * np.float32(clip.volume)), -32768, 32767).astype(np.int16)
    np.testing.assert_array_equal(read_clip(clip), want)


def test_load_split_audio_is_the_files_in_index_order(tmp_path: Path, mini_dir: Path) -> None:
    make_dataset(tmp_path, mini_dir, {"yes": 3, "bed": 3})
    index = index_dataset(tmp_path, DataConfig(silence_share=0.0))
    audio, labels = load_split_audio(index, "train")
    assert audio.dtype == np.int16 and audio.shape == (2, 16000)
    assert labels.dtype == np.int64 and labels.tolist() == [11, 0]  # bed/..., yes/...
    for row, clip in zip(audio, index.split("train"), strict=True):
        raw, _ = sf.read(str(clip.path), dtype="int16")
        np.testing.assert_array_equal(row[:raw.size], raw)


def test_short_clip_is_zero_padded(tmp_path: Path) -> None:
    (tmp_path / "yes").mkdir()
    sf.write(str(tmp_path / "yes" / "a_nohash_0.wav"), np.full(1000, 7, np.int16), 16000,
             subtype="PCM_16")
    index = index_dataset(tmp_path, DataConfig(silence_share=0.0))
    (clip,) = [c for s in SPLIT_NAMES for c in index.split(s)]
    out = read_clip(clip)
    assert out.shape == (16000,) and out[:1000].tolist() == [7] * 1000 and not out[1000:].any()


def test_bad_dataset_folders_are_one_line_errors(tmp_path: Path, mini_dir: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        index_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no <word>/\\*.wav clips"):
        index_dataset(tmp_path / "empty")

    root = tmp_path / "one_list"
    make_dataset(root, mini_dir, {"yes": 3})
    (root / "testing_list.txt").unlink()
    with pytest.raises(DataError, match="has validation_list.txt but not testing_list.txt"):
        index_dataset(root)

    root = tmp_path / "missing_clip"
    make_dataset(root, mini_dir, {"yes": 3})
    with open(root / "testing_list.txt", "a") as fh:
        fh.write("no/ffffffff_nohash_0.wav\n")
    with pytest.raises(DataError, match="names 1 clips that are not in .* no/ffffffff"):
        index_dataset(root)

    root = tmp_path / "twice"
    rels = make_dataset(root, mini_dir, {"yes": 3})
    (root / "testing_list.txt").write_text(rels[0] + "\n")
    with pytest.raises(DataError, match=f"{rels[0]} is listed in both"):
        index_dataset(root)

    root = tmp_path / "no_noise"
    make_dataset(root, mini_dir, {"yes": 3}, noise_seconds=0)
    with pytest.raises(DataError, match="silence_share: 0"):
        index_dataset(root)
    assert index_dataset(root, DataConfig(silence_share=0.0)).class_counts("train")[10] == 0

    index = index_dataset(root, DataConfig(silence_share=0.0))
    with pytest.raises(DataError, match="unknown split 'training'"):
        index.split("training")


def _outside_wav(tmp_path: Path, mini_dir: Path) -> Path:
    """A folder outside the dataset holding one real clip."""
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(sorted((mini_dir / "yes").glob("*.wav"))[0], outside / "secret.wav")
    return outside


@pytest.mark.parametrize("where", ["word_folder", "clip", "noise_folder", "noise_clip",
                                   "list_file"])
def test_links_leading_outside_the_dataset_are_refused(where: str, tmp_path: Path,
                                                       mini_dir: Path) -> None:
    outside = _outside_wav(tmp_path, mini_dir)
    root = tmp_path / "ds"
    make_dataset(root, mini_dir, {"yes": 3, "no": 3})
    link = {"word_folder": root / "p11", "clip": root / "yes" / "x_nohash_0.wav",
            "noise_folder": root / "_background_noise_",
            "noise_clip": root / "_background_noise_" / "far.wav",
            "list_file": root / "testing_list.txt"}[where]
    if where == "noise_folder":
        shutil.rmtree(link)
    if where == "list_file":
        link.unlink()
    target = {"word_folder": outside, "noise_folder": outside,
              "list_file": outside / "secret.wav"}.get(where, outside / "secret.wav")
    link.symlink_to(target)
    with pytest.raises(DataError, match=f"{link} leads to {target}, outside the dataset "
                                        f"folder {root}"):
        index_dataset(root)


def test_links_inside_the_dataset_are_indexed(tmp_path: Path, mini_dir: Path) -> None:
    root = tmp_path / "ds"
    rels = make_dataset(root, mini_dir, {"yes": 3, "no": 3})
    (root / "yes" / "alias_nohash_0.wav").symlink_to(Path("..") / rels[-1])
    link_root = tmp_path / "ds_link"  # the dataset folder itself may be a link
    link_root.symlink_to(root)
    index = index_dataset(link_root, DataConfig(silence_share=0.0))
    assert "yes/alias_nohash_0.wav" in {index.relative(c) for s in SPLIT_NAMES
                                        for c in index.split(s)}


def test_kws_prepare_refuses_a_clip_link_leading_outside(tmp_path: Path, mini_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    outside = _outside_wav(tmp_path, mini_dir)
    root = tmp_path / "ds"
    make_dataset(root, mini_dir, {"yes": 3})
    (root / "p11").symlink_to(outside)
    cache = tmp_path / "cache"
    assert main(["prepare", str(root), "--cache", str(cache), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kws prepare: error:") and "outside the dataset" in err
    assert "\n" not in err
    assert not cache.exists()


@pytest.mark.parametrize(("validation", "testing", "message"), [
    ("", "all", "the train and validation splits have no word clips"),
    ("", "first", "the validation split has no word clips"),
    ("rest", "first", "the train split has no word clips"),
])
def test_kws_prepare_refuses_an_empty_train_or_validation_split(
        validation: str, testing: str, message: str, tmp_path: Path, mini_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "ds"
    rels = make_dataset(root, mini_dir, {"yes": 3, "no": 3})
    test_rels = rels if testing == "all" else rels[:1]
    (root / "testing_list.txt").write_text("".join(f"{r}\n" for r in test_rels))
    (root / "validation_list.txt").write_text(
        "".join(f"{r}\n" for r in rels[1:]) if validation == "rest" else "")
    cache = tmp_path / "cache"
    assert main(["prepare", str(root), "--cache", str(cache), "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("kws prepare: error:") and message in err
    assert "\n" not in err.strip() and out == ""
    assert not cache.exists()  # refused before any feature was computed


def test_kws_prepare_warns_about_an_empty_test_split(tmp_path: Path, mini_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "ds"
    rels = make_dataset(root, mini_dir, {"yes": 3})
    (root / "testing_list.txt").write_text("")
    (root / "validation_list.txt").write_text(rels[0] + "\n")
    argv = ["prepare", str(root), "--cache", str(tmp_path / "cache"), "--no-progress"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "the test split has no word clips" in err
