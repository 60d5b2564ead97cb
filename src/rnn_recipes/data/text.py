"""Labelled text from files: CSV, TSV, JSON lines, or a folder with one sub-folder per class.

Everything comes back as two Python lists (texts, labels as strings); tasks turn them into
``tf.data`` pipelines. Every failure is a one-line :class:`RecipeError` naming the file and the fix.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import RecipeError

FORMATS = ("auto", "csv", "tsv", "jsonl", "folder")
_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass
class TextTable:
    texts: list[str]
    labels: list[str]
    source: str


def detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    found = _BY_SUFFIX.get(path.suffix.lower())
    if path.is_dir():
        if found:
            raise RecipeError(f"{path} is a folder, expected a {found.upper()} file")
        return "folder"
    if found is None:
        raise RecipeError(
            f"cannot tell the format of {path} from its extension; set data.format to one of "
            f"{', '.join(FORMATS[1:])}"
        )
    return found


def _check_readable(path: Path, fmt: str) -> None:
    if fmt == "folder":
        if not path.is_dir():
            raise RecipeError(f"{path} is a file but data.format is 'folder'; give a folder")
        return
    if path.is_dir():
        raise RecipeError(
            f"{path} is a folder, expected a {fmt.upper()} file (for one sub-folder per class, "
            'set data.format = "folder")'
        )
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise RecipeError(f"cannot read {path}: permission denied") from None
    if path.stat().st_size == 0:
        raise RecipeError(f"data file {path} is empty")


def _read_text(path: Path, encoding: str) -> str:
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise RecipeError(
            f"{path} is not valid {encoding} (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); set data.encoding to the file's encoding, e.g. "
            f"--set data.encoding=cp1252"
        ) from None
    except LookupError:
        raise RecipeError(f"unknown encoding '{encoding}' in data.encoding") from None


def _pick_columns(
    rows: list[dict], found: list[str], path: Path, text_col: str, label_col: str, need_label: bool
) -> TextTable:
    missing = [c for c in (text_col, label_col if need_label else None) if c and c not in found]
    if missing:
        names = ", ".join(found) if found else "(none)"
        keys = " and ".join(f"data.{'text' if m == text_col else 'label'}_column" for m in missing)
        raise RecipeError(
            f"{path} has no column {', '.join(repr(m) for m in missing)}; columns found: "
            f"{names}; set {keys}"
        )
    texts, labels = [], []
    for line_no, row in enumerate(rows, start=2):
        text = row.get(text_col)
        if text is None:
            raise RecipeError(f"{path} row {line_no} has no value for column '{text_col}'")
        texts.append(str(text))
        if need_label:
            label = row.get(label_col)
            if label is None or str(label).strip() == "":
                raise RecipeError(f"{path} row {line_no} has an empty '{label_col}' value")
            labels.append(str(label).strip())
    if not texts:
        raise RecipeError(f"{path} has a header but no rows of data")
    return TextTable(texts, labels, str(path))


def read_texts(
    path: str | Path,
    fmt: str = "auto",
    text_column: str = "text",
    label_column: str = "label",
    encoding: str = "utf-8",
    need_label: bool = True,
    classes: list[str] | None = None,
) -> TextTable:
    """Read labelled (or, with ``need_label=False``, unlabelled) texts from a file or folder."""
    path = Path(path)
    if not path.exists():
        raise RecipeError(f"data file not found: {path}")
    fmt = detect_format(path, fmt)
    _check_readable(path, fmt)
    if fmt == "folder":
        return _read_folder(path, encoding, classes)
    raw = _read_text(path, encoding)
    if not raw.strip():
        raise RecipeError(f"data file {path} is empty")
    if fmt in ("csv", "tsv"):
        # Parse from a stream, not from str.splitlines(): quoted CSV fields may span lines, and
        # splitlines() would also break rows at U+0085/U+2028 inside a text. TSV has no quoting.
        reader = csv.DictReader(
            io.StringIO(raw, newline=""),
            delimiter="," if fmt == "csv" else "\t",
            quoting=csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE,
        )
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise RecipeError(f"{path} is not valid {fmt.upper()}: {exc}") from None
        return _pick_columns(
            rows, reader.fieldnames or [], path, text_column, label_column, need_label
        )
    if fmt == "jsonl":
        rows = []
        found: list[str] = []
        for line_no, line in enumerate(raw.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecipeError(f"{path} line {line_no} is not JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise RecipeError(f"{path} line {line_no} is not a JSON object")
            found.extend(k for k in row if k not in found)
            rows.append(row)
        return _pick_columns(rows, found, path, text_column, label_column, need_label)
    raise RecipeError(f"unknown data.format '{fmt}'; use one of {', '.join(FORMATS)}")


def _read_folder(path: Path, encoding: str, classes: list[str] | None = None) -> TextTable:
    """One sub-folder per class of .txt files (the aclImdb layout), via Keras' own reader.

    ``classes`` limits the classes to those sub-folders (aclImdb's train/ also holds unsup/).
    """
    from .._lazy import keras

    found = sorted(p.name for p in path.iterdir() if p.is_dir())
    if classes:
        absent = [c for c in classes if c not in found]
        if absent:
            raise RecipeError(
                f"{path} has no sub-folder {', '.join(map(repr, absent))} named in data.classes "
                f"(sub-folders: {', '.join(found) or 'none'})"
            )
    classes = list(classes) if classes else found
    if not classes:
        raise RecipeError(
            f"{path} has no sub-folders; a text folder needs one sub-folder per class of .txt files"
        )
    try:
        ds = keras.utils.text_dataset_from_directory(
            str(path),
            labels="inferred",
            class_names=classes,
            batch_size=None,
            shuffle=False,
            follow_links=True,
            verbose=False,
        )
    except ValueError as exc:
        raise RecipeError(f"cannot read text folder {path}: {exc}") from None
    texts, labels = [], []
    for text, label in ds.as_numpy_iterator():
        try:
            texts.append(text.decode(encoding))
        except UnicodeDecodeError:
            raise RecipeError(
                f"a .txt file under {path} (class '{classes[int(label)]}') is not valid {encoding}; "
                "set data.encoding to the files' encoding, e.g. --set data.encoding=cp1252"
            ) from None
        labels.append(classes[int(label)])
    if not texts:
        raise RecipeError(f"{path} has class folders but no .txt files in them")
    return TextTable(texts, labels, str(path))
