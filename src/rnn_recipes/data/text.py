"""Labelled text from files: CSV, TSV, JSON lines, a folder with one sub-folder per class, or
line files (one file per class, one example per line, as rt-polarity ships).

Everything comes back as two Python lists (texts, labels as strings); tasks turn them into
``tf.data`` pipelines. Every failure is a one-line :class:`RecipeError` naming the file and the fix.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RecipeError
from .files import walk_files

FORMATS = ("auto", "csv", "tsv", "jsonl", "folder", "lines")
_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass
class TextTable:
    """Texts and their labels (strings), where they came from, and what reading changed."""

    texts: list[str]
    labels: list[str]
    source: str
    notes: list[str] = field(default_factory=list)  # lines for the run log, e.g. normalised labels
    # For line files: each example's index among the non-empty lines of its file (fold rules).
    line_numbers: list[int] | None = None


# A label like "1.0" or "-2.00" is the integer written as a float: spreadsheets and pandas write
# integer columns that way once a value is missing, so "1" and "1.0" in one file are one class.
_FLOAT_INTEGER = re.compile(r"([+-]?)(\d+)\.0*")


def normalise_label(value: object) -> str:
    """A label as its class name: surrounding whitespace removed, ``1.0`` written ``1``.

    Args:
        value: a label as read (a CSV cell, or any JSON value).

    Returns:
        ``str(value)`` stripped; a number with only zeros after the decimal point (``"1.0"``,
        ``" 2.00 "``, JSON ``4.0``) becomes the integer's own spelling (``"1"``, ``"2"``, ``"4"``),
        and ``-0`` becomes ``0``.
    """
    text = str(value).strip()
    m = _FLOAT_INTEGER.fullmatch(text)
    if m is None:
        return text
    return str(int(m.group(1) + m.group(2)))


def _codec(encoding: str) -> str:
    """``utf-8-sig`` for UTF-8, so a byte-order mark never sticks to the first column's name."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return encoding  # reported by the reader with the key to fix
    return "utf-8-sig" if name == "utf-8" else encoding


@contextlib.contextmanager
def _field_limit(size: int) -> Iterator[None]:
    """Let the csv module read fields up to ``size`` characters (its default stops at 128 KiB).

    No field can be longer than the file holding it, so the file's length is a safe limit: a long
    review is read, and memory stays bounded by the file. The old limit is restored after.
    """
    old = csv.field_size_limit()
    csv.field_size_limit(min(max(old, size + 1), sys.maxsize))
    try:
        yield
    finally:
        csv.field_size_limit(old)


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
        return path.read_text(encoding=_codec(encoding))
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
    changed: dict[str, str] = {}  # label as written -> as normalised, for the note
    for line_no, row in enumerate(rows, start=2):
        text = row.get(text_col)
        if text is None:
            raise RecipeError(f"{path} row {line_no} has no value for column '{text_col}'")
        texts.append(str(text))
        if need_label:
            label = row.get(label_col)
            if label is None or str(label).strip() == "":
                raise RecipeError(f"{path} row {line_no} has an empty '{label_col}' value")
            name = normalise_label(label)
            if name != str(label).strip():
                changed.setdefault(str(label).strip(), name)
            labels.append(name)
    if not texts:
        raise RecipeError(f"{path} has a header but no rows of data")
    if need_label and not any(t.strip() for t in texts):
        # Caught here, not as "Table not initialized" deep inside the vocabulary layer.
        raise RecipeError(
            f"column '{text_col}' of {path} is empty in every row; set data.text_column to the "
            f"column that holds the texts (columns found: {', '.join(found)})"
        )
    notes = []
    if changed:
        shown = ", ".join(f"{a!r} as {b!r}" for a, b in list(changed.items())[:5])
        notes.append(f"  note: labels written as decimals read as integers: {shown}")
    return TextTable(texts, labels, str(path), notes)


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
        header, rows = _read_delimited(raw, path, fmt)
        return _pick_columns(rows, header, path, text_column, label_column, need_label)
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


