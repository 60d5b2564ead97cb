"""The command line end to end: help, list/show without TensorFlow, a tiny run, predict, evaluate."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnn_recipes.cli import cli
from rnn_recipes.runner import partial_dir
from tests.conftest import TINY, invoke, make_reviews, serve_in_fresh_process, write_csv

COMMANDS = ["list", "show", "run", "predict", "evaluate"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help_with_an_example(command):
    args = ["--help"] if command is None else [command, "--help"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    assert "Example" in result.output
    assert "rnn-recipes " in result.output


def test_list_and_show_do_not_import_tensorflow():
    code = (
        "import sys; from click.testing import CliRunner; from rnn_recipes.cli import cli; "
        "r = CliRunner().invoke(cli, ['list']); assert r.exit_code == 0, r.output; "
        "r = CliRunner().invoke(cli, ['show', 'sentiment']); assert r.exit_code == 0, r.output; "
        "r = CliRunner().invoke(cli, ['run', '--help']); assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


ARENA_PROBE = """
import contextlib, ctypes, io, re, sys, tempfile, threading
if sys.argv[1] == "cli":
    from rnn_recipes import cli
    sys.argv = ["rnn-recipes", "list"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        cli.main()
kept, together = [], threading.Barrier(8)
def work():  # threads alive at once get arenas of their own, while there may be more
    together.wait()
    for _ in range(500):
        buffers = [ctypes.create_string_buffer(256) for _ in range(50)]
    kept.append(buffers)
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
path = tempfile.mktemp()
f = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, f)
libc.fclose(f)
print(len(re.findall("<heap nr=", open(path).read())))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")
def test_the_command_line_keeps_malloc_to_two_arenas():
    """glibc gives each allocating thread an arena of its own (up to 8 per core), and memory
    freed in one stays there: a run's memory grew epoch by epoch. The command line caps them
    at two before TensorFlow starts its threads; MALLOC_ARENA_MAX, when set, wins."""

    def heaps(mode: str, **env) -> int:
        environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
        proc = subprocess.run(
            [sys.executable, "-c", ARENA_PROBE, mode],
            capture_output=True,
            text=True,
            check=True,
            env={**environ, **env},
        )
        return int(proc.stdout.split()[-1])

    assert heaps("plain") > 2  # the probe sees the arenas a process makes without the cap
    assert heaps("cli") <= 2
    assert heaps("cli", MALLOC_ARENA_MAX="4") > 2


def test_list_shows_builtin_recipes():
    result = invoke("list")
    assert result.exit_code == 0
    assert any(line.startswith("sentiment ") for line in result.output.splitlines())


def test_show_prints_resolved_toml_with_overrides():
    result = invoke("show", "sentiment", "--set", "model.units=12")
    assert result.exit_code == 0
    assert 'task = "sentiment"' in result.output
    assert "units = 12" in result.output


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """One tiny end-to-end run shared by the tests below (a few seconds)."""
    root = tmp_path_factory.mktemp("cli")
    data = write_csv(root / "reviews.csv", make_reviews(160))
    out = root / "run"
    result = invoke("run", "sentiment", "--data", data, *TINY, "--epochs", "2", "--output", out)
    assert result.exit_code == 0, result.output
    assert "Run folder:" in result.output
    return out


def test_run_writes_a_complete_run_folder(tiny_run: Path):
    for name in [
        "config.toml",
        "metrics.json",
        "history.csv",
        "model.keras",
        "plots/learning_curves.png",
        "plots/confusion_matrix.png",
        "saved_model/saved_model.pb",
    ]:
        assert (tiny_run / name).is_file(), name
    assert any((tiny_run / "logs").rglob("*tfevents*"))
    # The run was built in .run.partial and renamed into place: nothing else is left behind.
    assert not partial_dir(tiny_run).exists()
    assert sorted(p.name for p in tiny_run.parent.iterdir()) == ["reviews.csv", "run"]
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    test = metrics["test"]
    matrix = test["confusion_matrix"]["matrix"]
    assert test["accuracy"] == pytest.approx(sum(matrix[i][i] for i in range(2)) / 16)
    f1 = [test["per_class"][c]["f1"] for c in ("negative", "positive")]
    assert test["macro_f1"] == pytest.approx(sum(f1) / 2)
    assert set(test["per_class"]) == {"negative", "positive"}
    assert {"precision", "recall", "f1", "support"} <= set(test["per_class"]["positive"])
    assert sum(map(sum, test["confusion_matrix"]["matrix"])) == test["examples"] == 16
    assert metrics["counts"]["train"] == {"negative": 64, "positive": 64}
    assert metrics["train"]["seconds"] > 0 and metrics["train"]["examples_per_second"] > 0
    assert metrics["train"]["epochs_run"] == 2
    assert metrics["versions"]["tensorflow"] and metrics["versions"]["keras"].startswith("3")
    history = (tiny_run / "history.csv").read_text().splitlines()
    assert len(history) == 3  # header + 2 epochs
    config = (tiny_run / "config.toml").read_text()
    assert "units = 4" in config and "epochs = 2" in config


