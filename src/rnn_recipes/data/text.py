"""Labelled text from files: CSV, TSV, JSON lines, a folder with one sub-folder per class, or
line files (one file per class, one example per line, as rt-polarity ships).

Everything comes back as two Python lists (texts, labels as strings); tasks turn them into
``tf.data`` pipelines. Every failure is a one-line :class:`RecipeError` naming the file and the fix.

A split may be several files: a list of paths or a glob (``reviews/*.tsv``), read one file at a
time and concatenated in the order given (a glob's matches sorted), so a file without a final
newline never runs into the next one. Delimited files may have no header (``header=False``):
columns are then addressed by 0-based position.
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
from .files import column_at, expand_paths, walk_files

FORMATS = ("auto", "csv", "tsv", "jsonl", "folder", "lines")
_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# A .txt file is read as TSV when each of its first lines holds a tab (``sentence<TAB>label``, the
# way many corpora ship); these many non-empty lines are looked at.
SNIFF_LINES = 20
# A header cell this long, or of this many words, is a sentence, not a column name.
_SENTENCE_CHARS, _SENTENCE_WORDS = 40, 5


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


def _sniff_txt(path: Path, encoding: str) -> str:
    """``"tsv"`` when every one of the first non-empty lines of ``path`` holds a tab.

    Raises:
        RecipeError: otherwise, saying which ``data.format`` fits what the lines look like.
    """
    lines: list[str] = []
    try:
        with open(path, encoding=_codec(encoding), errors="replace", newline="") as f:
            for line in f:
                if line.strip():
                    lines.append(line)
                if len(lines) >= SNIFF_LINES:
                    break
    except (OSError, LookupError):
        lines = []  # the reader reports an unreadable file or unknown encoding with its fix
    if not lines or all("\t" in line for line in lines):
        return "tsv"  # an empty file is reported as empty by the reader
    if lines and all("," in line for line in lines):
        hint = 'its lines hold commas: set data.format = "csv" if it is comma-separated'
    elif lines and all(line.lstrip()[:1] == "{" for line in lines):
        hint = 'its lines look like JSON: set data.format = "jsonl"'
    else:
        hint = (
            "set data.format to csv, tsv or jsonl, or for one example per line and one file per "
            'class, data.format = "lines" with data.line_files'
        )
    raise RecipeError(
        f"cannot tell the format of {path}: a .txt file is read as TSV only when each line holds "
        f"a tab; {hint}"
    )


def detect_format(path: Path, fmt: str, encoding: str = "utf-8") -> str:
    """The reader for ``path``: ``fmt`` itself unless it is ``"auto"``.

    ``auto`` goes by extension (``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``), a folder is
    ``folder``, and a ``.txt`` file is ``tsv`` when each of its first lines holds a tab.
    """
    if fmt != "auto":
        return fmt
    found = _BY_SUFFIX.get(path.suffix.lower())
    if path.is_dir():
        if found:
            raise RecipeError(f"{path} is a folder, expected a {found.upper()} file")
        return "folder"
    if found is None and path.suffix.lower() == ".txt":
        return _sniff_txt(path, encoding)
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


Column = str | int  # a column's name, or its 0-based position


def _column_name(spec: Column, found: list[str], path: Path, key: str, header: bool) -> str:
    """The name under which column ``spec`` (a name or a 0-based position) is in ``found``."""
    if isinstance(spec, int):
        return column_at(spec, found, path, key)
    if not header:
        raise RecipeError(
            f"{key} = {spec!r} names a column, but with data.header = false columns have no "
            f"names; set {key} to a 0-based position, e.g. {key}=0"
        )
    return spec


def _shorten(name: str) -> str:
    """A column name for a message: a sentence-long one cut to ``_SENTENCE_CHARS``."""
    return name if len(name) <= _SENTENCE_CHARS else name[: _SENTENCE_CHARS - 3] + "..."


def _looks_like_data(found: list[str], rows: list[dict]) -> str | None:
    """Why the header row ``found`` seems to be a row of data, or None when it looks fine."""
    for name in found:
        if len(name) >= _SENTENCE_CHARS or len(name.split()) >= _SENTENCE_WORDS:
            return f"column name {_shorten(name)!r} is a sentence"
    sample = rows[:1000]
    for name in found:
        if name.strip() and any(
            normalise_label(row.get(name, "")) == normalise_label(name) for row in sample
        ):
            return f"column name {name!r} is also a value in that column"
    return None


def _pick_columns(
    rows: list[dict],
    found: list[str],
    path: Path,
    text_col: Column,
    label_col: Column,
    need_label: bool,
    header: bool = True,
    first_line: int | None = None,
) -> TextTable:
    """``rows`` as a table of texts and labels, checked.

    ``first_line`` is set for a later chunk of a file read in chunks (:func:`iter_file_chunks`):
    the file line of its first row, for messages; the checks on the whole file (the header, no
    rows, no text at all) were made on the first chunk.
    """
    text_col = _column_name(text_col, found, path, "data.text_column", header)
    if need_label:
        label_col = _column_name(label_col, found, path, "data.label_column", header)
    missing = [c for c in (text_col, label_col if need_label else None) if c and c not in found]
    if missing:
        names = ", ".join(found) if found else "(none)"
        keys = " and ".join(f"data.{'text' if m == text_col else 'label'}_column" for m in missing)
        why = _looks_like_data(found, rows)
        if why:
            # Both fixes: survey exports do have sentences ("What did you think?") as names.
            short = ", ".join(_shorten(c) for c in found)
            raise RecipeError(
                f"{path} has no column {', '.join(repr(m) for m in missing)}, and its first row "
                f"looks like data, not column names ({why}): if the file has no header row, set "
                "data.header = false (columns by position: data.text_column = 0, "
                f"data.label_column = 1); otherwise set {keys} (columns found: {short})"
            )
        raise RecipeError(
            f"{path} has no column {', '.join(repr(m) for m in missing)}; columns found: "
            f"{names}; set {keys}"
        )
    if not header and rows and need_label and first_line is None:
        first = (str(rows[0].get(text_col, "")).strip(), str(rows[0].get(label_col, "")).strip())
        if first == ("text", "label"):
            # Read as data it would be one example of a class named "label".
            raise RecipeError(
                f"the first row of {path} is a header (text, label) but data.header = false; "
                "set data.header = true"
            )
    texts, labels = [], []
    changed: dict[str, str] = {}  # label as written -> as normalised, for the note
    start = first_line if first_line is not None else (2 if header else 1)
    for line_no, row in enumerate(rows, start=start):
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
    if first_line is not None:
        pass  # a later chunk: the whole-file checks below were made on the first
    elif not texts:
        raise RecipeError(f"{path} has a header but no rows of data")
    elif need_label and not any(t.strip() for t in texts):
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
    path: str | Path | list[str | Path],
    fmt: str = "auto",
    text_column: Column = "text",
    label_column: Column = "label",
    encoding: str = "utf-8",
    need_label: bool = True,
    classes: list[str] | None = None,
    header: bool = True,
    key: str = "data.path",
) -> TextTable:
    """Read labelled (or, with ``need_label=False``, unlabelled) texts from files or a folder.

    Args:
        path: a file, a folder of class sub-folders, a glob such as ``reviews/*.tsv``, or a
            list of these; several files are read one by one and concatenated in order.
        fmt: ``auto`` (by extension; see :func:`detect_format`) or one of :data:`FORMATS`.
        text_column: the column (name, or 0-based position) or JSON key holding the text.
        label_column: the column or JSON key holding the label.
        encoding: the files' text encoding.
        need_label: read labels too (``False`` for texts to predict).
        classes: for a folder, the class sub-folders to read.
        header: whether CSV/TSV files start with a row of column names; without one, columns
            are positions and the defaults ``"text"``/``"label"`` mean columns 0 and 1.
        key: the config key that gave ``path``, for messages about globs.

    Returns:
        The texts and labels of every file, ``source`` naming the files read.
    """
    if not header:
        # The default names mean the usual "sentence<TAB>label" layout of headerless files.
        text_column = 0 if text_column == "text" else text_column
        label_column = 1 if label_column == "label" else label_column
    files = expand_paths(path, key)
    tables = [
        _read_one(f, fmt, text_column, label_column, encoding, need_label, classes, header)
        for f in files
    ]
    if len(tables) == 1:
        return tables[0]
    out = TextTable([], [], describe_sources([t.source for t in tables]))
    for table in tables:
        out.texts += table.texts
        out.labels += table.labels
        out.notes += [n for n in table.notes if n not in out.notes]
    return out


def describe_sources(sources: list[str], limit: int = 10) -> str:
    """Several file names for one log line: all of them up to ``limit``, then a count."""
    shown = ", ".join(sources[:limit])
    more = f" and {len(sources) - limit} more" if len(sources) > limit else ""
    return f"{len(sources)} files: {shown}{more}"


def _read_one(
    path: Path,
    fmt: str,
    text_column: Column,
    label_column: Column,
    encoding: str,
    need_label: bool,
    classes: list[str] | None,
    header: bool,
) -> TextTable:
    """One file or class folder (see :func:`read_texts`)."""
    if not path.exists():
        # Only the extension tells what was meant: a path without one is a class folder.
        kind = "file" if path.suffix else "folder"
        raise RecipeError(f"data {kind} not found: {path}")
    fmt = detect_format(path, fmt, encoding)
    _check_readable(path, fmt)
    if fmt == "folder":
        return _read_folder(path, encoding, classes)
    raw = _read_text(path, encoding)
    if not raw.strip():
        raise RecipeError(f"data file {path} is empty")
    if fmt in ("csv", "tsv"):
        found, rows = _read_delimited(raw, path, fmt, header)
        return _pick_columns(rows, found, path, text_column, label_column, need_label, header)
    if fmt == "jsonl":
        for spec, name in ((text_column, "text"), (label_column if need_label else "", "label")):
            if isinstance(spec, int):
                raise RecipeError(
                    f"data.{name}_column = {spec} is a position, but JSON lines ({path}) name "
                    f"their keys; set data.{name}_column to the key"
                )
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


def _read_delimited(
    raw: str, path: Path, fmt: str, header: bool = True
) -> tuple[list[str], list[dict]]:
    """The column names and rows (dicts) of CSV or TSV text, refusing a likely stray quote.

    Without a header, the columns are named by their positions (``"0"``, ``"1"``...), as many
    as the widest row has.
    """
    delimiter = "," if fmt == "csv" else "\t"
    # Parse from a stream, not from str.splitlines(): quoted CSV fields may span lines, and
    # splitlines() would also break rows at U+0085/U+2028 inside a text. TSV has no quoting.
    reader = csv.reader(
        io.StringIO(raw, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE,
    )
    records: list[list[str]] = []
    names: list[str] = []
    with _field_limit(len(raw)):
        try:
            if header:
                names = next(reader, [])
            width = len(names)
            start = reader.line_num + 1
            for record in reader:
                if fmt == "csv" and reader.line_num > start:
                    _check_stray_quote(record, width, delimiter, path, start)
                if not width and len(record) > 1 and reader.line_num == start:
                    width = len(record)  # no header: a one-line first row gives the width
                if record:  # csv.DictReader also skips blank lines
                    records.append(record)
                start = reader.line_num + 1
        except csv.Error as exc:
            raise RecipeError(f"{path} is not valid {fmt.upper()}: {exc}") from None
    if not header:
        names = [str(i) for i in range(max(map(len, records), default=0))]
    return names, [dict(zip(names, record)) for record in records]


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


# --- reading in chunks, for data larger than memory ---------------------------------------------

# Examples per chunk of the chunked readers: large enough that Python's per-chunk overhead is
# small, small enough (a few hundred KB of sentences) that memory does not notice it.
CHUNK_ROWS = 1024


def _decode_error(path: Path, encoding: str, line: int) -> RecipeError:
    return RecipeError(
        f"{path} is not valid {encoding} (near line {line}); set data.encoding to the file's "
        "encoding, e.g. --set data.encoding=cp1252"
    )


def _open_text(path: Path, encoding: str):
    try:
        return open(path, encoding=_codec(encoding), newline="")
    except LookupError:
        raise RecipeError(f"unknown encoding '{encoding}' in data.encoding") from None
    except PermissionError:
        raise RecipeError(f"cannot read {path}: permission denied") from None


def iter_file_chunks(
    path: Path,
    fmt: str = "auto",
    text_column: Column = "text",
    label_column: Column = "label",
    encoding: str = "utf-8",
    header: bool = True,
    rows: int = CHUNK_ROWS,
) -> Iterator[TextTable]:
    """One CSV, TSV or JSON-lines file as tables of at most ``rows`` labelled examples, read as
    it goes (never the whole file in memory), with the checks and one-line errors of
    :func:`read_texts`.

    Raises:
        RecipeError: as :func:`read_texts`, when the chunk holding the fault is reached; and for
            ``data.format = "folder"``, which is not read in chunks.
    """
    if not header:
        text_column = 0 if text_column == "text" else text_column
        label_column = 1 if label_column == "label" else label_column
    if not path.exists():
        raise RecipeError(f"data file not found: {path}")
    fmt = detect_format(path, fmt, encoding)
    _check_readable(path, fmt)
    if fmt not in ("csv", "tsv", "jsonl"):
        raise RecipeError(
            f"{path}: data.stream reads CSV, TSV and JSON-lines files and line files, not a "
            f"{fmt}; set data.stream = false"
        )
    if fmt == "jsonl":
        for spec, name in ((text_column, "text"), (label_column, "label")):
            if isinstance(spec, int):
                raise RecipeError(
                    f"data.{name}_column = {spec} is a position, but JSON lines ({path}) name "
                    f"their keys; set data.{name}_column to the key"
                )
    first_row = 2 if header or fmt == "jsonl" else 1  # as read_texts numbers rows
    done = 0  # examples handed out so far
    found: list[str] = []
    pending: list[dict] = []

    def table(batch: list[dict]) -> TextTable:
        later = None if done == 0 else done + first_row
        return _pick_columns(
            batch, found, path, text_column, label_column, True, header or fmt == "jsonl", later
        )

    with _open_text(path, encoding) as f:
        line = 0
        try:
            if fmt == "jsonl":
                for line, raw in enumerate(f, start=1):
                    if not raw.strip():
                        continue
                    try:
                        row = json.loads(raw)
                    except json.JSONDecodeError as exc:
                        raise RecipeError(f"{path} line {line} is not JSON: {exc.msg}") from None
                    if not isinstance(row, dict):
                        raise RecipeError(f"{path} line {line} is not a JSON object")
                    found.extend(k for k in row if k not in found)
                    pending.append(row)
                    if len(pending) >= rows:
                        yield table(pending)
                        done += len(pending)
                        pending = []
            else:
                delimiter = "," if fmt == "csv" else "\t"
                reader = csv.reader(
                    f,
                    delimiter=delimiter,
                    quoting=csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE,
                )
                with _field_limit(path.stat().st_size):
                    try:
                        if header:
                            found = next(reader, [])
                        width = len(found)
                        start = reader.line_num + 1
                        for record in reader:
                            line = reader.line_num
                            if fmt == "csv" and reader.line_num > start:
                                _check_stray_quote(record, width, delimiter, path, start)
                            if not width and len(record) > 1:
                                width = len(record)
                            start = reader.line_num + 1
                            if not record:
                                continue
                            if not header and len(record) > len(found):
                                found = [str(i) for i in range(len(record))]
                            pending.append(dict(zip(found, record)))
                            if len(pending) >= rows:
                                yield table(pending)
                                done += len(pending)
                                pending = []
                    except csv.Error as exc:
                        raise RecipeError(f"{path} is not valid {fmt.upper()}: {exc}") from None
        except UnicodeDecodeError:
            raise _decode_error(path, encoding, line + 1) from None
    if pending or done == 0:
        if done == 0 and not pending and not found:
            raise RecipeError(f"data file {path} is empty")
        yield table(pending)


def iter_line_file(
    path: Path, label: str, encoding: str = "utf-8", rows: int = CHUNK_ROWS
) -> Iterator[TextTable]:
    """One line file of ``data.format = "lines"`` (one example per non-empty line, all of class
    ``label``) as tables of at most ``rows`` examples, with each line's index among the non-empty
    lines (``line_numbers``, for ``data.test_every``), as :func:`read_line_files` reads it.
    """
    if not path.is_file():
        raise RecipeError(f"line file not found: {path}")
    number = 0
    texts: list[str] = []
    numbers: list[int] = []
    with _open_text(path, encoding) as f:
        try:
            for raw in f:
                text = raw.strip()
                if not text:
                    continue
                texts.append(text)
                numbers.append(number)
                number += 1
                if len(texts) >= rows:
                    yield TextTable(texts, [label] * len(texts), str(path), line_numbers=numbers)
                    texts, numbers = [], []
        except UnicodeDecodeError:
            raise _decode_error(path, encoding, number + 1) from None
    if number == 0:
        raise RecipeError(f"line file {path} is empty")
    if texts:
        yield TextTable(texts, [label] * len(texts), str(path), line_numbers=numbers)
