"""The task contract: every registered task, run tiny, gives a complete run that serves and predicts.

In the style of keras-hub's ``run_task_test``: one set of checks, parametrized over the task
registry. For each task a tiny run of its recipe (two epochs) must write a complete run folder;
the SavedModel, loaded in a fresh process without rnn_recipes, must compute what ``model.keras``
computes on the same raw inputs; ``predict`` and ``evaluate`` must work on the run.

The ``sum`` task below is a throwaway fourth task, registered only in this module: a config
dataclass, a Task subclass and a recipe file are all it takes for the contract to cover it. It is
the worked example of docs/adding-a-task.md.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes import tasks
from rnn_recipes.config import TrainConfig, resolve_pkg_path, validate_train
from rnn_recipes.errors import ConfigError, RecipeError
from rnn_recipes.tasks import Prepared, Task, register
from tests.conftest import invoke, make_reviews, serve_in_fresh_process, write_csv
from tests.makers import TINY_FOR

# --- a throwaway task: the sum of a sequence of numbers --------------------------------------


@dataclass
class SumDataConfig:
    path: str | None = None  # CSV with a "values" column (space-separated numbers) and "total"
    length: int = 6  # numbers per sequence


@dataclass
class SumModelConfig:
    units: int = 4  # GRU state size; a sum needs very little


@dataclass
class SumConfig:
    task: str = "sum"
    description: str = ""
    data: SumDataConfig = field(default_factory=SumDataConfig)
    model: SumModelConfig = field(default_factory=SumModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class SumSpec:
    length: int  # the only size the model needs


def _read_sums(path: str, length: int) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    x = np.array([[float(v) for v in r["values"].split()] for r in rows], np.float32)
    if x.ndim != 2 or x.shape[1] != length:
        raise RecipeError(f"{path}: every row needs {length} values (data.length)")
    return x, np.array([float(r["total"]) for r in rows], np.float32)


@register("sum")
class SumTask(Task):
    """Numbers in, their sum out: the smallest task that exercises the whole interface."""

    config_class = SumConfig
    path_keys = ("data.path",)
    source_groups = {"data": (("path",), ())}

    def validate(self, config):
        if not config.data.path:
            raise ConfigError("no data: set data.path (or pass --data PATH)")
        validate_train(config.train)

    def make_datasets(self, config, log=print):
        import tensorflow as tf

        x, y = _read_sums(str(resolve_pkg_path(config.data.path)), config.data.length)
        cut = [int(len(x) * 0.6), int(len(x) * 0.8)]  # chronological 60/20/20
        parts = dict(zip(("train", "validation", "test"), zip(np.split(x, cut), np.split(y, cut))))
        log(f"Loaded {len(x)} sequences")

        def pipeline(name):
            xs, ys = parts[name]
            return tf.data.Dataset.from_tensor_slices((xs[..., None], ys)).batch(16)

        return Prepared(
            train=pipeline("train"),
            validation=pipeline("validation"),
            test=pipeline("test"),
            counts={name: {"sequences": len(p[0])} for name, p in parts.items()},
            train_examples=len(parts["train"][0]),
            spec=SumSpec(config.data.length),
        )

    def build_model(self, config, spec):
        import keras

        inputs = keras.Input(shape=(spec.length, 1), name="values")
        x = keras.layers.GRU(config.model.units)(inputs)
        outputs = keras.layers.Reshape(())(keras.layers.Dense(1)(x))
        return keras.Model(inputs, outputs, name="sum_rnn")

    def compile_model(self, model, config):
        import keras

        model.compile(optimizer=keras.optimizers.Adam(config.train.learning_rate), loss="mse")

    def evaluate(self, config, data, model):
        y = np.concatenate([np.asarray(b) for _, b in data.test])
        return {"mse": float(np.mean((model.predict(data.test, verbose=0) - y) ** 2))}

    def summary(self, test):
        return f"MSE {test['mse']:.4f}"

    def end_to_end_model(self, config, data, model):
        import keras

        raw = keras.Input(shape=(data.spec.length,), name="values")
        return keras.Model(raw, model(keras.layers.Reshape((data.spec.length, 1))(raw)))

    def serving(self, config, data, full_model):
        import tensorflow as tf

        def serve(values):
            return {"total": full_model(values, training=False)}

        return serve, [tf.TensorSpec([None, data.spec.length], tf.float32, name="values")]

    def predict(self, serve, config, inputs, output=None):
        import tensorflow as tf

        x = np.array([[float(v) for v in item.split()] for item in inputs], np.float32)
        totals = serve(values=tf.constant(x))["total"].numpy()
        return [{"input": item, "total": float(t)} for item, t in zip(inputs, totals)]

    def format_prediction(self, record):
        return f"{record['total']:.3f}\t{record['input']}"

    def evaluate_exported(self, serve, config, path):
        import tensorflow as tf

        x, y = _read_sums(path, config.data.length)
        got = serve(values=tf.constant(x))["total"].numpy()
        return {"mse": float(np.mean((got - y) ** 2)), "examples": len(y)}

    def format_metrics(self, metrics):
        return [f"MSE {metrics['mse']:.4f} on {metrics['examples']} sequences"]


def _write_sums(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 6))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["values", "total"])
        for row in x:
            writer.writerow([" ".join(f"{v:.3f}" for v in row), f"{row.round(3).sum():.3f}"])
    return path


SUM_RECIPE = """# The throwaway task's recipe: sums of six numbers.
task = "sum"
description = "The sum of a sequence of numbers (contract test)"

