"""The real-dataset recipes in the repository's ``recipes/`` folder.

Every file resolves and points where its header comment says; each offline recipe whose data is
under ``../shared/data`` also runs once, briefly (one epoch, a tiny model, a data subset where the
task has one), and must show its dataset's protocol in the run's counts. The full-length runs are
the benchmarks' (``python -m bench``).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

from bench import common
from rnn_recipes.config import load_config, tomllib  # tomli before Python 3.11
from tests.conftest import REPO, invoke, require_shared

RECIPES = REPO / "recipes"
SHARED = REPO.parent / "shared" / "data"  # where a clone with ../shared beside it finds the data
# recipe -> (its data key, the file or folder that key must resolve to)
DATA = {
    "etth1-336-96": ("path", SHARED / "timeseries" / "ett" / "ETTh1.csv"),
    "daily-min-temperatures": ("path", SHARED / "timeseries" / "daily-min-temperatures.csv"),
    "fsdd": ("path", SHARED / "speech" / "fsdd" / "recordings"),
    "rt-polarity": ("path", SHARED / "sentiment" / "rt-polarity"),
}
# The keys that describe the recipe's own data and so are dropped by a new data source.
DATASET_KEYS = {
    "etth1-336-96": ("split",),  # its time_column is the task default, "date"
    "daily-min-temperatures": ("time_column",),  # the season is detected, not set
    "fsdd": ("label_regex", "test_regex", "sample_rate"),
}


def recipe(name: str) -> Path:
    return RECIPES / f"{name}.toml"


def header(name: str) -> str:
    """The comment lines of a recipe file, without their ``#``."""
    lines = recipe(name).read_text(encoding="utf-8").splitlines()
    return "\n".join(x.lstrip("#").strip() for x in lines if x.startswith("#"))


def test_the_promised_recipes_are_there():
    names = {p.stem for p in RECIPES.glob("*.toml")}
    assert {*DATA, "imdb"} <= names, names


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_recipe_resolves_and_shows(path: Path):
    resolved = load_config(str(path))
    assert resolved.name == path.stem
    assert resolved.config.description, "a recipe says what it is in its description"
    shown = invoke("show", path)
    assert shown.exit_code == 0, shown.output
    data = tomllib.loads(shown.stdout)
    assert data["task"] == tomllib.loads(path.read_text(encoding="utf-8"))["task"]
    # Every recipe is a commented file: a header naming its data's source, then the keys.
    text = header(path.stem)
    assert "rnn-recipes run recipes/" + path.name in text
    assert re.search(r"github\.com/|tensorflow datasets|tfds", text, re.IGNORECASE), text


@pytest.mark.parametrize("name", sorted(DATA))
def test_data_paths_point_where_the_comment_says(name: str):
    key, expected = DATA[name]
    resolved = getattr(load_config(str(recipe(name))).config.data, key)
    assert Path(resolved) == expected.resolve()
    # The header gives the same place, relative to the recipe file.
    relative = Path(tomllib.loads(recipe(name).read_text())["data"][key])
    assert (RECIPES / relative).resolve() == expected.resolve()
    assert str(relative) in header(name)


def test_imdb_loads_through_tfds_with_its_own_splits():
    config = load_config(str(recipe("imdb"))).config
    assert config.data.tfds == "imdb_reviews"
    assert config.data.tfds_splits == ["train", "test"]
    assert config.data.tfds_data_dir is None  # TFDS's default, or --set data.tfds_data_dir
    assert "data.tfds_data_dir" in header("imdb")


@pytest.mark.parametrize("name", sorted(DATASET_KEYS))
def test_a_new_data_source_drops_the_dataset_keys_as_the_comment_warns(name: str, tmp_path: Path):
    """The headers say ``--data`` resets these keys; if config stops doing so, fix the headers."""
    own = load_config(str(recipe(name))).config.data
    moved = load_config(str(recipe(name)), overrides={"data.path": str(tmp_path)}).config.data
    task_default = type(own)()
    for key in DATASET_KEYS[name]:
        assert getattr(own, key) != getattr(task_default, key), key
        assert getattr(moved, key) == getattr(task_default, key), key
        assert key in header(name)


