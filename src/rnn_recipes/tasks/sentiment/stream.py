"""Sentiment data that does not fit in memory: texts read in chunks inside tf.data.

No text is held. The files are read as they go (:func:`~rnn_recipes.data.text.iter_file_chunks`,
the same checks and messages as reading them whole), a chunk of about a thousand examples at a
time, in several passes:

1. a counting pass, in Python before any TensorFlow: every row checked, each example assigned to
   a split, the examples per class and split counted, and the labels of the validation and test
   splits kept (4 bytes an example: metrics pair them with the predictions);
2. the ``TextVectorization`` vocabulary adapted on the training texts, streamed;
3. the training texts vectorised once and their token ids kept as ``data.cache`` says ("disk":
   the run folder's ``cache/``), while a histogram of their lengths gives the length buckets;
   the naive Bayes counts come from the cached ids (``Prepared.training_chunks``).

Splits are carved by a keyed hash of each text, so they need no index in memory: an example's
split depends only on its text and ``train.seed``, never on the rows around it (equal texts
always share a split). The fractions are those of the in-memory path, met to within sampling
noise, not stratified by class. Fixed test folds (``data.test_every``) and explicit
``data.validation``/``data.test`` files are kept as they are.

Training batches come from a shuffle buffer of ``data.shuffle_buffer`` sequences, bucketed by
length. Several files of one split are read in turn, a chunk from each (so one line file per
class alternates its classes); a single file sorted by label cannot be mixed by a buffer smaller
than its runs of one class, and the counting pass says so in the log.

Memory is bounded by ``data.shuffle_buffer``, the batch size, the length buckets (up to one batch
each), the prefetch and the vocabulary being counted (one entry per distinct token: it grows with
the corpus' vocabulary, not with its size), not by the number of examples.
"""

from __future__ import annotations

import array
import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..._lazy import keras, tf
from ...data import text as text_data
from ...data.cache import cache_folder
from ...data.files import expand_paths
from ...errors import ConfigError, RecipeError
from .. import classification
from .config import Config
from .data import Prepared, Spec, Split, _real, own_labels, token_ids

SPLITS = ("train", "validation", "test")
# Token id sequences per batch when counting naive Bayes features or sequence lengths.
COUNT_BATCH = 4096


def _line_file_items(config: Config) -> list[tuple[str, Path]]:
    """(label, file) of each ``data.line_files`` item."""
    folder = Path(_real(config.data.path))
    if not folder.is_dir():
        raise RecipeError(f'{folder} is not a folder; data.format = "lines" reads files in it')
    out = []
    for item in config.data.line_files:
        label, sep, name = item.partition("=")
        if not (sep and label.strip() and name.strip()):
            raise RecipeError(
                f'data.line_files item {item!r} is not LABEL=FILE, e.g. "positive=rt-polarity.pos"'
            )
        out.append((label.strip(), folder / name.strip()))
    return out


def _sources(config: Config) -> list[tuple[str, list[Path]]]:
    """(key, files) of every data key set: "path", "train", "validation", "test"."""
    d = config.data
    if d.format == "lines":
        return [("path", [p for _, p in _line_file_items(config)])]
    keys = ["path"] if d.path else ["train"] + [k for k in ("validation", "test") if getattr(d, k)]
    return [(k, expand_paths(_real(getattr(d, k)), f"data.{k}")) for k in keys]


def stream_decision(config: Config) -> tuple[bool, str]:
    """Whether to stream, and the log line saying why ("" when there is nothing to say).

    "auto" adds up the sizes of the data files (one ``stat`` each, nothing read). TFDS sets and
    folders of ``.txt`` files are always read in memory.
    """
    d = config.data
    if d.stream is False or d.tfds:
        return False, ""
    sources = _sources(config)
    folders = [p for _, files in sources for p in files if p.is_dir()]
    if folders or d.format == "folder":
        if d.stream is True:
            raise RecipeError(
                f"data.stream = true reads CSV, TSV, JSON-lines or line files; "
                f"{folders[0] if folders else _real(d.path)} is a folder of .txt files, which is "
                'read in memory: set data.stream = false (or "auto")'
            )
        return False, ""
    if d.stream is True:
        return True, "streaming: data.stream = true"
    total = sum(os.stat(p).st_size for _, files in sources for p in files if p.exists()) / 2**20
    size = f"{total / 1024:.1f} GB" if total >= 1024 else f"{total:.1f} MB"
    if total > d.stream_above_mb:
        return True, f"streaming: {size} of data files > data.stream_above_mb={d.stream_above_mb:g}"
    return False, f"in memory: {size} of data files <= data.stream_above_mb={d.stream_above_mb:g}"


