"""train.strategy: mirrored on two logical CPUs, multi-worker with two local processes.

Strategies are set up when TensorFlow starts, so every training test runs in fresh processes:
``RNN_RECIPES_LOGICAL_CPUS=2`` gives MirroredStrategy two CPU devices, and two processes with
their own ``TF_CONFIG`` on 127.0.0.1 form a two-worker cluster. ``RNN_RECIPES_DUMP_WEIGHTS``
makes each worker write its final weights and per-epoch step counts, so the test can check that
the workers ended in step even though only the chief keeps a run folder.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes import config as C
from rnn_recipes import distributed
from rnn_recipes.errors import ConfigError, RecipeError
from tests.conftest import assert_clean_failure, invoke, make_reviews, write_csv

SMALL = [
    "--set",
    "model.units=8",
    "--set",
    "model.embedding_dim=16",
    "--set",
    "model.max_tokens=200",
    "--set",
    "model.nb_buckets=1024",
    # The naive Bayes weight is 0 while training and set after it; fixed at 0, the exported
    # weights equal the trained ones the workers dump.
    "--set",
    "model.nb_weight=0",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.verbose=epoch",
]
TIMEOUT = 300  # seconds per process: generous for 2 busy cores, never reached when it works
RUN_FILES = ["config.toml", "metrics.json", "history.csv", "model.keras", "saved_model"]


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "rnn_recipes.cli", *map(str, args)]


def _free_ports(n: int) -> list[int]:
    """Ports the OS says are free (bound to port 0, then released for the workers to take)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _tf_config(ports: list[int], index: int) -> str:
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def _run_cluster(commands: list[list[str]], envs: list[dict], cwd: Path) -> list[tuple]:
    """Start one process per worker, wait for all; (returncode, stdout, stderr) each."""
    procs = [
        subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for cmd, env in zip(commands, envs)
    ]
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=TIMEOUT)
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:  # a worker left waiting for a dead peer must not outlive the test
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return results


