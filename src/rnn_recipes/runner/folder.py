"""The run folder's lifecycle: where it goes, who may write it, and how it appears.

A run is built in a hidden folder beside its final place (``.NAME.partial``) and renamed into
place only when complete, so nobody ever sees half a run where a finished one is expected. What
this module promises about the user's files (docs/security.md says it to users):

* ``--output`` is resolved (``..``, symbolic links in its parents) before anything is checked;
  an ``--output`` that is itself a symbolic link is refused.
* The tool removes only what it created in this process, or a folder that carries its marker
  file (``.rnn-recipes-run``) when the user asked for it with ``--force``. A user's folder that
  appears at ``--output`` during a run is never removed.
* One process at a time works in a partial folder: it holds an advisory lock (``fcntl.flock``)
  on the folder's ``.lock`` file until it exits. The operating system releases the lock when the
  process dies, so a stale lock from a killed run never blocks ``--resume``, and a live run is
  never mistaken for an interrupted one.
* ``status.json`` says what the partial folder holds: running, interrupted, failed or complete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import report
from ..errors import RecipeError

try:  # advisory locks are POSIX; elsewhere runs are not protected against a second process
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]

MARKER = ".rnn-recipes-run"
LOCK = ".lock"
STATUS = "status.json"
MARKER_FORMAT = 1


def partial_dir(out: Path) -> Path:
    """Where the run for ``out`` is built until it is complete."""
    return out.parent / f".{out.name}.partial"


def resolve_output(output: Path | str) -> Path:
    """The absolute, symlink-free path ``--output`` names, or a one-line error.

    ``newrun/..`` is the working folder itself, not a new folder called ``newrun``; resolving
    first means every later check (exists? ours?) looks at the folder that would really be used.
    """
    given = Path(output).expanduser()
    if given.is_symlink():
        target = os.readlink(given)
        raise RecipeError(
            f"--output {output} is a symbolic link (to {target}); give the folder itself"
        )
    out = Path(os.path.realpath(given))
    if out.parent == out:
        raise RecipeError(f"--output {output} is the filesystem root; choose a folder for the run")
    return out


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` is a folder this tool made (it carries the marker file)."""
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        return json.loads((path / MARKER).read_text())["format"] >= 1
    except (OSError, ValueError, KeyError, TypeError):
        return False


def read_marker(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return {}


def read_status(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / STATUS).read_text())
    except (OSError, ValueError):
        return {}


def check_output(out: Path, force: bool) -> None:
    """Refuse output folders we must not write to, before any work starts."""
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == out else f"is inside {parent}, which is a file"
            raise RecipeError(f"output folder {out} {where}; choose another --output")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise RecipeError(
                f"output folder {out} already exists and is not empty; choose another --output "
                "or add --force to replace it"
            )
        if not is_run_folder(out):
            raise RecipeError(
                f"output folder {out} is not a run folder made by rnn-recipes (no {MARKER} "
                "file); refusing to replace it even with --force; choose another --output"
            )
    existing = next(p for p in [out, *out.parents] if p.exists())
    if not os.access(existing, os.W_OK):
        raise RecipeError(f"cannot write to {existing}: permission denied; choose another --output")


