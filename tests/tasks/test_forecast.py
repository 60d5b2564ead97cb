"""The forecast task: scaling without leakage, baselines, the run folder, export, predict,
evaluate, bad input, the quick start and a short ETTh1 run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import load_config
from rnn_recipes.tasks.forecast import baselines
from rnn_recipes.tasks.forecast import data as forecast_data
from rnn_recipes.tasks.forecast import model as forecast_model
from tests.conftest import (
    invoke,
    require_shared,
    run_quick_start,
)
from tests.makers import FORECAST_TINY as TINY
from tests.makers import HORIZON, LOOKBACK, make_series, write_series


def _config(path: Path, *sets: str):
    return load_config("forecast", sets=[*TINY[1::2], f"data.path={path}", *sets]).config


# --- data and scaling --------------------------------------------------------------------------


def test_scaling_uses_training_rows_only(tmp_path: Path):
    stamps, values = make_series(300)
    values[210:] += 1000.0  # validation and test rows far away: any leak would move the mean
    path = write_series(tmp_path / "s.csv", stamps, values)
    cfg = _config(path, "data.split=[210, 40, 50]")
    data = forecast_data.make_datasets(cfg, log=lambda *_: None)
    np.testing.assert_allclose(data.scaler.mean, values[:210].mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(data.scaler.std, values[:210].std(axis=0), rtol=1e-4)
    assert data.inputs == data.targets == ["a", "b", "cov"]  # default: every numeric column
    assert data.counts["test"] == {"rows": 50, "windows": 50 - HORIZON + 1}
    # The test pipeline yields exactly the NumPy windows, in order.
    x, y = data.windows("test")
    got = np.concatenate([b[1].numpy() for b in data.test])
    np.testing.assert_allclose(got, y)
    np.testing.assert_allclose(y[0, 0], data.scaled[250, :3])  # first test target = first test row
    np.testing.assert_allclose(x[0, -1], data.scaled[249])  # read from the validation rows


def test_covariates_come_after_the_targets(tmp_path: Path):
    stamps, values = make_series(300)
    path = write_series(tmp_path / "s.csv", stamps, values)
    cfg = _config(path, 'data.target_columns=["b"]', 'data.input_columns=["cov", "b"]')
    data = forecast_data.make_datasets(cfg, log=lambda *_: None)
    assert data.inputs == ["b", "cov"] and data.targets == ["b"]
    _, y = data.windows("train")
    assert y.shape[2] == 1


# --- baselines on a hand-checked toy series ----------------------------------------------------


def test_baselines_on_a_toy_series():
    x = np.array([[[1.0], [2.0], [3.0], [4.0], [5.0]]])  # one window, lookback 5
    np.testing.assert_array_equal(baselines.repeat_last(x, 3, 1)[0, :, 0], [5, 5, 5])
    # season 2: the last season is (4, 5), repeated: 4, 5, 4
    np.testing.assert_array_equal(baselines.seasonal_naive(x, 3, 1, 2)[0, :, 0], [4, 5, 4])
    skipped = baselines.baseline_forecasts(x, 3, 1, 7)["seasonal_naive"]
    assert skipped == "season 7 is longer than the lookback 5"

    actual = np.array([[[6.0], [7.0], [8.0]]])
    block = baselines.error_block(
        baselines.repeat_last(x, 3, 1), actual, np.array([10.0]), np.array([2.0]), ["v"]
    )
    # errors -1, -2, -3: MSE 14/3, MAE 2; in original units (std 2) MSE 56/3, MAE 4
    assert block["mse"] == pytest.approx(14 / 3, rel=1e-5) and block["mae"] == 2
    assert block["original_mse"] == pytest.approx(56 / 3, rel=1e-5)
    assert block["original_mae"] == 4
    assert block["per_step"]["mse"] == [1, 4, 9]
    assert block["per_column"]["v"]["per_step"]["original_mae"] == [2, 4, 6]


def test_linear_baseline_recovers_an_exact_linear_rule():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6, 2))
    y = np.stack([x[:, -1, :] + x[:, -2, :], 2 * x[:, 0, :] - 1], axis=1)  # [200, 2 steps, 2]
    weights, ridges = baselines.fit_linear([(x, y)], [(x[:50], y[:50])])
    np.testing.assert_allclose(baselines.apply_linear(x, weights), y, atol=1e-3)
    assert len(ridges) == 2


# --- the model ---------------------------------------------------------------------------------


def test_linear_init_starts_the_model_at_the_revin_linear_fit(tmp_path: Path):
    """Stacked LSTM, uneven segments, the optional least-squares skip (off by default since
    issue 12): at initialisation the output is RevIN + the fitted skip exactly (the RNN branch
    starts at zero), and the layer survives a save/load round trip."""
    import keras

    stamps, values = make_series(400)
    path = write_series(tmp_path / "s.csv", stamps, values)
    cfg = _config(
        path,
        'model.cell="lstm"',
        "model.layers=2",
        "model.segment_length=10",  # 48 = 4 x 10 + 8 padded; 12 = 10 + 2 cut
        'data.target_columns=["a", "b"]',
        'data.input_columns=["a", "b", "cov"]',
        "model.linear_skip=true",
        "model.linear_init=true",
        'model.normalization="revin"',
        "model.linear_blend=false",
    )
    data = forecast_data.make_datasets(cfg, log=lambda *_: None)
    model = forecast_model.build_model(cfg, data.spec)
    forecast_model.initialize(model, cfg, data)
    x, _ = data.windows("validation")
    got = np.asarray(model.predict(x, verbose=0))
    assert got.shape == (len(x), HORIZON, 2)

    layer = model.get_layer("segrnn")
    assert layer.mix is not None  # "auto": a covariate (cov) turns channel mixing on
    kernel, bias = layer.skip.get_weights()
    mean = x.mean(axis=1, keepdims=True)
    std = np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    norm = (x - mean) / std  # RevIN without learned scale/shift
    expected = np.einsum("blc,lh->bhc", norm, kernel) + bias[None, :, None]
    expected = (expected * std + mean)[:, :, :2]
    np.testing.assert_allclose(got, expected, atol=1e-4)

    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(x, verbose=0), got, atol=1e-5)


def test_default_model_is_segrnn_without_skip_or_revin_affine(tmp_path: Path):
    """Issue 12: no linear skip, no RevIN gamma/beta, N(0, 1) decoder queries by default; the
    skip, when on without linear_init, starts at zero (the forecast is the RNN's)."""
    stamps, values = make_series(400)
    path = write_series(tmp_path / "s.csv", stamps, values)
    cfg = _config(path)
    data = forecast_data.make_datasets(cfg, log=lambda *_: None)
    layer = forecast_model.build_model(cfg, data.spec).get_layer("segrnn")
    names = {w.path.split("/")[-1] for w in layer.weights}
    assert layer.skip is None and not {"gamma", "beta", "kernel_skip"} & names
    assert not any("linear_skip" in w.path for w in layer.weights)
    # SegRNN draws its decoder queries from N(0, 1); Keras' default would be uniform(-0.05, 0.05).
    # A tiny model has too few values to test a standard deviation (it failed once at 0.46 with
    # four values), but any of them beyond 0.1 rules the default out (all within 0.1 by chance:
    # probability below 1e-6 for the >= 6 values here).
    values = np.concatenate([layer.position.numpy().ravel(), layer.channel.numpy().ravel()])
    assert values.size >= 6 and np.abs(values).max() > 0.1, values

    cfg = _config(path, "model.linear_skip=true")
    model = forecast_model.build_model(cfg, data.spec)
    forecast_model.initialize(model, cfg, data)
    kernel, _ = model.get_layer("segrnn").skip.get_weights()
    assert not kernel.any()


def test_layers_saved_before_revin_affine_keep_their_scale_and_shift():
    """A model.keras saved before issue 12 has no revin_affine key and gamma/beta weights."""
    from rnn_recipes.tasks.forecast.layers import SegRNN

    config = SegRNN(lookback=48, horizon=12, channels=2, targets=2).get_config()
    del config["revin_affine"]
    assert SegRNN.from_config(config).revin_affine is True


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_decoder_step_written_out_matches_the_rnn_layer(cell: str):
    """The decoder's first step is the cell's math on broadcast shapes (issue 15, speed), not
    the RNN layer on one-step sequences of repeated rows: for the same weights the forecast and
    its gradients are the ones the layer call gave, for stacked layers too."""
    import tensorflow as tf
    from keras import ops

    # The decoder as it was (the RNN layer on [rows, 1, units]): the very class the speed A/B of
    # bench/findings/speed measured against, so the equivalence shown here is the one it relies on.
    from bench.findings.speed.forecast_decoder import LayerDecoder
    from rnn_recipes.tasks.forecast.layers import SegRNN

    sizes = dict(lookback=20, horizon=7, channels=3, targets=2, cell=cell, units=8, layers=2)
    sizes |= dict(segment_length=6, dropout=0.5, revin=False, subtract_last=True)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 20, 3)).astype(np.float32)
    new, old = SegRNN(**sizes), LayerDecoder(**sizes)
    new(x), old(x)
    for w in new.weights:  # away from the initial values (zero biases would hide a mix-up)
        w.assign(rng.normal(size=w.shape).astype(np.float32) * 0.3)
    old.set_weights(new.get_weights())
    assert [w.path.split("/", 1)[1] for w in new.weights] == [
        w.path.split("/", 1)[1] for w in old.weights
    ]  # same weights under the same names: model.keras files load as before
    np.testing.assert_allclose(np.asarray(new(x)), np.asarray(old(x)), rtol=1e-5, atol=1e-6)
    grads = []
    for layer in (new, old):
        with tf.GradientTape() as tape:
            loss = ops.sum(ops.abs(layer(x)))
        grads.append(tape.gradient(loss, layer.trainable_weights))
    for a, b in zip(*grads):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_type3_schedule_and_its_callback():
    """Base rate for epochs 0-3, then x0.8 per epoch; "constant" adds no callback."""
    from rnn_recipes.tasks.forecast.config import Config

    cfg = Config()
    cfg.train.learning_rate = 0.01
    (scheduler,) = forecast_model.callbacks(cfg)
    rates = [scheduler.schedule(epoch, 0.0) for epoch in range(6)]
    assert rates == pytest.approx([0.01, 0.01, 0.01, 0.01, 0.008, 0.0064])
    cfg.train.lr_schedule = "constant"
    assert forecast_model.callbacks(cfg) == []


