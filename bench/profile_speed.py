"""Where the recipes lose training speed to the strong hand-written references (issue 15).

Two parts per task, both alternating recipe (A) and reference (B) so a shared, loaded machine
hurts both sides alike; every measurement records ``os.getloadavg()`` and the summary reports
medians.

1. **A/B, whole runs**: ``rnn-recipes run recipes/<recipe>.toml`` with the benchmark's REF_ARCH
   (forecast: its ``SPEED`` settings; as ``bench/<task>.py`` runs it) in a child process, then ``python -m bench.references <task>``
   in a child process, ``--rounds`` times. Both report training examples/s over all epochs with
   validation excluded (the recipe's ``metrics.json`` ``train.examples_per_second``); the
   reference also reports its last epoch alone.
2. **Breakdown, in this process**: the recipe's own pipeline and model (built through the task
   API from the same recipe and settings) against the reference's, a few hundred batches each:
   the ``tf.data`` pipeline alone (``for batch in ds: pass``), the model step alone
   (``train_on_batch`` over cached batches, after a warm-up pass that traces every shape), and
   for sentiment: mask vs no mask, the naive Bayes expert on, and the number of length buckets.

Run from the repository root::

    python -m bench.profile_speed sentiment --rounds 2
    python -m bench.profile_speed all --out bench/findings/speed/profile.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import common

DATA = common.REPO.parent / "shared" / "data"


def load() -> float:
    """The 1-minute load average (2 cores: above 2 means others compete for them)."""
    return round(os.getloadavg()[0], 2)


def settings(task: str) -> tuple[str, dict[str, Any]]:
    """(recipe name, the --set settings of the benchmark's speed run) for ``task``."""
    if task == "sentiment":
        from bench import sentiment as bench_task

        extra: dict[str, Any] = {}
    elif task == "speech":
        from bench import speech as bench_task

        extra = {}
    else:
        from bench import forecast as bench_task

        # The recipe's defaults minus the after-training blend (bench/forecast.py SPEED).
        return bench_task.ETT_RECIPE, {**bench_task.SPEED, "train.patience": 1000}
    return bench_task.RECIPE, {**extra, **bench_task.REF_ARCH, "train.patience": 1000}


# ---------------------------------------------------------------------------------------------
# part 1: whole runs, alternating


def recipe_run(
    task: str, epochs: int, seed: int, work: Path, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One ``rnn-recipes run`` of the speed settings (plus ``extra`` ``--set`` settings); its
    metrics.json speed (all epochs, last epoch, each epoch's seconds) and the load."""
    name, sets = settings(task)
    out = work / f"{task}-recipe"
    cmd = common.cli(
        "run",
        str(common.RECIPES.relative_to(common.REPO) / f"{name}.toml"),
        *common.set_args({**sets, **(extra or {})}),
        "--epochs",
        epochs,
        "--seed",
        seed,
        "-o",
        out,
        "--force",
        "--set",
        "train.verbose=quiet",
    )
    before = load()
    measured = common.run_child(cmd, work / f"{task}-recipe.log", reuse=False)  # paired
    metrics = json.loads((out / "metrics.json").read_text())
    train = metrics["train"]
    return {
        "examples_per_s_all_epochs": train["examples_per_second"],
        "examples_per_s": train.get("examples_per_second_last_epoch"),
        "epoch_seconds": train.get("epoch_seconds"),
        "examples_per_cpu_s": (
            round(_train_examples(metrics) / train["epoch_cpu_seconds"][-1], 1)
            if train.get("epoch_cpu_seconds")
            else None
        ),
        "batching": metrics.get("batching", {}).get("mode"),
        "train_seconds": train["train_seconds"],
        "wall_seconds": round(measured["seconds"], 1),
        "peak_rss_mb": round(measured["peak_rss_mb"]),
        "load_before": before,
        "load_after": load(),
        # The scratch folder is no part of the command a reader reruns.
        "command": common.command_line(cmd).replace(str(work), "<tmp>"),
    }


def _train_examples(metrics: dict[str, Any]) -> int:
    """Training examples of a run: forecast counts windows (beside rows), the others classes."""
    counts = metrics["counts"]["train"]
    return counts["windows"] if "windows" in counts else sum(counts.values())


def reference_run(
    task: str, epochs: int, seed: int, mode: str, data_root: Path = DATA
) -> dict[str, Any]:
    """One ``python -m bench.references`` run in a child process; its JSON line."""
    cmd = [sys.executable, "-m", "bench.references", task, "--epochs", str(epochs)]
    cmd += ["--seed", str(seed), "--mode", mode, "--data-root", str(data_root)]
    proc = subprocess.run(cmd, cwd=common.REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Sentiment's recipe runs twice per round: with its default batching (exact-length batches on
# rt-polarity) and with the padded, masked length buckets, the batching it had before.
RECIPE_ARMS = {"sentiment": {"recipe": {}, "recipe_bucketed": {"data.batching": "bucketed"}}}


def ab_runs(task: str, rounds: int, epochs: int, seed: int, work: Path) -> dict[str, Any]:
    """Recipe and reference whole runs, alternating ``rounds`` times; medians and their ratios,
    over all epochs and for the last epoch alone."""
    arms: dict[str, list[dict]] = {}
    runs: dict[str, Callable[[], dict]] = {
        name: (lambda extra=extra: recipe_run(task, epochs, seed, work, extra))
        for name, extra in RECIPE_ARMS.get(task, {"recipe": {}}).items()
    }
    runs["reference"] = lambda: reference_run(task, epochs, seed, "mask")
    if task == "sentiment":  # the labelled second row: pre-padding, no mask
        runs["reference_prepad"] = lambda: reference_run(task, epochs, seed, "prepad")
    for r in range(rounds):
        for name, run in runs.items():
            arms.setdefault(name, []).append(run())
            print(f"  {task} round {r + 1} {name} {arms[name][-1]}", flush=True)

    def med(rows: list[dict], key: str) -> float | None:
        values = [row[key] for row in rows if row.get(key) is not None]
        return round(statistics.median(values), 1) if values else None

    out: dict[str, Any] = dict(arms)
    for name, rows in arms.items():
        out[f"{name}_median"] = med(rows, "examples_per_s_all_epochs")
        out[f"{name}_last_epoch_median"] = med(rows, "examples_per_s")
        out[f"{name}_last_epoch_cpu_median"] = med(rows, "examples_per_cpu_s")
    out["ratio"] = round(out["recipe_median"] / out["reference_median"], 3)
    if out["recipe_last_epoch_median"]:
        out["ratio_last_epoch"] = round(
            out["recipe_last_epoch_median"] / out["reference_last_epoch_median"], 3
        )
    if "reference_prepad" in arms:
        out["ratio_to_prepad"] = round(out["recipe_median"] / out["reference_prepad_median"], 3)
        if out["recipe_last_epoch_median"]:
            out["ratio_to_prepad_last_epoch"] = round(
                out["recipe_last_epoch_median"] / out["reference_prepad_last_epoch_median"], 3
            )
    return out


# ---------------------------------------------------------------------------------------------
# part 2: breakdown in this process


def quiet(*_args, **_kwargs) -> None:
    """A log function that drops the recipe's progress lines."""


def recipe_parts(task: str, extra: dict[str, Any] | None = None):
    """(config, prepared data, compiled model) of the recipe's speed run, through the task API."""
    import keras

    from rnn_recipes.config import load_config

    name, sets = settings(task)
    sets = {**sets, **(extra or {})}
    resolved = load_config(
        str(common.RECIPES / f"{name}.toml"), sets=[f"{k}={v}" for k, v in sets.items()]
    )
    cfg, t = resolved.config, resolved.task
    keras.utils.set_random_seed(cfg.train.seed)
    data = t.make_datasets(cfg, quiet)
    return cfg, data, build_recipe_model(t, cfg, data)


def build_recipe_model(task, cfg, data):
    """The recipe's compiled model, as runner/training.py builds it."""
    model = task.build_model(cfg, data.spec)
    task.initialize(model, cfg, data)
    task.compile_model(model, cfg)
    return model


def pipeline_pass(ds) -> dict[str, float]:
    """One full pass of ``ds`` alone (after a warm pass that fills its caches): examples per
    wall second and per CPU second of this process, batches, examples."""
    for _ in ds:
        pass
    started, cpu, batches, examples = time.perf_counter(), time.process_time(), 0, 0
    for batch in ds:
        batches += 1
        examples += int(batch[1].shape[0])  # the labels or targets: one row per example
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "examples_per_s": round(examples / wall, 1),
        "examples_per_cpu_s": round(examples / max(cpu, 1e-9), 1),
        "batches": batches,
        "examples": examples,
    }


def take_batches(ds, limit: int) -> list:
    """The first ``limit`` batches of one pass, kept in memory (as tensors)."""
    return [batch for _, batch in zip(range(limit), ds)]


def step_rate(model, batches: list) -> tuple[float, float]:
    """Examples per wall second and per CPU second (of this process) of ``train_on_batch`` over
    ``batches`` (the first pass traces; the second is timed). CPU seconds are less sensitive to
    other jobs on a shared machine than wall seconds: both are reported."""
    for batch in batches:
        model.train_on_batch(*batch[:2])
    started, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        model.train_on_batch(*batch[:2])
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    examples = sum(int(b[1].shape[0]) for b in batches)
    return examples / wall, examples / max(cpu, 1e-9)


def alternate(named: dict[str, Callable[[], tuple[float, float]]], rounds: int) -> dict:
    """Call each (wall rate, CPU rate) measurement in turn, ``rounds`` times; values, loads,
    medians."""
    wall: dict[str, list[float]] = {k: [] for k in named}
    cpu: dict[str, list[float]] = {k: [] for k in named}
    loads: dict[str, list[float]] = {k: [] for k in named}
    for _ in range(rounds):
        for key, fn in named.items():
            loads[key].append(load())
            w, c = fn()
            wall[key].append(round(w, 1))
            cpu[key].append(round(c, 1))
            print(f"    {key}: {w:.0f} ex/s, {c:.0f} ex/CPU-s (load {loads[key][-1]})", flush=True)
    return {
        k: {
            "median": statistics.median(wall[k]),
            "values": wall[k],
            "cpu_median": statistics.median(cpu[k]),
            "cpu_values": cpu[k],
            "load": loads[k],
        }
        for k in named
    }


def padding_stats(batches: list) -> dict[str, float]:
    """Real steps / padded steps over ``batches`` (1.0: no padding), and the mean batch width."""
    real = padded = 0
    widths = []
    for batch in batches:
        x = np.asarray(batch[0])
        steps = x != 0 if x.ndim == 2 else np.any(x != 0, axis=-1)
        real += int(steps.sum())
        padded += x.shape[0] * x.shape[1]
        widths.append(x.shape[1])
    return {"efficiency": round(real / padded, 3), "mean_width": round(float(np.mean(widths)), 1)}


def breakdown(task: str, rounds: int, batches: int) -> dict[str, Any]:
    """Pipeline alone, model step alone, recipe vs reference; task-specific extras."""
    from bench import references as ref

    cfg, data, recipe_model = recipe_parts(task)
    if task == "sentiment":
        rdata = ref.sentiment_data(ref.read_rt_polarity(DATA / "sentiment" / "rt-polarity"))
        ref_model = ref.sentiment_model(rdata["vocabulary"], mask=True)
    elif task == "speech":
        rdata = ref.speech_data(ref.read_fsdd(DATA / "speech" / "fsdd" / "recordings"))
        ref_model = ref.speech_model(rdata["features"], mask=True)
    else:
        values = ref.read_columns(DATA / "timeseries" / "ett" / "ETTh1.csv", None)
        rdata = ref.forecast_data(values, batch_size=256)
        ref_model = ref.segrnn_model(336, 96, rdata["channels"])

    out: dict[str, Any] = {"load_start": load()}
    out["recipe_pipeline"] = pipeline_pass(data.train)
    out["reference_pipeline"] = pipeline_pass(rdata["train"])
    recipe_batches = take_batches(data.train, batches)
    ref_batches = take_batches(rdata["train"], batches)
    if task != "forecast":
        out["recipe_padding"] = padding_stats(take_batches(data.train, 10_000))
        out["reference_padding"] = padding_stats(take_batches(rdata["train"], 10_000))
    named: dict[str, Callable[[], tuple[float, float]]] = {
        "recipe_model_on_recipe_batches": lambda: step_rate(recipe_model, recipe_batches),
        "reference_model_on_reference_batches": lambda: step_rate(ref_model, ref_batches),
    }
    if task == "sentiment":
        # The same model on the same batches with and without the mask; the recipe's model on
        # the reference's batches (no start token) separates model from batching.
        nomask = ref.sentiment_model(rdata["vocabulary"], mask=False)
        # The two vocabularies are adapted on slightly different 90% holdouts: ids the recipe's
        # table lacks become its out-of-vocabulary id 1 (timing does not depend on the ids).
        size = data.spec.vocabulary_size
        clipped = [(np.where(np.asarray(x) >= size, 1, x), y) for x, y in ref_batches]
        nb_cfg = copy.deepcopy(cfg)
        nb_cfg.model.naive_bayes = True
        nb_model = build_recipe_model(_task(cfg), nb_cfg, data)
        named |= {
            "reference_model_no_mask_on_reference_batches": lambda: step_rate(nomask, ref_batches),
            "recipe_model_on_reference_batches": lambda: step_rate(recipe_model, clipped),
            "recipe_model_naive_bayes_on_recipe_batches": lambda: step_rate(
                nb_model, recipe_batches
            ),
        }
    if task == "speech":
        nomask = ref.speech_model(rdata["features"], mask=False)
        named["reference_model_no_mask_on_reference_batches"] = lambda: step_rate(
            nomask, ref_batches
        )
    out["model_step_examples_per_s"] = alternate(named, rounds)
    if task == "sentiment":
        out["buckets"] = bucket_sweep(rdata, rounds, batches)
    out["load_end"] = load()
    return out


def _task(cfg):
    from rnn_recipes import tasks

    return tasks.get(cfg.task)


def bucket_sweep(rdata: dict[str, Any], rounds: int, batches: int) -> dict[str, Any]:
    """Sentiment: padding and step speed of the reference with 2/5/8/16 buckets and exact
    lengths (no mask) on the same cached training ids."""
    from bench import references as ref

    splits = ref.read_rt_polarity(DATA / "sentiment" / "rt-polarity")
    out: dict[str, Any] = {}
    named: dict[str, Callable[[], tuple[float, float]]] = {}
    for label, mode, count in (
        ("2 buckets, mask", "mask", 2),
        ("5 buckets, mask", "mask", 5),
        ("8 buckets, mask", "mask", 8),
        ("16 buckets, mask", "mask", 16),
        ("exact length, no mask", "exact", 0),
    ):
        data = ref.sentiment_data(splits, mode=mode, buckets=max(count, 1))
        every = take_batches(data["train"], 10_000)
        out[label] = {**padding_stats(every), "batches": len(every)}
        model = ref.sentiment_model(rdata["vocabulary"], mask=mode == "mask")
        sample = every[:batches]
        named[label] = lambda model=model, sample=sample: step_rate(model, sample)
    steps = alternate(named, rounds)
    for label in out:
        out[label]["step_examples_per_s"] = steps[label]
    return out


def extras(task: str, rounds: int, batches: int) -> dict[str, Any]:
    """Two candidate speed-ups on the reference model and batches, alternating with the plain
    model: ``jit_compile=True`` (XLA) and, for sentiment, the embedding frozen (what Adam's
    dense update of the 20,000 x 128 embedding table costs per step)."""
    import keras

    from bench import references as ref

    if task == "sentiment":
        rdata = ref.sentiment_data(ref.read_rt_polarity(DATA / "sentiment" / "rt-polarity"))

        def make(jit: bool = False, frozen: bool = False):
            model = ref.sentiment_model(rdata["vocabulary"], mask=True)
            model.layers[1].trainable = not frozen
            model.compile("adam", "binary_crossentropy", jit_compile=jit)
            return model

        variants = {
            "plain": make(),
            "jit_compile": make(jit=True),
            "embedding_frozen": make(frozen=True),
        }
    elif task == "speech":
        rdata = ref.speech_data(ref.read_fsdd(DATA / "speech" / "fsdd" / "recordings"))

        def make(jit: bool = False):
            model = ref.speech_model(rdata["features"], mask=True)
            model.compile("adam", "sparse_categorical_crossentropy", jit_compile=jit)
            return model

        variants = {"plain": make(), "jit_compile": make(jit=True)}
    else:
        values = ref.read_columns(DATA / "timeseries" / "ett" / "ETTh1.csv", None)
        rdata = ref.forecast_data(values, batch_size=256)

        def make(jit: bool = False):
            model = ref.segrnn_model(336, 96, rdata["channels"])
            model.compile(keras.optimizers.Adam(1e-3), "mae", metrics=["mse"], jit_compile=jit)
            return model

        variants = {"plain": make(), "jit_compile": make(jit=True)}
    sample = take_batches(rdata["train"], batches)
    named = {k: (lambda m=m: step_rate(m, sample)) for k, m in variants.items()}
    return {"load_start": load(), **alternate(named, rounds), "load_end": load()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_speed")
    parser.add_argument("task", choices=("sentiment", "speech", "forecast", "all"))
    parser.add_argument("--rounds", type=int, default=2, help="A/B alternations (>= 2)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each whole run")
    parser.add_argument("--batches", type=int, default=120, help="batches per step measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-runs", action="store_true", help="only the in-process breakdown")
    parser.add_argument("--skip-breakdown", action="store_true", help="only the whole runs")
    parser.add_argument("--extras", action="store_true", help="also try XLA and a frozen embedding")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    tasks = ("sentiment", "speech", "forecast") if args.task == "all" else (args.task,)
    results: dict[str, Any] = {"cpus": os.cpu_count(), "rounds": args.rounds, "epochs": args.epochs}
    if args.out and args.out.is_file():
        results = {**json.loads(args.out.read_text()), **results}  # keep other tasks' results
    with tempfile.TemporaryDirectory(prefix="profile-speed-") as tmp:
        for task in tasks:
            entry = results.setdefault(task, {})
            if not args.skip_runs:
                print(f"{task}: whole runs, recipe and reference alternating", flush=True)
                entry["runs"] = ab_runs(task, args.rounds, args.epochs, args.seed, Path(tmp))
                print(f"{task}: ratio {entry['runs']['ratio']}", flush=True)
                if args.out:  # kept even if the breakdown fails
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(results, indent=1) + "\n")
            if not args.skip_breakdown:
                print(f"{task}: breakdown", flush=True)
                entry["breakdown"] = breakdown(task, args.rounds, args.batches)
                print(json.dumps(entry["breakdown"], indent=1), flush=True)
            if args.extras:
                print(f"{task}: extras (XLA, frozen embedding)", flush=True)
                entry["extras"] = extras(task, args.rounds, args.batches)
                print(json.dumps(entry["extras"], indent=1), flush=True)
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
