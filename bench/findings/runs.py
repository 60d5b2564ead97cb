"""What the findings' screens share (speech-speakers/screen.py, refit.py, refit_validation.py,
official_val.py, sentiment-rnn/screen.py): one run through the CLI, skipped when its folder already holds the
result of the same command, and its row appended to the screen's JSON-lines file.

A screen's command starts with ``rnn-recipes``; it runs as this interpreter's
``python -m rnn_recipes.cli`` on this repository's ``src`` (not whatever ``rnn-recipes`` comes first
on PATH), or, with ``FINDINGS_CLI=path/to/prototype.py``, as that script under this interpreter
(a prototype that patches the recipe and calls its CLI, e.g. sentiment-rnn/adversarial.py).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def program() -> tuple[list[str], str]:
    """What runs for ``rnn-recipes``, and how the run's marker names it."""
    script = os.environ.get("FINDINGS_CLI")
    if script:
        path = str(Path(script).resolve())
        return [sys.executable, path], path
    return [sys.executable, "-m", "rnn_recipes.cli"], "rnn-recipes"


def run_once(cmd: list[str], out: Path, log: Path, unmarked_ok: bool = False) -> dict:
    """Run ``cmd`` (its run folder is ``out``) unless ``out`` already holds metrics.json from
    the same command (``cmd.txt``; ``unmarked_ok``: also a run from before the markers);
    returns the run's metrics."""
    assert cmd[0] == "rnn-recipes", cmd
    start, name = program()
    marker = out / "cmd.txt"
    line = " ".join([name, *cmd[1:]])  # a prototype's runs never pass for the recipe's
    same = marker.read_text() == line if marker.exists() else unmarked_ok and name == "rnn-recipes"
    if not ((out / "metrics.json").exists() and same):
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        with open(log, "w") as f:
            subprocess.run(
                [*start, *cmd[1:]], stdout=f, stderr=subprocess.STDOUT, env=env, check=True
            )
        marker.write_text(line)
    return json.loads((out / "metrics.json").read_text())


def record(row: dict, rows: list[dict], path: Path) -> None:
    """Keep ``row``, print it and append it to ``path`` (JSON lines)."""
    rows.append(row)
    print(json.dumps(row), flush=True)
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