def _round_robin(readers: list[Iterator]) -> Iterator[text_data.TextTable]:
    """The files of one split read in turn: a chunk of each, their rows interleaved one by one
    (so one line file per class alternates its classes)."""
    live = list(readers)
    while live:
        round_ = []
        for reader in list(live):
            chunk = next(reader, None)
            if chunk is None:
                live.remove(reader)
            else:
                round_.append(chunk)
        if len(round_) == 1:
            yield round_[0]
        elif round_:
            order = sorted(
                (row, k) for k, chunk in enumerate(round_) for row in range(len(chunk.texts))
            )
            numbered = all(chunk.line_numbers is not None for chunk in round_)
            yield text_data.TextTable(
                [round_[k].texts[row] for row, k in order],
                [round_[k].labels[row] for row, k in order],
                round_[0].source,
                [note for chunk in round_ for note in chunk.notes],
                [round_[k].line_numbers[row] for row, k in order] if numbered else None,
            )


def _hash_fractions(texts: list[str], seed: int) -> np.ndarray:
    """Each text's place in [0, 1): a keyed hash of its bytes, the same on every machine."""
    key = seed.to_bytes(8, "little", signed=True)
    return (
        np.array(
            [
                int.from_bytes(
                    hashlib.blake2b(
                        t.encode("utf-8", "surrogatepass"), digest_size=8, key=key
                    ).digest(),
                    "little",
                )
                for t in texts
            ],
            dtype=np.float64,
        )
        / 2.0**64
    )


class Reader:
    """The examples of each split, in chunks, in the same order on every pass."""

    def __init__(self, config: Config):
        d = config.data
        self.config = config
        self.sources = _sources(config)
        given = {k for k, _ in self.sources}
        # Splits carved out of "path"/"train": the missing ones, by fractions of the whole.
        self.carved = [n for n in ("validation", "test") if n not in given]
        if d.test_every:
            self.carved = ["validation"]
        for name in self.carved:
            if getattr(d, f"{name}_split") <= 0:
                raise ConfigError(
                    f"no {name} data: give data.{name} or set data.{name}_split above 0"
                )
        self.notes: list[str] = []

    def _tables(self, files: list[Path]) -> Iterator[text_data.TextTable]:
        d = self.config.data
        if d.format == "lines":
            readers = [
                text_data.iter_line_file(path, label, d.encoding)
                for label, path in _line_file_items(self.config)
            ]
        else:
            readers = [
                text_data.iter_file_chunks(
                    path, d.format, d.text_column, d.label_column, d.encoding, d.header
                )
                for path in files
            ]
        for table in _round_robin(readers):
            for note in table.notes:
                if note not in self.notes:
                    self.notes.append(note)
            yield table

    def _assign(self, key: str, table: text_data.TextTable) -> np.ndarray:
        """The split of each example of ``table``, read from the source ``key``."""
        d = self.config.data
        if key in ("validation", "test"):
            return np.full(len(table.texts), key, dtype=object)
        where = np.full(len(table.texts), "train", dtype=object)
        u = _hash_fractions(table.texts, self.config.train.seed)
        low = 0.0
        for name in self.carved:
            high = low + getattr(d, f"{name}_split")
            where[(u >= low) & (u < high)] = name
            low = high
        if d.test_every:
            numbers = np.asarray(table.line_numbers)
            where[numbers % d.test_every == d.test_fold] = "test"
        return where

    def chunks(self, wanted: tuple[str, ...]) -> Iterator[tuple[str, list[str], list[str]]]:
        """(split, texts, labels) chunks of the splits in ``wanted`` (``data.classes`` applied)."""
        classes = self.config.data.classes
        for key, files in self.sources:
            if key in ("validation", "test") and key not in wanted:
                continue
            if key in ("path", "train") and not {"train", *self.carved} & set(wanted):
                continue
            for table in self._tables(files):
                where = self._assign(key, table)
                for name in wanted:
                    keep = [
                        i
                        for i in np.flatnonzero(where == name)
                        if classes is None or table.labels[i] in classes
                    ]
                    if keep:
                        yield (
                            name,
                            [table.texts[i] for i in keep],
                            [table.labels[i] for i in keep],
                        )

    def describe(self) -> str:
        """The files read and their splits, for the "Loaded" line."""
        named = []
        for key, files in self.sources:
            if self.config.data.format == "lines":
                what = str(_real(self.config.data.path))
            elif len(files) == 1:
                what = str(files[0])
            else:
                what = text_data.describe_sources([str(f) for f in files])
            named.append(what if key == "path" else f"{what} ({key})")
        return " and ".join(named) if len(named) > 1 else named[0].removesuffix(" (train)")


