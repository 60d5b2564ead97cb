"""Bad input through the CLI: one clear line, non-zero exit, no traceback, nothing changed.

Each case builds its files in ``tmp_path`` and returns the CLI arguments plus a fragment the
message must contain. The matrix then checks the same promises for every case.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import (
    TINY,
    assert_clean_failure,
    invoke,
    make_reviews,
    tree_snapshot,
    write_csv,
)


def _data(tmp: Path) -> Path:
    return write_csv(tmp / "reviews.csv", make_reviews(40))


def missing_file(tmp):
    return ["run", "sentiment", "--data", tmp / "nope.csv"], "data file not found"


def empty_file(tmp):
    (tmp / "empty.csv").write_text("")
    return ["run", "sentiment", "--data", tmp / "empty.csv"], "is empty"


def header_only(tmp):
    (tmp / "header.csv").write_text("text,label\n")
    return ["run", "sentiment", "--data", tmp / "header.csv"], "no rows"


def missing_columns(tmp):
    write_csv(tmp / "cols.csv", [("hi", "positive")], header=("review", "sentiment"))
    return ["run", "sentiment", "--data", tmp / "cols.csv"], "columns found: review, sentiment"


def undecodable(tmp):
    (tmp / "latin.csv").write_bytes("text,label\ncaf\xe9 was great,positive\n".encode("cp1252"))
    return ["run", "sentiment", "--data", tmp / "latin.csv"], "data.encoding"


def single_class(tmp):
    write_csv(tmp / "one.csv", [(f"text {i}", "positive") for i in range(30)])
    return ["run", "sentiment", "--data", tmp / "one.csv"], "single class"


def unseen_test_label(tmp):
    train = _data(tmp)
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


def unknown_recipe(tmp):
    return ["run", "sentimnet"], "built-in recipes: forecast, sentiment, speech"


def unknown_key(tmp):
    return ["run", "sentiment", "--set", "model.unit=3"], "valid keys in section [model]"


def unknown_section(tmp):
    return ["show", "sentiment", "--set", "modle.units=3"], "unknown config key 'modle'"


def wrong_type(tmp):
    return ["run", "sentiment", "--set", "train.batch_size=big"], "expected an integer"


def malformed_set(tmp):
    return ["run", "sentiment", "--set", "model.units"], "KEY=VALUE"


def output_exists(tmp):
    out = tmp / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    return ["run", "sentiment", "--data", _data(tmp), "--output", out], "add --force"


def force_on_foreign_folder(tmp):
    out = tmp / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    return (
        ["run", "sentiment", "--data", _data(tmp), "--output", out, "--force"],
        "not a run folder",
    )


def output_inside_a_file(tmp):
    (tmp / "afile").write_text("x")
    return [
        "run",
        "sentiment",
        "--data",
        _data(tmp),
        "--output",
        tmp / "afile" / "run",
    ], "which is a file"


def epochs_zero(tmp):
    return [
        "run",
        "sentiment",
        "--data",
        _data(tmp),
        "--epochs",
        "0",
    ], "train.epochs must be at least 1"


def epochs_negative(tmp):
    return [
        "run",
        "sentiment",
        "--data",
        _data(tmp),
        "--epochs",
        "-3",
    ], "train.epochs must be at least 1"


def directory_for_file(tmp):
    (tmp / "folder.csv").mkdir()
    return ["run", "sentiment", "--set", f"data.train={tmp / 'folder.csv'}"], "is a folder"


def recipe_syntax_error(tmp):
    (tmp / "bad.toml").write_text('task = "sentiment"\n[model\n')
    return ["run", tmp / "bad.toml"], "line 2, column"


def recipe_unknown_task(tmp):
    (tmp / "bad.toml").write_text('task = "translation"\n')
    return ["run", tmp / "bad.toml"], "known tasks: forecast, sentiment, speech"


def missing_config_file(tmp):
    return ["run", "sentiment", "--config", tmp / "nope.toml"], "config file not found"


def two_sources(tmp):
    return (
        ["run", "sentiment", "--data", _data(tmp), "--set", "data.tfds=imdb_reviews"],
        "only one data source",
    )


def predict_no_saved_model(tmp):
    run = tmp / "run"
    run.mkdir()
    (run / "config.toml").write_text('task = "sentiment"\n')
    return ["predict", run, "some text"], "no exported model"


def predict_not_a_run(tmp):
    return ["predict", tmp, "some text"], "not a run folder"


def predict_missing_input_file(tmp):
    return ["predict", tmp, "@" + str(tmp / "nope.txt")], "input file not found"


def unreadable_file(tmp):
    if os.geteuid() == 0:
        pytest.skip("running as root: file permissions do not stop root from reading")
    path = _data(tmp)
    path.chmod(0)
    return ["run", "sentiment", "--data", path], "permission denied"


CASES = [
    missing_file,
    empty_file,
    header_only,
    missing_columns,
    undecodable,
    single_class,
    unseen_test_label,
    unknown_recipe,
    unknown_key,
    unknown_section,
    wrong_type,
    malformed_set,
    output_exists,
    force_on_foreign_folder,
    output_inside_a_file,
    epochs_zero,
    epochs_negative,
    directory_for_file,
    recipe_syntax_error,
    recipe_unknown_task,
    missing_config_file,
    two_sources,
    predict_no_saved_model,
    predict_not_a_run,
    predict_missing_input_file,
    unreadable_file,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input(case, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default runs/ folder would land here and be caught
    args, expected = case(tmp_path)
    before = tree_snapshot(tmp_path)
    if args[0] == "run":
        args = [*args[:2], *TINY, *args[2:]]  # the case's own options come last and win
    result = invoke(*args)
    assert_clean_failure(result, expected)
    assert tree_snapshot(tmp_path) == before
