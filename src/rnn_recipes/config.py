"""Typed, layered configuration.

A run's configuration is built in layers, each overriding the one before it::

    task defaults  <-  recipe file  <-  --config FILE  <-  --set KEY=VALUE (and --data/--epochs/--seed)

Every task describes its configuration with dataclasses (sections ``data``, ``model``, ``train``)
whose defaults carry a comment saying why. Keys are dotted paths (``model.units``); an unknown key
or a value of the wrong type is a :class:`~rnn_recipes.errors.ConfigError` that names the key and
lists what is valid. The fully resolved configuration is written to every run folder as TOML.

Paths in a recipe or ``--config`` file are relative to that file; paths given on the command line
are relative to the working directory; ``pkg:samples/...`` names demo data bundled in the package.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import sys
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from .errors import ConfigError, RecipeError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

PKG_PREFIX = "pkg:"
RECIPE_SUFFIX = ".toml"


# --------------------------------------------------------------------------------------------
# Shared sections


@dataclasses.dataclass
class TrainConfig:
    """Training settings shared by every task."""

    epochs: int = 10  # an upper bound: early stopping usually ends the run sooner
    batch_size: int = 32  # small batches generalise better on the small data sets recipes target
    learning_rate: float = 1e-3  # Adam's usual default; stable for LSTM/GRU with clipping
    clipnorm: float = 1.0  # gradient clipping keeps recurrent nets away from exploding steps
    patience: int = 3  # epochs without validation improvement before early stopping
    monitor: Literal["loss", "accuracy"] = "loss"  # validation figure early stopping watches
    # The first epoch (1-based) early stopping watches: earlier epochs can be neither the best
    # (whose weights are kept) nor count towards patience. On a noisy validation set (one
    # unheard speaker) an undertrained first epoch can score a lucky best and end the run.
    watch_from_epoch: int = 1
    # "cosine": the learning rate falls from learning_rate to near 0 along a half cosine over
    # train.epochs (per epoch), so the last epochs before the cap settle instead of jumping
    # around; "constant": learning_rate throughout. (Forecast has its own schedules.)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    seed: int = 1337  # seeds Python, NumPy and TensorFlow so runs are repeatable
    deterministic: bool = False  # also make TensorFlow ops deterministic (slower; same results)
    verbose: Literal["auto", "bar", "epoch", "quiet"] = "auto"  # progress: bar on a terminal
    # One device is fastest for the small models recipes train; "mirrored" spreads batches over
    # the local GPUs, "multi-worker" over the hosts in TF_CONFIG (docs/distributed.md).
    strategy: Literal["default", "mirrored", "multi-worker"] = "default"


def require_at_least(section: str, values: Any, keys: Iterable[str], minimum: float = 1) -> None:
    """Each ``section.key`` must be at least ``minimum``."""
    for key in keys:
        value = getattr(values, key)
        if value < minimum:
            raise ConfigError(f"{section}.{key} must be at least {minimum}, got {value}")


def require_fraction(section: str, values: Any, keys: Iterable[str], upper: float = 1.0) -> None:
    """Each ``section.key`` must be in ``[0, upper)``."""
    for key in keys:
        value = getattr(values, key)
        if not 0.0 <= value < upper:
            raise ConfigError(f"{section}.{key} must be in [0, {upper:g}), got {value}")


# Largest sizes a model key may take. Past these a model cannot fit in memory on any machine the
# recipes target (a recurrent layer holds about 4 * units**2 weights per direction, so 4096 units is
# already 256 MB with Adam's two slots), and asking for them used to fail deep inside TensorFlow,
# or thrash the machine, instead of with one line. Tasks pass these to require_at_most.
MAX_SIZES = {
    "units": 4096,  # recurrent state size
    "embedding_dim": 4096,  # token vector size
    "layers": 16,  # stacked recurrent layers
    "max_tokens": 2**21,  # vocabulary entries
    "nb_buckets": 2**24,  # hashed word-pair buckets (2**18 by default)
    "max_length": 2**16,  # tokens kept per text
}
SEED_MAX = 2**32 - 1  # NumPy's seed range; TensorFlow and Python accept it too


def require_at_most(
    section: str, values: Any, keys: Iterable[str], maximum: float | None = None
) -> None:
    """Each ``section.key`` must be at most ``maximum`` (default: its :data:`MAX_SIZES` entry).

    Args:
        section: the section name for the message (``"model"``).
        values: the section's dataclass.
        keys: the keys to check.
        maximum: the bound; ``None`` takes each key's bound from :data:`MAX_SIZES`.

    Raises:
        ConfigError: naming the key, its value and the bound.
    """
    for key in keys:
        bound = MAX_SIZES[key] if maximum is None else maximum
        value = getattr(values, key)
        if value > bound:
            raise ConfigError(
                f"{section}.{key} is {value}, more than the {bound:g} a model can hold in "
                f"memory; set {section}.{key} to at most {bound:g}"
            )


def check_delimiter(value: str, key: str = "data.delimiter") -> None:
    """``value`` must be one character that can separate CSV fields.

    Raises:
        ConfigError: for an empty or longer value, a line break or a quote character, naming
            ``key`` (the csv module only says "unexpected TypeError" for these).
    """
    if len(value) != 1 or value in '\r\n"':
        raise ConfigError(
            f'{key} must be one character such as "," or ";" (not a quote or a line '
            f"break), got {value!r}"
        )


def require_delimiter(section: str, values: Any, key: str = "delimiter") -> None:
    """``section.key`` must be one character that can separate CSV fields (see
    :func:`check_delimiter`)."""
    check_delimiter(getattr(values, key), f"{section}.{key}")


def validate_train(t: TrainConfig) -> None:
    """Checks on the shared [train] section, called by every task's ``validate``."""
    require_at_least("train", t, ("epochs", "batch_size", "watch_from_epoch"))
    if t.watch_from_epoch > t.epochs:
        raise ConfigError(
            f"train.watch_from_epoch ({t.watch_from_epoch}) is after the last epoch "
            f"(train.epochs = {t.epochs}): early stopping would watch none; lower it or raise "
            "train.epochs"
        )
    if not (math.isfinite(t.learning_rate) and t.learning_rate > 0):
        # NaN passes "<= 0" and trained a model of NaNs that was exported as a success.
        raise ConfigError(
            f"train.learning_rate must be a finite number above 0, got {t.learning_rate}; "
            "e.g. --set train.learning_rate=1e-3"
        )
    if not (math.isfinite(t.clipnorm) and t.clipnorm >= 0):
        raise ConfigError(
            f"train.clipnorm must be a finite number, 0 (no clipping) or above, got {t.clipnorm}"
        )
    if not 0 <= t.seed <= SEED_MAX:
        raise ConfigError(f"train.seed must be in [0, {SEED_MAX}], got {t.seed}")
    # train.refit and train.ensemble exist in the tasks that can use them (their [train]
    # section has the key).
    ensemble = getattr(t, "ensemble", 1)
    if ensemble < 1:
        raise ConfigError(f"train.ensemble is a number of models, 1 or more; got {ensemble}")
    for key, on in (("refit", getattr(t, "refit", False)), ("ensemble", ensemble > 1)):
        if on and t.strategy != "default":
            raise ConfigError(
                f'train.{key} runs on one device; it cannot be combined with train.strategy = "'
                f'{t.strategy}" yet: set one of them back to its default'
            )
    if ensemble > 1 and getattr(t, "refit", False):
        raise ConfigError(
            "train.ensemble and train.refit cannot be combined yet: set train.refit = false "
            "or train.ensemble = 1"
        )