def _read_delimited(raw: str, path: Path, fmt: str) -> tuple[list[str], list[dict]]:
    """The header and rows (dicts) of CSV or TSV text, refusing a likely stray quote."""
    delimiter = "," if fmt == "csv" else "\t"
    # Parse from a stream, not from str.splitlines(): quoted CSV fields may span lines, and
    # splitlines() would also break rows at U+0085/U+2028 inside a text. TSV has no quoting.
    reader = csv.reader(
        io.StringIO(raw, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE,
    )
    rows: list[dict] = []
    header: list[str] = []
    with _field_limit(len(raw)):
        try:
            header = next(reader, [])
            width = len(header)
            start = reader.line_num + 1
            for record in reader:
                if fmt == "csv" and reader.line_num > start:
                    _check_stray_quote(record, width, delimiter, path, start)
                if record:  # csv.DictReader also skips blank lines
                    row = dict(zip(header, record))
                    rows.append(row)
                start = reader.line_num + 1
        except csv.Error as exc:
            raise RecipeError(f"{path} is not valid {fmt.upper()}: {exc}") from None
    return header, rows


def _check_stray_quote(
    record: list[str], width: int, delimiter: str, path: Path, line: int
) -> None:
    """Refuse a quoted field whose lines look like rows of their own.

    Quoted CSV fields may span lines. But a quote opened by mistake at the start of a field runs
    on until the next quote anywhere in the file, swallowing the rows in between into one text.
    Their mark: two or more lines of one field that each hold exactly as many delimiters as a row
    (``width - 1``). Real multi-line texts rarely do, and the message says how to fix either case.
    """
    if width < 2:
        return
    for value in record:
        lines = value.split("\n")
        if len(lines) < 2:
            continue
        row_like = sum(1 for part in lines if part.count(delimiter) == width - 1)
        if row_like >= 2:
            raise RecipeError(
                f"{path} line {line}: a quoted field runs over {len(lines) - 1} line break(s) "
                f"that look like rows of their own (a stray quote at the start of a field?); "
                'remove the stray quote, or write a quote inside a text as "" in a quoted field'
            )


def _read_folder(path: Path, encoding: str, classes: list[str] | None = None) -> TextTable:
    """One sub-folder per class of .txt files (the aclImdb layout), nested folders included.

    ``classes`` limits the classes to those sub-folders (aclImdb's train/ also holds unsup/).
    Files are read in class order, then path order. A class folder may itself be a symbolic
    link; links to folders *inside* a class folder are refused (:func:`walk_files`), so a loop
    such as ``ln -s .. reviews/pos/loop`` cannot multiply the examples under a wrong label.
    """
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
    codec = _codec(encoding)
    texts, labels = [], []
    for label in classes:
        # Keras' order (folder path as text, then file name), so seeded splits stay as they were.
        files = sorted(walk_files(path / label), key=lambda f: (str(f.parent), f.name))
        for file in files:
            if not file.name.lower().endswith(".txt"):
                continue
            try:
                texts.append(file.read_bytes().decode(codec))
            except PermissionError:
                raise RecipeError(f"cannot read {file}: permission denied") from None
            except UnicodeDecodeError:
                raise RecipeError(
                    f"{file} (class '{label}') is not valid {encoding}; set data.encoding to the "
                    "files' encoding, e.g. --set data.encoding=cp1252"
                ) from None
            except LookupError:
                raise RecipeError(f"unknown encoding '{encoding}' in data.encoding") from None
            labels.append(label)
    if not texts:
        raise RecipeError(f"{path} has class folders but no .txt files in them")
    return TextTable(texts, labels, str(path))


def read_line_files(folder: str | Path, files: list[str], encoding: str = "utf-8") -> TextTable:
    """One file per class, one example per non-empty line (the rt-polarity layout).

    Args:
        folder: the folder holding the files.
        files: ``"LABEL=FILE"`` items, FILE relative to ``folder``; read in this order.
        encoding: the files' encoding.

    Returns:
        The texts (lines, stripped), their labels, and each line's index among the non-empty
        lines of its file (``line_numbers``), for rules such as "every 10th line is test".
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RecipeError(f'{folder} is not a folder; data.format = "lines" reads files in it')
    texts: list[str] = []
    labels: list[str] = []
    numbers: list[int] = []
    for item in files:
        label, sep, name = item.partition("=")
        label, name = label.strip(), name.strip()
        if not (sep and label and name):
            raise RecipeError(
                f'data.line_files item {item!r} is not LABEL=FILE, e.g. "positive=rt-polarity.pos"'
            )
        path = folder / name
        if not path.is_file():
            raise RecipeError(f"line file not found: {path} (data.line_files: {item!r})")
        lines = [x.strip() for x in _read_text(path, encoding).split("\n") if x.strip()]
        if not lines:
            raise RecipeError(f"line file {path} is empty")
        texts += lines
        labels += [label] * len(lines)
        numbers += range(len(lines))
    return TextTable(texts, labels, str(folder), line_numbers=numbers)