def default_output(recipe: str, root: Path = Path("runs")) -> Path:
    """``runs/RECIPE-UTCSTAMP``; :meth:`RunFolder.create` adds ``-2``, ``-3``... when taken."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return root / f"{recipe}-{stamp}"


def _candidates(first: Path) -> Iterable[Path]:
    yield first
    for n in range(2, 10_000):
        yield first.with_name(f"{first.name}-{n}")


def fingerprint(paths: Iterable[Path]) -> str:
    """A digest of the data files a run reads (names, sizes, modification times).

    Cheap enough for folders of many files (no file is read); enough to tell that the data
    changed between an interrupted run and its ``--resume``.
    """
    digest = hashlib.sha256()
    for path in sorted(set(paths)):
        digest.update(str(path).encode("utf-8", "surrogateescape") + b"\0")
        if path.is_file():
            st = path.stat()
            digest.update(f"{st.st_size}:{st.st_mtime_ns}\n".encode())
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    f = Path(root, name)
                    try:
                        st = f.stat()
                    except OSError:
                        continue
                    rel = str(f.relative_to(path)).encode("utf-8", "surrogateescape")
                    digest.update(rel + f"\0{st.st_size}:{st.st_mtime_ns}\n".encode())
        else:
            digest.update(b"missing\n")
    return digest.hexdigest()


class RunFolder:
    """The partial folder of one run, locked by this process while it works in it.

    Made by :meth:`create` (a new run) or :meth:`reopen` (``--resume``); ended by
    :meth:`finish` (renamed into place), :meth:`keep` (left for ``--resume``) or
    :meth:`discard` (removed, if this process created it).
    """

    def __init__(self, out: Path, created_here: bool) -> None:
        self.out = out
        self.work = partial_dir(out)
        self.created_here = created_here
        self._made_parents: list[Path] = []
        self._lock_fd: int | None = None

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        output: Path | None,
        *,
        recipe: str,
        task: str,
        force: bool,
        data_fingerprint: str,
        default_root: Path = Path("runs"),
    ) -> RunFolder:
        """Make and lock the partial folder of a new run (before any training)."""
        if output is None:
            tries = _candidates(resolve_output(default_output(recipe, default_root)))
        else:
            tries = iter([resolve_output(output)])
        for out in tries:
            if output is None and (out.exists() or partial_dir(out).exists()):
                continue  # a default name someone else took: take the next one
            check_output(out, force)
            run = cls(out, created_here=True)
            try:
                run._make(force, explicit=output is not None)
            except FileExistsError:
                if output is None:
                    continue  # another process took this name in the same second
                raise RecipeError(
                    f"another run for {out} started at the same time; choose another --output"
                ) from None
            marker = {
                "format": MARKER_FORMAT,
                "recipe": recipe,
                "task": task,
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "data_fingerprint": data_fingerprint,
            }
            report.write_json(run.work / MARKER, marker)
            return run
        raise RecipeError(f"no free run folder name under {default_root}; choose --output")

    def _make(self, force: bool, explicit: bool) -> None:
        work = self.work
        if work.exists() or work.is_symlink():
            if not explicit:
                raise FileExistsError(work)
            self._take_over(force)
        self._made_parents = [p for p in reversed(self.out.parents) if not p.exists()]
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            work.mkdir()  # atomic: of two processes, exactly one creates it
        except FileExistsError:
            raise
        except OSError as exc:
            raise RecipeError(
                f"cannot create the run folder beside {self.out}: {exc.strerror or exc}; "
                "choose another --output"
            ) from None
        self._lock(wait=2.0)

    def _take_over(self, force: bool) -> None:
        """An earlier partial folder for the same output: in progress, resumable or foreign."""
        work = self.work
        if not is_run_folder(work):
            raise RecipeError(
                f"{work} exists but was not made by rnn-recipes; move it away or choose another "
                "--output"
            )
        self._lock_fd = self._try_lock(work)
        if self._lock_fd is None:
            raise RecipeError(self._busy_message())
        if not force:
            self.release()
            raise RecipeError(
                f"an interrupted run for {self.out} exists ({work.name}); add --resume to "
                "continue it or --force to start again"
            )
        shutil.rmtree(work)  # ours (marker) and unused (we hold its lock)
        self.release()

    @classmethod
    def reopen(cls, output: Path) -> RunFolder:
        """Lock the partial folder of an interrupted run for ``--resume``.

        Which recipe may resume it is checked where the user's recipe is known
        (:func:`rnn_recipes.runner.resume_config`).
        """
        out = resolve_output(output)
        run = cls(out, created_here=False)
        work = run.work
        if not (work / "config.toml").is_file():
            done = " (it is already complete)" if is_run_folder(out) else ""
            raise RecipeError(
                f"no interrupted run to resume for {output}{done}; run without --resume"
            )
        if not is_run_folder(work):
            raise RecipeError(
                f"{work} was not made by this version of rnn-recipes (no {MARKER}); "
                "start the run again with --force"
            )
        if out.exists() or out.is_symlink():
            raise RecipeError(
                f"{out} exists, so the resumed run could not be put there; move it away (the "
                f"interrupted run is safe in {work.name}) and run --resume again"
            )
        run._lock_fd = run._try_lock(work)
        if run._lock_fd is None:
            raise RecipeError(run._busy_message())
        return run

    # -- the lock --------------------------------------------------------------------------

    @staticmethod
    def _try_lock(work: Path) -> int | None:
        """An exclusive lock on ``work/.lock`` (its descriptor), or None when it is taken."""
        if fcntl is None:  # pragma: no cover
            return -1
        try:
            fd = os.open(work / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RecipeError(f"cannot lock {work}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise RecipeError(f"cannot lock {work}: {exc.strerror or exc}") from None
        return fd

    def _lock(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while (fd := self._try_lock(self.work)) is None:
            if time.monotonic() > deadline:
                raise RecipeError(self._busy_message())
            time.sleep(0.05)
        self._lock_fd = fd

    def _busy_message(self) -> str:
        status = read_status(self.work)
        who = f" (process {status['pid']})" if "pid" in status else ""
        return (
            f"a run for {self.out} is in progress{who}; wait for it to finish or choose "
            "another --output"
        )

    def release(self) -> None:
        if self._lock_fd is not None and self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
        self._lock_fd = None

    # -- states ----------------------------------------------------------------------------

    def status(self, state: str, **extra: Any) -> None:
        """Record what the partial folder holds (best effort: a full disk must not hide why)."""
        marker = read_marker(self.work)
        with contextlib.suppress(OSError):
            report.write_json(
                self.work / STATUS,
                {"status": state, "recipe": marker.get("recipe"), "pid": os.getpid(), **extra},
            )

    def marker(self) -> dict[str, Any]:
        return read_marker(self.work)

    def finish(self, force: bool) -> None:
        """Put the complete run in place: ``work`` becomes ``out``, atomically.

        An existing ``out`` is replaced only when it is an empty folder, or a run folder of this
        tool and ``force`` was given; anything else that appeared there meanwhile is left alone
        and the finished run stays in the partial folder, marked complete.
        """
        out, work = self.out, self.work
        (work / STATUS).unlink(missing_ok=True)
        replaced = None
        if out.is_symlink() or (out.exists() and not _empty_dir(out)):
            if not (force and is_run_folder(out)):
                self.status("complete")
                raise RecipeError(
                    f"the run is complete, but {out} appeared meanwhile and is not a run folder "
                    f"this tool may replace; the finished run is in {work}: move it yourself"
                )
            replaced = out.with_name(f".{out.name}.replaced-{os.getpid()}")
            os.rename(out, replaced)
        try:
            os.rename(work, out)  # replaces an empty folder; fails on a non-empty one
        except OSError:
            if replaced is not None:
                os.rename(replaced, out)
            self.status("complete")
            raise
        with contextlib.suppress(OSError):
            (out / LOCK).unlink()  # still held through our descriptor until release()
        self.release()
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)

    def keep(self, state: str, error: str | None = None) -> None:
        """Leave the partial folder for ``--resume``, saying why it stopped."""
        self.status(state, **({"error": error} if error else {}))
        self.release()

    def discard(self) -> None:
        """Remove the partial folder and parent folders this process created (only those)."""
        if self.created_here:
            shutil.rmtree(self.work, ignore_errors=True)
            for folder in reversed(self._made_parents):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if still empty
        self.release()


def _empty_dir(path: Path) -> bool:
    try:
        return path.is_dir() and not any(path.iterdir())
    except OSError:
        return False
