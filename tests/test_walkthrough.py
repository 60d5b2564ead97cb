"""The user-data walk-through of each task's page runs as written.

The commands are read from the page itself (the ```bash and ```console blocks of the section), so
a page that drifts from the code fails here. Each one runs in a folder of small generated files
named as on the page; the only changes are a tiny model, one epoch and a known ``--output``
folder for ``run``, and the run folder in place of the page's ``runs/my-<timestamp>``. The
recipe edit shown in the section's ```toml block is applied to the ``show`` output, key by key.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from rnn_recipes.data import audio
from tests.conftest import REPO, invoke, make_reviews, write_csv
from tests.makers import TINY_FOR, clip, make_series, make_wavs, write_series

# Where each page's walk-through is, and the run folder placeholders it uses.
SECTIONS = {
    "sentiment": ["## Worked example: your own CSV"],
    "speech": ["## Adapting it to your recordings"],
    "forecast": ["## Adapting it to your own series"],
}
# Each test trains one or two tiny runs and exports them: 25-45 s of CPU each (about 110 s for the
# module on 2 idle cores; several minutes on a machine shared with other training jobs).
pytestmark = pytest.mark.slow

RUN_PLACEHOLDER = re.compile(r"runs/[a-z]+-(?:<[^>]*>|\d{8}-\d{6})")


def section(task: str, heading: str) -> str:
    """The text of one section of ``docs/TASK.md``, up to the next heading of its level."""
    text = (REPO / "docs" / f"{task}.md").read_text(encoding="utf-8")
    start = text.index(heading + "\n")
    level = heading.split(" ")[0]
    end = re.search(rf"^{level} ", text[start + len(heading) :], re.M)
    return text[start : start + len(heading) + (end.start() if end else len(text))]


def commands(text: str) -> list[list[str]]:
    """The ``rnn-recipes`` commands of the shell blocks in ``text``, split as a shell would."""
    out = []
    for block in re.findall(r"```(?:bash|console)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.removeprefix("$ "), comments=True)
            if words[:1] == ["rnn-recipes"]:
                out.append(words[1:])
    return out


def apply_toml_edit(recipe: str, text: str) -> str:
    """``recipe`` (``show`` output) with every ``key = value`` (or ``# key is not set``) line of
    the ```toml blocks of ``text`` put in its place; the page's ``...`` and comments are left
    out."""
    lines = recipe.splitlines()
    for block in re.findall(r"```toml\n(.*?)```", text, re.S):
        section_name = ""
        for line in block.splitlines():
            if line.startswith("["):
                section_name = line.strip()
                continue
            unset = re.fullmatch(r"# (\w+) is not set", line.strip())
            if unset:  # written as `show` writes a key that is not set
                key = unset.group(1)
            elif "=" in line and not line.lstrip().startswith("#"):
                key = line.split("=")[0].strip()
            else:
                continue  # "..." and comments
            where = lines.index(section_name) + 1 if section_name else 0
            end = next(
                (i for i in range(where, len(lines)) if lines[i].startswith("[")), len(lines)
            )
            hit = [
                i
                for i in range(where, end)
                if re.match(rf"{re.escape(key)} = |# {re.escape(key)} is not set$", lines[i])
            ]
            assert hit, f"{section_name} {key} is not in the recipe `show` prints"
            lines[hit[0]] = line
    return "\n".join(lines) + "\n"


def run_page(task: str, folder: Path, monkeypatch) -> list:
    """Run every command of the task's walk-through in ``folder``; returns the results."""
    monkeypatch.chdir(folder)
    text = "".join(section(task, h) for h in SECTIONS[task])
    steps = commands(text)
    assert steps, f"no commands found in the walk-through of docs/{task}.md"
    results, runs = [], 0
    run_folder = None
    for args in steps:
        target = None
        if ">" in args:  # the page redirects output to a file
            at = args.index(">")
            args, target = args[:at], args[at + 1]
        if args[0] == "run":
            runs += 1
            run_folder = folder / "runs" / f"walk-{runs}"
            args = [*args, *TINY_FOR[task], "--epochs", "1", "--output", run_folder]
        elif run_folder is not None:
            args = [RUN_PLACEHOLDER.sub(str(run_folder), str(a)) for a in args]
        result = invoke(*args)
        assert result.exit_code == 0, f"rnn-recipes {shlex.join(map(str, args))}\n{result.output}"
        if target:
            (folder / target).write_text(result.stdout, encoding="utf-8")
        if args[0] == "show" and target:
            recipe = (folder / target).read_text(encoding="utf-8")
            (folder / target).write_text(apply_toml_edit(recipe, text), encoding="utf-8")
        results.append((args, result))
    return results


# --- the data each page's commands name ------------------------------------------------------


def sentiment_files(folder: Path) -> None:
    stars = {"positive": "5", "negative": "1", "neutral": "3"}
    classes = ("positive", "negative", "neutral")
    rows = [(t, stars[c]) for t, c in make_reviews(90, classes=classes)]
    write_csv(folder / "reviews.csv", rows, header=("review", "stars"))
    more = [(t, stars[c]) for t, c in make_reviews(12, seed=5, classes=classes)]
    write_csv(folder / "reviews-2025.csv", more, header=("review", "stars"))
    (folder / "new-reviews.txt").write_text("Great value, would buy again.\nDull.\n")


def speech_files(folder: Path) -> None:
    make_wavs(folder / "mine", layout="folders", takes=3)
    # The Speech Commands layout: files next to the class folders are skipped, not refused.
    (folder / "mine" / "README.md").write_text("recordings of two tones")
    (folder / "mine" / "LICENSE").write_text("CC-BY-4.0")
    make_wavs(folder / "more-recordings", layout="folders", takes=1)
    for name, label in (("a.wav", "low"), ("b.wav", "high")):
        audio.write_wav(folder / name, clip(label, 99), 8000)


def forecast_files(folder: Path) -> None:
    stamps, values = make_series(600)
    header = ("date", "load", "temperature")
    write_series(folder / "my.csv", stamps, values[:, [0, 2]], header=header)
    later_stamps, later = make_series(700, seed=1)
    write_series(folder / "recent.csv", later_stamps[600:], later[600:, [0, 2]], header=header)
    write_series(folder / "later.csv", later_stamps[500:], later[500:, [0, 2]], header=header)


FILES = {"sentiment": sentiment_files, "speech": speech_files, "forecast": forecast_files}


@pytest.mark.parametrize("task", list(SECTIONS))
def test_the_walk_through_runs_as_written(task, tmp_path: Path, monkeypatch):
    FILES[task](tmp_path)
    results = run_page(task, tmp_path, monkeypatch)
    done = [args[0] for args, _ in results]
    assert "run" in done and "predict" in done and "evaluate" in done, done
    for args, result in results:
        if args[0] == "predict" and "--json" not in args and task != "forecast":
            # label <TAB> probability <TAB> input, one line per input, as the pages say
            for line in result.stdout.strip().splitlines():
                label, probability, _ = line.split("\t")
                assert re.fullmatch(r"\d\.\d{3}", probability), line
    if task == "speech":  # the README.md and LICENSE next to the class folders
        logged = next(r.output for a, r in results if a[0] == "run")
        assert "skipped 2 non-audio files at the top level: LICENSE, README.md" in logged
    if task == "forecast":
        assert (tmp_path / "forecasts" / "recent-forecast.csv").is_file()
        # The time column given by position: the forecast CSV still names it as the file does.
        run_folder = next(a[a.index("--output") + 1] for a, _ in results if a[0] == "run")
        by_position = invoke(
            "predict", run_folder, "recent.csv", "-o", "by-position", "--set", "data.time_column=0"
        )
        assert by_position.exit_code == 0, by_position.output
        written = (tmp_path / "by-position" / "recent-forecast.csv").read_text()
        assert written.startswith("date,load\n"), written[:40]


# --- the sample output printed on the pages --------------------------------------------------


def console_samples(text: str) -> list[tuple[list[str], list[str]]]:
    """(command, the lines printed after it) for every ``$ rnn-recipes`` line of the
    ```console blocks of ``text``."""
    out = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            first, *printed = chunk.rstrip("\n").split("\n")
            words = shlex.split(first, comments=True)
            if words[:1] == ["rnn-recipes"]:
                out.append((words[1:], printed))
    return out


def shape(line: str, classes: list[str]) -> re.Pattern:
    """A pattern for ``line`` with its numbers and class names left free."""
    pattern = re.escape(line)
    pattern = re.sub(r"\d+(?:\\\.\d+)?", r"\\d+(?:\\.\\d+)?", pattern)
    names = "|".join(map(re.escape, classes))
    for name in classes:
        pattern = re.sub(rf"(?<![\w]){re.escape(name)}(?![\w])", f"(?:{names})", pattern)
    return re.compile(pattern)


def test_the_sentiment_page_prints_what_predict_and_evaluate_print(tmp_path, monkeypatch):
    """The demo run's sample ``predict`` and ``evaluate`` output has the shape the code prints:
    same lines, same fields, same JSON keys (a one-epoch model may pick other labels)."""
    monkeypatch.chdir(tmp_path)
    page = (REPO / "docs" / "sentiment.md").read_text(encoding="utf-8")
    samples = console_samples(page)
    (run_args, _), *uses = [s for s in samples if s[0][0] in ("run", "predict", "evaluate")]
    assert run_args[:2] == ["run", "sentiment"], run_args
    run = invoke(*run_args, *TINY_FOR["sentiment"], "--epochs", "1")
    assert run.exit_code == 0, run.output
    classes = ["negative", "positive"]
    checked = 0
    for args, printed in uses:
        if args[0] == "evaluate":  # the page's four new reviews, as a file of that name
            data = Path(args[args.index("--data") + 1])
            data.parent.mkdir(parents=True, exist_ok=True)
            rows = [(t, c) for t, c in make_reviews(4, seed=3)]
            write_csv(data, rows)
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        got = result.stdout.rstrip("\n").split("\n")
        assert len(got) == len(printed), (printed, got)
        for want, line in zip(printed, got):
            if want.startswith("{"):
                a, b = json.loads(want), json.loads(line)
                assert a.keys() == b.keys() and a["input"] == b["input"]
                assert a["probabilities"].keys() == b["probabilities"].keys()
                assert np.isclose(sum(b["probabilities"].values()), 1, atol=1e-5)
            else:
                assert shape(want, classes).fullmatch(line), (want, line)
        checked += 1
    assert checked >= 3  # predict, predict --json, evaluate