def test_saved_model_serves_raw_text_in_a_fresh_process(tiny_run: Path, tmp_path: Path):
    """tf.saved_model.load with no rnn_recipes import; CPU-portable ops only."""
    import numpy as np

    texts = np.array(["great wonderful film", "awful boring food", ""])
    out = serve_in_fresh_process(tiny_run / "saved_model", {"text": texts}, tmp_path)
    classes = [x.decode() for x in out["classes"][0]]
    assert classes == ["negative", "positive"]
    assert out["probabilities"].shape == (3, 2)
    for probs, label, score in zip(out["probabilities"], out["label"], out["score"]):
        assert abs(probs.sum() - 1.0) < 1e-4
        assert label.decode() == classes[int(probs.argmax())]
        assert abs(score - probs.max()) < 1e-6

    from rnn_recipes.export import saved_model_ops

    ops = saved_model_ops(tiny_run / "saved_model")
    assert ops, "no ops read from saved_model.pb"
    assert not [op for op in ops if "Cudnn" in op]


def test_keras_file_reloads_and_agrees_with_saved_model(tiny_run: Path):
    import numpy as np
    import tensorflow as tf

    texts = ["great wonderful film", "awful boring food"]
    from rnn_recipes.export import load_keras

    model = load_keras(tiny_run)  # safe_mode=True
    probs = np.asarray(model.predict(tf.constant(texts), verbose=0))
    served = tf.saved_model.load(str(tiny_run / "saved_model")).signatures["serving_default"]
    expected = served(text=tf.constant(texts))["probabilities"].numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_predict_plain_json_stdin_and_file(tiny_run: Path, tmp_path: Path):
    texts = ["great wonderful loved", "awful terrible boring"]
    result = invoke("predict", tiny_run, *texts)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    # Each line is the best class and its probability, as the SavedModel computes them.
    import tensorflow as tf

    serve = tf.saved_model.load(str(tiny_run / "saved_model")).signatures["serving_default"]
    probs = serve(text=tf.constant(texts))["probabilities"].numpy()
    for line, text, p in zip(lines, texts, probs):
        label, prob, shown = line.split("\t")
        assert shown == text
        assert label == ["negative", "positive"][int(p.argmax())]
        assert prob == f"{p.max():.3f}"

    result = invoke("predict", tiny_run, "-", "--json", input="first text\n\nsecond text\n")
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["input"] for r in records] == ["first text", "second text"]
    assert set(records[0]["probabilities"]) == {"negative", "positive"}

    listing = tmp_path / "texts.txt"
    listing.write_text("one\ntwo\nthree\n")
    result = invoke("predict", tiny_run, f"@{listing}")
    assert len(result.stdout.strip().splitlines()) == 3


def test_evaluate_on_new_labelled_data(tiny_run: Path, tmp_path: Path):
    data = write_csv(tmp_path / "more.csv", make_reviews(40, seed=7))
    result = invoke("evaluate", tiny_run, "--data", data, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["examples"] == 40
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == 40
    result = invoke("evaluate", tiny_run, "--data", data)
    assert "accuracy" in result.stdout and "positive" in result.stdout


def test_predict_texts_that_are_all_empty_or_punctuation(tiny_run: Path):
    # They vectorise to no tokens at all; the model still sees its start token and answers as
    # it does for an empty text next to real ones.
    alone = invoke("predict", tiny_run, "", "...", "--json")
    mixed = invoke("predict", tiny_run, "", "great film", "--json")
    assert alone.exit_code == 0 and mixed.exit_code == 0, alone.output + mixed.output
    empty_alone, punctuation = [json.loads(line) for line in alone.stdout.splitlines()]
    empty_mixed = json.loads(mixed.stdout.splitlines()[0])
    assert empty_alone["probability"] == pytest.approx(empty_mixed["probability"], abs=1e-5)
    assert punctuation["probability"] == pytest.approx(empty_alone["probability"], abs=1e-5)