[data]
path = "sums.csv"  # relative to this file

[train]
epochs = 2
"""


# --- what each task needs for the contract -------------------------------------------------


@dataclass
class Case:
    """How to run one task tiny, and raw inputs for serving, predict and evaluate."""

    recipe: str  # built-in recipe name or path
    options: list[str]  # --set options that make the run tiny
    serving_inputs: dict[str, np.ndarray]  # signature argument -> raw batch
    output: str  # the serving output that model.keras computes
    predict_inputs: list[str]
    evaluate_data: str
    plots: list[str] = field(default_factory=list)  # task plots expected besides learning curves


def _speech_demo(*names: str) -> list[str]:
    return [str(resolve_pkg_path(f"pkg:samples/speech_vowels/{n}")) for n in names]


def _case(task: str, tmp: Path) -> Case:
    if task == "sentiment":
        data = write_csv(tmp / "more.csv", make_reviews(30, seed=5))
        texts = ["great wonderful film", "awful boring food"]
        return Case(
            "sentiment",
            TINY_FOR["sentiment"],
            {"text": np.array(texts)},
            "probabilities",
            texts,
            str(data),
            ["confusion_matrix.png"],
        )
    if task == "speech":
        from rnn_recipes.data import audio

        files = _speech_demo("a_ann_0.wav", "e_bob_1.wav")
        waves = [audio.read_wav(Path(f), 8000, True) for f in files]
        batch = np.zeros((2, max(map(len, waves))), np.float32)
        for row, w in enumerate(waves):
            batch[row, : len(w)] = w
        folder = Path(_speech_demo("")[0])
        return Case(
            "speech",
            TINY_FOR["speech"],
            {"waveform": batch},
            "probabilities",
            files,
            str(folder),
            ["confusion_matrix.png", "log_mel_example.png"],
        )
    if task == "forecast":
        from tests.makers import LOOKBACK

        demo = Path(resolve_pkg_path("pkg:samples/forecast_demo.csv"))
        rows = demo.read_text().splitlines()
        recent = tmp / "recent.csv"
        recent.write_text("\n".join([rows[0], *rows[-200:]]) + "\n")
        values = np.array([[float(v) for v in r.split(",")[1:]] for r in rows[-2 * LOOKBACK :]])
        windows = np.stack([values[:LOOKBACK], values[LOOKBACK:]]).astype(np.float32)
        return Case(
            "forecast",
            TINY_FOR["forecast"],
            {"window": windows},
            "forecast",
            [str(recent)],
            str(recent),
            ["error_by_horizon.png", "forecast_examples.png"],
        )
    if task == "sum":
        (tmp / "recipe").mkdir()
        _write_sums(tmp / "recipe" / "sums.csv", 120, seed=0)
        (tmp / "recipe" / "sum.toml").write_text(SUM_RECIPE)
        return Case(
            str(tmp / "recipe" / "sum.toml"),
            ["--set", "train.verbose=quiet"],
            {
                "values": np.array(
                    [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [1, -1, 1, -1, 0, 0]], np.float32
                )
            },
            "total",
            ["1 2 3 0 0 0", "0.5 0.5 0.5 0.5 0.5 0.5"],
            str(_write_sums(tmp / "new-sums.csv", 20, seed=1)),
        )
    raise AssertionError(f"task '{task}' is registered but has no contract case here; add one")


# --- the contract ----------------------------------------------------------------------------


@pytest.mark.parametrize("task", tasks.names())
def test_task_contract(task: str, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # predict may write files into the current folder
    case = _case(task, tmp_path)
    out = tmp_path / "run"

    # 1. A tiny run writes a complete run folder, and only that.
    result = invoke("run", case.recipe, *case.options, "--epochs", "2", "-o", out)
    assert result.exit_code == 0, result.output
    for name in ["config.toml", "metrics.json", "history.csv", "model.keras"]:
        assert (out / name).is_file(), name
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert any((out / "logs").rglob("*tfevents*"))
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert plots == sorted(["learning_curves.png", *case.plots])
    assert not (tmp_path / ".run.partial").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == task and metrics["test"]
    epochs = metrics["train"]["epochs_run"]
    assert 1 <= epochs <= 2
    assert len((out / "history.csv").read_text().splitlines()) == 1 + epochs
    assert f'task = "{task}"' in (out / "config.toml").read_text()

    # 2. The SavedModel in a fresh process computes what model.keras computes.
    served = serve_in_fresh_process(out / "saved_model", case.serving_inputs, tmp_path)
    from rnn_recipes.export import load_keras

    model = load_keras(out)
    import tensorflow as tf

    inputs = [tf.constant(v) for v in case.serving_inputs.values()]
    expected = np.asarray(model(inputs[0] if len(inputs) == 1 else inputs, training=False))
    np.testing.assert_allclose(served[case.output], expected, rtol=1e-4, atol=1e-5)

    # 3. predict and evaluate work on the finished run.
    result = invoke("predict", out, *case.predict_inputs, "-o", tmp_path / "predicted")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == len(case.predict_inputs)
    result = invoke("evaluate", out, "--data", case.evaluate_data, "--json")
    assert result.exit_code == 0, result.output
    assert tasks.get(task).format_metrics(json.loads(result.stdout))  # what plain evaluate prints


def test_every_builtin_task_has_a_demo_recipe_of_its_name():
    from rnn_recipes.config import builtin_recipes, load_config

    recipes = builtin_recipes()
    for name in tasks.names():
        if type(tasks.get(name)).__module__.startswith("rnn_recipes."):
            assert name in recipes, name
            assert load_config(name).config.task == name


def test_registry_refuses_a_second_task_of_the_same_name_and_lists_the_known_ones():
    with pytest.raises(ValueError, match="task 'sum' is already registered"):
        register("sum")(SumTask)
    with pytest.raises(ConfigError, match="unknown task 'nope'; known tasks: forecast, sentiment"):
        tasks.get("nope")


def test_task_packages_keep_tensorflow_out_of_the_registry():
    """Looking every task up (configs, path keys, validation) imports no TensorFlow."""
    import subprocess
    import sys

    code = (
        "import sys; from rnn_recipes import tasks; "
        "[tasks.get(n).config_class() for n in tasks.names()]; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