def _predicts(run: Path) -> None:
    result = invoke("predict", run, "great wonderful loved", "awful terrible boring", "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(records) == 2
    assert {r["label"] for r in records} <= {"positive", "negative"}
    for r in records:
        assert abs(sum(r["probabilities"].values()) - 1.0) < 1e-4


@pytest.fixture(scope="module")
def reviews(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("dist") / "reviews.csv", make_reviews(240))


# ---------------------------------------------------------------------------------------------
# Config, CLI and TF_CONFIG checks (no training)


def test_strategy_defaults_to_default_and_rejects_unknown_values():
    assert C.load_config("sentiment").config.train.strategy == "default"
    cfg = C.load_config("sentiment", overrides={"train.strategy": "mirrored"}).config
    assert cfg.train.strategy == "mirrored"
    with pytest.raises(ConfigError) as err:
        C.load_config("sentiment", sets=["train.strategy=parallel"])
    message = str(err.value)
    assert "train.strategy" in message and "\n" not in message
    for name in distributed.STRATEGIES:
        assert repr(name) in message


def test_cli_strategy_option_is_a_config_layer(tmp_path: Path):
    result = invoke("run", "sentiment", "--strategy", "parallel", "-o", tmp_path / "x")
    assert_clean_failure(result, "train.strategy")
    assert "'multi-worker'" in result.stderr
    result = invoke("show", "sentiment", "--set", "train.strategy=mirrored")
    assert 'strategy = "mirrored"' in result.output
    # --resume takes options that agree with the interrupted run (tests/test_cli_options.py);
    # with no interrupted run there is nothing to compare them with.
    result = invoke("run", "sentiment", "--resume", "-o", tmp_path / "x", "--strategy", "mirrored")
    assert result.exit_code == 1 and "no interrupted run to resume" in result.stderr
    assert os.listdir(tmp_path) == []


def test_multi_worker_without_tf_config_is_a_one_line_error(
    reviews: Path, tmp_path: Path, monkeypatch
):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    out = tmp_path / "run"
    result = invoke("run", "sentiment", "--data", reviews, "--strategy", "multi-worker", "-o", out)
    assert_clean_failure(result, "TF_CONFIG")
    assert os.listdir(tmp_path) == []  # refused before anything was written

    monkeypatch.setenv("TF_CONFIG", "{not json")
    result = invoke("run", "sentiment", "--data", reviews, "--strategy", "multi-worker", "-o", out)
    assert_clean_failure(result, "TF_CONFIG is not valid")


def test_the_chief_is_the_chief_task_or_else_worker_0():
    def role(cluster, task_type, index):
        conf = {"cluster": cluster, "task": {"type": task_type, "index": index}}
        return distributed.role("multi-worker", {"TF_CONFIG": json.dumps(conf)})

    two = {"worker": ["a:1", "b:1"]}
    assert role(two, "worker", 0).chief and not role(two, "worker", 1).chief
    assert role(two, "worker", 1).workers == 2
    with_chief = {"chief": ["c:1"], "worker": ["a:1", "b:1"]}
    assert role(with_chief, "chief", 0).chief and role(with_chief, "chief", 0).workers == 3
    assert not role(with_chief, "worker", 0).chief
    with pytest.raises(RecipeError, match="not in its cluster"):
        role(two, "worker", 2)
    with pytest.raises(RecipeError, match="not supported"):
        role({"ps": ["p:1"], **two}, "ps", 0)
    assert distributed.role("default", {}).chief  # no TF_CONFIG needed


# ---------------------------------------------------------------------------------------------
# Training


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus(reviews: Path, tmp_path: Path):
    out = tmp_path / "mirrored"
    env = dict(os.environ, RNN_RECIPES_LOGICAL_CPUS="2")
    # A global batch of 15 splits 8 + 7: Keras fit fails on such uneven pieces under mirrored.
    proc = subprocess.run(
        _cli("run", "sentiment", "--data", reviews, *SMALL, "--epochs", 1)
        + ["--set", "train.batch_size=15", "--strategy", "mirrored", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Strategy mirrored: 2 replicas; global batch 15" in proc.stdout
    assert "Epoch 1/1 - " in proc.stdout  # one line per epoch
    for name in RUN_FILES:
        assert (out / name).exists(), name
    train = json.loads((out / "metrics.json").read_text())["train"]
    assert train["strategy"] == "mirrored" and train["replicas"] == 2 and train["workers"] == 1
    assert train["epochs_run"] == 1 and train["best_epoch"] == 1
    assert train["examples_per_second"] > 0
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 1
    _predicts(out)


# Deterministic ops, so a killed and resumed cluster can be compared with an uninterrupted one.
MULTI_WORKER = [
    *SMALL,
    "--set",
    "train.deterministic=true",
    "--set",
    "train.patience=10",
    "--epochs",
    "3",
    "--strategy",
    "multi-worker",
]


def _cluster_envs(extra: list[dict] | None = None) -> list[dict]:
    ports = _free_ports(2)
    extra = extra or [{}, {}]
    return [dict(os.environ, TF_CONFIG=_tf_config(ports, i), **extra[i]) for i in range(2)]


@pytest.fixture(scope="module")
def two_workers(reviews: Path, tmp_path_factory) -> dict:
    """One uninterrupted two-worker run (3 epochs), shared by the tests below."""
    root = tmp_path_factory.mktemp("two-workers")
    out, dumps = root / "runs" / "mw", root / "dumps"
    temps = [root / "tmp0", root / "tmp1"]
    for t in temps:
        t.mkdir()
    # TMPDIR: where each worker makes its temporary folder, so the test can see it was removed.
    envs = _cluster_envs(
        [{"RNN_RECIPES_DUMP_WEIGHTS": str(dumps), "TMPDIR": str(t)} for t in temps]
    )
    command = _cli("run", "sentiment", "--data", reviews, *MULTI_WORKER, "-o", out)
    results = _run_cluster([command, command], envs, root)
    return {"out": out, "dumps": dumps, "temps": temps, "results": results}


@pytest.mark.slow
def test_two_workers_train_in_step_and_only_the_chief_writes(two_workers: dict):
    out, dumps, temps = two_workers["out"], two_workers["dumps"], two_workers["temps"]
    (rc0, out0, err0), (rc1, out1, err1) = two_workers["results"]
    assert rc0 == 0, err0[-3000:]
    assert rc1 == 0, err1[-3000:]
    assert "Run folder:" in out0 and "Run folder:" not in out1
    assert "[worker 1] Epoch 3/3" in out1  # the other worker reports its progress, labelled

    # Both ended with the same weights, after the same number of steps, having covered every
    # training example exactly once per epoch between them.
    chief, other = np.load(dumps / "worker-0.npz"), np.load(dumps / "worker-1.npz")
    weights = sorted(k for k in chief.files if k.startswith("w"))
    assert weights and sorted(k for k in other.files if k.startswith("w")) == weights
    for k in weights:
        np.testing.assert_array_equal(chief[k], other[k])
    assert list(chief["steps"]) == list(other["steps"]) and len(chief["steps"]) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    n_train = sum(metrics["counts"]["train"].values())
    assert list(chief["examples"]) == [n_train] * 3

    # The chief's run folder is complete and its exports hold the trained weights.
    for name in RUN_FILES:
        assert (out / name).exists(), name
    train = metrics["train"]
    assert train["strategy"] == "multi-worker"
    assert train["replicas"] == 2 and train["workers"] == 2
    assert train["epochs_run"] == 3 and train["best_epoch"] in (1, 2, 3)
    assert train["examples_per_second"] > 0
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0] == "epoch,accuracy,loss,val_accuracy,val_loss" and len(rows) == 1 + 3
    assert metrics["validation"]["loss"] == pytest.approx(
        float(rows[train["best_epoch"]].split(",")[4])
    )
    assert list((out / "logs").glob("train/events.out.tfevents.*"))
    assert list((out / "logs").glob("validation/events.out.tfevents.*"))
    assert not (out / "checkpoint").exists()

    from rnn_recipes.export import load_keras

    full = load_keras(out)
    exported = full.get_layer("sentiment_rnn").get_weights()
    assert len(exported) == len(weights)
    for i, w in enumerate(exported):
        np.testing.assert_array_equal(w, chief[f"w{i}"])
    _predicts(out)

    # Nothing else was left behind: no second run folder, no partial, no worker temp folder.
    assert sorted(p.name for p in out.parent.iterdir()) == ["mw"]
    assert [list(t.iterdir()) for t in temps] == [[], []]


@pytest.mark.slow
def test_killed_cluster_resumes_to_the_same_result(reviews: Path, two_workers: dict, tmp_path):
    """Kill both workers after the first checkpoint; --resume on both ends like no kill at all.

    The chief resumes from its partial folder; the other worker copies the chief's checkpoint
    from there (on real hosts that folder must be on a shared filesystem).
    """
    out = tmp_path / "killed"
    command = _cli("run", "sentiment", "--data", reviews, *MULTI_WORKER, "-o", out)
    # A killed worker cannot delete its temporary folder: keep it inside tmp_path.
    temp = {"TMPDIR": str(tmp_path)}
    procs = [
        subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for env in _cluster_envs([temp, temp])
    ]
    checkpoint = tmp_path / ".killed.partial" / "checkpoint" / "checkpoint"
    try:
        deadline = time.monotonic() + TIMEOUT
        while not checkpoint.is_file() and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), "a worker ended before the kill"
            time.sleep(0.02)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert checkpoint.is_file() and not out.exists()

    resume = _cli("run", "sentiment", "--resume", "-o", out)
    results = _run_cluster([resume, resume], _cluster_envs([temp, temp]), tmp_path)
    for rc, _, err in results:
        assert rc == 0, err[-3000:]
    assert "resuming after epoch" in results[0][1] and "resuming after epoch" in results[1][1]
    metrics = json.loads((out / "metrics.json").read_text())
    expected = json.loads((two_workers["out"] / "metrics.json").read_text())
    assert metrics["train"]["resumed_after_epoch"] in (1, 2)
    assert metrics["train"]["epochs_run"] == 3
    assert (out / "history.csv").read_text() == (two_workers["out"] / "history.csv").read_text()
    assert metrics["test"] == expected["test"]
    assert not (tmp_path / ".killed.partial").exists()


UNEVEN = """
import json
import numpy as np
from rnn_recipes import distributed
from rnn_recipes._lazy import keras, tf

role = distributed.role("multi-worker")
strategy = distributed.make_strategy("multi-worker")
x, y = (np.load(f"data-{role.index}.npz")[k] for k in ("x", "y"))
train = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
with strategy.scope():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.set_weights([np.zeros((3, 2), "float32"), np.zeros(2, "float32")])
record = distributed.fit_distributed(
    model, strategy, train, train, epochs=2, initial_epoch=0, callbacks=[], log=print,
    verbose=True, role=role,
)
print(json.dumps(record.history))
"""


def _softmax_regression_sgd(batches, lr: float, epochs: int):
    """What one device computes on the same global batches: the reference for the workers."""
    w, b = np.zeros((3, 2)), np.zeros(2)
    for _ in range(epochs):
        for x, y in batches:
            z = x @ w + b
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(y)), y] -= 1.0
            g = p / len(y)  # mean over the global batch
            w, b = w - lr * x.T @ g, b - lr * g.sum(axis=0)
    return w, b


