"""Speech Commands for the 12-class KWS task: index, splits, augmentation, feature cache.

- :func:`index_dataset`: folder in the original layout -> :class:`DatasetIndex`
  (per split, :class:`Clip` (path, label_id, start, volume); labels from kws.labels)
- :func:`load_split_audio`: a split as int16 (N, 16000) audio + int64 (N,) labels
- :func:`load_noise`, :class:`Augmenter`, :func:`epoch_rng`: seeded int16 -> int16
  augmentation (time shift, gain, background noise)
- :class:`FeatureCache`: clean int8 (N, 49, 10) features per split, cached on disk
- :class:`DataConfig`: the YAML section ``data:`` (configs/data.yaml)

_unknown_ clips: ``DataConfig.unknown_share: null`` (the default) keeps every non-keyword
clip, since the mini corpus has only 231 (~9 % of its clips); weight or sample the classes
in training (``index.class_counts(split)``). MLPerf Tiny / TensorFlow keep
ceil(0.1 x keyword clips) per split (``unknown_share: 0.1``), sensible for the full dataset
where unknown words are ~60 % of the clips.

Usage (training)::

    import numpy as np

    from kws.config import FrontendConfig, load_section
    from kws.data import (Augmenter, DataConfig, FeatureCache, epoch_rng, index_dataset,
                          load_noise, load_split_audio)
    from kws.frontend import mfcc_batch

    data_config = load_section(DataConfig, "configs/data.yaml", "data")
    index = index_dataset("speech_commands_v0.02", data_config)
    cache = FeatureCache(index, FrontendConfig(), progress=True)
    x_val, y_val = cache.get("validation")        # int8 (N, 49, 10), int64 (N,)

    audio, labels = load_split_audio(index, "train")   # int16 (N, 16000), int64 (N,)
    augmenter = Augmenter(data_config, load_noise(index, "train"))
    for epoch in range(epochs):
        rng = epoch_rng(data_config, epoch)
        order = rng.permutation(len(labels))
        for batch in np.array_split(order, len(order) // 256):
            x = mfcc_batch(augmenter.augment(audio[batch], rng))   # int8 (B, 49, 10)
            y = labels[batch]
"""

from kws.data.augment import Augmenter, epoch_rng
from kws.data.cache import FeatureCache, default_cache_dir
from kws.data.clips import load_noise, load_split_audio, read_clip
from kws.data.config import DataConfig
from kws.data.index import CLIP_SAMPLES, Clip, DatasetIndex, index_dataset
from kws.data.splits import SPLITS, which_set

__all__ = ["CLIP_SAMPLES", "SPLITS", "Augmenter", "Clip", "DataConfig", "DatasetIndex",
           "FeatureCache", "default_cache_dir", "epoch_rng", "index_dataset", "load_noise",
           "load_split_audio", "read_clip", "which_set"]
