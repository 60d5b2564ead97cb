"""Sentiment data larger than memory: the streaming pipeline (``data.stream``).

Fixtures are generated reviews (:func:`tests.conftest.make_reviews`) written to ``tmp_path``. The
tests check what streaming promises (the same vocabulary, counts and naive Bayes table as in
memory for the same training texts, splits that need no index, the readers' errors, a model that
trains, exports and serves raw strings), not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.config import load_config
from rnn_recipes.data import text as text_data
from rnn_recipes.errors import RecipeError
from rnn_recipes.tasks.sentiment import data as sentiment_data
from rnn_recipes.tasks.sentiment import model as sentiment_model
from rnn_recipes.tasks.sentiment import stream
from tests.conftest import (
    TINY,
    assert_clean_failure,
    invoke,
    make_reviews,
    serve_in_fresh_process,
    write_csv,
)

QUIET = lambda *_: None  # noqa: E731


def _config(*sets: str):
    return load_config("sentiment", sets=[*TINY[1::2], *sets]).config


def _prepared(*sets: str, log=QUIET):
    return sentiment_data.make_datasets(_config(*sets), log=log)


@pytest.fixture
def explicit(tmp_path: Path) -> tuple[str, ...]:
    """Train, validation and test files: both paths read the same texts into each split."""
    # Over two chunks of the chunked reader (1,024 rows), so chunk boundaries are crossed.
    train = write_csv(tmp_path / "train.csv", make_reviews(2500))
    validation = write_csv(tmp_path / "val.csv", make_reviews(60, seed=1))
    test = write_csv(tmp_path / "test.csv", make_reviews(60, seed=2))
    return f"data.train={train}", f"data.validation={validation}", f"data.test={test}"


def test_streamed_and_in_memory_give_the_same_vocabulary_counts_and_naive_bayes(explicit):
    # Padded batches in file order on both sides (exact-length batches would sort by length).
    memory = _prepared(*explicit, "data.stream=false", 'data.batching="bucketed"')
    streamed = _prepared(*explicit, "data.stream=true")
    assert isinstance(streamed, stream.StreamPrepared)
    assert streamed.vectorizer.get_vocabulary() == memory.vectorizer.get_vocabulary()
    assert streamed.counts == memory.counts
    assert streamed.train_examples == memory.train_examples == 2500
    assert "train" not in streamed.splits  # no training text (nor label list) held
    assert all(split.texts == [] for split in streamed.splits.values())
    for name in ("validation", "test"):
        np.testing.assert_array_equal(streamed.splits[name].labels, memory.splits[name].labels)
        # The evaluation pipelines list the same examples in the same order.
        a = [y.numpy() for _, y in memory.test]
        b = [y.numpy() for _, y in streamed.test]
        np.testing.assert_array_equal(np.concatenate(a), np.concatenate(b))
    # An epoch holds every training example once, in length-bucketed batches.
    assert sum(len(y) for _, y in streamed.train) == 2500
    config = _config(*explicit)
    tables = []
    for data in (memory, streamed):
        model = sentiment_model.build_model(config, data.spec)
        sentiment_model.initialize(model, config, data)
        layer = model.get_layer("naive_bayes")
        tables.append((layer.table.numpy(), layer.prior.numpy()))
    np.testing.assert_allclose(tables[0][0], tables[1][0], rtol=1e-6)
    np.testing.assert_allclose(tables[0][1], tables[1][1], rtol=1e-6)


def test_hash_split_needs_no_index_and_keeps_equal_texts_together(tmp_path: Path):
    rows = make_reviews(3000)
    rows += [("the very same sentence", "positive")] * 50
    data = write_csv(tmp_path / "r.csv", rows)
    reader = stream.Reader(_config(f"data.path={data}", "data.stream=true"))
    where: dict[str, set[str]] = {}
    sizes = {"train": 0, "validation": 0, "test": 0}
    for name, texts, _ in reader.chunks(stream.SPLITS):
        sizes[name] += len(texts)
        for text in texts:
            where.setdefault(text, set()).add(name)
    assert all(len(splits) == 1 for splits in where.values())  # no text in two splits
    assert sum(sizes.values()) == len(rows)
    assert 0.07 < sizes["validation"] / len(rows) < 0.13  # data.validation_split = 0.1
    assert 0.07 < sizes["test"] / len(rows) < 0.13
    # An example's split depends on its text and the seed, not on the rows around it.
    shuffled = write_csv(tmp_path / "s.csv", rows[::-1])
    again = stream.Reader(_config(f"data.path={shuffled}", "data.stream=true"))
    for name, texts, _ in again.chunks(stream.SPLITS):
        assert all(where[t] == {name} for t in texts)
    other = stream.Reader(_config(f"data.path={data}", "data.stream=true", "train.seed=7"))
    moved = sum(where[t] != {name} for name, texts, _ in other.chunks(stream.SPLITS) for t in texts)
    assert moved > 100  # another seed, another split


def test_chunked_reader_errors_name_the_same_row_as_reading_whole(tmp_path: Path):
    rows = make_reviews(3000)
    rows[2100] = (rows[2100][0], "")  # past the first two chunks
    bad = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(RecipeError) as whole:
        text_data.read_texts(bad)
    with pytest.raises(RecipeError) as chunked:
        list(text_data.iter_file_chunks(bad))
    assert str(chunked.value) == str(whole.value)
    assert "row 2102" in str(chunked.value)


def test_chunked_reader_reads_what_the_whole_reader_reads(tmp_path: Path):
    rows = make_reviews(2100)
    headerless = tmp_path / "h.txt"
    headerless.write_bytes(
        b"\r\n".join(f"{t}\t{lab}".encode() for t, lab in rows)  # CRLF, no final newline
    )
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": t, "label": lab}) for t, lab in rows))
    for path, header in ((headerless, False), (jsonl, True)):
        whole = text_data.read_texts(path, header=header)
        chunks = list(text_data.iter_file_chunks(path, header=header))
        assert len(chunks) == 3
        assert [t for c in chunks for t in c.texts] == whole.texts
        assert [lab for c in chunks for lab in c.labels] == whole.labels


def test_line_files_stream_with_their_test_fold_and_alternate_classes(tmp_path: Path):
    rows = make_reviews(3000)
    for label in ("positive", "negative"):
        lines = [t for t, lab in rows if lab == label]
        (tmp_path / f"{label}.txt").write_text("\n".join(lines) + "\n")
    sets = (
        f"data.path={tmp_path}",
        'data.format="lines"',
        'data.line_files=["pos=positive.txt", "neg=negative.txt"]',
        "data.test_every=10",
    )
    memory = _prepared(*sets, "data.stream=false")
    lines: list[str] = []
    streamed = _prepared(*sets, "data.stream=true", "data.shuffle_buffer=100", log=lines.append)
    # The fixed test fold is the same examples; validation is carved by hash, not stratified.
    assert streamed.counts["test"] == memory.counts["test"]
    n = sum(streamed.counts["validation"].values())
    assert 0.07 * 2700 < n < 0.13 * 2700
    # The two class files are read in turn, so a small shuffle buffer still mixes classes.
    assert not any("in a row" in line for line in lines)
    first = next(iter(streamed.train))[1].numpy()
    assert len(set(first)) == 2


def test_a_file_sorted_by_class_is_flagged_when_the_buffer_cannot_mix_it(tmp_path: Path):
    rows = sorted(make_reviews(600), key=lambda r: r[1])
    data = write_csv(tmp_path / "sorted.csv", rows)
    lines: list[str] = []
    _prepared(f"data.path={data}", "data.stream=true", "data.shuffle_buffer=50", log=lines.append)
    assert any("in a row, more than data.shuffle_buffer=50" in line for line in lines)


def test_auto_streams_above_the_size_threshold_and_says_why(tmp_path: Path):
    data = write_csv(tmp_path / "r.csv", make_reviews(300))
    lines: list[str] = []
    streamed = _prepared(f"data.path={data}", "data.stream_above_mb=0.001", log=lines.append)
    assert isinstance(streamed, stream.StreamPrepared)
    assert any(x.startswith("streaming: ") and "> data.stream_above_mb=0.001" in x for x in lines)
    lines.clear()
    memory = _prepared(f"data.path={data}", log=lines.append)
    assert not isinstance(memory, stream.StreamPrepared)
    assert any(x.startswith("in memory: ") for x in lines)


@pytest.mark.slow  # 20-40 s: a run, a fresh-process SavedModel and predict
def test_streaming_run_trains_caches_exports_and_serves_raw_strings(tmp_path: Path):
    data = write_csv(tmp_path / "r.csv", make_reviews(400))
    out = tmp_path / "run"
    result = invoke(
        *["run", "sentiment", "--data", data, "--set", "data.stream=true", *TINY],
        *["--epochs", "2", "-o", out],
    )
    assert result.exit_code == 0, result.output
    assert "streaming: data.stream = true" in result.output
    # Every split was cached on disk while the run trained; the finished run does not keep it.
    removed = "Removed the streaming cache (sentiment-test, sentiment-train, sentiment-validation: "
    assert removed in result.output and not (out / "cache").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["examples"] == sum(metrics["counts"]["test"].values())
    texts = ["great wonderful film", "awful boring mess"]
    served = serve_in_fresh_process(out / "saved_model", {"text": np.array(texts)}, tmp_path)
    assert served["probabilities"].shape == (2, 2)
    result = invoke("predict", out, *texts)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ('data.stream="yes"', "data.stream"),
        ("data.shuffle_buffer=0", "data.shuffle_buffer must be at least 1"),
        ('data.cache="ssd"', "data.cache"),
        ("data.stream_above_mb=0", "data.stream_above_mb must be above 0"),
    ],
)
def test_bad_streaming_settings_are_one_line(tmp_path: Path, setting, expected):
    data = write_csv(tmp_path / "r.csv", make_reviews(40))
    result = invoke("run", "sentiment", "--data", data, "--set", setting, "-o", tmp_path / "r")
    assert_clean_failure(result, expected)


def test_streaming_a_class_folder_or_tfds_is_refused_in_one_line(tmp_path: Path):
    folder = tmp_path / "reviews"
    for label in ("pos", "neg"):
        (folder / label).mkdir(parents=True)
        (folder / label / "a.txt").write_text("a review")
    result = invoke(
        "run", "sentiment", "--data", folder, "--set", "data.stream=true", "-o", tmp_path / "r"
    )
    assert_clean_failure(result, "is a folder of .txt files, which is read in memory")
    with pytest.raises(Exception, match="data.tfds is read in memory"):
        _config("data.tfds=imdb_reviews", "data.stream=true")


def test_token_ids_are_cached_a_chunk_per_entry(explicit, tmp_path: Path):
    """tf.data's file cache keeps an index entry per element in memory while writing: one entry
    per sentence made peak memory grow with the corpus (1.66 GB at a million sentences)."""
    import tensorflow as tf

    from rnn_recipes.data import cache

    with cache.folder(tmp_path / "cache"):
        data = _prepared(*explicit, "data.stream=true")
    entries = tf.train.list_variables(str(tmp_path / "cache" / "sentiment-train" / "ids"))
    assert data.train_examples == 2500
    assert len(entries) < 20  # 3 chunks of up to 1,024 sentences; per sentence it was 5,000
