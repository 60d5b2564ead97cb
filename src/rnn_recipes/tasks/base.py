"""The Task interface, the prepared-data base class, and the task registry.

A task is a class: the runner and the CLI call its methods, never loose module functions found
with ``hasattr``. What every task must do is an abstract method; what only some tasks need is a
hook whose default does nothing. A task registers itself under its name::

    @register("sentiment")
    class SentimentTask(Task):
        config_class = Config          # from tasks/sentiment/config.py (no TensorFlow)
        path_keys = PATH_KEYS
        ...

The registry answers ``names()`` and ``get(name)``; looking a name up imports the task's package,
which must not import TensorFlow (keep the heavy imports inside the methods or in modules the
methods import), so ``rnn-recipes list``, ``show`` and ``--help`` stay instant.

The run, as the runner drives it::

    data  = task.make_datasets(config, log)          # read, split, fit vocabularies/statistics
    (train.refit: after the test, task.refit_datasets(config, log), a fresh model, fixed epochs)
    (train.ensemble: more models trained alike, then task.ensemble_model(config, data, models))
    model = task.build_model(config, data.spec)      # explicit sizes only: rebuildable
    task.initialize(model, config, data)             # data-dependent starting values (hook)
    task.compile_model(model, config); model.fit(...)
    extra = task.after_training(config, data, model, log)   # hook
    test  = task.evaluate(config, data, model)
    full  = task.end_to_end_model(config, data, model)      # raw input in: model.keras
    task.serving(config, data, full) [+ task.extra_serving(...)]   # the SavedModel signatures
    task.plots(config, data, metrics, folder)        # hook
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..errors import ConfigError

Log = Callable[[str], None]


@dataclasses.dataclass
class Prepared:
    """What every task's data step hands the runner; tasks subclass it to add their own fields.

    Attributes:
        train: ``tf.data`` pipeline of (input, target) batches, shuffled, ready for ``fit``.
        validation: the validation pipeline (batched, not shuffled).
        test: the test pipeline (batched, not shuffled, in a fixed order).
        counts: per split, what metrics.json reports about it (e.g. examples per class).
        train_examples: training examples (or windows) per epoch, for examples per second.
        spec: the explicit sizes the model is built from (vocabulary size, class names, feature
            count, scaling statistics ...): ``build_model(config, spec)`` needs nothing else.

    The three pipelines are kept with tf.data's autotuning off (:func:`compat.without_autotune`):
    deleting an autotuned iterator, which ``fit`` does one to three times an epoch, could stall
    the whole process for seconds.
    """

    train: Any
    validation: Any
    test: Any
    counts: dict[str, dict[str, int]]
    train_examples: int
    spec: Any

    def __post_init__(self) -> None:
        from .. import compat

        for name in ("train", "validation", "test"):
            pipeline = getattr(self, name)
            if hasattr(pipeline, "with_options"):  # a tf.data pipeline (tests may pass others)
                setattr(self, name, compat.without_autotune(pipeline))


class Task(abc.ABC):
    """One kind of problem and the code that solves it.

    Class attributes a task sets (all importable without TensorFlow):

    * ``config_class``: the ``Config`` dataclass (sections ``data``, ``model``, ``train``, ...).
    * ``path_keys``: dotted config keys holding file paths (made absolute against the file that
      set them).
    * ``source_groups``: section -> (primary keys, dependent keys): a layer setting a primary key
      replaces the lower layers' data source and its dependent settings as a group.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type]
    path_keys: ClassVar[tuple[str, ...]] = ()
    source_groups: ClassVar[dict[str, tuple]] = {}

    # --- configuration --------------------------------------------------------------------

    @abc.abstractmethod
    def validate(self, config: Any) -> None:
        """Checks that need more than one key; raise ConfigError naming the key."""

    # --- data and model -------------------------------------------------------------------

    @abc.abstractmethod
    def make_datasets(self, config: Any, log: Log = print) -> Prepared:
        """Read the configured data, split it, fit what is fitted on train, build pipelines."""

    def refit_datasets(self, config: Any, log: Log = print) -> Prepared:
        """The data of a refit (``train.refit``, for tasks whose [train] has the key): as
        :meth:`make_datasets`, with the validation examples added to the training pipeline and
        to what the model's statistics are fitted on. Its ``validation`` and ``test`` are those of
        the first data step."""
        raise ConfigError(f"train.refit: the {self.name} task cannot refit")

    def refit_config(self, config: Any, settled: dict[str, Any]) -> Any:
        """The config a refit trains with: ``config`` with what :meth:`after_training` chose
        on validation fixed (a refit has no held-out validation to choose on). ``settled`` is
        what it returned. Default: ``config`` unchanged."""
        return config

    def ensemble_model(self, config: Any, data: Prepared, models: list):
        """``train.ensemble`` (tasks whose [train] has the key): one model, with the inputs and
        outputs of each of ``models``, that averages their outputs; it is evaluated and
        exported like a single trained model."""
        raise ConfigError(f"train.ensemble: the {self.name} task cannot average models")

    def member_config(self, config: Any, k: int) -> tuple[Any, str]:
        """The config ensemble member ``k`` (1-based; member 1 trains with ``config`` itself)
        builds, trains and is evaluated with, and a few words on what sets it apart ("" when
        nothing). Every member reads the data of ``config``. Default: ``config`` unchanged."""
        return config, ""

    @abc.abstractmethod
    def build_model(self, config: Any, spec: Any):
        """The trainable Keras model, from the config and the explicit sizes in ``spec``."""

    def initialize(self, model, config: Any, data: Prepared) -> None:
        """Set data-dependent starting values after :meth:`build_model` (default: none)."""
        return None  # a hook: tasks that need it override it

    @abc.abstractmethod
    def compile_model(self, model, config: Any) -> None:
        """Compile ``model`` with the task's optimizer, loss and metrics."""

    def callbacks(self, config: Any) -> list:
        """Extra Keras callbacks for training, e.g. a learning-rate schedule (default: none).

        The runner puts them after its records and before early stopping and the checkpointer.
        Keras hands them the absolute epoch index, so they resume with ``--resume``.
        """
        return []

    def after_training(self, config: Any, data: Prepared, model, log: Log = print) -> dict | None:
        """Settle what training does not learn, before the test evaluation (default: nothing).

        Returns extra top-level metrics.json sections, or None.
        """
        return None

    # --- evaluation and report ------------------------------------------------------------

    @abc.abstractmethod
    def evaluate(self, config: Any, data: Prepared, model) -> dict[str, Any]:
        """The ``test`` section of metrics.json."""

    @abc.abstractmethod
    def summary(self, test: dict[str, Any]) -> str:
        """One line about the test metrics."""

    def run_info(self, config: Any, data: Prepared) -> dict[str, Any]:
        """Extra top-level metrics.json sections (default: none)."""
        return {}

    def plots(self, config: Any, data: Prepared, metrics: dict[str, Any], folder: Path) -> None:
        """Write task plots into ``folder`` (default: none; learning curves are the runner's)."""
        return None  # a hook: tasks that need it override it

    # --- export and serving ---------------------------------------------------------------

    @abc.abstractmethod
    def end_to_end_model(self, config: Any, data: Prepared, model):
        """The raw-input model saved as ``model.keras``."""

    @abc.abstractmethod
    def serving(self, config: Any, data: Prepared, full_model) -> tuple[Callable, list]:
        """(function, input signature) exported as ``serving_default``."""

    def extra_serving(self, config: Any, data: Prepared, full_model) -> dict[str, tuple]:
        """More signatures, name -> (function, input signature) (default: none)."""
        return {}

    def register_layers(self) -> None:
        """Make the task's custom layers known to Keras before ``model.keras`` is loaded."""
        return None  # a hook: tasks that need it override it

    # --- predict / evaluate on an exported run --------------------------------------------

    @abc.abstractmethod
    def predict(self, serve, config: Any, inputs: list[str], output=None) -> list[dict]:
        """Run the exported signature on raw inputs; one record per input."""

    @abc.abstractmethod
    def format_prediction(self, record: dict[str, Any]) -> str:
        """One printable line per prediction record."""

    @abc.abstractmethod
    def evaluate_exported(self, serve, config: Any, path: str) -> dict[str, Any]:
        """Metrics of the exported model on new labelled data at ``path``."""

    @abc.abstractmethod
    def format_metrics(self, metrics: dict[str, Any]) -> list[str]:
        """Printable lines for :meth:`evaluate_exported`'s metrics."""


