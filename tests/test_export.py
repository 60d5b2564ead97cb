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


# --- issue 10: a damaged run folder is one clear line ------------------------------------------


def _stub_run(root: Path) -> Path:
    """A run folder shaped like a finished one, with a SavedModel whose bytes are not one."""
    run = root / "run"
    (run / "saved_model" / "variables").mkdir(parents=True)
    (run / "config.toml").write_text('task = "sentiment"\n')
    (run / "saved_model" / "saved_model.pb").write_bytes(b"\x0a\xff\xff\xff")  # cut short
    (run / "saved_model" / "variables" / "variables.index").write_bytes(b"")
    return run


def test_truncated_saved_model_is_a_damaged_run_folder(tmp_path: Path):
    from rnn_recipes.errors import RecipeError
    from rnn_recipes.export import load_serving

    run = _stub_run(tmp_path)
    with pytest.raises(RecipeError, match=f"run folder {run} is damaged: saved_model cannot be"):
        load_serving(run)


def test_missing_variables_is_a_damaged_run_folder(tmp_path: Path):
    import shutil

    from rnn_recipes.errors import RecipeError
    from rnn_recipes.export import load_serving

    run = _stub_run(tmp_path)
    shutil.rmtree(run / "saved_model" / "variables")
    with pytest.raises(
        RecipeError, match="is damaged: saved_model/variables is missing; restore it"
    ):
        load_serving(run)


def test_truncated_model_keras_is_a_damaged_run_folder(tmp_path: Path):
    from rnn_recipes.errors import RecipeError

    run = _stub_run(tmp_path)
    inputs = keras.Input(shape=(3,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(run / "model.keras")
    data = (run / "model.keras").read_bytes()
    (run / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(RecipeError, match="is damaged: model.keras is truncated"):
        load_keras(run)


# --- issue 14: the SavedModel stores each weight once --------------------------------------------


def _stored_bytes(saved_model: Path) -> int:
    """Bytes of every variable value in a SavedModel's variables checkpoint."""
    import numpy as np
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(saved_model / "variables" / "variables"))
    total = 0
    for name in reader.get_variable_to_shape_map():
        if name.endswith("VARIABLE_VALUE"):  # not the object graph nor the lookup tables
            total += np.asarray(reader.get_tensor(name)).nbytes
    return total


def test_saved_model_stores_each_weight_once_and_serves_in_a_fresh_process(tmp_path: Path):
    """The end-to-end SavedModel's variables weigh what the model's weights do (they were
    written twice, a Keras and a TensorFlow object per weight), and it still computes what
    model.keras computes, loaded in a process without rnn_recipes."""
    import numpy as np
    import tensorflow as tf

    from tests.conftest import TINY, invoke, make_reviews, serve_in_fresh_process, write_csv

    data = write_csv(tmp_path / "reviews.csv", make_reviews(160))
    out = tmp_path / "run"
    result = invoke("run", "sentiment", "--data", data, *TINY, "--epochs", "1", "-o", out)
    assert result.exit_code == 0, result.output

    model = load_keras(out)
    weight_bytes = sum(np.asarray(w).nbytes for w in model.weights)
    stored = _stored_bytes(out / "saved_model")
    assert weight_bytes * 0.9 <= stored <= weight_bytes * 1.1, (stored, weight_bytes)

    texts = np.array(["great wonderful film", "awful boring food", "", "the phone was dull"])
    served = serve_in_fresh_process(out / "saved_model", {"text": texts}, tmp_path)
    expected = np.asarray(model(tf.constant(texts), training=False))
    np.testing.assert_allclose(served["probabilities"], expected, rtol=1e-4, atol=1e-6)


def test_model_keras_is_deflated_smaller_and_loads_the_same_weights(tmp_path: Path):
    import zipfile

    import keras
    import numpy as np

    from rnn_recipes import export

    # A mostly empty table, like the sentiment task's naive Bayes buckets.
    inputs = keras.Input(shape=(4,))
    layer = keras.layers.Dense(20_000, name="sparse")
    model = keras.Model(inputs, layer(inputs))
    kernel = np.zeros((4, 20_000), np.float32)
    kernel[:, :50] = np.random.default_rng(0).normal(size=(4, 50))
    layer.kernel.assign(kernel)
    plain, packed = tmp_path / "plain.keras", tmp_path / "model.keras"
    model.save(plain)
    export.write_keras(model, packed)
    with zipfile.ZipFile(packed) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
        assert sorted(z.namelist()) == sorted(zipfile.ZipFile(plain).namelist())
    assert packed.stat().st_size < plain.stat().st_size / 2
    assert not list(tmp_path.glob("*.tmp*"))  # no temporary file left behind
    (tmp_path / "config.toml").write_text('task = "sentiment"\n')
    loaded = export.load_keras(tmp_path)
    np.testing.assert_array_equal(loaded.get_layer("sparse").kernel.numpy(), kernel)
