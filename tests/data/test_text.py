import json
from pathlib import Path

import pytest

from rnn_recipes.data.text import read_texts
from rnn_recipes.errors import RecipeError
from tests.conftest import write_csv


def test_csv_tsv_jsonl_and_custom_columns(tmp_path: Path):
    rows = [("good, really good", "pos"), ('a "quoted" word', "neg")]
    write_csv(tmp_path / "a.csv", rows)
    (tmp_path / "a.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows))
    (tmp_path / "a.jsonl").write_text(
        "\n".join(json.dumps({"review": t, "stars": lab}) for t, lab in rows) + "\n"
    )
    for name in ("a.csv", "a.tsv"):
        table = read_texts(tmp_path / name)
        assert table.texts == [r[0] for r in rows] and table.labels == ["pos", "neg"]
    table = read_texts(tmp_path / "a.jsonl", text_column="review", label_column="stars")
    assert table.texts == [r[0] for r in rows] and table.labels == ["pos", "neg"]


def test_jsonl_integer_labels_become_strings(tmp_path: Path):
    (tmp_path / "a.jsonl").write_text('{"text": "x", "label": 1}\n{"text": "y", "label": 0}\n')
    assert read_texts(tmp_path / "a.jsonl").labels == ["1", "0"]


def test_encoding_option_reads_cp1252(tmp_path: Path):
    path = tmp_path / "old.csv"
    path.write_bytes("text,label\nna\xefve \x97 but charming,pos\n".encode("latin-1"))
    with pytest.raises(RecipeError, match="data.encoding"):
        read_texts(path)
    assert read_texts(path, encoding="cp1252").texts == ["na\u00efve \u2014 but charming"]


def test_class_folders(tmp_path: Path):
    for label, texts in {
        "neg": ["bad one", "awful"],
        "pos": ["lovely", "great fun", "fine"],
    }.items():
        (tmp_path / label).mkdir()
        for i, t in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(t)
    table = read_texts(tmp_path)
    assert sorted(zip(table.labels, table.texts)) == [
        ("neg", "awful"),
        ("neg", "bad one"),
        ("pos", "fine"),
        ("pos", "great fun"),
        ("pos", "lovely"),
    ]


def test_unknown_extension_asks_for_format(tmp_path: Path):
    (tmp_path / "data.txt").write_text("text,label\nx,y\n")
    with pytest.raises(RecipeError, match="set data.format"):
        read_texts(tmp_path / "data.txt")
    assert read_texts(tmp_path / "data.txt", fmt="csv").labels == ["y"]


def test_bad_jsonl_line_is_named(tmp_path: Path):
    (tmp_path / "a.jsonl").write_text('{"text": "x", "label": 1}\nnot json\n')
    with pytest.raises(RecipeError, match="line 2 is not JSON"):
        read_texts(tmp_path / "a.jsonl")


def test_quoted_csv_fields_may_span_lines_and_hold_odd_breaks(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_text('text,label\n"line one\nline two",pos\nna\x85ve,neg\n', encoding="utf-8")
    table = read_texts(path)
    assert table.texts == ["line one\nline two", "na\x85ve"]
    assert table.labels == ["pos", "neg"]


def test_tsv_has_no_quoting(tmp_path: Path):
    path = tmp_path / "a.tsv"
    path.write_text('text\tlabel\n"Great" movie\tpos\n', encoding="utf-8")
    assert read_texts(path).texts == ['"Great" movie']


def test_class_folders_limited_to_named_classes(tmp_path: Path):
    for label in ("neg", "pos", "unsup"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "1.txt").write_text(f"a {label} text")
    table = read_texts(tmp_path, classes=["neg", "pos"])
    assert sorted(table.labels) == ["neg", "pos"]
    with pytest.raises(RecipeError, match="no sub-folder 'neutral'"):
        read_texts(tmp_path, classes=["neg", "neutral"])
