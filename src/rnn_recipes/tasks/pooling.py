"""Mask-aware pooling over time for the classification tasks (``model.pooling``).

Keras' ``GlobalAveragePooling1D`` honours a mask; its ``GlobalMaxPooling1D`` does not (it would
take the maximum over padded steps too), so the maximum over unmasked steps is here:

* ``"max"``: each feature's largest value over the unmasked steps (the max-pooled BiLSTM of
  Conneau et al., "Supervised Learning of Universal Sentence Representations", EMNLP 2017). A
  strong local cue (one word, one syllable) survives however long the sequence is, where the
  mean dilutes it.
* ``"mean_max"``: the mean and the maximum side by side (ULMFiT's concat pooling, Howard and
  Ruder, ACL 2018, without its last state): the head sees the sequence's average and its
  strongest evidence.

This module imports Keras when it is imported (the layer class must exist to be registered);
the tasks import it only when they build or load a model.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="rnn_recipes")
class MaskedMaxPooling1D(keras.layers.Layer):
    """``[batch, steps, features]`` -> ``[batch, features]``: the maximum over unmasked steps.

    A row with no unmasked step (an empty text) gives zeros instead of -inf.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return keras.ops.max(inputs, axis=1)
        keep = keras.ops.expand_dims(keras.ops.cast(mask, "bool"), -1)
        lowest = keras.ops.full_like(inputs, float("-inf"))
        top = keras.ops.max(keras.ops.where(keep, inputs, lowest), axis=1)
        return keras.ops.where(keras.ops.isfinite(top), top, keras.ops.zeros_like(top))

    def compute_mask(self, inputs, mask=None):
        return None  # the time axis is gone

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def pool(x, pooling: str):
    """``x`` (masked RNN outputs) pooled over time as ``model.pooling`` says ("mean", "max",
    "mean_max"; "last" needs no pooling: the last RNN layer returns its final state)."""
    if pooling == "mean":
        return keras.layers.GlobalAveragePooling1D(name="mean_over_time")(x)  # mask-aware
    if pooling == "max":
        return MaskedMaxPooling1D(name="max_over_time")(x)
    if pooling == "mean_max":
        mean = keras.layers.GlobalAveragePooling1D(name="mean_over_time")(x)
        top = MaskedMaxPooling1D(name="max_over_time")(x)
        return keras.layers.Concatenate(name="mean_and_max")([mean, top])
    raise ValueError(f"unknown pooling {pooling!r}")
