"""Writing and reading exported models: ``model.keras`` and a SavedModel with raw-input serving.

Both are written to a temporary name and renamed into place, so a reader never sees half a model.
The SavedModel is traced with the recurrent layers forced onto their portable kernels, so it never
contains GPU-only ``CudnnRNN`` ops even when exported on a machine with a GPU; training still uses
cuDNN where available.

A SavedModel is a TensorFlow program, not just weights: load one (``predict``, ``evaluate``,
``tf.saved_model.load``) only from a source you trust. ``model.keras`` is loaded with
``safe_mode=True`` (:func:`load_keras`).
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

from . import compat
from ._lazy import keras, tf
from .errors import RecipeError

SAVED_MODEL = "saved_model"
KERAS_FILE = "model.keras"
SIGNATURE = "serving_default"


def portable_rnn_kernels(model):
    """Temporarily turn off cuDNN on every LSTM/GRU inside ``model`` (restored afterwards).

    The exported graph then holds the generic kernels, which run on any device; see
    :func:`rnn_recipes.compat.cudnn_off`.
    """
    return compat.cudnn_off(model)


def _replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(final.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)


def write_keras(model, path: Path) -> None:
    """Save a Keras model atomically, its zip entries compressed.

    A ``.keras`` file is a zip archive (config, weights, assets) that Keras writes with every
    entry stored uncompressed; it reads deflated entries as well. Re-packing it deflated keeps
    the same entries and bytes and roughly halves large sparse tables (the sentiment task's
    naive Bayes counts and tables are mostly empty hash buckets): the run folder of an
    rt-polarity run loses about 2.4 MB.
    """
    tmp = path.with_name(path.name + ".tmp.keras")
    packed = path.with_name(path.name + ".tmp.zip")
    model.save(tmp)
    with (
        zipfile.ZipFile(tmp) as source,
        zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info, source.read(info), compress_type=zipfile.ZIP_DEFLATED)
    tmp.unlink()
    packed.replace(path)


def write_saved_model(
    path: Path,
    model,
    serve: Callable,
    input_signature: list,
    extra: dict[str, tuple[Callable, list]] | None = None,
) -> None:
    """Export ``serve`` (a function of raw inputs using ``model``) as ``serving_default``.

    Args:
        path: the SavedModel folder to create (replaced atomically if it exists).
        model: the Keras model whose variables and lookup tables ``serve`` uses.
        serve: a Python function returning a dict of named output tensors.
        input_signature: ``tf.TensorSpec`` list describing the raw inputs.
        extra: more signatures, name -> (function, input signature), e.g. one taking lengths.
    """
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with portable_rnn_kernels(model):
        archive = keras.export.ExportArchive()
        # Tracked for its lookup tables only: its variables are saved through the endpoints
        # that use them, once each (compat.export_tracking_root).
        archive.track(compat.export_tracking_root(model))
        archive.add_endpoint(SIGNATURE, serve, input_signature=input_signature)
        for name, (fn, signature) in (extra or {}).items():
            archive.add_endpoint(name, fn, input_signature=signature)
        archive.write_out(str(tmp), verbose=False)
    cudnn = sorted(op for op in saved_model_ops(tmp) if "Cudnn" in op)
    if cudnn:  # pragma: no cover - would be a bug in portable_rnn_kernels
        shutil.rmtree(tmp, ignore_errors=True)
        raise RecipeError(f"export would contain GPU-only ops {cudnn}; please report this")
    _replace_dir(tmp, path)


def saved_model_ops(path: Path) -> set[str]:
    """Every op type in a SavedModel's graph and functions."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    ops: set[str] = set()
    for meta in proto.meta_graphs:
        ops.update(node.op for node in meta.graph_def.node)
        for fn in meta.graph_def.library.function:
            ops.update(node.op for node in fn.node_def)
    return ops


def load_keras(run_dir: Path):
    """Load a run's ``model.keras`` (raw input in), always with Keras' ``safe_mode=True``.

    The task's custom layers are registered first (speech and forecast have some), so nothing
    needs ``safe_mode=False``: a ``.keras`` file from elsewhere cannot run code of its own
    through deserialized lambdas.

    Raises:
        RecipeError: no ``model.keras``, or one that is truncated or not a Keras archive.
    """
    from .config import damaged, load_run_config

    path = Path(run_dir) / KERAS_FILE
    if not path.is_file():
        raise RecipeError(f"{run_dir} has no {KERAS_FILE}; give the folder of a finished run")
    load_run_config(Path(run_dir)).task.register_layers()
    if not zipfile.is_zipfile(path):  # a .keras file is a zip archive; a cut one is not
        raise RecipeError(damaged(run_dir, f"{KERAS_FILE} is truncated or not a Keras archive"))
    return keras.saving.load_model(str(path), safe_mode=True)


def check_saved_model(run_dir: Path) -> None:
    """Refuse a run folder whose SavedModel is missing or visibly damaged, before loading it.

    Raises:
        RecipeError: one line naming the folder and what is missing.
    """
    from .config import damaged

    path = Path(run_dir) / SAVED_MODEL
    if not (path / "saved_model.pb").is_file():
        raise RecipeError(
            f"{run_dir} has no exported model ({SAVED_MODEL}/saved_model.pb); give the folder of "
            "a finished run (rnn-recipes run ... prints it)"
        )
    variables = path / "variables"
    if not (variables / "variables.index").is_file():
        what = "is missing" if not variables.exists() else "has no variables.index"
        raise RecipeError(damaged(run_dir, f"{SAVED_MODEL}/variables {what}"))


def load_serving(run_dir: Path):
    """Load a run's SavedModel and return its ``serving_default`` signature.

    Raises:
        RecipeError: the SavedModel is missing, truncated or incomplete (one line, no traceback).
    """
    from .config import damaged

    check_saved_model(run_dir)
    path = Path(run_dir) / SAVED_MODEL
    try:
        loaded = tf.saved_model.load(str(path))
        return loaded.signatures[SIGNATURE]
    except (OSError, ValueError, KeyError, tf.errors.OpError) as exc:
        # A cut saved_model.pb is "Wire format was corrupt" (OSError); missing shards are
        # NotFoundError (an OpError) or FileNotFoundError. The details are TensorFlow's own.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RecipeError(damaged(run_dir, f"{SAVED_MODEL} cannot be loaded ({first})")) from None