def test_type3_schedule_continues_from_a_resumed_epoch(tmp_path: Path):
    """--resume fits from initial_epoch = the checkpoint's epoch: epoch 6 (index 5) trains at
    0.8**2 of the base rate, not at the base rate a restarted count would give."""
    stamps, values = make_series(400)
    path = write_series(tmp_path / "s.csv", stamps, values)
    cfg = _config(path)
    data = forecast_data.make_datasets(cfg, log=lambda *_: None)
    model = forecast_model.build_model(cfg, data.spec)
    forecast_model.compile_model(model, cfg)
    x, y = data.windows("validation")
    model.fit(x, y, epochs=6, initial_epoch=5, callbacks=forecast_model.callbacks(cfg), verbose=0)
    rate = float(np.asarray(model.optimizer.learning_rate))
    assert rate == pytest.approx(cfg.train.learning_rate * 0.8**2)


def test_batch_is_halved_on_short_series_and_logged(tmp_path: Path):
    """An epoch keeps >= 30 steps: 256 stays for ETTh1's 8209 windows, 2490 windows get 64."""
    assert forecast_data.train_batch(256, 8209) == 256
    assert forecast_data.train_batch(256, 2490) == 64
    assert forecast_data.train_batch(256, 10) == 16
    stamps, values = make_series(400)
    path = write_series(tmp_path / "s.csv", stamps, values)
    lines: list[str] = []
    forecast_data.make_datasets(_config(path, "train.batch_size=256"), log=lines.append)
    assert any("batch size 16 instead of 256" in line for line in lines), lines


