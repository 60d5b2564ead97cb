"""Keras layers of the speech task: waveform -> log-mel (or MFCC) frames, their time
derivatives, SpecAugment, the convolutional front-end.

This module imports Keras and TensorFlow when it is imported (the layer classes must exist to be
registered), so the task imports it only when it builds or loads a model.
To reload a speech run's ``model.keras`` yourself::

    import keras
    import rnn_recipes.tasks.speech.layers  # registers rnn_recipes>AudioFeatures, >SpecAugment

    model = keras.saving.load_model("runs/speech-.../model.keras")  # safe_mode stays on
"""

from __future__ import annotations

import keras
import tensorflow as tf

# log(0) is -inf: a floor on the mel energies keeps silent frames finite (-13.8 in log units).
LOG_FLOOR = 1e-6


def frame_count(lengths, frame_length: int, frame_step: int):
    """Frames an STFT without end padding takes from clips of ``lengths`` samples (at least 1)."""
    n = 1 + (lengths - frame_length) // frame_step
    return tf.maximum(n, 1)


@keras.saving.register_keras_serializable(package="rnn_recipes")
class AudioFeatures(keras.layers.Layer):
    """Zero-padded waveforms ``[batch, samples]`` -> log-mel or MFCC frames ``[batch, frames, k]``.

    A clip's length is taken as its last non-zero sample (batches are zero-padded at the end).
    Frames past a clip's end are set to exactly zero, which is what the model's ``Masking``
    layer reads as padding, so cached training features and the exported model agree.

    Steps: optional pre-emphasis -> STFT (Hann window) -> power spectrum -> mel filterbank -> log
    -> optional DCT (MFCC). With ``keep_log_mel`` (and ``mfcc``) a frame holds both, the log-mel
    values first, then the MFCCs: an ensemble whose members read different features
    (``features.member_kinds``) computes them once.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        frame_length: int = 400,
        frame_step: int = 160,
        fft_length: int = 512,
        mel_bins: int = 40,
        fmin: float = 20.0,
        fmax: float | None = None,
        mfcc: int = 0,
        trim_db: float = 0.0,
        preemphasis: float = 0.0,
        keep_log_mel: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sample_rate = int(sample_rate)
        self.frame_length = int(frame_length)
        self.frame_step = int(frame_step)
        self.fft_length = int(fft_length)
        self.mel_bins = int(mel_bins)
        self.fmin = float(fmin)
        self.fmax = float(fmax) if fmax else self.sample_rate / 2.0
        self.mfcc = int(mfcc)  # 0: log-mel; n > 0: the first n MFCCs
        self.trim_db = float(trim_db)  # 0: off; else endpointing, see call()
        self.preemphasis = float(preemphasis)  # 0: off; else y[n] = x[n] - a x[n - 1]
        self.keep_log_mel = bool(keep_log_mel) and self.mfcc > 0  # log-mel, then the MFCCs
        self.mel_matrix = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins=self.mel_bins,
            num_spectrogram_bins=self.fft_length // 2 + 1,
            sample_rate=self.sample_rate,
            lower_edge_hertz=self.fmin,
            upper_edge_hertz=self.fmax,
        )

    @property
    def features(self) -> int:
        if self.keep_log_mel:
            return self.mel_bins + self.mfcc
        return self.mfcc or self.mel_bins

    def call(self, waveform):
        waveform = tf.convert_to_tensor(waveform, tf.float32)
        # Samples up to the last non-zero one: the clip; the rest is batch padding.
        nonzero = tf.cast(tf.not_equal(waveform, 0.0), tf.int32)
        samples = tf.shape(waveform)[1]
        lengths = samples - tf.argmax(tf.reverse(nonzero, axis=[1]), axis=1, output_type=tf.int32)
        lengths = tf.where(tf.reduce_any(nonzero > 0, axis=1), lengths, 0)
        if self.preemphasis:
            # A first-order high-pass: removes a DC offset (a fault of some recorders) and
            # tilts the spectrum up, as in HTK's and Kaldi's front-ends. The padding after each
            # clip stays zero (the lengths above are the clips' own).
            emphasized = waveform[:, 1:] - self.preemphasis * waveform[:, :-1]
            waveform = tf.concat([waveform[:, :1], emphasized], axis=1)
            inside = tf.sequence_mask(lengths, samples, dtype=waveform.dtype)
            waveform = waveform * inside
        # A batch shorter than one frame still gives one (zero-padded) frame.
        waveform = tf.pad(waveform, [[0, 0], [0, tf.maximum(self.frame_length - samples, 0)]])
        stft = tf.signal.stft(
            waveform,
            frame_length=self.frame_length,
            frame_step=self.frame_step,
            fft_length=self.fft_length,
            window_fn=tf.signal.hann_window,
            pad_end=False,
        )
        power = tf.math.square(tf.abs(stft))
        mel = tf.tensordot(power, self.mel_matrix, 1)
        feats = tf.math.log(mel + LOG_FLOOR)
        if self.mfcc:
            mfccs = tf.signal.mfccs_from_log_mel_spectrograms(feats)[..., : self.mfcc]
            feats = tf.concat([feats, mfccs], axis=-1) if self.keep_log_mel else mfccs
        frames = frame_count(lengths, self.frame_length, self.frame_step)
        if self.trim_db > 0:
            feats, frames = self._trim(feats, power, frames)
        valid = tf.sequence_mask(frames, tf.shape(feats)[1], dtype=feats.dtype)
        return feats * valid[:, :, None]

    def _trim(self, feats, power, frames):
        """Endpointing: keep each clip's frames from the first to the last one within
        ``trim_db`` of its loudest frame, moved to start at frame 0.

        Leading and trailing silence (some recordings have 40 % of it, others none) would
        otherwise enter the per-clip statistics and the mean over frames. The move is a gather
        with a per-clip offset, so padding stays at the end (right-padded masks, cuDNN).
        """
        steps = tf.shape(feats)[1]
        position = tf.range(steps)[None, :]
        inside = position < frames[:, None]
        energy = 10.0 * tf.math.log(tf.reduce_sum(power, axis=-1) + 1e-10) / tf.math.log(10.0)
        energy = tf.where(inside, energy, -1e9)
        loud = energy > tf.reduce_max(energy, axis=1, keepdims=True) - self.trim_db
        loud = loud & inside
        first = tf.reduce_min(tf.where(loud, position, steps), axis=1)
        last = tf.reduce_max(tf.where(loud, position, -1), axis=1)
        first = tf.where(last >= 0, first, 0)  # a clip with no frame at all keeps its one
        kept = tf.maximum(last - first + 1, 1)
        index = tf.minimum(first[:, None] + position, steps - 1)
        return tf.gather(feats, index, axis=1, batch_dims=1), tf.minimum(kept, frames)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, self.features)

    def get_config(self):
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "mel_bins": self.mel_bins,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "mfcc": self.mfcc,
            "trim_db": self.trim_db,
            "preemphasis": self.preemphasis,
            "keep_log_mel": self.keep_log_mel,
        }


def inside_clip(frames):
    """``[batch, time]``: whether each frame of zero-padded ``[batch, time, k]`` frames is inside
    its clip, i.e. it or a later frame is not all zero (the clip's end is its last such frame)."""
    ops = keras.ops
    nonzero = ops.cast(ops.any(ops.not_equal(frames, 0.0), axis=-1), "int32")
    later = ops.flip(ops.cumsum(ops.flip(nonzero, axis=1), axis=1), axis=1)
    return later > 0


@keras.saving.register_keras_serializable(package="rnn_recipes")
class PaddingMask(keras.layers.Layer):
    """Mask each clip's end padding: the frames after its last frame that is not all zero.

    Batches are zero-padded at the end, so a clip's length is up to its last non-zero frame;
    frames inside a clip are read even when they are all zero (``keras.layers.Masking`` would
    skip those, and its mask would then not be right-padded, which cuDNN refuses).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return inside_clip(inputs)

    def call(self, inputs):
        # A new tensor (the frames after the end are zero already) to carry the mask.
        return keras.ops.where(self.compute_mask(inputs)[:, :, None], inputs, 0.0)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="rnn_recipes")
class FeatureColumns(keras.layers.Layer):
    """Features ``[start, stop)`` of every frame: the ones one ensemble member reads when the
    frames hold two kinds side by side (``AudioFeatures(keep_log_mel=True)``)."""

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, frames):
        return frames[..., self.start : self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package="rnn_recipes")
class SpecAugment(keras.layers.Layer):
    """SpecAugment-style masking (Park et al., 2019), in training only.

    Sets ``time_masks`` random runs of up to ``time_width`` frames and ``freq_masks`` runs of up
    to ``freq_width`` feature channels to zero (the mean, after normalization). At inference it
    passes its input through unchanged. Keeps the incoming padding mask.
    """

    def __init__(self, time_masks=0, time_width=10, freq_masks=0, freq_width=8, seed=0, **kw):
        super().__init__(**kw)
        self.time_masks, self.time_width = int(time_masks), int(time_width)
        self.freq_masks, self.freq_width = int(freq_masks), int(freq_width)
        self.seed = int(seed)
        self.supports_masking = True
        self.generator = keras.random.SeedGenerator(self.seed)

    def _stripes(self, batch, size, count, width):
        """[batch, size] float: 0 inside ``count`` random stripes of up to ``width``, else 1."""
        keep = tf.ones((batch, size))
        positions = tf.range(size)[None, :]
        for _ in range(count):
            u = keras.random.uniform((2, batch, 1), seed=self.generator)
            w = tf.cast(tf.floor(u[0] * (width + 1)), tf.int32)
            start = tf.cast(
                tf.floor(u[1] * tf.cast(tf.maximum(size - w, 0) + 1, u.dtype)), tf.int32
            )
            hit = (positions >= start) & (positions < start + w)
            keep = keep * (1.0 - tf.cast(hit, keep.dtype))
        return keep

    def call(self, x, training=None, mask=None):
        if not training or not (self.time_masks or self.freq_masks):
            return x
        shape = tf.shape(x)
        keep_t = self._stripes(shape[0], shape[1], self.time_masks, self.time_width)
        keep_f = self._stripes(shape[0], shape[2], self.freq_masks, self.freq_width)
        return x * tf.cast(keep_t[:, :, None] * keep_f[:, None, :], x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "time_masks": self.time_masks,
            "time_width": self.time_width,
            "freq_masks": self.freq_masks,
            "freq_width": self.freq_width,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="rnn_recipes")
class ConvFrontend(keras.layers.Layer):
    """Small 2-D convolutions over (time, feature) before the RNN, pooled along the feature axis.

    Each stage is a 3 x 3 convolution (ReLU) over the frame sequence seen as an image, then a
    max-pool of 2 along the features (never along time, so frame t stays frame t and the padding
    mask stays valid). A voice with a longer or shorter vocal tract moves its formants up or down
    by a few mel bands; the pooled filter responses move less, so the RNN after them sees a
    representation that varies less from speaker to speaker (the convolutional-recurrent keyword
    spotters of Arik et al., 2017, use the same front). Frames past a clip's end are zeroed on the
    way in and out, so a frame near the end sees the same zeros in a padded batch as alone.

    Args:
        filters: output channels of each stage (two stages by default: 16, 32).
    """

    def __init__(self, filters=(16, 32), **kwargs):
        super().__init__(**kwargs)
        self.filters = [int(f) for f in filters]
        self.supports_masking = True
        self.convs = [
            keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i + 1}")
            for i, f in enumerate(self.filters)
        ]
        self.pool = keras.layers.MaxPooling2D((1, 2), padding="same")

    def _features_out(self, features: int) -> int:
        for _ in self.filters:
            features = -(-features // 2)
        return features * self.filters[-1]

    def build(self, input_shape):
        shape = (None, None, input_shape[-1], 1)
        for conv in self.convs:
            conv.build(shape)
            shape = (None, None, -(-shape[2] // 2), conv.filters)

    def call(self, x, mask=None):
        # Every stage's output is zeroed past the clip's end, so the next stage's 3-frame window
        # at the last real frame reads zeros there, as the convolution's own padding gives it
        # when the clip is alone.
        keep = None if mask is None else tf.cast(mask, x.dtype)[:, :, None, None]
        y = x[..., None]
        for conv in self.convs:
            y = y if keep is None else y * keep
            y = self.pool(conv(y))
        y = y if keep is None else y * keep
        shape = tf.shape(y)
        return tf.reshape(y, [shape[0], shape[1], self._features_out(x.shape[-1])])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:2], self._features_out(input_shape[-1]))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="rnn_recipes")
class Deltas(keras.layers.Layer):
    """Append each frame's time derivatives: ``[b, t, k]`` -> ``[b, t, k * (order + 1)]``.

    The regression delta of speech front-ends (HTK's, over ``width`` frames each side):
    ``d_t = sum_n n (c_{t+n} - c_{t-n}) / (2 sum_n n^2)``, the slope of a line fitted to the
    frames around t, so a slow drift between frames becomes a feature of its own. ``order`` 2
    also appends the delta of the deltas (acceleration). Each clip's frames beyond its first and
    last unmasked frame are taken as copies of those frames (no padding enters a clip's
    derivative); masked frames come out as exactly zero. Keeps the incoming mask.
    """

    def __init__(self, order: int = 1, width: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.order = int(order)
        self.width = int(width)
        self.supports_masking = True

    def call(self, x, mask=None):
        steps = tf.shape(x)[1]
        if mask is None:
            last = tf.fill([tf.shape(x)[0], 1], steps - 1)
        else:
            last = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1, keepdims=True) - 1
        last = tf.maximum(last, 0)
        position = tf.range(steps)[None, :] + tf.zeros_like(last)  # [b, t]
        scale = 1.0 / (2.0 * sum(n * n for n in range(1, self.width + 1)))
        out, current = [x], x
        for _ in range(self.order):
            delta = tf.zeros_like(current)
            for n in range(1, self.width + 1):
                ahead = tf.gather(current, tf.minimum(position + n, last), axis=1, batch_dims=1)
                behind = tf.gather(current, tf.maximum(position - n, 0), axis=1, batch_dims=1)
                delta += float(n) * (ahead - behind)
            current = delta * scale
            if mask is not None:
                current = current * tf.cast(mask, current.dtype)[:, :, None]
            out.append(current)
        return tf.concat(out, axis=-1)

    def compute_output_shape(self, input_shape):
        features = input_shape[-1]
        return (*input_shape[:-1], None if features is None else features * (self.order + 1))

    def get_config(self):
        return {**super().get_config(), "order": self.order, "width": self.width}


# Floor on a clip's per-feature variance (log-mel units squared, typical values 1-10): a clip of
# one frame, or a feature that is constant over a short clip, has none, and dividing by it would
# blow up or give NaN.
VARIANCE_FLOOR = 1e-3


@keras.saving.register_keras_serializable(package="rnn_recipes")
class UtteranceNorm(keras.layers.Layer):
    """Per-clip normalization over its unmasked frames: cepstral mean (and variance) normalization.

    A fixed microphone, channel or vocal-tract colouring adds a constant to every log-mel (or
    MFCC) frame of a clip; removing the clip's mean frame removes it (and the loudness). With
    ``variance=True`` each feature is also divided by its spread over the clip (CMVN), which
    evens out how strongly speakers modulate each band. Statistics come from the clip's own
    frames only (the mask); padded frames come out as exactly zero. Keeps the incoming mask.

    Args:
        variance: also divide by the clip's standard deviation per feature (floored by
            ``VARIANCE_FLOOR``, so clips of one or a few frames stay finite).
    """

    def __init__(self, variance: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.variance = bool(variance)
        self.supports_masking = True

    def call(self, x, mask=None):
        # Without a mask every frame counts.
        weight = tf.ones_like(x[:, :, :1]) if mask is None else tf.cast(mask, x.dtype)[:, :, None]
        count = tf.maximum(tf.reduce_sum(weight, axis=1, keepdims=True), 1.0)
        centred = x - tf.reduce_sum(x * weight, axis=1, keepdims=True) / count
        if self.variance:
            spread = tf.reduce_sum(tf.square(centred) * weight, axis=1, keepdims=True) / count
            centred = centred * tf.math.rsqrt(spread + VARIANCE_FLOOR)
        return centred * weight if mask is not None else centred

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "variance": self.variance}


def utterance_normalize(frames, variance: bool):
    """NumPy twin of :class:`UtteranceNorm` for one clip's unpadded ``[frames, features]``.

    The pipeline uses it for the Normalization layer's statistics, which must describe what the
    model sees after this step.
    """
    import numpy as np

    centred = frames - frames.mean(axis=0)
    if variance:
        centred = centred / np.sqrt(centred.var(axis=0) + VARIANCE_FLOOR)
    return centred