# --------------------------------------------------------------------------------------------
# Reading and writing TOML


def read_toml(path: Path, what: str = "config file") -> dict[str, Any]:
    """Read a TOML file, turning every failure into a one-line ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a directory; give the path of a .toml file") from None
    except PermissionError:
        raise ConfigError(f"cannot read {what} {path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text ({exc.reason})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message already carries "(at line L, column C)".
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None


# TOML basic strings must escape the quote, the backslash and every control character
# (U+0000-U+001F and U+007F); a raw one makes the whole file invalid.
_TOML_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(value: str) -> str:
    out = []
    for ch in value:
        if ch in _TOML_SHORT:
            out.append(_TOML_SHORT[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # nan and inf are spelled the same in TOML
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(data: dict[str, Any]) -> str:
    """Write a (two-level) config dict as TOML; ``None`` values become comments."""
    lines: list[str] = []
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for key, value in data.items():
        if key in tables:
            continue
        lines.append(f"# {key} is not set" if value is None else f"{key} = {_toml_value(value)}")
    for name, table in tables.items():
        lines.append("")
        lines.append(f"[{name}]")
        for key, value in table.items():
            lines.append(
                f"# {key} is not set" if value is None else f"{key} = {_toml_value(value)}"
            )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Types


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args)
    if origin is list:
        (inner,) = get_args(tp)
        return f"a list of {_type_name(inner)}"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _coerce(value: Any, tp: Any) -> Any:
    """Return ``value`` converted to ``tp`` or raise TypeError."""
    origin = get_origin(tp)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise TypeError
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in get_args(tp):
            return None
        for arg in get_args(tp):
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except TypeError:
                continue
        raise TypeError
    if origin is list:
        (inner,) = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise TypeError
        return [_coerce(v, inner) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError
    if tp is str:
        if isinstance(value, str):
            return value
        raise TypeError
    raise TypeError


def section_fields(cls: type) -> dict[str, Any]:
    """Field name -> type for a config dataclass."""
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _check_text(dotted: str, value: Any) -> None:
    """Refuse strings that cannot be written to config.toml as text.

    Bytes that are not valid UTF-8 in a command-line argument reach Python as lone surrogates;
    no TOML file can hold them, so the run folder's config.toml could not be written.
    """
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and any(0xD800 <= ord(ch) <= 0xDFFF for ch in item):
            raise ConfigError(
                f"config key '{dotted}' holds bytes that are not UTF-8 text ({item!r}); "
                "write the value in UTF-8"
            )


def build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    """Instantiate config dataclass ``cls`` from a nested dict, validating keys and types."""
    fields = section_fields(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            where = f"section [{prefix[:-1]}]" if prefix else "the top level"
            valid = ", ".join(sorted(fields))
            raise ConfigError(f"unknown config key '{dotted}'; valid keys in {where}: {valid}")
        tp = fields[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"config key '{dotted}' is a section; set its keys as {dotted}.KEY"
                )
            kwargs[key] = build(tp, value, prefix=f"{dotted}.")
            continue
        try:
            kwargs[key] = _coerce(value, tp)
        except TypeError:
            raise ConfigError(
                f"config key '{dotted}' got {value!r} ({type(value).__name__}); "
                f"expected {_type_name(tp)}"
            ) from None
        _check_text(dotted, kwargs[key])
    return cls(**kwargs)


def as_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


# --------------------------------------------------------------------------------------------
# Layers


def parse_value(raw: str, key: str = "KEY") -> Any:
    """Parse a ``--set`` value as a TOML literal; bare words are taken as strings.

    A value that starts with a quote must parse: ``"^(\\d)_"`` is not a TOML string (``\\d`` is
    no escape), and taking it as a bare string, quotes included, would silently never match.
    """
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if raw[:1] in ("'", '"'):
            reason = str(exc).split(" (at ")[0]
            raise ConfigError(
                f"--set {key}={raw} is not a valid TOML string ({reason}); for backslashes "
                f"(regular expressions, Windows paths) use a literal string in single quotes: "
                f"--set \"{key}='...'\""
            ) from None
        return raw


def parse_set(item: str) -> tuple[str, Any]:
    """Split ``KEY=VALUE`` into a dotted key and a parsed value."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects KEY=VALUE (e.g. --set model.units=128), got {item!r}")
    return key, parse_value(raw.strip(), key)


