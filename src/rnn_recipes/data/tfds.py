"""TensorFlow Datasets as an input adapter: one loader, one error message, for every task."""

from __future__ import annotations

from typing import Any

from ..errors import RecipeError


def load(name: str, split: Any, data_dir: str | None) -> tuple[Any, Any]:
    """``tfds.load(name, split=split, as_supervised=True, with_info=True)``.

    Downloads on first use. Every failure becomes one RecipeError line saying what to do.

    Returns:
        (the dataset(s) for ``split``, the dataset's ``DatasetInfo``)
    """
    from .._lazy import tfds

    try:
        return tfds.load(name, split=split, data_dir=data_dir, as_supervised=True, with_info=True)
    except Exception as exc:  # TFDS raises many kinds; all mean "could not get the data"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecipeError(
            f"cannot load TFDS dataset '{name}': {first} (TFDS downloads it on first use; "
            "without network, point data.tfds_data_dir at a prepared copy)"
        ) from None


def label_names(info: Any, key: str = "label") -> list[str] | None:
    """The class names of a ``ClassLabel`` feature, or None when labels are bare integers."""
    return getattr(info.features[key], "names", None)


def label_name(names: list[str] | None, label: Any) -> str:
    """One label as text: its class name when the set has names, else the integer."""
    return names[int(label)] if names else str(int(label))


def as_numpy(dataset: Any):
    """Iterate a TFDS dataset as NumPy values."""
    from .._lazy import tfds

    return tfds.as_numpy(dataset)
