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


# --- issue 10: bad input that lost or falsified data -------------------------------------------


def test_symlink_loop_in_a_class_folder_is_refused(tmp_path: Path):
    for label in ("neg", "pos"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "1.txt").write_text(f"a {label} text")
    (tmp_path / "pos" / "loop").symlink_to("..")
    with pytest.raises(RecipeError, match=r"pos/loop is a symbolic link to a folder \(\.\.\)"):
        read_texts(tmp_path)


def test_linked_files_in_a_class_folder_are_read(tmp_path: Path):
    for label in ("neg", "pos"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "1.txt").write_text(f"a {label} text")
    (tmp_path / "elsewhere.txt").write_text("linked in")
    (tmp_path / "pos" / "2.txt").symlink_to(tmp_path / "elsewhere.txt")
    table = read_texts(tmp_path)
    assert list(zip(table.labels, table.texts)) == [
        ("neg", "a neg text"),
        ("pos", "a pos text"),
        ("pos", "linked in"),
    ]


def test_decimal_and_padded_labels_are_one_class(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_text("text,label\na,1\nb,1.0\nc, 1\nd,0.00\ne,-2.0\nf,1.5\n")
    table = read_texts(path)
    assert table.labels == ["1", "1", "1", "0", "-2", "1.5"]
    assert table.notes == [
        "  note: labels written as decimals read as integers: "
        "'1.0' as '1', '0.00' as '0', '-2.0' as '-2'"
    ]
    (tmp_path / "a.jsonl").write_text('{"text": "x", "label": 4.0}\n{"text": "y", "label": 4}\n')
    assert read_texts(tmp_path / "a.jsonl").labels == ["4", "4"]


def test_stray_quote_swallowing_rows_is_refused(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_text(
        'text,label\nfine,pos\n"oops,neg\nnext,pos\nthird,neg\nit was "ok" really,pos\nlast,neg\n'
    )
    with pytest.raises(RecipeError, match="a.csv line 3: a quoted field runs over 3 line"):
        read_texts(path)


def test_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_bytes("text,label\nbonjour,pos\n".encode("utf-8-sig"))
    assert read_texts(path).texts == ["bonjour"]
    assert read_texts(path, encoding="UTF8").texts == ["bonjour"]


def test_a_field_over_the_csv_modules_limit_is_read(tmp_path: Path):
    import csv

    long = "word " * 250_000  # about 1.2 MB, past csv's 128 KiB default
    path = write_csv(tmp_path / "a.csv", [(long, "pos"), ("short", "neg")])
    limit = csv.field_size_limit()
    assert read_texts(path).texts == [long, "short"]
    assert csv.field_size_limit() == limit  # restored for other readers


def test_all_empty_text_column_is_refused_at_read_time(tmp_path: Path):
    path = write_csv(tmp_path / "a.csv", [("", "pos"), ("  ", "neg")], header=("text", "label"))
    with pytest.raises(RecipeError, match="column 'text' of .* is empty in every row"):
        read_texts(path)


# --- line files (one file per class, one example per line: the rt-polarity layout) -------------


def test_line_files_keep_the_order_and_number_the_lines_per_file(tmp_path: Path):
    from rnn_recipes.data.text import read_line_files

    (tmp_path / "x.pos").write_bytes("caf\xe9 au lait\n\n  fine  \nthird\n".encode("cp1252"))
    (tmp_path / "x.neg").write_text("bad\nworse")  # no final newline
    table = read_line_files(tmp_path, ["positive=x.pos", "negative=x.neg"], "cp1252")
    assert table.texts == ["caf\xe9 au lait", "fine", "third", "bad", "worse"]
    assert table.labels == ["positive"] * 3 + ["negative"] * 2
    assert table.line_numbers == [0, 1, 2, 0, 1]  # blank lines are not counted


@pytest.mark.parametrize(
    ("files", "message"),
    [(["positive"], "is not LABEL=FILE"), (["positive=nope.pos"], "line file not found")],
)
def test_bad_line_file_items_are_one_clear_error(tmp_path: Path, files, message):
    from rnn_recipes.data.text import read_line_files

    with pytest.raises(RecipeError, match=message):
        read_line_files(tmp_path, files)


def test_a_sentiment_run_on_line_files_with_a_test_fold(tmp_path: Path):
    from tests.conftest import TINY, invoke, make_reviews

    rows = make_reviews(200)
    for label, ext in (("positive", "pos"), ("negative", "neg")):
        lines = [text for text, lab in rows if lab == label]
        (tmp_path / f"r.{ext}").write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    result = invoke(
        "run",
        "sentiment",
        "--data",
        tmp_path,
        "--set",
        'data.format="lines"',
        "--set",
        'data.line_files=["positive=r.pos", "negative=r.neg"]',
        "--set",
        "data.test_every=10",
        "--set",
        "data.test_fold=3",
        *TINY,
        "--epochs",
        "1",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    counts = json.loads((out / "metrics.json").read_text())["counts"]
    assert sum(counts["test"].values()) == 20  # lines 3, 13, ..., 93 of each 100-line file
    assert sum(counts["train"].values()) + sum(counts["validation"].values()) == 180
    bad = invoke(
        "show",
        "sentiment",
        "--set",
        'data.format="lines"',
        "--set",
        "data.path=x",
    )
    assert bad.exit_code == 2 and "data.line_files go together" in bad.stderr


# --- files as they come: no header, several files, .txt (issue 16) ---------------------------


def _headerless_tsv(path: Path, rows, newline: str = "\r\n") -> Path:
    """``sentence<TAB>label`` rows, no header, no final newline (as many corpora ship)."""
    path.write_bytes(newline.join(f"{t}\t{lab}" for t, lab in rows).encode("utf-8"))
    return path


ROWS = [('a "great film', "1"), ("dull and long", "0"), ("loved it", "1")]


def test_headerless_tsv_with_crlf_stray_quote_and_no_final_newline(tmp_path: Path):
    path = _headerless_tsv(tmp_path / "a.tsv", ROWS)
    table = read_texts(path, header=False)
    assert table.texts == [t for t, _ in ROWS] and table.labels == ["1", "0", "1"]
    # Positions given explicitly, in the other order of columns.
    swapped = _headerless_tsv(tmp_path / "b.tsv", [(lab, t) for t, lab in ROWS], "\n")
    table = read_texts(swapped, header=False, text_column=1, label_column=0)
    assert table.texts == [t for t, _ in ROWS] and table.labels == ["1", "0", "1"]


def test_a_header_that_looks_like_data_suggests_header_false(tmp_path: Path):
    # The first row becomes the column names: a sentence, and a label value.
    path = _headerless_tsv(tmp_path / "a.tsv", [("the film was a great deal of fun", "1")] + ROWS)
    with pytest.raises(RecipeError, match="looks like data.*is a sentence.*data.header = false"):
        read_texts(path)
    short = _headerless_tsv(tmp_path / "b.tsv", [("ok", "1"), ("meh", "0"), ("fine", "1")])
    with pytest.raises(RecipeError, match="'1' is also a value in that column.*header = false"):
        read_texts(short)


def test_a_real_header_with_other_names_still_asks_for_the_columns(tmp_path: Path):
    write_csv(tmp_path / "a.csv", [("good", "pos")], header=("review", "stars"))
    with pytest.raises(RecipeError, match="columns found: review, stars; set data.text_column"):
        read_texts(tmp_path / "a.csv")


def test_column_positions_out_of_range_or_named_without_header(tmp_path: Path):
    path = _headerless_tsv(tmp_path / "a.tsv", ROWS)
    with pytest.raises(RecipeError, match="data.label_column = 5 but .* has 2 column"):
        read_texts(path, header=False, label_column=5)
    with pytest.raises(RecipeError, match="data.text_column = 'review' names a column"):
        read_texts(path, header=False, text_column="review")


def test_several_files_by_list_or_glob_never_merge_lines(tmp_path: Path):
    (tmp_path / "reviews").mkdir()
    a = _headerless_tsv(tmp_path / "reviews" / "a.tsv", ROWS[:2])  # no final newline
    b = _headerless_tsv(tmp_path / "reviews" / "b.tsv", ROWS[2:])
    by_list = read_texts([a, b], header=False)
    by_glob = read_texts(str(tmp_path / "reviews" / "*.tsv"), header=False)
    for table in (by_list, by_glob):
        assert table.texts == [t for t, _ in ROWS] and table.labels == ["1", "0", "1"]
        assert str(a) in table.source and str(b) in table.source
    with pytest.raises(RecipeError, match=r"no file matches .*\*\.csv \(data\.train\)"):
        read_texts(str(tmp_path / "reviews" / "*.csv"), key="data.train")


def test_tab_separated_txt_is_read_as_tsv(tmp_path: Path):
    path = _headerless_tsv(tmp_path / "sentences.txt", ROWS)
    assert read_texts(path, header=False).labels == ["1", "0", "1"]
    with_header = tmp_path / "h.txt"
    with_header.write_text("text\tlabel\nfine\tpos\n")
    assert read_texts(with_header).texts == ["fine"]


@pytest.mark.parametrize(
    ("content", "advice"),
    [
        ("a,1\nb,0\n", 'data.format = "csv"'),
        ('{"text": "a"}\n', 'data.format = "jsonl"'),
        ("one sentence\nanother\n", 'data.format = "lines"'),
    ],
)
def test_txt_that_is_not_tab_separated_names_the_format_to_set(tmp_path, content, advice):
    (tmp_path / "a.txt").write_text(content)
    with pytest.raises(RecipeError, match=advice):
        read_texts(tmp_path / "a.txt")


def test_missing_folder_and_file_are_named_as_such(tmp_path: Path):
    with pytest.raises(RecipeError, match="data folder not found"):
        read_texts(tmp_path / "reviews")
    with pytest.raises(RecipeError, match="data file not found"):
        read_texts(tmp_path / "reviews.csv")


def test_a_header_read_as_data_is_refused(tmp_path: Path):
    path = write_csv(tmp_path / "a.csv", ROWS)
    with pytest.raises(RecipeError, match=r"is a header \(text, label\).*data.header = true"):
        read_texts(path, header=False)


def test_stray_quote_in_a_headerless_csv_is_refused(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_text('fine,1\n"stray start,0\nnext row,1\nanother,0\nlast",1\n', encoding="utf-8")
    with pytest.raises(RecipeError, match="line 2: a quoted field runs over"):
        read_texts(path, header=False)