# --- a tiny end-to-end run shared by the tests below -------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """(run folder, the CSV it trained on, the stamps and values) from one tiny run."""
    root = tmp_path_factory.mktemp("forecast")
    stamps, values = make_series()
    data = write_series(root / "series.csv", stamps, values)
    out = root / "run"
    result = invoke(
        "run",
        "forecast",
        "--data",
        data,
        *TINY,
        "--set",
        "data.fill=ffill",
        "--epochs",
        "2",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "Test: MSE" in result.output and "repeat-last" in result.output
    return out, data, stamps, values


def test_run_folder_and_metrics(tiny_run):
    out, _, _, _ = tiny_run
    for name in [
        "config.toml",
        "metrics.json",
        "history.csv",
        "model.keras",
        "saved_model/saved_model.pb",
        "plots/learning_curves.png",
        "plots/error_by_horizon.png",
        "plots/forecast_examples.png",
    ]:
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["test"]
    assert test["windows"] == 120 - HORIZON + 1 == metrics["counts"]["test"]["windows"]
    for block in [
        test,
        *(test["baselines"][b] for b in ("repeat_last", "seasonal_naive", "linear")),
    ]:
        assert {"mse", "mae", "original_mse", "original_mae", "per_step", "per_column"} <= set(
            block
        )
        assert len(block["per_step"]["mse"]) == HORIZON
        assert set(block["per_column"]) == {"a", "b", "cov"}
        assert len(block["per_column"]["a"]["per_step"]["original_mae"]) == HORIZON
    assert test["baselines"]["seasonal_naive"]["season"] == 24  # inferred: hourly
    assert set(test["beats"]) == {"repeat_last", "seasonal_naive", "linear"}
    assert test["summary"].startswith(f"MSE {test['mse']:.4f}")  # the line the run printed
    # Issue 12: the blend's least-squares map alone (in the space chosen for it), and the gain.
    part = test["linear_map"]
    assert (
        part["normalization"] == metrics["blend"]["map_normalization"]
        and part["mse"] > 0
        and part["validation_mse"] > 0
    )
    assert part["gain"] == pytest.approx(1 - test["mse"] / part["mse"], rel=1e-4)
    assert metrics["data"]["frequency"] == "1h" and metrics["data"]["season"] == 24
    assert metrics["data"]["split_rows"]["test"] == [480, 600]
    assert metrics["train"]["seconds"] > 0 and metrics["train"]["examples_per_second"] > 0
    history = list(csv.DictReader((out / "history.csv").read_text().splitlines()))
    assert len(history) == 2 and {"epoch", "loss", "mse", "val_mse"} <= set(history[0])
    assert "mae" not in history[0]  # the loss is the MAE: not computed a second time
    # The schedule's rate is recorded per epoch (type3: the base rate for the first four).
    assert [float(r["learning_rate"]) for r in history] == pytest.approx([1e-3, 1e-3])


def test_saved_model_round_trip_in_a_fresh_process(tiny_run):
    """Raw windows in original units in, forecasts in original units out; no rnn_recipes import,
    no GPU-only ops."""
    out, data, stamps, values = tiny_run
    code = f"""
import csv, json, sys
import numpy as np
import tensorflow as tf
rows = list(csv.reader(open({str(data)!r})))[1:]
x = np.array([[float(v) for v in r[1:]] for r in rows], dtype=np.float32)
windows = np.stack([x[-{LOOKBACK}:], x[-{LOOKBACK} - 100:-100]])
serve = tf.saved_model.load({str(out / "saved_model")!r}).signatures["serving_default"]
res = serve(window=tf.constant(windows))
print(json.dumps({{
    "forecast": res["forecast"].numpy().tolist(),
    "columns": [c.decode() for c in res["target_columns"].numpy()[0]],
    "rnn_recipes": any(k.startswith("rnn_recipes") for k in sys.modules),
}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["rnn_recipes"] is False and got["columns"] == ["a", "b", "cov"]
    served = np.array(got["forecast"])
    assert served.shape == (2, HORIZON, 3)
    # Original units: each column's forecast sits at that column's level (a ~100, b ~5, cov ~20).
    level = values.mean(axis=0)
    assert np.all(np.abs(served.mean(axis=(0, 1)) - level) < 0.5 * values.std(axis=0) + 1)

    # The same numbers as model.keras, and as the trained core fed the scaled window by hand.
    from rnn_recipes.export import load_keras

    full = load_keras(out)  # registers the custom layer; safe_mode=True
    windows = np.stack([values[-LOOKBACK:], values[-LOOKBACK - 100 : -100]]).astype(np.float32)
    windows = np.round(windows, 4)  # what the CSV holds
    np.testing.assert_allclose(full.predict(windows, verbose=0), served, atol=1e-4, rtol=1e-4)
    scaler = json.loads((out / "metrics.json").read_text())["data"]["scaler"]
    mean = np.array([scaler[c]["mean"] for c in ["a", "b", "cov"]])
    std = np.array([scaler[c]["std"] for c in ["a", "b", "cov"]])
    core = full.get_layer("segrnn_gru")
    scaled = np.asarray(core.predict(((windows - mean) / std).astype(np.float32), verbose=0))
    np.testing.assert_allclose(scaled * std + mean, served, atol=1e-3, rtol=1e-4)

    from rnn_recipes.export import saved_model_ops

    ops = saved_model_ops(out / "saved_model")
    assert ops and not [op for op in ops if "Cudnn" in op]


def test_predict_writes_a_forecast_csv_with_future_timestamps_and_a_plot(tiny_run, tmp_path):
    out, data, stamps, values = tiny_run
    recent = write_series(tmp_path / "recent.csv", stamps[-100:], values[-100:])
    result = invoke("predict", out, recent, "-o", tmp_path / "fc")
    assert result.exit_code == 0, result.output
    assert f"{HORIZON} steps of a, b, cov from 2024-03-26 00:00:00" in result.stdout
    rows = list(csv.reader((tmp_path / "fc" / "recent-forecast.csv").open()))
    assert rows[0] == ["date", "a", "b", "cov"] and len(rows) == HORIZON + 1
    assert rows[1][0] == "2024-03-26 00:00:00" and rows[-1][0] == "2024-03-26 11:00:00"
    assert (tmp_path / "fc" / "recent-forecast.png").stat().st_size > 1000
    assert 80 < float(rows[1][1]) < 120  # original units

    before = (tmp_path / "fc" / "recent-forecast.csv").read_bytes()
    again = invoke("predict", out, recent, "-o", tmp_path / "fc")
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert (tmp_path / "fc" / "recent-forecast.csv").read_bytes() == before  # not replaced

    result = invoke("predict", out, recent, "-o", tmp_path / "fc2", "--json")
    record = json.loads(result.stdout)
    assert record["timestamps"][0] == "2024-03-26 00:00:00"
    assert len(record["forecast"]["b"]) == HORIZON
    assert record["forecast"]["a"][0] == pytest.approx(float(rows[1][1]), rel=1e-4)


def test_evaluate_matches_the_run_on_the_same_windows(tiny_run, tmp_path):
    """The test span (lookback rows early) through the exported model gives the run's figures."""
    out, _, stamps, values = tiny_run
    span = write_series(tmp_path / "test.csv", stamps[480 - LOOKBACK :], values[480 - LOOKBACK :])
    result = invoke("evaluate", out, "--data", span, "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    test = json.loads((out / "metrics.json").read_text())["test"]
    assert got["windows"] == test["windows"]
    assert got["mse"] == pytest.approx(test["mse"], rel=1e-3)
    assert got["original_mae"] == pytest.approx(test["original_mae"], rel=1e-3)
    # Every baseline of metrics.json, the linear one included, with the same figures, so the
    # "beats" verdicts agree (issue 11, bug 5: evaluate used to leave the linear model out).
    assert set(got["baselines"]) == set(test["baselines"])
    for name, block in test["baselines"].items():
        if "mse" in block:
            assert got["baselines"][name]["mse"] == pytest.approx(block["mse"], rel=1e-3), name
    assert got["beats"] == test["beats"]
    text = invoke("evaluate", out, "--data", span).stdout
    assert "MSE" in text and "repeat-last" in text and "linear" in text


# --- the quick start and real data -------------------------------------------------------------


@pytest.mark.slow
def test_quick_start_beats_repeat_last_in_time(tmp_path: Path):
    proc, seconds = run_quick_start("forecast", tmp_path)
    assert "Test: MSE" in proc.stdout
    test = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    assert test["beats"]["repeat_last"], test["baselines"]["repeat_last"]["mse"]
    assert test["beats"]["seasonal_naive"]
    print(f"forecast quick start: {seconds:.0f} s, MSE {test['mse']:.4f}")


@pytest.mark.slow
@pytest.mark.realdata
def test_etth1_short_run_beats_repeat_last(tmp_path: Path):
    """The standard ETTh1 split, horizon 24, a couple of epochs: must beat repeat-last."""
    from bench.common import recipe_file

    recipe = recipe_file("etth1-336-96", require_shared("timeseries", "ett", "ETTh1.csv"), tmp_path)
    out = tmp_path / "run"
    started = time.perf_counter()
    result = invoke(
        "run",
        recipe,  # the standard split comes from the recipe
        "--set",
        "model.lookback=96",
        "--set",
        "model.horizon=24",
        "--set",
        "model.segment_length=24",
        "--set",
        "model.units=128",
        "--set",
        "train.verbose=quiet",
        "--epochs",
        "3",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["test"]
    assert metrics["counts"]["test"] == {"rows": 2880, "windows": 2880 - 24 + 1}
    assert test["beats"]["repeat_last"], test
    assert test["mse"] < 0.45, test["mse"]
    print(
        f"ETTh1 96->24, 3 epochs: MSE {test['mse']:.4f} (repeat-last "
        f"{test['baselines']['repeat_last']['mse']:.4f}, linear "
        f"{test['baselines']['linear']['mse']:.4f}) in {time.perf_counter() - started:.0f} s"
    )
