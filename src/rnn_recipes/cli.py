"""The ``rnn-recipes`` command line: list, show, run, predict, evaluate.

Thin by design: it parses options, calls :mod:`rnn_recipes.runner`, and prints where things went.
TensorFlow is imported only by the commands that need it, so ``--help``, ``list`` and ``show`` are
instant.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from . import __version__
from .errors import RecipeError


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def handle_errors(fn):
    """Turn known failures into one ``Error: ...`` line and an exit status, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RecipeError as exc:
            interrupted = exc.exit_code == 130  # ctrl-C with the run kept for --resume
            click.echo(str(exc) if interrupted else f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            # The reader went away (`rnn-recipes predict ... | head -1`): stop quietly, as Unix
            # tools do, and keep Python from complaining when it flushes stdout at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(141)  # 128 + SIGPIPE, the status of a tool the pipe closed on
        except KeyboardInterrupt:
            click.echo("\nInterrupted: stopped cleanly; no run folder was written.", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("RNN_RECIPES_DEBUG"):
                raise
            click.echo(
                f"Error: unexpected {type(exc).__name__}: {_one_line(exc)} "
                "(set RNN_RECIPES_DEBUG=1 to see the traceback)",
                err=True,
            )
            sys.exit(1)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rnn-recipes")
def cli() -> None:
    """Ready Keras RNN recipes: sequence data in, trained and exported model out.

    \b
    Examples:
      rnn-recipes list
      rnn-recipes run sentiment
      rnn-recipes run sentiment --set data.train=train.csv --set data.test=test.csv
      rnn-recipes predict runs/sentiment-20260101-120000 "a wonderful film"
    """


@cli.command("list")
@handle_errors
def list_cmd() -> None:
    """List the built-in recipes.

    \b
    Example:
      rnn-recipes list
    """
    from .config import builtin_recipes

    recipes = builtin_recipes()
    width = max((len(n) for n in recipes), default=0)
    for name, description in recipes.items():
        click.echo(f"{name:<{width}}  {description}")


_config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML file layered over the recipe.",
)
_set_option = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one config key (TOML literal; repeatable), e.g. --set model.units=128.",
)


@cli.command()
@click.argument("recipe")
@_config_option
@_set_option
@handle_errors
def show(recipe: str, config_file: Path | None, sets: tuple[str, ...]) -> None:
    """Print the fully resolved config of RECIPE as TOML.

    RECIPE is a built-in name (see `rnn-recipes list`) or a path to a .toml file. Save the
    output to start your own recipe.

    \b
    Example:
      rnn-recipes show sentiment > my-recipe.toml
    """
    from .config import load_config

    click.echo(load_config(recipe, config_file, sets).to_toml(), nl=False)


@cli.command()
@click.argument("recipe")
@click.option("--data", "data_path", help="Your data (file or folder); sets data.path.")
@_config_option
@_set_option
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Run folder to create (default: runs/RECIPE-UTCTIMESTAMP).",
)
@click.option("--epochs", type=int, help="Maximum number of epochs (sets train.epochs).")
@click.option("--seed", type=int, help="Random seed (sets train.seed).")
@click.option(
    "--strategy",
    metavar="NAME",
    help="How training is spread (sets train.strategy): default (one device), mirrored (all "
    "local GPUs) or multi-worker (the hosts in TF_CONFIG), e.g. --strategy mirrored; see "
    "docs/distributed.md.",
)
@click.option("--force", is_flag=True, help="Replace an existing run folder at --output.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the interrupted run for --output from its last completed epoch.",
)
@handle_errors
def run(
    recipe: str,
    data_path: str | None,
    config_file: Path | None,
    sets: tuple[str, ...],
    output: Path | None,
    epochs: int | None,
    seed: int | None,
    strategy: str | None,
    force: bool,
    resume: bool,
) -> None:
    """Train, evaluate and export RECIPE; write a run folder.

    RECIPE is a built-in name (see `rnn-recipes list`) or a path to a .toml file. Config layers,
    later ones winning: task defaults, the recipe, --config, --set (and --data, --epochs,
    --seed, --strategy).

    \b
    Examples:
      rnn-recipes run sentiment
      rnn-recipes run sentiment --data reviews.csv --set 'model.cell="lstm"' --epochs 5
      rnn-recipes run my-recipe.toml --output runs/mine --force
      rnn-recipes run sentiment --output runs/mine --resume   # after ctrl-C or a crash
      rnn-recipes run sentiment --strategy mirrored            # all local GPUs
    """
    from .config import load_config

    overrides = {
        "data.path": data_path,
        "train.epochs": epochs,
        "train.seed": seed,
        "train.strategy": strategy,
    }
    from . import runner

    if resume:
        resolved = _resume_config(recipe, output, config_file, sets, overrides, force)
        runner.run(resolved, output=output, log=click.echo, resume=True)
        return
    resolved = load_config(recipe, config_file, sets, overrides)
    runner.run(resolved, output=output, force=force, log=click.echo)


