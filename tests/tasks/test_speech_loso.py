"""The leave-one-speaker-out protocol of ``bench/speech.py`` (FSDD, issue 13)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench.speech import loso_folds, loso_notes, loso_summary, write_fold_manifest

NAMES = [f"{d}_{s}_{i}.wav" for d in range(2) for s in ("theo", "amy", "bob") for i in range(3)]


def test_each_speaker_is_tested_once_and_validates_the_fold_before():
    folds = loso_folds(NAMES)
    assert folds == [
        {"test": "amy", "validation": "bob"},
        {"test": "bob", "validation": "theo"},
        {"test": "theo", "validation": "amy"},
    ]


def test_fold_manifest_holds_the_two_speakers_out(tmp_path: Path):
    path = write_fold_manifest(tmp_path, NAMES, loso_folds(NAMES)[0], tmp_path / "m.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(NAMES)
    split = {r["speaker"]: {x["split"] for x in rows if x["speaker"] == r["speaker"]} for r in rows}
    assert split == {"amy": {"test"}, "bob": {"validation"}, "theo": {"train"}}
    assert {r["label"] for r in rows} == {"0", "1"}
    assert all(Path(r["path"]).is_absolute() for r in rows)


def test_summary_reports_mean_and_worst_speaker():
    folds = [
        {"test": "amy", "accuracy": 0.9, "seconds": 10.0},
        {"test": "bob", "accuracy": 0.6, "seconds": 20.0},
    ]
    summary = loso_summary(folds)
    assert summary["mean"] == 0.75 and summary["worst"] == 0.6
    assert summary["worst_speaker"] == "bob" and summary["seconds_total"] == 30.0
    assert "before_refit" not in summary  # runs without train.refit


def test_summary_reports_the_model_before_the_refit_beside_it():
    folds = [
        {"test": "amy", "accuracy": 0.9, "accuracy_before_refit": 0.8, "seconds": 10.0},
        {"test": "bob", "accuracy": 0.6, "accuracy_before_refit": 0.5, "seconds": 20.0},
    ]
    summary = loso_summary(folds)
    assert summary["mean"] == 0.75
    before = summary["before_refit"]
    assert before["mean"] == pytest.approx(0.65) and before["worst"] == 0.5
    assert before["per_speaker"] == {"amy": 0.8, "bob": 0.5}


def test_summary_reports_each_ensemble_member_beside_the_average():
    row = {"validation": "x", "validation_accuracy": 0.7, "best_epoch": 2, "epochs_run": 3}
    folds = [
        {"test": "amy", "accuracy": 0.9, "member_accuracies": [0.8, 0.85, 0.7], "seconds": 1.0},
        {"test": "bob", "accuracy": 0.6, "member_accuracies": [0.5, 0.6, 0.4], "seconds": 2.0},
    ]
    folds = [{**row, **f} for f in folds]
    summary = loso_summary(folds)
    assert summary["mean"] == 0.75  # the averaged models'
    single = summary["single_models"]
    assert single["members"] == 3
    assert single["member_1_mean"] == pytest.approx(0.65) and single["member_1_worst"] == 0.5
    assert single["mean_of_members"] == pytest.approx(3.85 / 6)
    assert "single_models" not in loso_summary([{**f, "member_accuracies": []} for f in folds])
    notes = loso_notes(summary, {"augment_on": 2, "augment_off": 2, "ratio": 1, "epochs": 1}, 1)
    assert "an average of 3 models (train.ensemble), each alone: member 1 mean 0.650" in notes[0]


def test_official_split_members_are_reported_per_seed():
    from bench.speech import official_members

    single = official_members({"1": [0.9, 0.8, 0.7], "2": [0.7, 0.8, 0.9]})
    assert single["member_1_mean"] == pytest.approx(0.8)
    assert single["mean_of_members"] == pytest.approx(0.8)
    assert single["per_seed"]["2"] == [0.7, 0.8, 0.9]
    assert "averages 3 members (train.ensemble); member 1 alone 0.8000" in single["note"]