# --- short runs on the real data -------------------------------------------------------------

QUIET = ["--set", "train.verbose=quiet", "--epochs", "1"]


def run_recipe(file: str | Path, out: Path, *args: str) -> dict:
    """``rnn-recipes run FILE ... -o out`` in-process; returns metrics.json."""
    started = time.perf_counter()
    result = invoke("run", file, *args, *QUIET, "-o", out)
    assert result.exit_code == 0, result.output
    print(f"{Path(file).name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return json.loads((out / "metrics.json").read_text())


def located(name: str, *parts: str, tmp_path: Path) -> str:
    """The recipe to run for data under the shared folder (a retargeted copy if it moved)."""
    return common.recipe_file(name, require_shared(*parts), tmp_path)


@pytest.mark.slow  # 25-90 s on a busy 2-core machine
@pytest.mark.realdata
def test_rt_polarity_recipe_runs_on_the_benchmark_split(tmp_path: Path):
    file = located("rt-polarity", "sentiment", "rt-polarity", tmp_path=tmp_path)
    metrics = run_recipe(
        file,
        tmp_path / "run",
        *("--set", "model.units=4", "--set", "model.embedding_dim=8"),
        *("--set", "model.max_tokens=2000", "--set", "model.nb_buckets=4096"),
        *("--set", "train.batch_size=256"),
    )
    # Every 10th line of each file is test; validation is 10% of the rest.
    assert metrics["counts"]["test"] == {"negative": 534, "positive": 534}
    assert metrics["counts"]["validation"] == {"negative": 480, "positive": 480}


@pytest.mark.slow  # 25-90 s on a busy 2-core machine
@pytest.mark.realdata
def test_fsdd_recipe_runs_on_the_official_split(tmp_path: Path):
    file = located("fsdd", "speech", "fsdd", "recordings", tmp_path=tmp_path)
    metrics = run_recipe(
        file,
        tmp_path / "run",
        # Two digits of the ten keep it short; the split rule is the same for every digit.
        *("--set", 'data.classes=["0", "1"]'),
        *("--set", "model.units=4", "--set", "model.layers=1", "--set", "train.batch_size=64"),
        *("--set", "train.ensemble=1"),  # the split is the point here, not the recipe's ensemble
    )
    # Takes 0-4 of 6 speakers per digit are test.
    assert metrics["counts"]["test"] == {"0": 30, "1": 30}
    assert (
        sum(metrics["counts"]["train"].values()) + sum(metrics["counts"]["validation"].values())
        == 2 * 270
    )


@pytest.mark.slow  # 25-90 s on a busy 2-core machine
@pytest.mark.realdata
def test_etth1_recipe_runs_on_the_standard_split(tmp_path: Path):
    file = located("etth1-336-96", "timeseries", "ett", "ETTh1.csv", tmp_path=tmp_path)
    metrics = run_recipe(
        file,
        tmp_path / "run",
        *("--set", "model.units=8", "--set", "model.linear_init=false"),
        *("--set", "train.batch_size=512"),
    )
    counts = metrics["counts"]
    # 12 / 4 / 4 months; validation and test windows start 336 rows early, so every row of
    # theirs is forecast: n - 96 + 1 windows.
    assert counts["train"] == {"rows": 8640, "windows": 8640 - 336 - 96 + 1}
    assert counts["validation"] == {"rows": 2880, "windows": 2880 - 96 + 1}
    assert counts["test"] == {"rows": 2880, "windows": 2880 - 96 + 1}


@pytest.mark.realdata
def test_daily_min_temperatures_recipe_runs(tmp_path: Path):
    file = located(
        "daily-min-temperatures", "timeseries", "daily-min-temperatures.csv", tmp_path=tmp_path
    )
    metrics = run_recipe(file, tmp_path / "run", "--set", "model.units=8")
    counts = metrics["counts"]
    # 3,650 days split 70 / 10 / 20 %; windows of 60 days -> 7.
    assert [counts[s]["rows"] for s in ("train", "validation", "test")] == [2555, 365, 730]
    assert counts["test"]["windows"] == 730 - 7 + 1
