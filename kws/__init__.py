"""kws: keyword spotting that fits on a microcontroller.

Table of contents (one pipeline, used the same way in training, on the laptop and on the board):

- kws.audio       any WAV/FLAC/OGG -> int16 16 kHz mono
- kws.frontend    fixed-point MFCC (numpy; C twin in firmware_export/c), 49 x 10 int8 per second
- kws.data        Speech Commands: index, splits, one augmentation pipeline, stream windows,
                  streams with their truth, feature cache
- kws.model       DS-CNN from configs; kws.train, kws.quantize (need TensorFlow)
- kws.runtime     load a self-describing int8 .tflite (LiteRT; TFLite Micro for equality)
- kws.detector    streaming posterior smoothing, threshold, suppression (C twin too)
- kws.stream      audio -> front end -> classifier every hop -> detector; kws.listen on top
- kws.stream_eval false accepts per hour, false rejects, delays, DET sweeps on streams
- kws.tuning      the detector tuned on streams of a split the model never heard, per hop;
                  kws.mining: hard negatives from training-split streams
- kws.cli         the ``kws`` command

Importing ``kws`` loads nothing heavy; TensorFlow is imported only by training and quantizing.
"""

from kws.config import DetectorConfig, FrontendConfig
from kws.errors import KwsError

__version__ = "0.1.0"
__all__ = ["DetectorConfig", "FrontendConfig", "KwsError", "__version__"]