def _resume_config(recipe, output, config_file, sets, overrides, force):
    """The interrupted run's own config; options that agree with it are accepted."""
    from . import runner
    from .config import changed_keys, command_line_layer, with_layer
    from .errors import ConfigError

    refused = [name for name, value in (("--config", config_file), ("--force", force)) if value]
    if refused:
        raise ConfigError(
            f"--resume continues with the interrupted run's own config; drop {', '.join(refused)}"
        )
    if output is None:
        raise ConfigError("--resume needs --output: the folder the interrupted run was for")
    saved = runner.resume_config(output, recipe)
    given = with_layer(saved, command_line_layer(sets, overrides))
    differ = changed_keys(saved.config, given.config)
    if differ:
        raise ConfigError(
            "--resume continues with the interrupted run's own config, and these options "
            f"differ from it: {', '.join(differ)}; drop them, or start a new run with --force"
        )
    return saved


def _expand_inputs(inputs: tuple[str, ...]) -> list[str]:
    """'-' reads lines from stdin, '@file' reads lines from a file; anything else is literal."""
    out: list[str] = []
    for item in inputs:
        if item == "-":
            out.extend(line for line in sys.stdin.read().split("\n") if line.strip())
        elif item.startswith("@") and len(item) > 1:
            path = Path(item[1:])
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise RecipeError(f"input file not found: {path}") from None
            except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
                raise RecipeError(f"cannot read input file {path}: {_one_line(exc)}") from None
            out.extend(line for line in text.split("\n") if line.strip())
        else:
            out.append(item)
    if not out:
        raise RecipeError("no inputs to predict; give texts, '-' for stdin or @file.txt")
    return out


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per input.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Where tasks that write files (forecasts, plots) put them.",
)
@_set_option
@handle_errors
def predict(
    run_dir: Path,
    inputs: tuple[str, ...],
    as_json: bool,
    output: Path | None,
    sets: tuple[str, ...],
) -> None:
    """Predict with the exported model of RUN_DIR.

    INPUTS are raw inputs: texts for sentiment, .wav/.npy files for speech, a CSV whose last
    rows are the history for forecast. '-' reads lines from stdin and @FILE reads lines from a
    file. --set data.KEY=VALUE changes how inputs are read (e.g. data.time_column).

    \b
    Examples:
      rnn-recipes predict runs/sentiment-20260101-120000 "what a delight" "dull and slow"
      cat reviews.txt | rnn-recipes predict runs/sentiment-20260101-120000 - --json
      rnn-recipes predict runs/speech-20260101-120000 a.wav b.wav
      rnn-recipes predict runs/forecast-20260101-120000 recent.csv -o forecasts/
    """
    from . import runner

    records, fmt = runner.predict(run_dir, _expand_inputs(inputs), output, sets)
    for rec in records:
        click.echo(json.dumps(rec, ensure_ascii=False) if as_json else fmt(rec))


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--data", "data_path", required=True, help="Labelled data in the run's format.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@_set_option
@handle_errors
def evaluate(run_dir: Path, data_path: str, as_json: bool, sets: tuple[str, ...]) -> None:
    """Evaluate the exported model of RUN_DIR on new labelled data.

    The data is read with the run's own data settings (columns, format, encoding); change how
    it is read with --set data.KEY=VALUE (the model's settings cannot change).

    \b
    Example:
      rnn-recipes evaluate runs/sentiment-20260101-120000 --data more-reviews.csv
    """
    from . import runner

    metrics, lines = runner.evaluate(run_dir, data_path, sets)
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
        return
    click.echo(f"{data_path}: {lines[0]}")
    for line in lines[1:]:
        click.echo(line)


def main() -> None:
    from ._lazy import limit_malloc_arenas, quiet_native_logs

    quiet_native_logs()  # the command line's own stderr; library callers keep theirs
    limit_malloc_arenas()  # before TensorFlow starts its threads: memory flat across epochs
    cli(prog_name="rnn-recipes")


if __name__ == "__main__":  # pragma: no cover
    main()
