import keras
import tensorflow as tf


class UttNorm(keras.layers.Layer):
    """Per-utterance mean (and variance) normalisation over unmasked frames."""

    def __init__(self, variance=True, **kw):
        super().__init__(**kw)
        self.variance = variance
        self.supports_masking = True

    def call(self, x, mask=None):
        w = tf.ones_like(x[:, :, :1]) if mask is None else tf.cast(mask, x.dtype)[:, :, None]
        n = tf.maximum(tf.reduce_sum(w, 1, keepdims=True), 1.0)
        mu = tf.reduce_sum(x * w, 1, keepdims=True) / n
        y = x - mu
        if self.variance:
            v = tf.reduce_sum(tf.square(y) * w, 1, keepdims=True) / n
            y = y * tf.math.rsqrt(v + 1e-3)
        return y * w


class AttentionPool(keras.layers.Layer):
    """Masked softmax attention over time (one learned query)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.supports_masking = True

    def build(self, shape):
        self.proj = keras.layers.Dense(shape[-1], activation="tanh")
        self.proj.build(shape)
        self.score = keras.layers.Dense(1, use_bias=False)
        self.score.build(shape)

    def call(self, x, mask=None):
        s = self.score(self.proj(x))[..., 0]
        if mask is not None:
            s = tf.where(mask, s, -1e9)
        w = tf.nn.softmax(s, axis=1)
        return tf.reduce_sum(x * w[:, :, None], 1)

    def compute_mask(self, x, mask=None):
        return None


class SpecAug(keras.layers.Layer):
    """Training-only time/frequency stripes set to 0 (the mean after normalisation)."""

    def __init__(self, tm=2, tw=10, fm=2, fw=6, **kw):
        super().__init__(**kw)
        self.tm, self.tw, self.fm, self.fw = tm, tw, fm, fw
        self.supports_masking = True

    def _keep(self, b, n, count, width):
        keep = tf.ones((b, n))
        pos = tf.range(n)[None, :]
        for _ in range(count):
            w = tf.random.uniform((b, 1), 0, width + 1, dtype=tf.int32)
            s = tf.cast(
                tf.random.uniform((b, 1)) * tf.cast(tf.maximum(n - w, 0) + 1, tf.float32), tf.int32
            )
            keep *= 1.0 - tf.cast((pos >= s) & (pos < s + w), tf.float32)
        return keep

    def call(self, x, training=None, mask=None):
        if not training:
            return x
        sh = tf.shape(x)
        return x * (
            self._keep(sh[0], sh[1], self.tm, self.tw)[:, :, None]
            * self._keep(sh[0], sh[2], self.fm, self.fw)[:, None, :]
        )
