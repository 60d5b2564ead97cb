"""Walking data folders without following folder links.

A symbolic link to a folder inside a data folder is never followed. Following one can loop
(``ln -s .. reviews/pos/loop`` read every file again and again under the wrong class) or pull a
folder from elsewhere in under a class it does not belong to, and both change the data without a
word. So a folder link is an error that names it. Links to *files* are read like files.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RecipeError


def folder_link_error(link: Path, root: Path) -> RecipeError:
    """The one-line error for a symbolic link to a folder found under ``root``."""
    target = os.readlink(link)
    return RecipeError(
        f"{link} is a symbolic link to a folder ({target}); links to folders inside data folder "
        f"{root} are not followed (they can loop or mix classes): replace the link with the "
        "folder's files or remove it"
    )


_GLOB_CHARS = frozenset("*?[")


def expand_paths(spec: str | Path | list[str | Path], key: str = "data.path") -> list[Path]:
    """The files a data key names: one path, a glob (``reviews/*.tsv``), or a list of either.

    A path that exists is taken as it is, even if its name holds ``*``, ``?`` or ``[``. A glob's
    matches are sorted so a run reads them in the same order on every machine; ``**`` matches
    folders recursively. Hidden files (``.name``) are not matched, as in a shell.

    Args:
        spec: what the key holds.
        key: the key's name (``data.train``), for the message when a glob matches nothing.

    Returns:
        The paths, in order; a path that does not exist is returned as is (its reader says so).

    Raises:
        RecipeError: a glob matches no file, or the list is empty.
    """
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    if not items:
        raise RecipeError(f"{key} is an empty list; give at least one file")
    out: list[Path] = []
    for item in items:
        path = Path(item)
        text = str(item)
        if path.exists() or not _GLOB_CHARS & set(text):
            out.append(path)
            continue
        anchor = Path(path.anchor) if path.is_absolute() else Path()
        pattern = str(path.relative_to(anchor)) if path.is_absolute() else text
        matches = sorted(
            p for p in anchor.glob(pattern) if p.is_file() and not p.name.startswith(".")
        )
        if not matches:
            raise RecipeError(
                f"no file matches {text} ({key}); check the folder and the pattern, e.g. "
                '"reviews/*.tsv"'
            )
        out.extend(matches)
    return out


def walk_files(root: Path, skip_hidden: bool = False) -> list[Path]:
    """Every file under ``root``, in sorted order, refusing symbolic links to folders.

    Args:
        root: the folder to walk (it may itself be a link; only links below it are refused).
        skip_hidden: leave out files and folders whose name starts with a dot (hidden links
            to folders are left out too instead of refused).

    Returns:
        The files (symbolic links to files included), sorted by path.

    Raises:
        RecipeError: a symbolic link to a folder is found under ``root``.
    """
    root = Path(root)
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames):
            if skip_hidden and name.startswith("."):
                continue
            if os.path.islink(here / name):
                raise folder_link_error(here / name, root)
        # os.walk descends into what is left in dirnames (never links, with followlinks=False).
        dirnames[:] = sorted(d for d in dirnames if not (skip_hidden and d.startswith(".")))
        for name in filenames:
            if skip_hidden and name.startswith("."):
                continue
            path = here / name
            # A dangling link or a socket/FIFO is not a data file; os.walk lists them as files.
            if path.is_file():
                out.append(path)
    return sorted(out)


def column_at(position: int, names: list[str], path: Path | str, key: str) -> str:
    """The name of the column at 0-based ``position`` among ``names``, or the one-line error
    saying ``key`` points past the file's last column."""
    if not 0 <= position < len(names):
        raise RecipeError(
            f"{key} = {position} but {path} has {len(names)} column(s) (positions 0 to "
            f"{len(names) - 1}); set {key} to a position in that range"
        )
    return names[position]