@pytest.mark.slow
def test_workers_whose_data_runs_out_first_keep_step(tmp_path: Path):
    """A worker whose pipeline ends early gets empty batches until all are done, never a hang.

    Worker 0 has 5 global batches of 8, worker 1 has 8; each keeps its half of every batch of
    its own pipeline, so all run 8 steps and 20 + 32 examples are trained on per epoch.
    """
    rng = np.random.default_rng(0)
    parts = []
    for i, n in enumerate((40, 64)):  # worker 1's pipeline has 3 more batches than worker 0's
        x = rng.normal(size=(n, 3)).astype("float32")
        y = (x.sum(axis=1) > 0).astype("int32")
        np.savez(tmp_path / f"data-{i}.npz", x=x, y=y)
        parts.append((x, y))
    ports = _free_ports(2)
    envs = [
        dict(os.environ, TF_CONFIG=_tf_config(ports, i), RNN_RECIPES_DUMP_WEIGHTS=str(tmp_path))
        for i in range(2)
    ]
    command = [sys.executable, "-c", UNEVEN]
    results = _run_cluster([command, command], envs, tmp_path)
    for rc, _, err in results:
        assert rc == 0, err[-3000:]
    a, b = np.load(tmp_path / "worker-0.npz"), np.load(tmp_path / "worker-1.npz")
    assert list(a["steps"]) == list(b["steps"]) == [8, 8]
    assert list(a["examples"]) == list(b["examples"]) == [52, 52]
    np.testing.assert_array_equal(a["w0"], b["w0"])
    np.testing.assert_array_equal(a["w1"], b["w1"])
    logs = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in results]
    assert logs[0] == logs[1]  # the same reduced figures on both workers
    assert all(np.isfinite(v) for v in logs[0]["loss"] + logs[0]["val_loss"])

    # Step k's global batch: worker 0's half of its batch k (none after its 5th) and worker 1's
    # half of its batch k. The update must be the mean over those examples, however uneven.
    (x0, y0), (x1, y1) = parts
    batches = []
    for k in range(8):
        xs, ys = [x1[8 * k + 4 : 8 * k + 8]], [y1[8 * k + 4 : 8 * k + 8]]
        if k < 5:
            xs.insert(0, x0[8 * k : 8 * k + 4])
            ys.insert(0, y0[8 * k : 8 * k + 4])
        batches.append((np.concatenate(xs).astype(float), np.concatenate(ys)))
    w, bias = _softmax_regression_sgd(batches, lr=0.5, epochs=2)
    np.testing.assert_allclose(a["w0"], w, atol=1e-5)
    np.testing.assert_allclose(a["w1"], bias, atol=1e-5)