@dataclass
class Census:
    """What the counting pass learns: examples per class and split, held-out labels in order."""

    counts: dict[str, Counter]
    held_out: dict[str, tuple[array.array, list[str]]]  # split -> (label codes, code -> label)
    longest_run: tuple[int, str]  # the longest run of one label in training order


def census(reader: Reader) -> Census:
    counts = {name: Counter() for name in SPLITS}
    codes = {name: {} for name in ("validation", "test")}
    held = {name: array.array("i") for name in ("validation", "test")}
    run, run_label, longest = 0, None, (0, "")
    for name, _, labels in reader.chunks(SPLITS):
        counts[name].update(labels)
        if name == "train":
            for label in labels:
                run = run + 1 if label == run_label else 1
                run_label = label
                if run > longest[0]:
                    longest = (run, label)
        else:
            table = codes[name]
            held[name].extend(table.setdefault(label, len(table)) for label in labels)
    return Census(
        counts,
        {name: (held[name], list(codes[name])) for name in held},
        longest,
    )


def _cached(ds, config: Config, name: str):
    """``ds`` kept between epochs as ``data.cache`` says."""
    how = config.data.cache
    if how == "disk":
        return ds.cache(str(cache_folder(f"sentiment-{name}") / "ids"))
    if how == "memory":
        return ds.cache()
    return ds


def length_bounds(histogram: np.ndarray) -> list[int]:
    """Bucket boundaries at the 20/40/60/80 % quantiles of a histogram of sequence lengths (the
    in-memory path's rule, :func:`~rnn_recipes.data.batching.bucketed_training`)."""
    cdf = np.cumsum(histogram) / max(histogram.sum(), 1)
    quantiles = [int(np.searchsorted(cdf, q)) for q in (0.2, 0.4, 0.6, 0.8)]
    return sorted({q for q in quantiles if q > 1})


