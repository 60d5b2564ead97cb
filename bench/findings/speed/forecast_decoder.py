"""Forecast (issue 15): training step speed of the SegRNN decoder as written out against the RNN
layer it replaced, the hand-written reference and XLA, on the recipe's own ETTh1 batches.

``train_on_batch`` over the first N training batches of ``recipes/etth1-336-96.toml`` (its
defaults, the blend off as in bench/forecast.py's speed row), each variant in turn, R rounds;
wall and CPU rates per round and the median CPU rate (CPU seconds move less than wall seconds on
a shared machine). Variants:

- ``layer_decoder``: the decoder as it was, the RNN layer called on one-step sequences of the
  query rows repeated per window and the encoder states repeated per segment;
- ``written_out``: the recipe's decoder today (``SegRNN._decode``);
- ``written_out_xla``: the same compiled with ``jit_compile=True``;
- ``reference``: bench/references.py ``segrnn_model``.

Run from the repository root (the shared data beside it)::

    python -m bench.findings.speed.forecast_decoder --batches 20 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import keras
from keras import ops

from bench import common
from bench import references as ref
from rnn_recipes.config import load_config
from rnn_recipes.tasks.forecast.layers import SegRNN


class LayerDecoder(SegRNN):
    """SegRNN with the decoder as it was before issue 15's change (same weights, same output)."""

    def _decode(self, query, states, training):
        m, u = self.n_out, self.units
        batch = ops.shape(states[0][0])[0] // self.channels
        rows = ops.broadcast_to(query[None], (batch, self.channels, m, u))
        out = ops.reshape(rows, (-1, 1, u))
        for rnn, state in zip(self.rnns, states):
            init = [ops.reshape(ops.repeat(s[:, None], m, axis=1), (-1, u)) for s in state]
            out, *_ = rnn(out, initial_state=init, training=training)
        return out[:, 0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.findings.speed.forecast_decoder")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-root", default=str(common.REPO.parent / "shared" / "data"))
    args = parser.parse_args(argv)

    data_path = os.path.join(args.data_root, "timeseries", "ett", "ETTh1.csv")
    resolved = load_config(
        str(common.RECIPES / "etth1-336-96.toml"),
        sets=["model.linear_blend=false", f"data.path={data_path}"],
    )
    cfg, task = resolved.config, resolved.task
    keras.utils.set_random_seed(0)
    data = task.make_datasets(cfg, lambda *_: None)
    m, channels = cfg.model, len(data.spec.inputs)

    def build(cls, jit: bool = False):
        inputs = keras.Input(shape=(m.lookback, channels))
        layer = cls(
            lookback=m.lookback,
            horizon=m.horizon,
            channels=channels,
            targets=channels,
            units=m.units,
            segment_length=m.segment_length,
            dropout=m.dropout,
            revin=False,
            subtract_last=True,
            name="segrnn",
        )
        model = keras.Model(inputs, layer(inputs))
        # As the recipe compiles it (model.compile_model), plus the XLA switch.
        optimizer = keras.optimizers.Adam(cfg.train.learning_rate)
        model.compile(optimizer, "mae", metrics=["mse", "mae"], jit_compile=jit)
        return model

    variants = {
        "layer_decoder": build(LayerDecoder),
        "written_out": build(SegRNN),
        "written_out_xla": build(SegRNN, jit=True),
        "reference": ref.segrnn_model(m.lookback, m.horizon, channels, m.units, m.segment_length),
    }
    batches = [b for _, b in zip(range(args.batches), data.train)]
    windows = sum(int(b[0].shape[0]) for b in batches)

    def rate(model) -> tuple[float, float]:
        for b in batches[:3]:  # traces (and warms) the train step
            model.train_on_batch(*b)
        wall, cpu = time.perf_counter(), time.process_time()
        for b in batches:
            model.train_on_batch(*b)
        return windows / (time.perf_counter() - wall), windows / (time.process_time() - cpu)

    cpu_rates: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.rounds):
        for name, model in variants.items():
            wall, cpu = rate(model)
            cpu_rates[name].append(cpu)
            print(
                f"round {r + 1} {name}: {wall:.0f} windows/s, {cpu:.0f} windows/CPU-s "
                f"(load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
    for name, values in cpu_rates.items():
        print(f"{name}: median {statistics.median(values):.0f} windows per CPU second")


if __name__ == "__main__":
    main()