def nest(dotted: dict[str, Any]) -> dict[str, Any]:
    """{'model.units': 8} -> {'model': {'units': 8}}."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"config key '{key}' conflicts with '{part}' set as a value")
            node = child
        node[parts[-1]] = value
    return out


def resolve_paths(layer: dict[str, Any], path_keys: Iterable[str], base: Path) -> dict[str, Any]:
    """Make the relative file paths of one layer absolute against ``base``."""
    for dotted in path_keys:
        section, _, key = dotted.rpartition(".")
        table = layer.get(section) if section else layer
        if not isinstance(table, dict):
            continue
        if key not in table:
            continue
        value = table[key]
        if isinstance(value, list):  # several files (data.train = ["a.tsv", "b.tsv"])
            table[key] = [_absolute(v, base) for v in value]
        else:
            table[key] = _absolute(value, base)
    return layer


def _absolute(value: Any, base: Path) -> Any:
    """A relative path (or glob) made absolute against ``base``; anything else unchanged."""
    if isinstance(value, str) and value and not value.startswith(PKG_PREFIX):
        p = Path(value).expanduser()
        # Not resolve()d when it is a glob: a pattern is no path to follow links in.
        if p.is_absolute():
            return str(p)
        return str((base / p).resolve()) if not set("*?[") & set(value) else str(base / p)
    return value


def merge(base: dict[str, Any], layer: dict[str, Any], source_groups: dict[str, tuple]) -> dict:
    """Deep-merge ``layer`` over ``base``.

    ``source_groups`` maps a section to (primary keys, dependent keys): when a layer sets any
    primary key of that section (say ``data.train``), the lower layers' primary and dependent keys
    are dropped, so pointing a recipe at your own data never mixes it with the recipe's demo data.
    """
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            primary, dependent = source_groups.get(key, ((), ()))
            if any(value.get(k) is not None for k in primary):
                for k in (*primary, *dependent):
                    out[key].pop(k, None)
            out[key].update(value)
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------------------------
# Recipes


def builtin_recipe_dir():
    return importlib.resources.files("rnn_recipes") / "recipes"


def builtin_recipes() -> dict[str, str]:
    """Name -> description of every recipe shipped with the package."""
    out = {}
    for entry in sorted(builtin_recipe_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(RECIPE_SUFFIX):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            out[entry.name[: -len(RECIPE_SUFFIX)]] = data.get("description", "")
    return out


def locate_recipe(spec: str) -> tuple[str, Path | None, dict[str, Any]]:
    """Find a recipe by built-in name or file path.

    Returns:
        (recipe name, the file's folder for relative paths or None for built-ins, its TOML data).
    """
    path = Path(spec).expanduser()
    if spec.endswith(RECIPE_SUFFIX) or path.exists() or "/" in spec:
        if path.is_dir():
            raise ConfigError(f"recipe {spec} is a directory; give a .toml recipe file or a name")
        data = read_toml(path, "recipe file")
        return path.stem, path.resolve().parent, data
    entry = builtin_recipe_dir() / f"{spec}{RECIPE_SUFFIX}"
    if not entry.is_file():
        known = ", ".join(builtin_recipes()) or "(none)"
        raise ConfigError(
            f"unknown recipe '{spec}'; built-in recipes: {known} (or give a path to a .toml file)"
        )
    return spec, None, tomllib.loads(entry.read_text(encoding="utf-8"))


def resolve_pkg_path(value: str) -> Path:
    """Turn ``pkg:samples/x.csv`` into a real path inside the installed package."""
    if value.startswith(PKG_PREFIX):
        ref = importlib.resources.files("rnn_recipes") / value[len(PKG_PREFIX) :]
        return Path(str(ref))
    return Path(value)


# --------------------------------------------------------------------------------------------
# Putting the layers together


@dataclasses.dataclass
class Resolved:
    """A recipe resolved into a typed config, plus where it came from."""

    name: str  # recipe name ("sentiment", or the stem of a user's .toml file)
    task: Any  # the registered Task (rnn_recipes.tasks.base.Task)
    config: Any  # the task's Config dataclass, fully validated

    def to_toml(self) -> str:
        return to_toml(as_dict(self.config))


def load_config(
    spec: str,
    config_file: str | Path | None = None,
    sets: Iterable[str] = (),
    overrides: dict[str, Any] | None = None,
) -> Resolved:
    """Resolve ``spec`` (a built-in recipe name or a .toml path) through every config layer.

    Args:
        spec: built-in recipe name or path to a recipe file.
        config_file: optional extra TOML layer (``--config``).
        sets: ``KEY=VALUE`` strings (``--set``), applied in order.
        overrides: dotted keys from dedicated CLI options (``--data``, ``--epochs``, ``--seed``),
            applied last; ``None`` values are ignored.
    """
    from . import tasks

    name, base_dir, recipe = locate_recipe(spec)
    task_name = recipe.get("task")
    if not isinstance(task_name, str):
        raise ConfigError(
            f"recipe '{spec}' does not say which task it is; add a line task = \"NAME\" "
            f"(one of: {', '.join(tasks.names())})"
        )
    task = tasks.get(task_name)
    path_keys = task.path_keys
    groups = task.source_groups

    merged = as_dict(task.config_class())
    merged["task"] = task_name
    recipe_layer = resolve_paths(dict(recipe), path_keys, base_dir or Path.cwd())
    merged = merge(merged, recipe_layer, groups)

    if config_file is not None:
        cpath = Path(config_file).expanduser()
        layer = read_toml(cpath)
        if "task" in layer and layer["task"] != task_name:
            raise ConfigError(
                f"config file {cpath} is for task '{layer['task']}' but recipe '{spec}' "
                f"is a '{task_name}' recipe"
            )
        merged = merge(merged, resolve_paths(layer, path_keys, cpath.resolve().parent), groups)

    # The command line is one layer, so `--set data.train=a.csv --data b.csv` is reported as a
    # conflict instead of one silently replacing the other.
    dotted = dict(parse_set(s) for s in sets)
    dotted.update({k: v for k, v in (overrides or {}).items() if v is not None})
    layer = nest(dotted)
    if "task" in layer and layer["task"] != task_name:
        raise ConfigError("'task' cannot be changed with --set; run a recipe of that task")
    merged = merge(merged, resolve_paths(layer, path_keys, Path.cwd()), groups)

    config = build(task.config_class, merged)
    task.validate(config)
    return Resolved(name=name, task=task, config=config)


def command_line_layer(
    sets: Iterable[str] = (), overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``--set KEY=VALUE`` items and dedicated options (``--data``...) as one nested layer."""
    dotted = dict(parse_set(s) for s in sets)
    dotted.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return nest(dotted)


def with_layer(resolved: Resolved, layer: dict[str, Any]) -> Resolved:
    """``resolved`` with one more command-line layer on top (paths relative to the cwd)."""
    task = resolved.task
    if "task" in layer and layer["task"] != resolved.config.task:
        raise ConfigError("'task' cannot be changed with --set; run a recipe of that task")
    layer = resolve_paths(layer, task.path_keys, Path.cwd())
    merged = merge(as_dict(resolved.config), layer, task.source_groups)
    config = build(task.config_class, merged)
    task.validate(config)
    return Resolved(name=resolved.name, task=task, config=config)


def changed_keys(before: Any, after: Any) -> list[str]:
    """Dotted keys whose values differ between two configs of the same task."""
    a, b = as_dict(before), as_dict(after)
    out = []
    for key in sorted(set(a) | set(b)):
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            inner = a[key].keys() | b[key].keys()
            out += [f"{key}.{k}" for k in sorted(inner) if a[key].get(k) != b[key].get(k)]
        elif a.get(key) != b.get(key):
            out.append(key)
    return out


def load_run_config(run_dir: Path, name: str | None = None) -> Resolved:
    """Read the resolved config a run folder was trained with.

    Raises:
        RecipeError: the run's ``config.toml`` is not valid TOML, names no known task, or does not
            fit its task's settings (it was edited or damaged): one line naming the folder.
    """
    from . import tasks

    run_dir = Path(run_dir)
    path = run_dir / "config.toml"
    try:
        data = read_toml(path, "run config")
        task = tasks.get(data.get("task", ""))
        config = build(task.config_class, data)
    except ConfigError as exc:
        if not path.is_file():
            raise
        # The first clause names the key or task; the list of valid keys would only be noise here.
        reason = str(exc).split("; ")[0]
        raise RecipeError(
            damaged(run_dir, f"its config.toml does not fit its task ({reason})")
        ) from None
    return Resolved(name=name or run_dir.name, task=task, config=config)


def damaged(run_dir: Path, what: str) -> str:
    """The message for a run folder whose files were changed or lost after training."""
    return (
        f"run folder {run_dir} is damaged: {what}; restore it from a copy or rerun the recipe "
        f"(its settings are in {Path(run_dir) / 'config.toml'})"
    )
