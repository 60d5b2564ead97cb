"""The benchmark harness's own logic (the benchmarks themselves are not part of the tests)."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest

from bench import common
from bench.sentiment import write_rt_polarity_split


def test_rt_polarity_protocol_split(tmp_path: Path):
    src = tmp_path / "rt"
    src.mkdir()
    pos = [f"good {i} \u2014 fine" for i in range(25)]  # byte 0x97 in cp1252
    neg = [f"bad {i}" for i in range(13)]
    (src / "rt-polarity.pos").write_bytes(("\n".join(pos) + "\n").encode("cp1252"))
    (src / "rt-polarity.neg").write_bytes(("\n".join(neg) + "\n").encode("cp1252"))
    train, test = write_rt_polarity_split(src, tmp_path / "out")
    rows = {p.name: list(csv.DictReader(p.read_text("utf-8").splitlines())) for p in (train, test)}
    test_texts = [r["text"] for r in rows["test.csv"]]
    assert test_texts == [
        "good 0 \u2014 fine",
        "good 10 \u2014 fine",
        "good 20 \u2014 fine",
        "bad 0",
        "bad 10",
    ]
    assert len(rows["train.csv"]) == 25 + 13 - 5
    assert {r["label"] for r in rows["test.csv"]} == {"positive", "negative"}


def _result(**overrides):
    result = {
        "machine": {"cpus": 2},
        "versions": {"tensorflow": "x"},
        "commands": ["rnn-recipes run sentiment"],
        "quality": {"metric": "accuracy", "mean": 0.8, "std": 0.01, "target": 0.8},
        "speed": {"recipe_examples_per_s": 300.0, "reference_examples_per_s": 100.0, "ratio": 3.0},
        "latency_ms": {"p50": 2.0, "p99": 4.0},
        "quickstart_s": 20.0,
        "peak_rss_mb": 900.0,
    }
    result.update(overrides)
    return result


def test_result_file_and_markdown(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(common, "REPO", tmp_path)
    path = common.write_result("sentiment", _result())
    data = json.loads(path.read_text())
    assert data["task"] == "sentiment" and data["date"]
    assert data["speed"]["ratio"] == 3.0
    md = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| sentiment | accuracy 0.800 ± 0.010 (target 0.8) | 3.00×" in md
    assert "rnn-recipes run sentiment" in md
    with pytest.raises(ValueError, match="quality lacks 'target'"):
        common.write_result("sentiment", _result(quality={"metric": "a", "mean": 1, "std": 0}))
    with pytest.raises(ValueError, match="lacks"):
        common.write_result("sentiment", {k: v for k, v in _result().items() if k != "speed"})


def test_run_child_reports_time_and_memory_and_failures(tmp_path: Path):
    measured = common.run_child([sys.executable, "-c", "x = bytearray(50_000_000)"])
    assert measured["seconds"] > 0 and measured["peak_rss_mb"] >= 50
    with pytest.raises(RuntimeError, match="failed"):
        common.run_child([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "log")


def test_reuse_keeps_a_finished_run_of_the_same_command_and_output(tmp_path: Path, monkeypatch):
    """python -m bench --reuse: a finished run is not run again while its command and its
    output folder are unchanged; a changed command, a changed file it names, a rewritten
    output, a run timed against another (reuse=False) or no --reuse run it again."""
    monkeypatch.setattr(common, "CHILD_LOAD", [])
    out, count = tmp_path / "out", tmp_path / "count"
    monkeypatch.setenv("RUN_COUNT", str(count))  # not named in the command: not an input
    script = (
        "import os, pathlib, sys; c = pathlib.Path(os.environ['RUN_COUNT']); "
        "c.write_text(c.read_text() + 'x' if c.exists() else 'x'); "
        "o = pathlib.Path(sys.argv[2]); o.mkdir(exist_ok=True); "
        "(o / 'metrics.json').write_text('{\"n\": %d}' % len(c.read_text()))"
    )

    def run(*extra, reuse=True):
        cmd = [sys.executable, "-c", script, "-o", out, *extra]
        return common.run_child(cmd, tmp_path / "run.log", reuse=reuse)

    def runs() -> int:
        return len(count.read_text())

    run()
    assert runs() == 1
    again = run()  # --reuse off: runs
    assert runs() == 2 and not again.get("reused")
    monkeypatch.setattr(common, "REUSE", True)
    kept = run()
    assert runs() == 2 and kept["reused"] and "seconds" in kept
    assert len(common.CHILD_LOAD) == 3  # the reused run's load still counts
    run("changed")
    assert runs() == 3
    run("changed")
    assert runs() == 3
    (out / "metrics.json").write_text('{"n": 99}')  # the output is not the one it wrote
    run("changed")
    assert runs() == 4
    run("changed", reuse=False)
    assert runs() == 5
    recipe = tmp_path / "recipe.toml"  # a file the command names: its contents count
    recipe.write_text("a = 1")
    run("changed", f"data.path={recipe}")
    run("changed", f"data.path={recipe}")
    assert runs() == 6
    recipe.write_text("a = 2")
    run("changed", f"data.path={recipe}")
    assert runs() == 7


def test_run_child_records_how_busy_the_machine_was(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(common, "CHILD_LOAD", [])
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    measured = common.run_child([sys.executable, "-c", spin])
    assert measured["cpu_seconds"] >= 0.3 and len(measured["load_average"]) == 2
    assert [measured] == common.CHILD_LOAD
    load = common.machine_load()
    assert load["runs"] == 1 and 0 < load["cores_used_median"] <= os.cpu_count()
    assert load["cores_used_range"][0] == load["cores_used_median"]


def test_load_line_says_cores_used_and_load_or_that_it_was_not_recorded():
    records = [
        {"seconds": 100.0, "cpu_seconds": 190.0, "load_average": [0.3, 2.1]},
        {"seconds": 100.0, "cpu_seconds": 120.0, "load_average": [1.9, 4.0]},
        {"seconds": 100.0, "cpu_seconds": 180.0, "load_average": [2.0, 2.2]},
        {"seconds": 50.0, "peak_rss_mb": 1.0},  # reused from an older harness: skipped
    ]
    load = common.machine_load(records)
    assert load["runs"] == 3 and load["cores_used_median"] == 1.8
    assert load["cores_used_range"] == [1.2, 1.9] and load["load_average_range"] == [0.3, 4.0]
    line = common.load_line(load)
    assert "3 child runs used a median 1.8 of" in line and "load average 0.3–4" in line
    assert common.machine_load([{"seconds": 1.0}]) is None
    assert "not recorded" in common.load_line(None)


def test_result_direction_reads_correctly_for_lower_is_better(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(common, "REPO", tmp_path)
    q = {"metric": "test MSE", "mean": 0.372, "std": 0.002, "target": 0.37, "direction": "lower"}
    common.write_result("forecast", _result(quality=q))
    q = {"metric": "accuracy", "mean": 0.99, "std": 0.0, "target": 0.985, "direction": "higher"}
    common.write_result("speech", _result(quality=q))
    md = (tmp_path / "BENCHMARKS.md").read_text()
    assert "test MSE 0.372 ± 0.002 (target ≤ 0.37, lower is better: missed by 0.002)" in md
    assert "accuracy 0.990 ± 0.000 (target ≥ 0.985, higher is better: met)" in md
    with pytest.raises(ValueError, match="direction"):
        common.write_result("x", _result(quality={**q, "direction": "up"}))


def test_results_dir_keeps_smoke_runs_out_of_the_repository(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(common, "REPO", tmp_path)
    scratch = tmp_path / "scratch"
    path = common.write_result("forecast", _result(quick=True), scratch)
    assert path == scratch / "forecast.json"
    assert "forecast (quick smoke run)" in (scratch / "BENCHMARKS.md").read_text()
    assert not (tmp_path / "results").exists() and not (tmp_path / "BENCHMARKS.md").exists()


def test_quick_results_cannot_land_in_bench_results():
    from bench.__main__ import main

    assert main(["forecast", "--quick", "--results-dir", str(common.RESULTS)]) == 2


def test_fsdd_protocol_split_from_file_names():
    from bench.speech import fsdd_split, parse_name

    names = [f"{d}_{s}_{i}.wav" for d in (0, 7) for s in ("george", "theo") for i in range(50)]
    split = fsdd_split(names)
    assert len(split["test"]) == 2 * 2 * 5 and len(split["train"]) == 2 * 2 * 45
    assert {int(n.rsplit("_", 1)[1][:-4]) for n in split["test"]} == {0, 1, 2, 3, 4}
    assert "7_theo_40.wav" in split["train"] and "7_theo_4.wav" in split["test"]
    assert parse_name("7_theo_40.wav") == (7, "theo")
    with pytest.raises(ValueError, match="not an FSDD file name"):
        fsdd_split(["0_george_0.wav", "notes.txt"])


def test_speaker_disjoint_summary_names_the_held_out_speaker():
    from bench.speech import speaker_disjoint_summary

    counts = {"train": {"a": 1, "b": 2}, "validation": {"c": 3}, "test": {"d": 4}}
    test = {"accuracy": 0.5, "examples": 500, "speaker_counts": counts}
    line = speaker_disjoint_summary({"test": test})
    assert "test accuracy 0.5000 on 500 clips of d; validation c; train a, b" in line


def test_ett_protocol_windows():
    from bench.forecast import LOOKBACK, SPLIT, protocol_windows

    plan = protocol_windows(SPLIT, LOOKBACK, 96)
    assert plan["train"] == {"rows": (0, 8640), "read": (0, 8640), "windows": 8640 - 336 - 96 + 1}
    assert plan["validation"]["read"] == (8640 - 336, 11520)
    assert plan["validation"]["windows"] == plan["test"]["windows"] == 2880 - 96 + 1
    assert plan["test"]["rows"] == (11520, 14400)
    assert protocol_windows(SPLIT, LOOKBACK, 720)["test"]["windows"] == 2880 - 720 + 1
    with pytest.raises(ValueError, match="no window"):
        protocol_windows((100, 50, 50), 336, 96)


def test_forecast_notes_assembly():
    from bench.forecast import baseline_note, horizon_notes

    cases = {
        "etth1_336_96": {"seeds": 3, "test_mse": {"std": 0.002}, "best_epochs": [11, 12, 9]},
        "etth1_336_192": {"seeds": 1, "test_mse": {"std": 0.0}, "best_epochs": [8]},
    }
    notes = horizon_notes({192: 0.41, 96: 0.36}, cases)
    assert notes[0].startswith(
        "ETTh1 M 336->96: test MSE 0.360 ± 0.002 (3 seed(s); DLinear 0.375, PatchTST/42"
    )
    assert notes[0].endswith("better than DLinear") and "not better" in notes[1]
    assert "0.410 (1 seed(s)" in notes[1] and "[8]" in notes[1]
    test = {
        "mse": 0.058,
        "mae": 0.187,
        "windows": 2785,
        "baselines": {"repeat_last": {"mse": 0.069}, "linear": {"mse": 0.058}},
    }
    line = baseline_note("S", test)
    assert "repeat-last 0.069, seasonal naive —, linear 0.058" in line
    from bench.forecast import _parts

    case = {"seeds": 2, "test_mse": {"mean": 0.359}, "rnn_alone_mse": {"mean": 0.3611}}
    line = _parts("etth1_336_96", case)
    assert "RNN alone 0.3611, least-squares map alone —, blend 0.3590" in line


def test_command_line_is_quoted_for_the_shell():
    cmd = common.cli("run", "speech", "--set", r"data.test_regex=_[0-4]\.wav$", "--seed", 1)
    assert (
        common.command_line(cmd)
        == r"rnn-recipes run speech --set 'data.test_regex=_[0-4]\.wav$' --seed 1"
    )
    assert common.set_args({"model.units": 64}) == ["--set", "model.units=64"]


def test_assemble_fills_the_shared_fields(tmp_path: Path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        common,
        "run_child",
        lambda cmd, log=None, **_: calls.append(cmd) or {"seconds": 12.0, "peak_rss_mb": 1},
    )

    class Args:
        seeds = [1, 2]
        speed_epochs = 2

    result = common.assemble(
        "sentiment",
        Args,
        tmp_path,
        commands=["c"],
        values=[0.7, 0.9],
        quality={"metric": "accuracy", "target": 0.8},
        recipe_speed=300.0,
        reference_speed=100.0,
        speed={"architecture": {}},
        latency_ms={"p50": 1.0, "p99": 2.0},
        rss=[500.0, 700.0],
        notes=["n"],
    )
    assert result["quality"]["mean"] == pytest.approx(0.8)
    assert result["quality"]["seeds"] == [1, 2] and result["quality"]["metric"] == "accuracy"
    assert result["speed"]["ratio"] == 3.0 and result["speed"]["epochs"] == 2
    assert result["quickstart_s"] == 12.0 and result["peak_rss_mb"] == 700.0
    assert calls and calls[0][-4:-2] == ["sentiment", "-o"]


def test_sentiment_parts_note_reads_each_folds_run(tmp_path: Path):
    from bench.sentiment import parts_note

    runs = []
    for seed, (combined, rnn, nb, weight) in enumerate(
        [(0.8, 0.7, 0.75, 1.0), (0.6, 0.5, 0.55, 0.3)]
    ):
        run = tmp_path / f"q{seed}"
        run.mkdir()
        test = {"accuracy": combined, "rnn_only_accuracy": rnn, "naive_bayes_only_accuracy": nb}
        (run / "metrics.json").write_text(
            json.dumps({"test": test, "naive_bayes": {"weight": weight}})
        )
        runs.append(run)
    assert parts_note(runs) == (
        "parts alone on test, per fold: RNN 0.7000 / 0.5000; naive Bayes 0.7500 / 0.5500; "
        "combined 0.8000 / 0.6000 with weights 1 / 0.3 chosen on validation"
    )
    (runs[0] / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.7}}))
    assert parts_note(runs) == "naive Bayes expert off (model.naive_bayes = false)"


def test_recipe_file_is_the_recipe_when_the_data_is_where_it_points(tmp_path: Path):
    ett = common.RECIPES / common.read_recipe("etth1-336-96")["data"]["path"]
    assert common.recipe_file("etth1-336-96", ett, tmp_path) == "recipes/etth1-336-96.toml"
    assert not list(tmp_path.iterdir())


def test_recipe_file_retargets_a_copy_keeping_the_dataset_settings(tmp_path: Path):
    """Moved data: the copy differs only in data.path (--data would drop test_regex etc.)."""
    from rnn_recipes.config import as_dict, load_config

    moved = tmp_path / "elsewhere" / "recordings"
    copy = common.recipe_file("fsdd", moved, tmp_path / "work")
    assert copy == str(tmp_path / "work" / "fsdd.toml")
    original = as_dict(load_config(str(common.RECIPES / "fsdd.toml")).config)
    retargeted = as_dict(load_config(copy).config)
    assert retargeted["data"].pop("path") == str(moved)
    original["data"].pop("path")
    assert retargeted == original
    assert retargeted["data"]["test_regex"] == r"_[0-4]\.wav$"


def test_sentiment_fold_rows_report_each_part_from_the_same_runs(tmp_path: Path):
    from bench.sentiment import fold_rows, rows_note

    def run(name: str, accuracy: float, rnn: float, nb: float, coverage=None) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        metrics = {
            "test": {
                "accuracy": accuracy,
                "rnn_only_accuracy": rnn,
                "naive_bayes_only_accuracy": nb,
            },
            "validation": {"accuracy": accuracy - 0.01},
        }
        if coverage is not None:
            metrics["pretrained_vectors"] = {"coverage": coverage}
        (folder / "metrics.json").write_text(json.dumps(metrics))
        return folder

    rows = fold_rows(
        {
            "recipe": [run("r0", 0.80, 0.77, 0.78), run("r1", 0.82, 0.79, 0.76)],
            "glove": [run("g0", 0.81, 0.8, 0.78, 0.9), run("g1", 0.83, 0.8, 0.76, 0.92)],
        }
    )
    assert list(rows) == ["recipe", "recipe: RNN alone", "recipe: naive Bayes alone", "glove"]
    assert rows["recipe: RNN alone"]["values"] == [0.77, 0.79]
    assert rows["recipe: naive Bayes alone"]["values"] == [0.78, 0.76]
    assert rows["recipe"]["mean"] == pytest.approx(0.81)
    assert rows["recipe"]["std"] == pytest.approx(0.0141421, abs=1e-6)
    assert rows["recipe"]["validation_mean"] == pytest.approx(0.80)
    assert rows["glove"]["vector_coverage"] == pytest.approx(0.91)
    lines = rows_note(rows, [0, 1])
    assert lines[0].startswith("test accuracy over folds 0, 1")
    assert "  recipe: RNN alone: 0.7800 ± 0.0141 (0.7700 / 0.7900)" in lines
    assert any(
        line.startswith("  glove: 0.8200") and "vectors cover 91.0 %" in line for line in lines
    )


def test_fewer_folds_than_the_protocol_cannot_land_in_bench_results():
    from bench.__main__ import main

    assert main(["sentiment", "--folds", "3", "--results-dir", str(common.RESULTS)]) == 2


def test_fixed_epochs_command_turns_early_stopping_off(tmp_path: Path):
    cmd = common.fixed_epochs_command("fsdd.toml", {"model.units": 64}, 2, 7, tmp_path / "o")
    assert common.command_line(cmd) == (
        f"rnn-recipes run fsdd.toml --set model.units=64 --epochs 2 --set train.patience=1000 "
        f"--seed 7 -o {tmp_path / 'o'} --force"
    )


# --- issue 14: run folder size and batch-1 latency ----------------------------------------------


def test_folder_size_counts_every_file_and_names_the_largest(tmp_path: Path):
    (tmp_path / "saved_model" / "variables").mkdir(parents=True)
    (tmp_path / "saved_model" / "variables" / "variables.data").write_bytes(b"x" * 3_000_000)
    (tmp_path / "model.keras").write_bytes(b"x" * 2_000_000)
    (tmp_path / "metrics.json").write_bytes(b"x" * 500_000)
    size = common.folder_size(tmp_path, largest=2)
    assert size["mb"] == pytest.approx(5.5) and size["files"] == 3
    assert size["largest"] == [
        {"path": "saved_model/variables/variables.data", "mb": 3.0},
        {"path": "model.keras", "mb": 2.0},
    ]


def test_latency_times_warm_calls_and_says_the_load(tmp_path: Path):
    import tensorflow as tf

    module = tf.Module()
    module.calls = tf.Variable(0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(text):
        module.calls.assign_add(1)
        return {"n": tf.shape(text)[0]}

    module.serve = serve
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": serve})
    lat = common.latency(tmp_path / "sm", lambda n: {"text": tf.constant(["a"] * n)}, repeats=30)
    assert lat["calls"] == 30 and lat["warmup_calls"] == common.WARMUP_CALLS
    assert lat["p50"] <= lat["p95"] <= lat["p99"]
    assert len(lat["load_average"]) == 2


def test_markdown_rows_for_run_folder_and_latency_against_their_targets(
    tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(common, "REPO", tmp_path)
    result = _result(
        latency_ms={
            "p50": 2.5,
            "p95": 3.25,
            "p99": 4.0,
            "calls": 200,
            "warmup_calls": 10,
            "load_average": [3.1, 3.4],
        },
        run_folder={
            "mb": 17.5,
            "files": 12,
            "largest": [{"path": "model.keras", "mb": 6.1}, {"path": "x", "mb": 1.0}],
            "what": "rt-polarity fold 0 recipe run",
        },
        targets={"run_folder_mb": 15.0, "latency_p50_ms": 5.0},
    )
    common.write_result("sentiment", result)
    md = (tmp_path / "BENCHMARKS.md").read_text()
    assert (
        "| run folder MB (rt-polarity fold 0 recipe run) | 17.5 (largest: model.keras 6.1, x 1.0)"
        " | ≤ 15: missed by 2.5 |" in md
    )
    assert (
        "| batch-1 latency p50 / p95 ms (200 calls after 10 warm-up, load average 3.1 → 3.4) "
        "| 2.50 / 3.25 | ≤ 5: met |" in md
    )
    common.write_result("sentiment", _result())  # older results: no such rows
    assert "run folder MB" not in (tmp_path / "BENCHMARKS.md").read_text()


def test_sentiment_footprint_note_says_fold_sizes_and_load():
    from bench import sentiment

    folder = {"mb": 12.34, "largest": [{"path": "model.keras", "mb": 6.2}], "what": "fold 0 run"}
    lat = {"p50": 1.5, "p95": 2.0, "calls": 200, "warmup_calls": 10, "load_average": [2.5, 2.7]}
    note = sentiment.footprint_note(folder, lat)
    assert note.startswith("fold 0 run: folder 12.34 MB (largest, MB: model.keras 6.20)")
    assert "p50 1.50 ms, p95 2.00 ms over 200 calls after 10 warm-up" in note
    assert "load average 2.5 then 2.7" in note


def _speed_inputs(batching: dict | None = None):
    metrics = {
        "train": {
            "examples_per_second": 300.0,
            "examples_per_second_last_epoch": 600.0,
            "epoch_seconds": [20.0, 10.0],
        },
        **({"batching": batching} if batching else {}),
    }
    strong = {"examples_per_s": 400.0, "examples_per_s_all_epochs": 250.0, "epoch_seconds": [1, 2]}
    return metrics, strong


def test_speed_row_is_last_epoch_against_the_strong_reference():
    metrics, strong = _speed_inputs({"mode": "exact"})
    row = common.strong_speed_row(
        metrics, strong, {"examples_per_s": 100.0}, 2, reference="strong, mask", keras_io_how="pad"
    )
    assert row["recipe_examples_per_s"] == 600.0 and row["reference_examples_per_s"] == 400.0
    assert row["all_epochs"]["ratio"] == pytest.approx(1.2)
    assert row["keras_io_reference"]["ratio_all_epochs"] == pytest.approx(3.0)
    assert row["recipe_batching"] == "exact" and row["reference"] == "strong, mask"
    assert row["keras_io_reference"]["how"] == "pad"
    line = common.speed_line("sentiment", row)
    assert "recipe 600 ex/s, strong reference 400 ex/s (1.50x)" in line
    assert "all epochs 300 vs 250 ex/s (1.20x)" in line


def test_speech_speed_row_names_both_references_and_how_each_side_batches():
    """The speech speed row is against the strong reference, not the padded keras-io one."""
    from bench import speech

    metrics, strong = _speed_inputs()  # speech's metrics.json says nothing about batching
    row = common.strong_speed_row(
        metrics,
        strong,
        {"examples_per_s": 100.0, "max_frames": 226},
        2,
        reference=speech.STRONG,
        keras_io_how=f"{speech.KERAS_IO}: padded to 226 frames",
        recipe_batching=speech.RECIPE_BATCHING,
    )
    assert row["reference_examples_per_s"] == 400.0  # the strong reference, not keras-io's 100
    assert "mode mask" in row["reference"] and "8 length buckets" in row["reference"]
    assert "PaddingMask" in row["recipe_batching"]
    headline, every, naive = speech.speed_notes(row)
    assert "recipe 600 vs 400 ex/s = 1.50x" in headline and "mode mask" in headline
    assert "recipe 300 vs strong reference 250 ex/s = 1.20x" in every
    assert "padded to 226 frames" in naive and "3.00x its 100 ex/s" in naive


def test_markdown_says_how_both_sides_of_the_speed_row_batch(tmp_path: Path):
    speed = {
        **_result()["speed"],
        "reference": "strong, 8 buckets, mask",
        "recipe_batching": "histogram buckets",
        "load_average": [7.5, 8.0, 6.0],
    }
    common.write_result("speech", _result(speed=speed), tmp_path)
    md = (tmp_path / "BENCHMARKS.md").read_text()
    assert (
        "Speed: the recipe (histogram buckets) against strong, 8 buckets, mask "
        "(load average 7.5, 8.0, 6.0), one recipe/reference pair." in md
    )
    speed["pairs"] = [{"ratio": 0.9}, {"ratio": 1.1}, {"ratio": 1.3}]
    speed["pair_ratio_range"] = [0.9, 1.3]
    common.write_result("speech", _result(speed=speed), tmp_path)
    md = (tmp_path / "BENCHMARKS.md").read_text()
    assert "6.0), median of 3 alternating pairs (pair ratios 0.90-1.30)." in md


def test_results_name_no_machine_paths(tmp_path: Path):
    work = tmp_path / "scratch"
    result = {
        "commands": [f"rnn-recipes run recipes/x.toml -o {work}/forecast/q --force"],
        "notes": [f"data {common.REPO.parent}/shared/data/ett.csv", f"in {common.REPO}/bench"],
        "folder": str(work),
    }
    clean = common.without_machine_paths(result, work)
    assert clean["commands"] == ["rnn-recipes run recipes/x.toml -o <work>/forecast/q --force"]
    assert clean["notes"] == ["data ../shared/data/ett.csv", "in ./bench"]
    assert clean["folder"] == "<work>"
    assert str(tmp_path) not in json.dumps(clean)


def test_scaling_replicates_sentiment_train_only(tmp_path: Path):
    from bench.scaling import replicate_sentiment

    src = tmp_path / "rt"
    src.mkdir()
    (src / "rt-polarity.pos").write_bytes(
        "\n".join(f"good {i}" for i in range(40)).encode("cp1252")
    )
    (src / "rt-polarity.neg").write_bytes("\n".join(f"bad {i}" for i in range(30)).encode("cp1252"))
    out = replicate_sentiment(src, tmp_path / "data", [1, 4])

    def texts(path: Path) -> list[str]:
        return [r["text"] for r in csv.DictReader(path.read_text("utf-8").splitlines())]

    one, four = texts(out["train"][1]), texts(out["train"][4])
    validation, test = texts(out["validation"]), texts(out["test"])
    assert len(test) == 4 + 3 and "good 10" in test  # fold 0: index % 10 == 0, as the recipe
    assert four == one * 4 and len(one) == out["rows"]["train"]
    assert len(validation) == out["rows"]["validation"] == (70 - 7) // 10
    # validation and test are written once and never overlap the training rows
    assert not set(validation) & set(one) and not set(test) & set(one + validation)
    assert len(one) + len(validation) + len(test) == 70
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "test.csv",
        "train-x1.csv",
        "train-x4.csv",
        "validation.csv",
    ]


def test_scaling_speech_manifest_lists_training_clips_k_times(tmp_path: Path):
    from bench.scaling import replicate_speech

    rec = tmp_path / "recordings"
    rec.mkdir()
    for d in (0, 7):
        for s in ("george", "theo"):
            for i in range(50):
                (rec / f"{d}_{s}_{i}.wav").write_bytes(b"")
    out = replicate_speech(rec, tmp_path / "work", [1, 3])
    assert out["rows"] == {"train": 4 * 40, "validation": 4 * 5, "test": 4 * 5}

    def rows(k: int) -> list[dict[str, str]]:
        return list(csv.DictReader(out["manifest"][k].read_text().splitlines()))

    one, three = rows(1), rows(3)
    for k, manifest in ((1, one), (3, three)):
        by_split = {s: [r for r in manifest if r["split"] == s] for s in ("train", "validation")}
        assert len(by_split["train"]) == 160 * k and len(by_split["validation"]) == 20
        assert sum(r["split"] == "test" for r in manifest) == 20
    assert {r["path"] for r in three} == {r["path"] for r in one}  # names clips, never copies
    assert all(Path(r["path"]).is_absolute() and Path(r["path"]).parent == rec for r in three)
    assert {(r["label"], r["speaker"]) for r in one} == {
        (d, s) for d in ("0", "7") for s in ("george", "theo")
    }
    test_takes = {int(r["path"].rsplit("_", 1)[1][:-4]) for r in one if r["split"] == "test"}
    assert test_takes == {0, 1, 2, 3, 4}
    assert list((tmp_path / "work").iterdir()) and not list(rec.glob("*.csv"))


def test_scaling_time_ratio_per_unit_of_data():
    from bench.scaling import scale_row_markdown, scale_rows

    def run(seconds: float) -> dict:
        return {
            "train_examples": 100,
            "train_seconds": seconds,
            "epoch_seconds": [seconds / 2 + 2, seconds / 2 - 2],  # epoch 1 traces: 4 s more
            "train_cpu_seconds": seconds * 2,
            "examples_per_s": 1.0,
            "examples_per_s_last_epoch": 1.0,
            "peak_rss_mb": 900.0,
        }

    rows = scale_rows({16: run(180.0), 1: run(10.0), 4: run(36.0)})
    assert [r["scale"] for r in rows] == [1, 4, 16]
    assert [r["time_ratio"] for r in rows] == [1.0, 3.6, 18.0]
    assert [round(r["time_ratio_per_data"], 4) for r in rows] == [1.0, 0.9, 1.125]
    # last epochs 3, 16, 88 s: 16 / 3 / 4 and 88 / 3 / 16
    assert [round(r["last_epoch_time_ratio_per_data"], 4) for r in rows] == [1.0, 1.3333, 1.8333]
    assert [round(r["cpu_ratio_per_data"], 4) for r in rows] == [1.0, 0.9, 1.125]
    md = "| 16x | 100 | 1 (1) | 180.0 | 1.12 (1.83) | 1.12 | 900 |"
    assert scale_row_markdown(rows[2]) == md
    del rows[2]["last_epoch_time_ratio_per_data"], rows[2]["cpu_ratio_per_data"]  # older results
    assert scale_row_markdown(rows[2]) == "| 16x | 100 | 1 (1) | 180.0 | 1.12 (—) | — | 900 |"


def test_scaling_memory_per_epoch_first_against_last():
    from bench.scaling import memory_summary

    samples = [[0.5, 0, 2000.0], [1, 1, 700.0], [2, 1, 750.0], [3, 2, 760.0], [4, 3, 820.0]]
    m = memory_summary(samples)
    assert m["per_epoch_peak_mb"] == {"1": 750.0, "2": 760.0, "3": 820.0}  # start-up left out
    assert m["per_epoch_end_mb"] == {"1": 750.0, "2": 760.0, "3": 820.0}
    assert m["outside_epochs_peak_mb"] == 2000.0
    assert (m["first_epoch_mb"], m["last_epoch_mb"], m["growth_mb"]) == (750.0, 820.0, 70.0)
    assert memory_summary([[0.5, 0, 100.0]])["per_epoch_peak_mb"] == {}


def test_epoch_in_log_is_zero_outside_keras_epochs():
    log = b"Loading\nEpoch 1/2\n"
    assert common.epoch_in_log(b"Loading data\n") == 0
    assert common.epoch_in_log(log) == 1
    log += b"293/293 - 10s - 36ms/step - accuracy: 0.77 - loss: 0.55\n"
    assert common.epoch_in_log(log) == 0  # between epochs
    assert common.epoch_in_log(log + b"Epoch 2/2\n") == 2
    done = log + b"Epoch 2/2\n293/293 - 10s - loss: 0.4\nExporting model.keras\n"
    assert common.epoch_in_log(done) == 0  # evaluation and export are not an epoch


def test_run_child_samples_memory_with_the_epoch_the_log_reached(tmp_path: Path):
    script = (
        "import time\n"
        "for e in (1, 2):\n"
        "    print(f'Epoch {e}/2', flush=True)\n"
        "    x = bytearray(e * 40_000_000); time.sleep(0.6)\n"
    )
    measured = common.run_child([sys.executable, "-c", script], tmp_path / "log", sample_rss=0.1)
    samples = measured["rss_samples"]
    assert {s[1] for s in samples} >= {1, 2}
    last = max(s[2] for s in samples if s[1] == 2)
    assert last - max(s[2] for s in samples if s[1] == 1) > 20  # 80 MB against 40 MB
    assert "rss_samples" not in common.run_child([sys.executable, "-c", "pass"])


def test_markdown_has_a_scaling_section(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(common, "REPO", tmp_path)
    common.write_result("sentiment", _result())
    row = {
        "scale": 1,
        "train_examples": 8635,
        "train_seconds": 20.0,
        "examples_per_s": 863.5,
        "examples_per_s_last_epoch": 900.0,
        "peak_rss_mb": 1000.0,
        "time_ratio_per_data": 1.0,
    }
    memory = {"per_epoch_peak_mb": {"1": 990.0, "2": 1000.0}, "first_epoch_mb": 990.0}
    memory.update(last_epoch_mb=1000.0, growth_mb=10.0, per_epoch_end_mb={"1": 980.0, "2": 985.0})
    scaling = {
        "scales": [1, 16],
        "epochs": 2,
        "target_ratio_per_data": 17 / 16,
        "tasks": {"sentiment": {"data": "rt-polarity", "rows": [row], "memory": memory}},
    }
    with pytest.raises(ValueError, match="lacks"):
        common.write_result("scaling", {"scaling": scaling})
    common.write_result("scaling", {"scaling": scaling, "peak_rss_mb": 1000.0, "commands": ["x"]})
    md = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| sentiment |" in md and "| scaling |" not in md  # not a row of the task table
    assert "## scaling: throughput against the data size" in md
    assert "| 1x | 8635 | 864 (900) | 20.0 | 1.00 (—) | — | 1000 |" in md
    assert "at 16x: ≤ 1.06" in md
    assert (
        "peak RSS epoch 1 990 MB, last epoch 1000 MB (+10 MB); at the epochs' ends 980 → 985" in md
    )


def test_scales_below_one_are_a_usage_error(capsys):
    from bench.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["scaling", "--scales", "1", "0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("--scales takes whole numbers of 1 or more, e.g. --scales 1 4 16")


def _fake_speed_children(
    monkeypatch,
    ran: list,
    reference_params: int = 420784,
    recipe_last: tuple[float, ...] = (500.0,),
    reference_last: tuple[float, ...] = (400.0,),
):
    """bench.forecast's speed children faked: the recipe run writes a metrics.json, the matched
    reference and the keras-io one return figures (the k-th recipe run and the k-th reference
    their last epoch from ``recipe_last`` / ``reference_last``, cycling). ``ran`` collects what
    was run."""
    from bench import forecast, profile_speed

    def run_child(cmd, log=None, **_):
        k = sum(r[0] == "recipe" for r in ran)
        ran.append(("recipe", [str(c) for c in cmd]))
        out = Path(cmd[cmd.index("-o") + 1])
        out.mkdir(parents=True)
        train = {
            "examples_per_second": 300.0,
            "examples_per_second_last_epoch": recipe_last[k % len(recipe_last)],
            "epoch_seconds": [30.0, 16.4],
            "epoch_cpu_seconds": [50.0, 27.4],
            "trainable_parameters": 420784,
        }
        counts = {"train": {"rows": 8640, "windows": 8209}}
        (out / "metrics.json").write_text(json.dumps({"train": train, "counts": counts}))
        return {"seconds": 60.0, "peak_rss_mb": 900.0}

    def reference_run(task, epochs, seed, mode, data_root=None):
        k = sum(r[0] == "reference" for r in ran)
        ran.append(("reference", task, epochs))
        return {
            "examples_per_s": reference_last[k % len(reference_last)],
            "examples_per_s_all_epochs": 250.0,
            "epoch_seconds": [40.0, 20.5],
            "examples_per_cpu_s": 280.0,
            "epoch_cpu_seconds": [31.0, 29.3],
            "trainable_params": reference_params,
            "mse": 0.41,
            "examples": 8209,
        }

    def keras_io(path, horizon, epochs, seed, columns=None):
        ran.append(("keras-io", horizon, epochs))
        return {"mse": 0.5, "examples_per_s": 1000.0, "windows": 8209}

    monkeypatch.setattr(common, "run_child", run_child)
    monkeypatch.setattr(profile_speed, "reference_run", reference_run)
    monkeypatch.setattr(forecast, "reference", keras_io)


def test_forecast_speed_only_runs_just_the_speed_rows(tmp_path: Path, monkeypatch, capsys):
    """``python -m bench forecast --speed-only``: the recipe's defaults (blend off, fixed epochs)
    against the matched reference in one invocation; no quality run, no result file."""
    from bench.__main__ import main

    ran: list = []
    _fake_speed_children(monkeypatch, ran)
    results, work = tmp_path / "results", tmp_path / "work"
    argv = ["forecast", "--speed-only", "--data-root", str(tmp_path), "--work", str(work)]
    assert main([*argv, "--speed-rounds", "1", "--results-dir", str(results)]) == 0
    assert [r[0] for r in ran] == ["recipe", "reference", "keras-io"]  # nothing else trained
    cmd = ran[0][1]
    assert "model.linear_blend=false" in cmd and "train.patience=1000" in cmd
    assert cmd[cmd.index("--epochs") + 1] == "2" and ran[1] == ("reference", "forecast", 2)
    assert not list(results.glob("*.json"))  # a speed-only run is no benchmark result
    row = json.loads((work / "forecast" / "speed.json").read_text())
    assert row["recipe_examples_per_s"] == 500.0 and row["reference_examples_per_s"] == 400.0
    assert row["last_epoch_per_cpu_second"] == {
        "recipe": pytest.approx(299.6, 0.01),
        "reference": 280.0,
    }
    out = capsys.readouterr().out
    assert "recipe 500 vs 400 = 1.25x; per CPU second 300 vs 280" in out
    assert "all 2 epochs (epoch 1 traces): recipe 300 vs matched reference 250" in out
    assert "= 1.20x; per CPU second 212 vs 272" in out  # 2 x 8209 / (50 + 27.4), / (31 + 29.3)
    assert row["epoch_cpu_seconds"] == {"recipe": [[50.0, 27.4]], "reference": [[31.0, 29.3]]}
    assert "trainable parameters 420784 on both sides" in out


def test_speed_rows_are_medians_of_alternating_pairs(tmp_path: Path, monkeypatch, capsys):
    """One pair can be off by 2x on a 2-core machine: by default each side's figure is its
    median over three recipe/reference pairs run alternately, and every pair is kept."""
    from bench.__main__ import main

    ran: list = []
    _fake_speed_children(
        monkeypatch, ran, recipe_last=(500.0, 200.0, 600.0), reference_last=(400.0, 800.0, 450.0)
    )
    work = tmp_path / "work"
    argv = ["forecast", "--speed-only", "--data-root", str(tmp_path), "--work", str(work)]
    assert main([*argv, "--results-dir", str(tmp_path / "results")]) == 0
    assert [r[0] for r in ran] == ["recipe", "reference"] * 3 + ["keras-io"]
    outs = [r[1][r[1].index("-o") + 1] for r in ran if r[0] == "recipe"]
    assert len(set(outs)) == 3  # each pair's recipe run keeps its own folder
    row = json.loads((work / "forecast" / "speed.json").read_text())
    assert row["recipe_examples_per_s"] == 500.0 and row["reference_examples_per_s"] == 450.0
    assert [p["ratio"] for p in row["pairs"]] == pytest.approx([1.25, 0.25, 600 / 450])
    assert row["pair_ratio_median"] == pytest.approx(1.25)
    assert row["pair_ratio_range"] == pytest.approx([0.25, 600 / 450])
    assert "recipe 500 vs 450 = 1.11x" in capsys.readouterr().out


def test_speed_rounds_must_be_positive(capsys):
    from bench.__main__ import main

    with pytest.raises(SystemExit) as err:
        main(["sentiment", "--speed-rounds", "0"])
    assert err.value.code == 2
    assert "--speed-rounds takes 1 or more pairs" in capsys.readouterr().err


def test_forecast_speed_row_refuses_a_reference_of_another_size(tmp_path: Path, monkeypatch):
    from bench.__main__ import main

    _fake_speed_children(monkeypatch, [], reference_params=1000)
    argv = ["forecast", "--speed-only", "--data-root", str(tmp_path), "--work", str(tmp_path / "w")]
    with pytest.raises(RuntimeError, match="not the recipe's model"):
        main([*argv, "--results-dir", str(tmp_path / "r")])


def test_speed_only_is_a_forecast_option(capsys):
    from bench.__main__ import main

    with pytest.raises(SystemExit) as err:
        main(["sentiment", "--speed-only"])
    assert err.value.code == 2
    assert "--speed-only runs the forecast speed rows" in capsys.readouterr().err


def test_scaling_tasks_runs_only_the_tasks_asked_for(tmp_path: Path, monkeypatch):
    """``--scaling-tasks speech``: only speech's data is replicated and only speech runs (no
    training here: the measurement is faked)."""
    import argparse

    from bench import scaling

    rec = tmp_path / "data" / "speech" / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for d in (0, 7):
        for i in range(50):
            (rec / f"{d}_george_{i}.wav").write_bytes(b"")
    commands: list[list[str]] = []

    def fake(cmd, out, log, sample=0):
        commands.append(cmd)
        return {
            "train_seconds": 10.0,
            "epoch_seconds": [5.0, 5.0],
            "train_cpu_seconds": 15.0,
            "examples_per_s": 100.0,
            "examples_per_s_last_epoch": 100.0,
            "peak_rss_mb": 900.0,
            "wall_seconds": 12.0,
            "rss_samples": [[0.5, 1, 800.0], [1.0, 2, 810.0]] if sample else None,
        }

    monkeypatch.setattr(scaling, "_measure", fake)
    args = argparse.Namespace(
        data_root=str(tmp_path / "data"),  # no rt-polarity: replicating sentiment would fail
        work=str(tmp_path / "work"),
        scales=[2],
        quick=False,
        speed_epochs=2,
        seeds=[1],
        scaling_tasks=["speech"],
    )
    result = scaling.run(args)
    assert list(result["scaling"]["tasks"]) == ["speech"]
    assert len(commands) == 2  # the 2x run and the memory run
    assert all("recipes/fsdd.toml" in " ".join(map(str, c)) for c in commands)
    assert not (tmp_path / "work" / "scaling" / "sentiment-data").exists()


def test_one_scaling_task_is_a_partial_run_kept_out_of_bench_results(capsys):
    from bench.__main__ import main

    code = main(["scaling", "--scaling-tasks", "speech", "--results-dir", str(common.RESULTS)])
    assert code == 2
    assert "must not go to bench/results" in capsys.readouterr().err
