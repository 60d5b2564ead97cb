"""Train, evaluate and export any task; write the run folder.

A run is a handful of named stages, each in its own module:

* :mod:`.folder`: the run folder's lifecycle (where it goes, the lock, how it appears, what is
  kept when something fails);
* :mod:`.training`: build the model, restore the checkpoint, ``fit`` (or the distributed loop)
  with the callbacks of :mod:`.callbacks`, checkpointing every epoch (:mod:`.checkpoint`);
* :mod:`.artifacts`: settle, evaluate, export, plot, metrics.json.

``train.strategy`` spreads training over devices or hosts (see :mod:`rnn_recipes.distributed`);
under ``multi-worker`` only the chief writes a run folder. The folder's layout::

    config.toml        the fully resolved configuration
    metrics.json       test metrics, counts, timings, versions
    history.csv        one row per epoch (Keras CSVLogger)
    plots/*.png        learning curves and task plots
    logs/              TensorBoard logs
    model.keras        the end-to-end Keras model (raw input in)
    saved_model/       TensorFlow SavedModel, signature ``serving_default`` (raw input in)
    refit/             with ``train.refit``: the refit's history.csv and logs/ (see ``_refit``)
    members/K/         with ``train.ensemble``: member K's history.csv and logs/ (``_ensemble``)
    .rnn-recipes-run   the marker that tells this tool the folder is a run folder it made
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .. import compat, distributed, export
from .._lazy import keras
from ..config import Resolved, resolve_pkg_path
from ..data import cache as data_cache
from ..errors import RecipeError
from . import artifacts, training
from .checkpoint import FOLDER as CHECKPOINTS
from .folder import (
    RunFolder,
    default_output,
    fingerprint,
    partial_dir,
    read_marker,
    resolve_output,
)

Log = Callable[[str], None]
WARNINGS_FILE = "warnings.log"

__all__ = [
    "Interrupted",
    "default_output",
    "evaluate",
    "load_run",
    "partial_dir",
    "predict",
    "resume_config",
    "run",
]


class Interrupted(RecipeError):
    """ctrl-C during training: the partial run was kept for --resume."""

    exit_code = 130


def data_paths(resolved: Resolved) -> list[Path]:
    """The files and folders a run reads its data from (its task's path keys)."""
    paths = []
    for dotted in resolved.task.path_keys:
        section, _, key = dotted.rpartition(".")
        value = getattr(getattr(resolved.config, section), key, None) if section else None
        if isinstance(value, str) and value:
            paths.append(resolve_pkg_path(value))
    return paths


def resume_config(out: Path, recipe: str | None = None) -> Resolved:
    """The config of the interrupted run that would complete ``out``.

    Args:
        out: the ``--output`` of the interrupted run.
        recipe: the recipe the user named; a different recipe's run is refused.
    """
    from ..config import load_run_config

    work = partial_dir(resolve_output(out))
    if not (work / "config.toml").is_file():
        done = " (it is already complete)" if (Path(out) / "metrics.json").is_file() else ""
        raise RecipeError(f"no interrupted run to resume for {out}{done}; run without --resume")
    name = read_marker(work).get("recipe")
    if recipe is not None and name is not None and _recipe_name(recipe) != name:
        raise RecipeError(
            f"{out} is an interrupted '{name}' run, not '{_recipe_name(recipe)}'; resume it with: "
            f"rnn-recipes run {name} --resume --output {out}"
        )
    return load_run_config(work, name=name or Path(out).name)


def _recipe_name(spec: str) -> str:
    return Path(spec).stem if spec.endswith(".toml") else spec


# ---------------------------------------------------------------------------------------------
# run


def run(
    resolved: Resolved,
    output: Path | None = None,
    force: bool = False,
    log: Log = print,
    resume: bool = False,
) -> Path:
    """Train, evaluate and export ``resolved``; return the finished run folder.

    With ``resume``, continue the interrupted run that would complete ``output`` (its config is
    read back with :func:`resume_config`) from its last completed epoch.
    """
    role = distributed.role(resolved.config.train.strategy)  # checks TF_CONFIG before any work
    if not role.chief:
        return _run_worker(
            resolved, Path(output or default_output(resolved.name)), log, resume, role
        )
    digest = fingerprint(data_paths(resolved))
    if resume:
        folder = RunFolder.reopen(Path(output))
        if folder.marker().get("data_fingerprint") not in (None, digest):
            folder.release()
            raise RecipeError(
                f"the data of the run for {folder.out} changed since it started; resuming would "
                "mix two data sets: restore the data, or start again with --force"
            )
    else:
        folder = RunFolder.create(
            output,
            recipe=resolved.name,
            task=resolved.config.task,
            force=force,
            data_fingerprint=digest,
        )
        try:
            (folder.work / "config.toml").write_text(resolved.to_toml(), encoding="utf-8")
        except OSError as exc:
            folder.discard()
            raise RecipeError(f"cannot write {folder.work}: {exc.strerror or exc}") from None
    folder.status("running")
    try:
        with _recorded_warnings(folder.work, log):
            metrics = _run_in(resolved, folder.work, log, resume, role)
        shutil.rmtree(folder.work / CHECKPOINTS, ignore_errors=True)
        shutil.rmtree(folder.work / REFIT / CHECKPOINTS, ignore_errors=True)
        for member in (folder.work / MEMBERS).glob(f"*/{CHECKPOINTS}"):
            shutil.rmtree(member, ignore_errors=True)
        folder.finish(force)
    except BaseException as exc:
        raise _failed(folder, exc, resolved, resume) from None
    log("")
    log(f"Test: {resolved.task.summary(metrics['test'])}")
    log(f"Run folder: {folder.out}")
    return folder.out


def _failed(
    folder: RunFolder, exc: BaseException, resolved: Resolved, resume: bool
) -> BaseException:
    """Keep what can be resumed, remove what cannot; the error to raise."""
    checkpoints = folder.work / CHECKPOINTS
    kept = resume or (checkpoints.is_dir() and any(checkpoints.glob("*.index")))
    again = f"rnn-recipes run {resolved.name} --resume --output {folder.out}"
    full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    if isinstance(exc, KeyboardInterrupt):
        if kept:
            folder.keep("interrupted")
            return Interrupted(
                f"interrupted; the completed epochs are kept in {folder.work}. Continue with: "
                f"{again}"
            )
        folder.discard()
        return exc
    if kept:
        folder.keep("failed", error=f"{type(exc).__name__}: {exc}")
        if full:
            return RecipeError(
                f"no space left on device while writing the run; the completed epochs are kept "
                f"in {folder.work}: free some space and continue with: {again}"
            )
        if isinstance(exc, RecipeError):
            return exc
        return RecipeError(
            f"unexpected {type(exc).__name__}: {_first_line(exc)}; the completed epochs are "
            f"kept in {folder.work}: fix the cause and continue with: {again}"
        )
    folder.discard()
    if full:
        return RecipeError("no space left on device while writing the run; free some space")
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def _recorded_warnings(work: Path, log: Log) -> Iterator[None]:
    """Library warnings (NumPy, Keras) go to the run's warnings.log, not onto the console."""
    with warnings.catch_warnings(record=True) as caught:  # the filters in force still apply
        # Not a problem: the end of a first pass over a pipeline of unknown size (evaluate and
        # predict after training too, not only fit).
        warnings.filterwarnings("ignore", message=compat.UNKNOWN_SIZE_WARNING)
        try:
            yield
        finally:
            if caught:
                lines = [
                    f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
                ]
                with contextlib.suppress(OSError):
                    (work / WARNINGS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
                log(f"{len(lines)} library warning(s) recorded in {WARNINGS_FILE}")


def _run_worker(
    resolved: Resolved, out: Path, log: Log, resume: bool, role: distributed.Role
) -> Path:
    """A multi-worker process other than the chief: trains in step with it and keeps nothing.

    Its history, TensorBoard logs and checkpoints go to a temporary folder deleted at the end
    (the keras-io multi-worker pattern); the chief alone writes the run folder and exports. On
    --resume it starts from a copy of the chief's checkpoint, read from the partial folder of
    ``out``: resuming a multi-worker run needs that folder on a filesystem every worker sees.
    """
    import tempfile

    def worker_log(message: str) -> None:
        log(f"[{role.name}] {message}" if message else message)

    tmp = Path(tempfile.mkdtemp(prefix=f"rnn-recipes-{role.task_type}{role.index}-"))
    try:
        checkpoints = partial_dir(out.expanduser().absolute()) / CHECKPOINTS
        if resume and checkpoints.is_dir():
            shutil.copytree(checkpoints, tmp / CHECKPOINTS)
        _run_in(resolved, tmp, worker_log, resume, role)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    worker_log(f"Done; the chief writes the run folder {out}")
    return out


def _run_in(
    resolved: Resolved,
    work: Path,
    log: Log,
    resume: bool = False,
    role: distributed.Role | None = None,
) -> dict[str, Any]:
    """The stages of one run inside its (partial) folder; returns metrics.json's content."""
    cfg, task, t = resolved.config, resolved.task, resolved.config.train
    role = role or distributed.Role()
    # First, before TensorFlow runs anything: logical CPUs and collectives are set up at start.
    strategy = distributed.make_strategy(t.strategy)
    log(f"Recipe '{resolved.name}' (task {cfg.task}), seed {t.seed}")
    keras.utils.set_random_seed(t.seed)
    with compat.op_determinism(t.deterministic):
        log("Loading data")
        with data_cache.folder(work / data_cache.CACHE):  # streaming tasks cache features there
            data = task.make_datasets(cfg, log)
        if role.chief:
            _record_config(resolved, work)
        trained = training.train(resolved, work, data, strategy, log, resume, role)
        if not role.chief:
            return {}
        model, after, test = artifacts.settle_and_evaluate(resolved, data, trained, strategy, log)
        metrics = artifacts.metrics_record(resolved, data, trained, test, strategy, role)
        metrics.update(task.run_info(cfg, data))  # extra top-level sections, if the task has any
        metrics.update(after)
        if getattr(t, "ensemble", 1) > 1:
            log(f"Test of member 1: {task.summary(test)}")
            model, test, record = _ensemble(resolved, work, data, trained, model, test, log, resume)
            metrics["test"] = test
            metrics["validation"] = record.pop("validation")
            metrics["ensemble"] = record
        if getattr(t, "refit", False):
            log(f"Test before the refit: {task.summary(test)}")
            resolved, model, data, refit_record = _refit(
                resolved, work, data, trained, after, log, resume
            )
            metrics["test"] = task.evaluate(resolved.config, data, model)
            metrics["refit"] = {**refit_record, "test_before_refit": test}
        artifacts.write(resolved, data, model, trained, metrics, work, log)
        removed = data_cache.remove(work / data_cache.CACHE)
        if removed:
            log(f"Removed the streaming cache ({removed}): the finished run does not need it")
    return metrics


REFIT = "refit"  # the refit's own history, logs and (while it runs) checkpoints


def _refit(resolved: Resolved, work: Path, data, trained, settled: dict, log: Log, resume: bool):
    """``train.refit``: a fresh model trained on training *and* validation data for the number
    of epochs validation chose; it replaces the validated model for the test and the export.

    What ``after_training`` chose on validation (``settled``) is kept (``task.refit_config``).
    Returns the refit's resolved config, model and data (its ``train`` holds the validation
    examples) and the ``refit`` section of metrics.json. The validation figures of metrics.json
    stay those of the model before the refit: the refit model has trained on the validation
    examples.
    """
    task = resolved.task
    cfg = task.refit_config(resolved.config, settled)
    resolved = Resolved(name=resolved.name, task=task, config=cfg)
    epochs = trained.best_epoch
    log("")
    log(
        f"Refit (train.refit = true): a fresh model, trained on the training and validation "
        f"examples for the {epochs} epoch(s) validation chose"
    )
    keras.utils.set_random_seed(cfg.train.seed)  # the refit is repeatable on its own
    with data_cache.folder(work / data_cache.CACHE / REFIT):
        refit_data = task.refit_datasets(cfg, log)
    folder = work / REFIT
    folder.mkdir(exist_ok=True)
    again = resume and (folder / CHECKPOINTS).is_dir()
    refit = training.train(
        resolved, folder, refit_data, None, log, again, distributed.Role(), refit_epochs=epochs
    )
    task.after_training(cfg, refit_data, refit.model, log)  # applies what was settled
    record = {
        "epochs": epochs,
        "train_examples": refit_data.train_examples,
        "counts": refit_data.counts,
        "seconds": round(refit.seconds, 3),
        "train_seconds": round(refit.train_seconds, 3),
        "resumed_after_epoch": refit.resumed_after,
        "note": (
            "the exported model trained on the training and validation examples for the epochs "
            "validation chose; the validation figures are those of the model before the refit, "
            "and test_before_refit is that model's test"
        ),
    }
    return resolved, refit.model, refit_data, record


MEMBERS = "members"  # an ensemble's members 2, 3, ...: their history, logs and checkpoints


def _ensemble(
    resolved: Resolved, work: Path, data, first, first_model, first_test: dict, log, resume
):
    """``train.ensemble = K``: K - 1 more models trained like the first, averaged into one.

    Member k (k >= 2) reads the data again (the same split, the same pipelines), starts from
    weights drawn with seed ``train.seed + k - 1`` and skips ``(k - 1) * train.epochs`` epochs of
    the pipeline's shuffle (and augmentation) draws, so no two members train on the same draws;
    its early stopping and what ``after_training`` settles are its own. A task may set members
    apart (:meth:`Task.member_config`: speech's ``features.member_kinds``). Each member trains in
    ``members/k/`` (its own checkpoint, so ``--resume`` continues the member it stopped in).

    Returns the averaged model (:meth:`Task.ensemble_model`), its test metrics, and the
    ``ensemble`` section of metrics.json (with ``validation``: the averaged model's).
    """
    cfg, task, t = resolved.config, resolved.task, resolved.config.train
    first_settings = task.member_config(cfg, 1)[1]  # "" when the members differ in nothing
    models, rows = [first_model], [_member_row(1, t.seed, first, first_test, first_settings)]
    for k in range(2, t.ensemble + 1):
        seed = t.seed + k - 1
        member_cfg, settings = task.member_config(cfg, k)
        member = Resolved(name=resolved.name, task=task, config=member_cfg)
        log("")
        log(
            f"Ensemble member {k} of {t.ensemble}: starting weights from seed {seed}"
            + (f", {settings}" if settings else "")
        )
        keras.utils.set_random_seed(t.seed)  # the data step as the first member's
        with data_cache.folder(work / data_cache.CACHE / MEMBERS / str(k)):
            member_data = task.make_datasets(cfg, lambda *_: None)
        keras.utils.set_random_seed(seed)
        folder = work / MEMBERS / str(k)
        folder.mkdir(parents=True, exist_ok=True)
        again = resume and (folder / CHECKPOINTS).is_dir()
        trained = training.train(
            member,
            folder,
            member_data,
            None,
            log,
            again,
            distributed.Role(),
            skip_epochs=(k - 1) * t.epochs,
        )
        task.after_training(member_cfg, member_data, trained.model, log)
        test = task.evaluate(member_cfg, member_data, trained.model)
        log(f"Test of member {k}: {task.summary(test)}")
        models.append(trained.model)
        rows.append(_member_row(k, seed, trained, test, settings))
    model = task.ensemble_model(cfg, data, models)
    log("")
    log(f"Evaluating the average of the {len(models)} members")
    validation = artifacts.evaluate_on(task, cfg, model, data.validation)
    record = {
        "members": rows,
        "validation": validation,
        "note": (
            f"the exported model averages the class probabilities of {len(models)} models "
            + (
                "trained alike but for their settings (in members) "
                if first_settings
                else "trained alike "
            )
            + "from different starting weights and draws; test and validation are "
            "the average's, each member's are in members"
        ),
    }
    return model, task.evaluate(cfg, data, model), record


def _member_row(k: int, seed: int, trained, test: dict, settings: str) -> dict:
    """One ensemble member in metrics.json (``settings``: what sets it apart, if anything)."""
    return {
        **({"settings": settings} if settings else {}),
        "member": k,
        "seed": seed,
        "best_epoch": trained.best_epoch,
        "epochs_run": len(trained.history.get("loss", [])),
        "seconds": round(trained.seconds, 3),
        "resumed_after_epoch": trained.resumed_after,
        "validation": artifacts.best_validation(trained),
        "test": {key: value for key, value in test.items() if isinstance(value, (int, float))},
    }


def _record_config(resolved: Resolved, work: Path) -> None:
    """Rewrite config.toml when reading the data filled in settings left to it (forecast's
    lookback, segment length and season at 0): predict, evaluate and --resume read them back."""
    path = work / "config.toml"
    text = resolved.to_toml()
    if path.read_text(encoding="utf-8") != text:
        tmp = path.with_suffix(".toml.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# predict and evaluate on a finished run


def load_run(run_dir: Path, sets: tuple[str, ...] = ()):
    """The resolved config and serving signature of a finished run folder.

    Args:
        run_dir: the folder ``rnn-recipes run`` printed.
        sets: ``data.KEY=VALUE`` items changing how new inputs are read (the model's own
            settings cannot change).
    """
    from ..config import command_line_layer, load_run_config, with_layer
    from ..errors import ConfigError

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RecipeError(f"run folder not found: {run_dir}")
    if not (run_dir / "config.toml").is_file():
        raise RecipeError(
            f"{run_dir} is not a run folder (no config.toml); give the folder "
            "that rnn-recipes run printed"
        )
    resolved = load_run_config(run_dir)
    layer = command_line_layer(sets)
    other = sorted(k for k in layer if k != "data")
    if other:
        raise ConfigError(
            f"--set {other[0]}...: predict and evaluate use the trained model as it is; only "
            "data.* keys (how inputs are read) can be set"
        )
    if layer:
        resolved = with_layer(resolved, layer)
    return resolved, export.load_serving(run_dir)


def predict(
    run_dir: Path, inputs: list[str], output: Path | None = None, sets: tuple[str, ...] = ()
):
    """Predict with a finished run; returns (records, a function formatting one record)."""
    resolved, serve = load_run(run_dir, sets)
    task = resolved.task
    return task.predict(serve, resolved.config, inputs, output), task.format_prediction


def evaluate(run_dir: Path, data_path: str, sets: tuple[str, ...] = ()):
    """Evaluate an exported run on new labelled data; returns (metrics, printable lines)."""
    resolved, serve = load_run(run_dir, sets)
    task = resolved.task
    metrics = task.evaluate_exported(serve, resolved.config, data_path)
    return metrics, task.format_metrics(metrics)
