import subprocess
import sys
from pathlib import Path

import keras
import pytest

from rnn_recipes.export import load_keras, portable_rnn_kernels


def test_portable_kernels_switch_off_cudnn_everywhere_and_restore():
    inputs = keras.Input(shape=(None, 3))
    x = keras.layers.Bidirectional(keras.layers.LSTM(2, return_sequences=True))(inputs)
    x = keras.layers.GRU(2)(x)
    model = keras.Model(inputs, x)
    rnns = [layer for layer in model._flatten_layers() if hasattr(layer, "use_cudnn")]
    assert len(rnns) >= 3  # forward + backward LSTM and the GRU
    assert all(layer.use_cudnn == "auto" for layer in rnns)
    with portable_rnn_kernels(model):
        assert all(layer.use_cudnn is False for layer in rnns)
    assert all(layer.use_cudnn == "auto" for layer in rnns)


def test_load_keras_refuses_code_in_a_model_file(tmp_path: Path):
    """A .keras file holding a Python lambda is refused: load_keras keeps safe_mode on."""
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    model.save(tmp_path / "model.keras")
    (tmp_path / "config.toml").write_text('task = "sentiment"\n')
    with pytest.raises(ValueError, match="safe_mode"):
        load_keras(tmp_path)


def test_load_keras_registers_the_task_layers_in_a_fresh_process(tmp_path: Path):
    """A forecast model.keras (a custom layer) loads with nothing imported but load_keras."""
    from tests.conftest import invoke
    from tests.makers import FORECAST_TINY, make_series, write_series

    data = write_series(tmp_path / "s.csv", *make_series())
    out = tmp_path / "run"
    result = invoke("run", "forecast", "--data", data, *FORECAST_TINY, "--epochs", "1", "-o", out)
    assert result.exit_code == 0, result.output
    code = (
        "from rnn_recipes.export import load_keras\n"
        f"model = load_keras({str(out)!r})\n"
        "print(sorted(type(layer).__name__ for layer in model._flatten_layers()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SegRNN" in proc.stdout.strip().splitlines()[-1]
