"""Augmentation of training clips in ``tf.data``: speed perturbation and added noise on the
waveform, a tempo change on its frames.

Held-out speakers differ from the training speakers in pitch, vocal-tract length, speaking rate
and recording noise. Resampling a clip by a random factor (Ko et al., *Audio augmentation for
speech recognition*, Interspeech 2015) changes tempo, pitch and formants together, like another
speaker saying the same word; white noise at a random signal-to-noise ratio makes the model rely
on the loud, word-bearing parts of the spectrum. On FSDD, with per-clip CMVN, the two together
added 9 points of accuracy on an unseen speaker (docs/speech.md has the ablation).

Every draw is stateless, keyed by a per-epoch random value of the pipeline and the clip's index:
an epoch's augmented clips are a function of the run's seed and the epoch, so ``--resume`` replays
them exactly (the runner re-creates the iterators of the completed epochs, which advances the
key stream as it advances the shuffle). Only the training pipeline calls this module; the exported
model never contains it.
"""

from __future__ import annotations

from ..._lazy import tf
from .config import AugmentConfig

# Keeps the noise scale finite for an all-silent clip (power 0).
POWER_FLOOR = 1e-10


def speed_perturb(wave, factor):
    """``wave`` resampled by ``factor`` (> 1: faster, shorter, higher) with linear interpolation.

    No anti-aliasing filter: for factors up to about 1.2 only the top ~17 % of the band folds
    back, where speech at 8-16 kHz has little energy.
    """
    n = tf.shape(wave)[0]
    last = tf.cast(n - 1, tf.float32)
    m = tf.cast(tf.floor(last / factor), tf.int32) + 1
    pos = tf.range(m, dtype=tf.float32) * factor
    left = tf.minimum(tf.cast(tf.floor(pos), tf.int32), n - 1)
    right = tf.minimum(left + 1, n - 1)
    frac = pos - tf.cast(left, tf.float32)
    return tf.gather(wave, left) * (1.0 - frac) + tf.gather(wave, right) * frac


def tempo_factor(key, settings: AugmentConfig):
    """The tempo factor of one training clip (``augment.tempo``), drawn from ``key``."""
    if not settings.changes_tempo:
        return tf.constant(1.0)
    seed = tf.random.experimental.stateless_split(key, 5)[4]
    return tf.random.stateless_uniform([], seed, *settings.tempo)


def stretch_frames(frames, factors):
    """Each clip's frames ``[batch, time, k]`` resampled in time by its factor (> 1: faster,
    fewer frames), by linear interpolation between neighbouring frames; spectra unchanged.

    A clip's frames are those up to its last non-zero frame (batches are zero-padded at the
    end); the first and last frames are kept, the new length is ``round((n - 1) / factor) + 1``,
    and frames past it are exactly zero, as the model's padding mask expects.
    """
    from .layers import inside_clip  # the model's own notion of a clip's end (PaddingMask)

    lengths = tf.reduce_sum(tf.cast(inside_clip(frames), tf.int32), axis=1)  # [b]
    span = tf.cast(tf.maximum(lengths - 1, 0), tf.float32)
    new = tf.cast(tf.round(span / factors), tf.int32) + 1  # [b], at least 1
    new = tf.where(lengths > 0, new, 0)
    steps = tf.maximum(tf.reduce_max(new), 1)
    step = tf.where(new > 1, span / tf.cast(tf.maximum(new - 1, 1), tf.float32), 0.0)
    position = tf.range(steps, dtype=tf.float32)[None, :] * step[:, None]  # [b, steps]
    last = tf.maximum(lengths - 1, 0)[:, None]
    left = tf.minimum(tf.cast(tf.floor(position), tf.int32), last)
    right = tf.minimum(left + 1, last)
    frac = (position - tf.cast(left, tf.float32))[:, :, None]
    out = tf.gather(frames, left, axis=1, batch_dims=1) * (1.0 - frac)
    out += tf.gather(frames, right, axis=1, batch_dims=1) * frac
    inside = tf.sequence_mask(new, steps, dtype=frames.dtype)
    return out * inside[:, :, None]


def augment_clip(wave, key, settings: AugmentConfig):
    """One training clip with a random speed and noise drawn from ``key`` (int64 ``[2]``).

    Noise is added after the speed change and covers every sample, so the feature layer (which
    takes a clip's length as its last non-zero sample) sees the clip's true length. (The tempo,
    a change of the frames, is :func:`tempo_factor` and :func:`stretch_frames`.)
    """
    seeds = tf.random.experimental.stateless_split(key, 4)
    low, high = settings.speed
    if (low, high) != (1.0, 1.0):
        factor = tf.random.stateless_uniform([], seeds[0], low, high)
        wave = speed_perturb(wave, factor)
    if settings.noise_snr and settings.noise_prob > 0:
        snr = tf.random.stateless_uniform([], seeds[1], *settings.noise_snr)
        power = tf.reduce_mean(tf.square(wave)) + POWER_FLOOR
        scale = tf.sqrt(power / tf.pow(10.0, snr / 10.0))
        noise = tf.random.stateless_normal(tf.shape(wave), seeds[2]) * scale
        use = tf.random.stateless_uniform([], seeds[3]) < settings.noise_prob
        wave = wave + tf.cast(use, wave.dtype) * noise
    return wave
