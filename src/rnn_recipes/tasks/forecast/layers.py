"""The SegRNN layer of the forecast task (Lin et al. 2023, "SegRNN: Segment Recurrent Neural
Network for Long-Term Time Series Forecasting"), with per-window normalization (RevIN, or the last
value subtracted as in SegRNN's own code), an optional residual linear skip, and an optional blend
with a fixed least-squares map whose weight is settled on validation after training.

This module imports Keras when it is imported (the layer class must exist to be registered); the
task imports it only when it builds or loads a model. To reload a forecast run's ``model.keras``
yourself::

    import keras
    import rnn_recipes.tasks.forecast.layers  # registers rnn_recipes>SegRNN

    model = keras.saving.load_model("runs/forecast-.../model.keras")  # safe_mode stays on
"""

from __future__ import annotations

import keras
from keras import ops

from ... import compat


@keras.saving.register_keras_serializable(package="rnn_recipes")
class SegRNN(keras.layers.Layer):
    """Normalization + channel-independent segment RNN + parallel decoding.

    Input ``[batch, lookback, channels]`` (z-scored), output ``[batch, horizon, targets]``
    where the targets are the first ``targets`` channels.

    Each window is normalized per channel (``revin``: by its own mean and spread;
    ``subtract_last``: by its last value only; neither: as it comes), forecast in that space
    and de-normalized with the same figures. With ``blend`` the forecast is
    ``w * rnn + (1 - w) * map``: ``map`` a fixed lookback -> horizon linear map (its
    least-squares fit, set by the task) applied in its own per-window space, and ``w`` the
    non-trainable ``rnn_weight``, 1 while training (the map then takes no part in the gradient)
    and fitted on validation afterwards. The map's space is three fixed 0/1 weights
    (``map_space`` = [subtract the last value, subtract the mean, divide by the spread]), so
    the task picks it on validation after the layer is built.
    """

    def __init__(
        self,
        lookback: int,
        horizon: int,
        channels: int,
        targets: int,
        cell: str = "gru",
        units: int = 256,
        layers: int = 1,
        segment_length: int = 48,
        dropout: float = 0.5,
        revin: bool = True,
        linear_skip: bool = False,
        mix_channels: bool = False,
        revin_affine: bool = False,
        subtract_last: bool = False,
        blend: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.lookback, self.horizon = lookback, horizon
        self.channels, self.targets = channels, targets
        self.cell, self.units, self.n_layers = cell, units, layers
        self.segment_length, self.dropout_rate = segment_length, dropout
        self.revin, self.linear_skip = revin, linear_skip
        self.mix_channels = mix_channels
        # SegRNN's RevIN has no learned scale/shift; the option loads models saved before.
        self.revin_affine = revin_affine
        if revin and subtract_last:
            raise ValueError("choose one normalization: revin or subtract_last")
        self.subtract_last, self.blend = subtract_last, blend
        w = segment_length
        self.n_in = -(-lookback // w)  # input segments (the oldest is zero-padded if short)
        self.n_out = -(-horizon // w)  # output segments (the last is cut to the horizon)
        self.embed = keras.layers.Dense(units, activation="relu", name="segment_embedding")
        rnn = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell]
        # Default activations and no recurrent dropout: cuDNN-eligible on a GPU.
        self.rnns = [
            rnn(units, return_sequences=True, return_state=True, name=f"{cell}_{i + 1}")
            for i in range(layers)
        ]
        self.drop = keras.layers.Dropout(dropout)
        self.project = keras.layers.Dense(w, name="segment_projection")
        # Starts at zero (the forecast is the RNN's) unless initialize() sets its LS fit.
        self.skip = (
            keras.layers.Dense(horizon, kernel_initializer="zeros", name="linear_skip")
            if linear_skip
            else None
        )
        # Not trained: the task sets the least-squares fit before training (initialize).
        self.blend_map = (
            keras.layers.Dense(
                horizon, kernel_initializer="zeros", name="blend_map", trainable=False
            )
            if blend
            else None
        )
        # Zero-initialised: training starts channel-independent and learns what to share.
        self.mix = (
            keras.layers.Dense(
                channels, use_bias=False, kernel_initializer="zeros", name="channel_mix"
            )
            if mix_channels
            else None
        )

    def build(self, input_shape):
        half = self.units // 2
        # N(0, 1) like SegRNN's torch.randn: Keras' "random_normal" (std 0.05) makes the
        # decoder queries nearly identical at the start.
        self.position = self.add_weight(
            shape=(self.n_out, self.units - half),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="position",
        )
        self.channel = self.add_weight(
            shape=(self.channels, half),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="channel",
        )
        if self.blend:
            # 1 while training; the task fits it on validation afterwards (after_training).
            self.rnn_weight = self.add_weight(
                shape=(), initializer="ones", trainable=False, name="rnn_weight"
            )
            # The map's per-window space, set with the map after training: [1, 0, 0] the last
            # value subtracted, [0, 1, 1] RevIN, [0, 0, 0] as it comes.
            self.map_space = self.add_weight(
                shape=(3,), initializer="zeros", trainable=False, name="map_space"
            )
        if self.revin and self.revin_affine:
            self.gamma = self.add_weight(shape=(self.channels,), initializer="ones", name="gamma")
            self.beta = self.add_weight(shape=(self.channels,), initializer="zeros", name="beta")
        w, n = self.segment_length, self.n_in
        self.embed.build((None, n, w))
        for rnn in self.rnns:
            rnn.build((None, n, self.units))
        self.project.build((None, 1, self.units))
        if self.skip is not None:
            self.skip.build((None, self.lookback))
        if self.blend_map is not None:
            self.blend_map.build((None, self.lookback))
        if self.mix is not None:
            self.mix.build((None, self.units, self.channels))

    def call(self, x, training=False):
        c, lb, h, w = self.channels, self.lookback, self.horizon, self.segment_length
        inputs = x
        if self.revin:
            mean = ops.mean(x, axis=1, keepdims=True)
            std = ops.sqrt(ops.var(x, axis=1, keepdims=True) + 1e-5)
            x = (x - mean) / std
            if self.revin_affine:
                x = x * self.gamma + self.beta
        elif self.subtract_last:
            last = x[:, -1:, :]
            x = x - last
        series = ops.reshape(ops.transpose(x, (0, 2, 1)), (-1, lb))  # [b*c, lookback]
        pad = self.n_in * w - lb
        padded = ops.pad(series, ((0, 0), (pad, 0))) if pad else series
        z = self.embed(ops.reshape(padded, (-1, self.n_in, w)))  # [b*c, segments, units]
        states = []
        for rnn in self.rnns:
            z, *state = rnn(z, training=training)
            states.append(state)
        if self.mix is not None:
            # h_c + sum_k M[c, k] h_k: each channel's state hears the others (covariates).
            def mixed(s):
                s = ops.transpose(ops.reshape(s, (-1, c, self.units)), (0, 2, 1))
                s = s + self.mix(s)
                return ops.reshape(ops.transpose(s, (0, 2, 1)), (-1, self.units))

            states = [[mixed(s) for s in state] for state in states]
        # Decoder: one step per output segment, all segments in parallel.
        m = self.n_out
        query = ops.concatenate(
            [
                ops.broadcast_to(self.position[None], (c, m, self.units - self.units // 2)),
                ops.broadcast_to(self.channel[:, None], (c, m, self.units // 2)),
            ],
            axis=-1,
        )  # [c, m, units]
        out = self._decode(query, states, training)  # [b*c*m, units]
        y = self.project(self.drop(out, training=training))  # [b*c*m, w]
        y = ops.reshape(y, (-1, m * w))[:, :h]  # [b*c, horizon]
        if self.skip is not None:
            y = y + self.skip(series)
        y = ops.transpose(ops.reshape(y, (-1, c, h)), (0, 2, 1))[:, :, : self.targets]
        if self.revin:
            t = self.targets
            if self.revin_affine:
                y = (y - self.beta[:t]) / (self.gamma[:t] + 1e-10)
            y = y * std[:, :, :t] + mean[:, :, :t]
        elif self.subtract_last:
            y = y + last[:, :, : self.targets]
        if self.blend_map is not None:
            weight = self.rnn_weight
            y = weight * y + (1.0 - weight) * self._linear_map(inputs)
        return y

    def _decode(self, query, states, training):
        """The parallel decoder: one RNN step per output segment and layer, all at once.

        Args:
            query: [channels, segments, units], the same for every window.
            states: per layer, the encoder's final state ([h] or [h, c], each [b*c, units]).
            training: passed to the cells (they have no dropout; kept for subclasses).

        Returns:
            [b*c*segments, units], rows in (window, channel, segment) order: what the RNN layer
            gives for the query rows started from their channel's repeated states. The first
            layer's step is written out (:func:`_first_step`): its input projection is
            computed once per (channel, segment) instead of once per window, its recurrent
            projection once per window-channel instead of once per segment, and no loop runs
            for a one-step sequence. Deeper layers call their cell once on the repeated states.
        """
        m, u = self.n_out, self.units
        out = _first_step(self.rnns[0].cell, query, states[0])
        for rnn, state in zip(self.rnns[1:], states[1:]):
            init = [ops.reshape(ops.repeat(s[:, None], m, axis=1), (-1, u)) for s in state]
            out, _ = rnn.cell(out, init, training=training)
        return out

    def _linear_map(self, x):
        """The blend's fixed map on the target channels, in its own per-window space."""
        t, lb, h = self.targets, self.lookback, self.horizon
        series = ops.reshape(ops.transpose(x[:, :, :t], (0, 2, 1)), (-1, lb))  # [b*t, L]
        use_last, use_mean, use_std = self.map_space[0], self.map_space[1], self.map_space[2]
        shift = use_last * series[:, -1:] + use_mean * ops.mean(series, axis=1, keepdims=True)
        spread = ops.sqrt(ops.var(series, axis=1, keepdims=True) + 1e-5)
        scale = use_std * spread + (1.0 - use_std)
        y = self.blend_map((series - shift) / scale) * scale + shift  # [b*t, H]
        return ops.transpose(ops.reshape(y, (-1, t, h)), (0, 2, 1))

    @classmethod
    def from_config(cls, config):
        # Models saved before revin_affine existed had the learned RevIN scale/shift.
        return cls(**{"revin_affine": True, **config})

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.horizon, self.targets)

    def get_config(self):
        return {
            **super().get_config(),
            "lookback": self.lookback,
            "horizon": self.horizon,
            "channels": self.channels,
            "targets": self.targets,
            "cell": self.cell,
            "units": self.units,
            "layers": self.n_layers,
            "segment_length": self.segment_length,
            "dropout": self.dropout_rate,
            "revin": self.revin,
            "linear_skip": self.linear_skip,
            "mix_channels": self.mix_channels,
            "revin_affine": self.revin_affine,
            "subtract_last": self.subtract_last,
            "blend": self.blend,
        }


def _first_step(cell, query, state):
    """One step of a GRU (``reset_after``, Keras' default) or LSTM cell for every (window,
    channel, segment) from query [c, m, units] and state [h] or [h, c] (each [b*c, units]).

    The cell's own math (``GRUCell`` / ``LSTMCell``, implementation 2; the weights' layout from
    :func:`rnn_recipes.compat.cell_gates`) on broadcast shapes [b, c, m, units]: the query's
    projection is the same for every window and the state's for every segment.
    tests/tasks/test_forecast.py checks it against the RNN layer called on the repeated rows.
    """
    c, m, units = query.shape
    kernel, recurrent_kernel, bias, recurrent_bias = compat.cell_gates(cell)
    x = ops.matmul(ops.reshape(query, (c * m, units)), kernel)
    h = state[0]
    inner = ops.matmul(h, recurrent_kernel)
    act, gate = cell.activation, cell.recurrent_activation
    prev = ops.reshape(h, (-1, c, 1, units))
    if len(state) == 1:  # GRU: input and recurrent biases
        x = ops.reshape(x + bias, (1, c, m, 3 * units))
        inner = ops.reshape(inner + recurrent_bias, (-1, c, 1, 3 * units))
        z = gate(x[..., :units] + inner[..., :units])
        r = gate(x[..., units : 2 * units] + inner[..., units : 2 * units])
        candidate = act(x[..., 2 * units :] + r * inner[..., 2 * units :])
        new = z * prev + (1.0 - z) * candidate
    else:  # LSTM: one bias [4u]
        x = ops.reshape(x + bias, (1, c, m, 4 * units))
        zs = x + ops.reshape(inner, (-1, c, 1, 4 * units))
        i, f = gate(zs[..., :units]), gate(zs[..., units : 2 * units])
        carry = f * ops.reshape(state[1], (-1, c, 1, units)) + i * act(
            zs[..., 2 * units : 3 * units]
        )
        new = gate(zs[..., 3 * units :]) * act(carry)
    return ops.reshape(new, (-1, units))
