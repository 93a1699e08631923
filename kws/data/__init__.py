"""Speech Commands for the 12-class KWS task: index, splits, augmentation, feature cache.

- :func:`index_dataset`: folder in the original layout -> :class:`DatasetIndex`
  (per split, :class:`Clip` (path, label_id, start, volume); labels from kws.labels)
- :func:`load_split_audio`: a split as int16 (N, 16000) audio + int64 (N,) labels
- :class:`Augmenter`, :func:`example_rng`: the one seeded int16 -> int16 augmentation
  pipeline (speed, equalizer, room, gain, time shift, background noise from
  :func:`load_noise`); :func:`spec_augment`, :func:`mixup` on an epoch's features
- :class:`WindowMaker` (kws.data.windows): 1-s stream windows over words laid end to end,
  labelled by the share of each word inside
- :class:`SpeechCommandsData` (kws.data.training): every training example of an epoch
  (clips, stream windows, mined negatives), what kws.train trains on; ``features(split,
  frontend)``: the clean int8 (N, 49, 10) features of ``clips(split)``, through the cache
- :class:`FeatureCache`: clean int8 (N, 49, 10) features per split, cached on disk (filled
  by ``kws prepare``, read by train, quantize and evaluate through ``features``)
- :class:`DataConfig`: the YAML section ``data:`` (configs/data.yaml)

_unknown_ clips: ``DataConfig.unknown_share: null`` (the default) keeps every non-keyword
clip, since the mini corpus has only 231 (~9 % of its clips); weight or sample the classes
in training (``index.class_counts(split)``). MLPerf Tiny / TensorFlow keep
ceil(0.1 x keyword clips) per split (``unknown_share: 0.1``), sensible for the full dataset
where unknown words are ~60 % of the clips.

Usage (training)::

    import numpy as np

    from kws.config import FrontendConfig, load_section
    from kws.data import (Augmenter, DataConfig, FeatureCache, SpeechCommandsData,
                          index_dataset, load_noise, load_split_audio)
    from kws.frontend import mfcc_batch

    data_config = load_section(DataConfig, "configs/data.yaml", "data")
    index = index_dataset("speech_commands_v0.02", data_config)
    cache = FeatureCache(index, FrontendConfig(), progress=True)
    x_val, y_val = cache.get("validation")        # int8 (N, 49, 10), int64 (N,)

    audio, labels = load_split_audio(index, "train")   # int16 (N, 16000), int64 (N,)
    augmenter = Augmenter(data_config, load_noise(index, "train"))
    for epoch in range(epochs):
        x = mfcc_batch(augmenter.augment(audio, seed=0, epoch=epoch))   # int8 (N, 49, 10)

    data = SpeechCommandsData("speech_commands_v0.02", data_config)
    examples = data.epoch_examples(("train",), seed=0, epoch=0)   # clips + windows + negatives
    x_val = data.features("validation", FrontendConfig())  # int8 (N, 49, 10), from the cache
"""

from kws.data.augment import Augmenter, example_rng, mixup, spec_augment
from kws.data.cache import FeatureCache, default_cache_dir
from kws.data.clips import load_noise, load_split_audio, read_clip
from kws.data.config import DataConfig
from kws.data.index import CLIP_SAMPLES, Clip, DatasetIndex, index_dataset
from kws.data.splits import ALL_SPLITS, SPLITS, TUNING, which_set
from kws.data.training import ClipSet, SpeechCommandsData
from kws.data.windows import WindowMaker

__all__ = ["ALL_SPLITS", "CLIP_SAMPLES", "SPLITS", "TUNING", "Augmenter", "Clip", "ClipSet",
           "DataConfig", "DatasetIndex", "FeatureCache", "SpeechCommandsData", "WindowMaker",
           "default_cache_dir", "example_rng", "index_dataset", "load_noise",
           "load_split_audio", "mixup", "read_clip", "spec_augment", "which_set"]