# ---------------------------------------------------------------------------------------------
# The registry (in the manner of tensorflow/models' official/core/registry.py)

_REGISTRY: dict[str, Task] = {}
_discovered = False
T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    """Class decorator: register a :class:`Task` subclass under ``name``.

    Raises:
        ValueError: another task is already registered under ``name``.
    """

    def decorate(cls: T) -> T:
        if name in _REGISTRY:
            raise ValueError(
                f"task '{name}' is already registered (by {type(_REGISTRY[name]).__qualname__})"
            )
        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise TypeError(f"@register('{name}') decorates Task subclasses, not {cls!r}")
        cls.name = name
        _REGISTRY[name] = cls()
        return cls

    return decorate


def unregister(name: str) -> None:
    """Remove a task (for tests that register a throwaway task)."""
    _REGISTRY.pop(name, None)


def _discover() -> None:
    """Import every task package inside ``rnn_recipes.tasks`` once; each registers itself."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg:
            importlib.import_module(f"{__package__}.{info.name}")


def names() -> list[str]:
    """The names of every registered task, sorted."""
    _discover()
    return sorted(_REGISTRY)


def get(name: str) -> Task:
    """The task registered as ``name``.

    Raises:
        ConfigError: no such task; the message lists the known ones.
    """
    _discover()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown task '{name}'; known tasks: {', '.join(names())}")
    return _REGISTRY[name]
