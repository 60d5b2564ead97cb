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
