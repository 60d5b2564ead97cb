"""``train.refit`` (sentiment): a fresh model on the training and validation texts, for the
epochs validation chose and with the naive Bayes weight validation chose."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import invoke, make_reviews, write_csv
from tests.makers import sentiment_run

EXACT = ["--set", "train.deterministic=true", "--set", "train.patience=1", "--epochs", "3"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("sentiment-refit")
    data = write_csv(root / "reviews.csv", make_reviews(400))
    out = {}
    for name, extra in (("plain", []), ("refit", ["--set", "train.refit=true"])):
        result = invoke(*sentiment_run(data, *EXACT, *extra, "-o", root / name))
        assert result.exit_code == 0, result.output
        out[name] = json.loads((root / name / "metrics.json").read_text())
        out[name]["_output"] = result.output
    return out


def test_refit_keeps_what_validation_chose_and_trains_on_more_text(runs: dict[str, dict]):
    plain, refit = runs["plain"], runs["refit"]
    record = refit["refit"]
    assert record["epochs"] == refit["train"]["best_epoch"] == plain["train"]["best_epoch"]
    assert record["test_before_refit"] == plain["test"]
    assert refit["naive_bayes"] == plain["naive_bayes"]  # chosen once, on validation
    weight = plain["naive_bayes"]["weight"]
    after = refit["_output"].split("Refit")[1]
    assert f"Naive Bayes weight {weight:g} (kept from the model before the refit)" in after
    validation = sum(plain["counts"]["validation"].values())
    assert record["train_examples"] == sum(plain["counts"]["train"].values()) + validation
    assert record["counts"]["test"] == plain["counts"]["test"]
    assert set(refit["test"]) == set(plain["test"])  # the same figures, of the refit model
    assert "test before the refit" in refit["_output"].lower()


def test_refit_with_streaming_is_one_clear_error(tmp_path: Path):
    data = write_csv(tmp_path / "reviews.csv", make_reviews(60))
    result = invoke(
        *sentiment_run(
            data, "--set", "train.refit=true", "--set", "data.stream=true", "-o", tmp_path / "out"
        )
    )
    assert result.exit_code != 0
    assert "train.refit" in result.stderr and "Traceback" not in result.stderr
    assert "Training for" not in result.output  # refused before anything trained
    assert not (tmp_path / "out").exists()
