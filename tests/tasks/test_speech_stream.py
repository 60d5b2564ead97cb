"""Speech data at scale: manifests given as lists or globs, and the streaming pipeline.

Fixtures are the tiny generated tone clips of :mod:`tests.makers` (one pitch per class, named
``{label}_{speaker}_{take}.wav``); the streaming tests check what streaming promises (the same
splits, no waveform held in memory, augmentation only in training, a model that predicts), not
accuracy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rnn_recipes.config import load_config
from rnn_recipes.errors import RecipeError
from rnn_recipes.tasks.speech import pipeline as speech
from tests.conftest import assert_clean_failure, invoke
from tests.makers import REGEX, SPEECH_TINY, make_wavs, write_manifest

QUIET = lambda *_: None  # noqa: E731


def _config(*sets: str):
    return load_config("speech", sets=[*SPEECH_TINY[1::2], "data.sample_rate=8000", *sets]).config


def _prepared(*sets: str, log=QUIET):
    return speech.make_datasets(_config(*sets), log=log)


def _manifests(tmp_path: Path) -> list[Path]:
    """Two manifests in two folders, each listing its own clips by relative path."""
    out = []
    for part, speakers in (("one", ("amy", "bo", "cy")), ("two", ("dee", "ed"))):
        folder = make_wavs(tmp_path / part / "clips", speakers=speakers, takes=3)
        rows = []
        for p in sorted(folder.glob("*.wav")):
            label, speaker, _ = p.stem.split("_")
            rows.append({"path": f"clips/{p.name}", "label": label, "speaker": speaker})
        out.append(write_manifest(tmp_path / part / f"{part}.csv", rows))
    return out


# --- manifests as lists and globs -------------------------------------------------------------


def test_manifest_list_reads_every_manifest_relative_to_its_own_folder(tmp_path: Path):
    one, two = _manifests(tmp_path)
    data = _prepared(f'data.manifest=["{one}", "{two}"]')
    names = [n for s in data.splits.values() for n in s.names]
    assert len(names) == 2 * 5 * 3  # every clip of both manifests, once
    assert {Path(n).parent.parent.name for n in names} == {"one", "two"}
    speakers = {s for split in data.splits.values() for s in split.speakers}
    assert speakers == {"amy", "bo", "cy", "dee", "ed"}


def test_manifest_glob_and_data_path_glob(tmp_path: Path):
    _manifests(tmp_path)
    pattern = f"{tmp_path}/*/*.csv"
    for key in ("data.manifest", "data.path"):
        data = _prepared(f"{key}={pattern}")
        assert sum(len(s.names) for s in data.splits.values()) == 30, key


def test_manifest_glob_in_a_recipe_is_relative_to_the_recipe(tmp_path: Path):
    _manifests(tmp_path)
    recipe = tmp_path / "my.toml"
    recipe.write_text('task = "speech"\n[data]\nmanifest = "*/*.csv"\nsample_rate = 8000\n')
    cfg = load_config(str(recipe), sets=SPEECH_TINY[1::2]).config
    data = speech.make_datasets(cfg, log=QUIET)
    assert sum(len(s.names) for s in data.splits.values()) == 30


def test_manifest_glob_without_match_is_one_line_naming_it(tmp_path: Path):
    pattern = f"{tmp_path}/lists/*.csv"
    result = invoke("run", "speech", "--set", f"data.manifest={pattern}", "-o", tmp_path / "r")
    assert_clean_failure(result, f"no file matches {pattern} (data.manifest)")


def test_manifests_of_different_kinds_are_refused(tmp_path: Path):
    one, _ = _manifests(tmp_path)
    (tmp_path / "f").mkdir()
    import numpy as np

    np.save(tmp_path / "f" / "a.npy", np.ones((4, 3), np.float32))
    other = write_manifest(tmp_path / "f" / "f.csv", [{"path": "a.npy", "label": "low"}])
    with pytest.raises(RecipeError, match="mixes .wav"):
        _prepared(f'data.manifest=["{one}", "{other}"]')


def test_evaluate_reads_a_manifest_glob(tmp_path: Path):
    """`evaluate --data` goes through the same reader: a glob of manifests is accepted."""
    from rnn_recipes.tasks.speech.data import listing_for

    _manifests(tmp_path)
    listing = listing_for(_config(f"data.path={tmp_path}"), f"{tmp_path}/*/*.csv")
    assert len(listing.items) == 30 and listing.kind == "wav"


def test_folder_run_still_reads_label_regex(tmp_path: Path):
    folder = make_wavs(tmp_path / "w", takes=3)
    data = _prepared(f'data.path=["{folder}"]', f"data.label_regex={REGEX}")
    assert sum(len(s.names) for s in data.splits.values()) == 30
