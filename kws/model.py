"""The DS-CNN keyword-spotting model (Keras), built from a :class:`kws.config.ModelConfig`.

    features (frames, coeffs, 1), the front end's int8 codes as float32 values -128..127
      -> Conv2D stem (stem_filters, stem_kernel, stem_stride) + BN + ReLU (+ dropout)
      -> for each block of config.blocks:
           DepthwiseConv2D (kernel, stride) + BN + ReLU, Conv2D 1x1 (filters) + BN + ReLU
      -> dropout -> average pool over the whole map -> 1x1 conv to 12 logits -> softmax

The defaults (configs/ds_cnn_s.yaml) are the MLPerf Tiny DS-CNN; configs/ds_cnn_m.yaml and
configs/ds_cnn_l.yaml are Hello Edge's M and L, configs/ds_cnn_tiny.yaml is a toy for CI.
There is no input rescaling layer: the batch normalization after the stem absorbs the scale
of the codes, so the int8 model's input quantization is the identity (scale 1, zero point 0)
and the board feeds the front end's codes straight in. The ops (CONV_2D, DEPTHWISE_CONV_2D,
AVERAGE_POOL_2D, RESHAPE, SOFTMAX) all exist in TFLite Micro.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kws.config import FrontendConfig, ModelConfig, from_dict, load_yaml
from kws.labels import LABELS

if TYPE_CHECKING:
    import keras

BN_MOMENTUM = 0.9
"""Batch-norm moving-average momentum. Keras' 0.99 needs hundreds of steps to learn the scale
of the int8 codes (values up to +-128), so on a small corpus (about 30 steps an epoch)
validation accuracy would sit at chance for the first dozens of epochs."""


def load_model_config(path: str | Path) -> ModelConfig:
    """The ``model`` section of a YAML file (configs/ds_cnn_*.yaml) as a ModelConfig."""
    return from_dict(ModelConfig, load_yaml(path).get("model"), "model.")


def input_shape(frontend: FrontendConfig) -> tuple[int, int, int]:
    """Model input shape (frames, coeffs, 1): (49, 10, 1) at the default front end."""
    return (frontend.frames_per_clip, frontend.num_coeffs, 1)


def build_model(config: ModelConfig, frontend: FrontendConfig | None = None,
                num_classes: int = len(LABELS), batch_size: int | None = None) -> keras.Model:
    """Build the (uncompiled) float DS-CNN.

    Input: float32 (batch, frames, coeffs, 1), int8 codes as floats in -128..127.
    Output: float32 (batch, num_classes) softmax probabilities, classes in kws.labels order.
    Weights are initialized from Keras' global seed (``keras.utils.set_random_seed``).
    ``batch_size=1`` fixes the batch dimension (for conversion: the flatten then becomes one
    RESHAPE with a constant shape instead of SHAPE/STRIDED_SLICE/PACK/RESHAPE).
    """
    import keras
    from keras import layers

    frontend = frontend or FrontendConfig()
    regularizer = keras.regularizers.L2(config.l2) if config.l2 > 0 else None

    def bn_relu(x: Any, name: str) -> Any:
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input(shape=input_shape(frontend), batch_size=batch_size, name="features")
    x = layers.Conv2D(config.stem_filters, config.stem_kernel, strides=config.stem_stride,
                      padding="same", use_bias=False, kernel_regularizer=regularizer,
                      name="stem_conv")(inputs)
    x = bn_relu(x, "stem")
    if config.stem_dropout:
        x = layers.Dropout(config.stem_dropout, name="stem_dropout")(x)
    for i, block in enumerate(config.blocks, start=1):
        x = layers.DepthwiseConv2D(block.kernel, strides=block.stride, padding="same",
                                   use_bias=False, depthwise_regularizer=regularizer,
                                   name=f"block{i}_dw")(x)
        x = bn_relu(x, f"block{i}_dw")
        x = layers.Conv2D(block.filters, (1, 1), padding="same", use_bias=False,
                          kernel_regularizer=regularizer, name=f"block{i}_pw")(x)
        x = bn_relu(x, f"block{i}_pw")
    if config.head_dropout:
        x = layers.Dropout(config.head_dropout, name="head_dropout")(x)
    # A pool over the whole map (AVERAGE_POOL_2D in TFLite; a global pool would become MEAN).
    x = layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]), name="pool")(x)
    # The classifier (Dense 12) is written as a 1x1 convolution on the pooled 1x1 map: the
    # same arithmetic, but LiteRT's and TFLite Micro's int8 FULLY_CONNECTED kernels round
    # differently (measured: a score one code apart in ~3 % of clips, even with LiteRT's
    # reference kernels); their CONV_2D kernels agree bit for bit once no logit is negative
    # (kws.quantize.shift_logits_to_nonnegative).
    x = layers.Conv2D(num_classes, (1, 1), kernel_regularizer=regularizer,
                      name="classifier")(x)
    x = layers.Reshape((num_classes,), name="logits")(x)
    outputs = layers.Softmax(name="softmax")(x)
    return keras.Model(inputs, outputs, name=config.name)


def count_parameters(model: keras.Model, fold_batch_norm: bool = True) -> int:
    """Trainable parameters; with ``fold_batch_norm`` BN counts as one bias per channel.

    This is the count of the int8 model (BN folded into the preceding convolution).
    """
    total = 0
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if layer.__class__.__name__ == "BatchNormalization":
            total += weights[0].size if fold_batch_norm else sum(w.size for w in weights)
        else:
            total += sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    return total