@dataclass
class StreamPrepared(Prepared):
    """Streamed pipelines: ``splits`` holds only the held-out labels (no texts), and
    ``train_ids`` the cached, unshuffled training token ids the naive Bayes counts come from."""

    train_ids: object = None

    def training_chunks(self, max_length: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for ids, labels in self.train_ids.padded_batch(COUNT_BATCH):
            yield ids.numpy(), labels.numpy()


def make_datasets(config: Config, log: Callable[[str], None] = print) -> StreamPrepared:
    """The sentiment pipelines, streamed from the files (no text held in memory)."""
    d, m, t = config.data, config.model, config.train
    reader = Reader(config)
    found = census(reader)
    for note in reader.notes:
        log(note)
    hint = f"check data.label_column, now '{d.label_column}'"
    class_names = classification.class_names_for(
        list(found.counts["train"]), d.classes, "training data", hint
    )
    index = {name: i for i, name in enumerate(class_names)}
    counts, splits = {}, {}
    for name in SPLITS:
        classification.check_split(
            name, list(found.counts[name]), class_names, "fix or drop those rows"
        )
        counts[name] = {c: int(found.counts[name][c]) for c in class_names}
    for name, (codes, labels) in found.held_out.items():
        lookup = np.array([index[label] for label in labels], dtype=np.int32)
        splits[name] = Split([], lookup[np.frombuffer(codes, dtype=np.int32)])
    log(f"Loaded {reader.describe()}")
    for name in SPLITS:
        per = ", ".join(f"{c}: {n}" for c, n in counts[name].items())
        log(f"  {name:<10} {sum(counts[name].values()):>6} examples ({per})")
    run, label = found.longest_run
    if run > d.shuffle_buffer:
        log(
            f"  note: the training files hold {run:,} examples of class '{label}' in a row, more "
            f"than data.shuffle_buffer={d.shuffle_buffer:,}: batches will be mostly one class. "
            "Shuffle the file first (e.g. `shuf`), or raise data.shuffle_buffer"
        )

    def texts_and_labels(name: str):
        def generate():
            for _, texts, labels in reader.chunks((name,)):
                yield (
                    np.array(texts, dtype=object),
                    np.array([index[lab] for lab in labels], dtype=np.int32),
                )

        return tf.data.Dataset.from_generator(
            generate,
            output_signature=(
                tf.TensorSpec([None], tf.string),
                tf.TensorSpec([None], tf.int32),
            ),
        )

    vectorizer = keras.layers.TextVectorization(
        max_tokens=m.max_tokens,
        standardize=None if m.standardize == "none" else m.standardize,
        output_mode="int",
        name="vectorizer",
    )
    vectorizer.adapt(texts_and_labels("train").map(lambda x, y: x))
    log(
        f"Built the vocabulary on train: {vectorizer.vocabulary_size()} tokens "
        f"(max_tokens {m.max_tokens}; streamed)"
    )

    def sequences(name: str):
        """Per-example token id sequences (no padding), kept as ``data.cache`` says."""

        def vectorize(texts, labels):
            ids = token_ids(vectorizer, texts, m.max_length)
            return ids, tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1), labels

        ds = texts_and_labels(name).map(
            vectorize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        # Cached a chunk at a time, as ragged rows, and split into examples after: tf.data's
        # file cache holds an index entry per element in memory while it writes (about 1 KB
        # each), so an example per element made memory grow with the data (+390 MB for 400,000
        # sentences) and the cache files 8x larger.
        ds = ds.map(lambda ids, n, y: (tf.RaggedTensor.from_tensor(ids, lengths=n), y))
        ds = _cached(ds, config, name).unbatch()
        return ds.map(lambda ids, y: (tf.identity(ids), y))  # a dense [time] row again

    # One pass over the training ids: their length histogram, and the cache filled.
    train_ids = sequences("train")
    histogram = np.zeros(m.max_length + 2, dtype=np.int64)
    for lengths in train_ids.map(lambda x, y: tf.shape(x)[0]).batch(COUNT_BATCH):
        histogram += np.bincount(lengths.numpy(), minlength=len(histogram))
    log(
        f"  streaming: shuffle buffer {d.shuffle_buffer:,} texts, token ids cached in "
        + {"disk": "the run folder's cache/", "memory": "memory", "none": "no cache"}[d.cache]
    )
    bounds = length_bounds(histogram)
    train = train_ids.shuffle(
        d.shuffle_buffer, seed=t.seed, reshuffle_each_iteration=True
    ).bucket_by_sequence_length(
        lambda x, y: tf.shape(x)[0],
        bucket_boundaries=[b + 1 for b in bounds],
        bucket_batch_sizes=[t.batch_size] * (len(bounds) + 1),
    )
    if m.nb_features:  # each training text's own label: leave-one-out naive Bayes rows
        train = own_labels(train, training=True)
    train = train.prefetch(tf.data.AUTOTUNE)

    def eval_ds(name: str):
        ds = sequences(name).padded_batch(max(t.batch_size, 256))
        ds = own_labels(ds, training=False) if m.nb_features else ds
        return ds.prefetch(tf.data.AUTOTUNE)

    return StreamPrepared(
        train=train,
        validation=eval_ds("validation"),
        test=eval_ds("test"),
        counts=counts,
        train_examples=sum(counts["train"].values()),
        spec=Spec(vectorizer.vocabulary_size(), class_names),
        class_names=class_names,
        vectorizer=vectorizer,
        splits=splits,
        train_ids=train_ids,
        batching="bucketed",
        batching_note="streaming: length buckets (exact-length batches need every length up front)",
    )
