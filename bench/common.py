"""The benchmark harness shared by every task.

Each task module in ``bench/`` provides ``run(args) -> dict`` returning the figures below; this
module runs recipes through the real CLI in child processes (so wall time, peak memory and the
command line itself are what a user gets), times a reference implementation in the same
invocation, measures serving latency of the exported SavedModel, and writes
``bench/results/<task>.json`` and ``BENCHMARKS.md``.

Result file format (one per task)::

    {"task": ..., "date": ..., "machine": {...}, "versions": {...}, "commands": [...],
     "quality": {"metric": ..., "mean": ..., "std": ..., "target": ..., "seeds": [...],
                 "values": [...], "reference": ...,
                 "direction": "higher" | "lower"},   # optional; "higher" when absent
     "speed": {"recipe_examples_per_s": ..., "reference_examples_per_s": ..., "ratio": ...},
     "latency_ms": {"p50": ..., "p99": ..., "batch256_examples_per_s": ...},
     "quickstart_s": ..., "peak_rss_mb": ..., "notes": [...]}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
RECIPES = REPO / "recipes"  # the real-data recipes the benchmarks run
REQUIRED = ("date", "quality", "speed", "latency_ms", "quickstart_s", "peak_rss_mb")
SCALING_REQUIRED = ("date", "scaling", "peak_rss_mb")  # bench/scaling.py's result


def cli(*args: str) -> list[str]:
    """The rnn-recipes command line as a child process of this Python."""
    return [sys.executable, "-m", "rnn_recipes.cli", *map(str, args)]


def fixed_epochs_command(
    recipe: str, settings: dict[str, Any], epochs: int, seed: int, out: Path, *extra: str
) -> list[str]:
    """``rnn-recipes run`` of ``recipe`` for exactly ``epochs`` epochs (early stopping off), as
    the speed runs use it: the same run length on both sides of a comparison."""
    return cli(
        "run",
        recipe,
        *set_args(settings),
        "--epochs",
        epochs,
        "--set",
        "train.patience=1000",
        "--seed",
        seed,
        "-o",
        out,
        "--force",
        *extra,
    )


# One record per child run of this process: how busy the machine was while it ran (see
# ``machine_load``). A benchmark claims an idle machine only with these figures behind it.
CHILD_LOAD: list[dict[str, float]] = []

# ``python -m bench --reuse``: a child run whose log, command, inputs (the rnn_recipes sources
# and the files the command names) and output folder match a finished run in --work is not run
# again (run_child keeps each finished run's record beside its log),
# so a long benchmark interrupted at any point continues where it stopped. Runs measured against
# another run of the same invocation (speed pairs, scaling, the quick start) always run again.
REUSE = False


def vm_rss_mb(pid: int) -> float | None:
    """The resident memory of process ``pid`` now (MB, ``VmRSS`` in /proc), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


# Keras fit's lines with verbose=2: "Epoch N/M" when an epoch starts, "STEPS/STEPS - ..." when it
# ends (after its validation pass).
EPOCH_EVENT = re.compile(rb"^(?:Epoch (\d+)/\d+|\d+/\d+ - )", re.MULTILINE)


def epoch_in_log(text: bytes) -> int:
    """The training epoch a Keras log is in (``N`` between its ``Epoch N/M`` line and that
    epoch's closing summary line), or 0 outside every epoch (start-up, between, after fit)."""
    events = EPOCH_EVENT.findall(text)
    return int(events[-1]) if events and events[-1] else 0


def _sample_rss(pid: int, log: Path | None, every: float, samples: list, done) -> None:
    """Append ``[seconds, epoch, rss_mb]`` every ``every`` seconds until ``done`` is set; the
    epoch is :func:`epoch_in_log` of the child's log so far."""
    started = time.perf_counter()
    while not done.wait(every):
        rss = vm_rss_mb(pid)
        if rss is None:
            return
        epoch = epoch_in_log(log.read_bytes()) if log and log.exists() else 0
        samples.append([round(time.perf_counter() - started, 2), epoch, round(rss, 1)])


def _output_digest(cmd: list[str]) -> str | None:
    """A fingerprint of the metrics.json in the command's ``-o`` folder (None without one)."""
    args = [str(a) for a in cmd]
    if "-o" not in args or args.index("-o") + 1 >= len(args):
        return None
    metrics = Path(args[args.index("-o") + 1]) / "metrics.json"
    return hashlib.sha1(metrics.read_bytes()).hexdigest() if metrics.is_file() else None


def _named_files(cmd: list[str]) -> list[Path]:
    """The existing files a command names: as an argument, or as the value of ``--set k=PATH``
    (relative paths from the repository, where children run)."""
    found = []
    for arg in map(str, cmd[1:]):
        for text in {arg, arg.partition("=")[2]} - {""}:
            path = Path(text) if Path(text).is_absolute() else REPO / text
            try:
                if path.is_file():
                    found.append(path)
            except OSError:  # not a path at all (too long, ...)
                continue
    return found


def _inputs_digest(cmd: list[str]) -> str:
    """A fingerprint of what a child run reads besides its command line: the rnn_recipes
    sources it imports (Python files and bundled recipes) and the files the command names
    (recipe files, manifests). A finished run whose inputs changed since is not reused."""
    import importlib.util

    digest = hashlib.sha1()
    spec = importlib.util.find_spec("rnn_recipes")
    package = Path(spec.origin).parent if spec and spec.origin else None
    sources = (
        sorted(p for p in package.rglob("*") if p.suffix in (".py", ".toml")) if package else []
    )
    for path in [*sources, *_named_files(cmd)]:
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _reused(cmd: list[str], stamp: Path) -> dict[str, Any] | None:
    """The record of a finished run of exactly ``cmd``, on the same inputs, whose output is
    still the one it wrote."""
    if not stamp.is_file():
        return None
    kept = json.loads(stamp.read_text())
    if kept.get("command") != shlex.join(map(str, cmd)):
        return None
    if kept.get("inputs") != _inputs_digest(cmd):
        return None  # the code or a file the command reads changed since
    if kept.get("output") != _output_digest(cmd):
        return None  # the output folder was rewritten (or removed) since
    return kept["measured"]


def run_child(
    cmd: list[str],
    log: Path | None = None,
    timeout: float = 3600,
    sample_rss: float = 0,
    reuse: bool = True,
) -> dict[str, Any]:
    """Run a command; return its wall seconds, peak RSS (MB), the CPU seconds it used and the
    1-minute load average before and after it. Raises on failure.

    With :data:`REUSE` set and ``reuse`` (a run not timed against another run of this
    invocation), a finished run of the same command with the same log is returned as it was
    measured (``"reused": True``) instead of running again; every finished run with a log keeps
    its record beside the log (``<log>.measured.json``) for that.

    ``sample_rss`` > 0: also read the child's resident memory every that many seconds while it
    runs, with the training epoch its log has reached (``rss_samples``: ``[seconds, epoch,
    MB]``, epoch 0 outside training epochs; run it with ``train.verbose=epoch`` so the log has
    Keras' epoch lines).
    """
    stamp = log.with_name(log.name + ".measured.json") if log else None
    if REUSE and reuse and stamp is not None:
        kept = _reused(cmd, stamp)
        if kept is not None:
            CHILD_LOAD.append({k: v for k, v in kept.items() if k != "rss_samples"})
            print(f"reused {log.name}: its command already ran to the end (--reuse)", flush=True)
            return {**kept, "reused": True}
    if stamp is not None:
        stamp.unlink(missing_ok=True)  # an interrupted run leaves no record to reuse
        inputs = _inputs_digest(cmd)  # as the run starts: an edit during it is a change
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    samples: list[list[float]] = []
    try:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        if sample_rss > 0:
            done = threading.Event()
            sampler = threading.Thread(
                target=_sample_rss, args=(proc.pid, log, sample_rss, samples, done), daemon=True
            )
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if sample_rss > 0:
            done.set()
            sampler.join()
    finally:
        if log:
            out.close()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = log.read_text()[-2000:] if log else ""
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{tail}")
    measured = {
        "seconds": seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    CHILD_LOAD.append(dict(measured))
    if sample_rss > 0:
        measured["rss_samples"] = samples
    if stamp is not None:
        record = {
            "command": shlex.join(map(str, cmd)),
            "inputs": inputs,
            "output": _output_digest(cmd),
        }
        stamp.write_text(json.dumps({**record, "measured": measured}))
    return measured


def machine_load(records: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """How busy the machine was during a benchmark's child runs (``CHILD_LOAD`` by default).

    ``cores_used`` is a run's CPU seconds over its wall seconds: on an idle 2-core machine a
    training run uses most of both cores, so a median well below ``os.cpu_count()`` says other
    jobs took the rest. The 1-minute load averages, sampled when each run started and ended,
    say the same from outside (on an idle machine they stay at or below the cores the runs
    use). Records without CPU seconds (runs reused from an older harness) are skipped.
    """
    rows = [r for r in (CHILD_LOAD if records is None else records) if "cpu_seconds" in r]
    if not rows:
        return None
    cores = sorted(r["cpu_seconds"] / max(r["seconds"], 1e-9) for r in rows)
    loads = [x for r in rows for x in r["load_average"]]
    return {
        "runs": len(rows),
        "cores_used_median": round(statistics.median(cores), 2),
        "cores_used_range": [round(cores[0], 2), round(cores[-1], 2)],
        "load_average_range": [min(loads), max(loads)],
        "cpus": os.cpu_count(),
    }


def load_line(load: dict[str, Any] | None) -> str:
    """BENCHMARKS.md's line on how busy the machine was, or that it was not recorded."""
    if not load:
        return "Load: not recorded (results from before the harness recorded it).\n"
    lo, hi = load["load_average_range"]
    return (
        f"Load: {load['runs']} child runs used a median {load['cores_used_median']:g} of "
        f"{load['cpus']} cores (range {load['cores_used_range'][0]:g}–"
        f"{load['cores_used_range'][1]:g}); 1-minute load average {lo:g}–{hi:g} at their starts "
        f"and ends.\n"
    )


def read_recipe(name: str) -> dict[str, Any]:
    """The TOML data of ``recipes/NAME.toml``."""
    from rnn_recipes.config import read_toml

    return read_toml(RECIPES / f"{name}.toml", "recipe file")


def recipe_file(name: str, data: Path, work: Path) -> str:
    """The recipe to run for ``recipes/NAME.toml`` on the data at ``data``.

    When ``data`` is where the recipe's ``data.path`` points (the usual case: ``--data-root`` is
    the shared data folder beside the repository), that is the recipe itself, as the relative
    path a user types from the repository root. Otherwise a copy whose ``data.path`` is
    ``data`` is written to ``work``: a data path given with ``--data`` or ``--set`` would also
    drop the recipe's split, column and file-name settings (they belong to the data source).
    """
    from rnn_recipes.config import to_toml

    source = RECIPES / f"{name}.toml"
    recipe = read_recipe(name)
    if (source.parent / recipe["data"]["path"]).resolve() == Path(data).resolve():
        return str(source.relative_to(REPO))
    recipe["data"]["path"] = str(Path(data).resolve())
    work.mkdir(parents=True, exist_ok=True)
    copy = work / f"{name}.toml"
    copy.write_text(f"# recipes/{name}.toml with data.path pointed at {data}\n" + to_toml(recipe))
    return str(copy)


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


WARMUP_CALLS = 10


def latency(saved_model: Path, make_batch, repeats: int = 200) -> dict[str, Any]:
    """Serving latency of ``serving_default`` after ``tf.saved_model.load`` in this process.

    Args:
        saved_model: the SavedModel folder.
        make_batch: ``n -> dict of input tensors`` for a batch of n raw inputs.
        repeats: timed batch-1 calls (after :data:`WARMUP_CALLS` untimed ones).

    Returns:
        p50/p95/p99 of the batch-1 calls (ms), batch-256 throughput, the number of calls, and
        the 1-minute load average before and after the timed calls (the machine is shared, so a
        figure measured under load says so).
    """
    import numpy as np
    import tensorflow as tf

    serve = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    one = make_batch(1)
    for _ in range(WARMUP_CALLS):
        serve(**one)
    load_before = os.getloadavg()[0]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        serve(**one)
        times.append((time.perf_counter() - started) * 1000)
    load_after = os.getloadavg()[0]
    big = make_batch(256)
    serve(**big)
    started = time.perf_counter()
    for _ in range(5):
        serve(**big)
    per_s = 5 * 256 / (time.perf_counter() - started)
    return {
        "p50": float(np.percentile(times, 50)),
        "p95": float(np.percentile(times, 95)),
        "p99": float(np.percentile(times, 99)),
        "batch256_examples_per_s": float(per_s),
        "calls": repeats,
        "warmup_calls": WARMUP_CALLS,
        "load_average": [round(load_before, 2), round(load_after, 2)],
    }


def folder_size(folder: Path, largest: int = 5) -> dict[str, Any]:
    """A run folder's size on disk (MB) and its largest files, paths relative to the folder."""
    sizes = {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in Path(folder).rglob("*")
        if p.is_file()
    }
    top = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:largest]
    return {
        "mb": sum(sizes.values()) / 1e6,
        "files": len(sizes),
        "largest": [{"path": path, "mb": size / 1e6} for path, size in top],
    }


def timed_fit(model, train: tuple, validation: tuple, epochs: int, batch_size: int = 32) -> float:
    """``model.fit`` a reference the way its example does; return training examples per second.

    fit's time includes a validation pass per epoch, which the recipe's examples/s excludes:
    one validation pass is timed afterwards and removed per epoch.
    """
    started = time.perf_counter()
    model.fit(*train, batch_size=batch_size, epochs=epochs, validation_data=validation, verbose=2)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    model.evaluate(*validation, batch_size=batch_size, verbose=0)
    train_seconds = max(seconds - epochs * (time.perf_counter() - started), 1e-9)
    return epochs * len(train[0]) / train_seconds


# Speed pairs per task (``python -m bench --speed-rounds``): each speed row is the median of
# several recipe/reference pairs run alternately, so one disturbed run on either side (other load,
# or a pause such as tf.data's iterator teardown, bench/findings/speed/FINDINGS.md) cannot move
# the headline by itself; every pair is kept with its ratio.
SPEED_ROUNDS = 3


def speed_pairs(
    task: str, command: Any, args, work: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The recipe's speed run and the task's strong reference, alternately,
    ``args.speed_rounds`` times, each ``args.speed_epochs`` epochs with seed ``args.seeds[0]``.

    Args:
        task: "sentiment", "speech" or "forecast" (``python -m bench.references TASK``).
        command: ``command(out)``: the recipe's ``rnn-recipes run`` command writing to ``out``.
        args: the benchmark's arguments (``speed_rounds``, ``speed_epochs``, ``seeds``,
            ``data_root``: the reference's ``--data-root``).
        work: the task's scratch folder; round k writes ``speed-k/`` and ``speed-k.log``.

    Returns:
        (each round's metrics.json, each round's reference result, each round's measured
        child run), in round order.
    """
    from bench import profile_speed

    rounds, epochs, seed = args.speed_rounds, args.speed_epochs, args.seeds[0]
    metrics, strong, measured = [], [], []
    for k in range(1, rounds + 1):
        out = work / f"speed-{k}"
        # Timed against the reference of this invocation: never reused.
        measured.append(run_child(command(out), work / f"speed-{k}.log", reuse=False))
        metrics.append(json.loads((out / "metrics.json").read_text()))
        strong.append(profile_speed.reference_run(task, epochs, seed, "mask", Path(args.data_root)))
        recipe_last = _last_epoch(metrics[-1]["train"])
        print(
            f"{task} speed pair {k}/{rounds}: recipe {recipe_last:.0f} ex/s, reference "
            f"{strong[-1]['examples_per_s']:.0f} ex/s (last epoch, "
            f"{recipe_last / strong[-1]['examples_per_s']:.2f}x)",
            flush=True,
        )
    return metrics, strong, measured


def _last_epoch(train: dict[str, Any]) -> float:
    return train.get("examples_per_second_last_epoch") or train["examples_per_second"]


def strong_speed_row(
    metrics: dict[str, Any] | list[dict[str, Any]],
    strong: dict[str, Any] | list[dict[str, Any]],
    keras_io: dict[str, Any],
    epochs: int,
    *,
    reference: str,
    keras_io_how: str,
    recipe_batching: str | None = None,
) -> dict[str, Any]:
    """A task's speed row: the recipe's last epoch against the strong reference's last epoch.

    Both sides run the benchmark's REF_ARCH in the same invocation for ``epochs`` epochs (the
    last one is the steady state; epoch 1 also traces); the all-epochs figures and the naive
    keras-io style reference (padded to a global maximum) come along as labelled extra rows.
    With several alternating pairs (:func:`speed_pairs`) each side's figure is its median over
    the pairs, and ``pairs`` keeps every pair with its own ratio.

    Args:
        metrics: the recipe's speed runs' metrics.json (one per pair; a dict for one pair).
        strong: ``profile_speed.reference_run(task, ..., "mask")``'s results (same invocation),
            paired with ``metrics``.
        keras_io: the task's keras-io style ``reference()`` result (all epochs, validation
            removed).
        epochs: epochs of both runs.
        reference: which strong reference, and how it batches (for the results and BENCHMARKS.md).
        keras_io_how: how the keras-io style reference batches.
        recipe_batching: how the recipe batches, when its metrics.json does not say
            (``batching.mode``).
    """
    runs = metrics if isinstance(metrics, list) else [metrics]
    refs = strong if isinstance(strong, list) else [strong]
    if len(runs) != len(refs) or not runs:
        raise ValueError(f"speed pairs: {len(runs)} recipe runs against {len(refs)} references")
    trains = [m["train"] for m in runs]
    recipe_last = statistics.median([_last_epoch(t) for t in trains])
    recipe_all = statistics.median([t["examples_per_second"] for t in trains])
    ref_last = statistics.median([r["examples_per_s"] for r in refs])
    ref_all = statistics.median([r["examples_per_s_all_epochs"] for r in refs])
    pairs = [
        {
            "recipe_examples_per_s": _last_epoch(t),
            "reference_examples_per_s": r["examples_per_s"],
            "ratio": _last_epoch(t) / r["examples_per_s"],
            "epoch_seconds": {"recipe": t.get("epoch_seconds"), "reference": r["epoch_seconds"]},
        }
        for t, r in zip(trains, refs)
    ]
    ratios = sorted(p["ratio"] for p in pairs)
    return {
        "recipe_examples_per_s": recipe_last,
        "reference_examples_per_s": ref_last,
        "reference": reference,
        "recipe_batching": runs[0].get("batching", {}).get("mode") or recipe_batching,
        "pairs": pairs,
        "pair_ratio_median": statistics.median(ratios),
        "pair_ratio_range": [ratios[0], ratios[-1]],
        "all_epochs": {
            "recipe_examples_per_s": recipe_all,
            "reference_examples_per_s": ref_all,
            "ratio": recipe_all / ref_all,
        },
        "epoch_seconds": {
            "recipe": trains[-1].get("epoch_seconds"),
            "reference": refs[-1]["epoch_seconds"],
        },
        "keras_io_reference": {
            "examples_per_s_all_epochs": keras_io["examples_per_s"],
            "how": keras_io_how,
            "ratio_all_epochs": recipe_all / keras_io["examples_per_s"],
        },
        "load_average": list(os.getloadavg()),
        "epochs_measured": epochs,
    }


def pairs_part(row: dict[str, Any]) -> str:
    """The note on a speed row of several pairs: its count and the range of pair ratios."""
    pairs = row.get("pairs") or []
    if len(pairs) < 2:
        return ""
    lo, hi = row["pair_ratio_range"]
    return f", median of {len(pairs)} alternating pairs (pair ratios {lo:.2f}-{hi:.2f})"


def speed_line(task: str, row: dict[str, Any]) -> str:
    """The progress line of a :func:`strong_speed_row`: last epoch, all epochs, keras-io row."""
    recipe, ref = row["recipe_examples_per_s"], row["reference_examples_per_s"]
    every, naive = row["all_epochs"], row["keras_io_reference"]
    return (
        f"{task} speed (last epoch): recipe {recipe:.0f} ex/s, strong reference {ref:.0f} ex/s "
        f"({recipe / ref:.2f}x{pairs_part(row)}); all epochs {every['recipe_examples_per_s']:.0f} vs "
        f"{every['reference_examples_per_s']:.0f} ex/s ({every['ratio']:.2f}x); keras-io "
        f"reference {naive['examples_per_s_all_epochs']:.0f} ex/s (all epochs)"
    )


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    from rnn_recipes import __version__

    return {"rnn_recipes": __version__, "tensorflow": tf.__version__, "keras": keras.__version__}


def command_line(cmd: list[str]) -> str:
    """A child command as the user would type it (``rnn-recipes ...``), for the results file."""
    return shlex.join(["rnn-recipes", *map(str, cmd[3:])])  # quoted: regexes paste as they are


def set_args(settings: dict[str, Any]) -> list[str]:
    """``{"model.units": 64}`` -> ``["--set", "model.units=64"]``."""
    return [x for k, v in settings.items() for x in ("--set", f"{k}={v}")]


def assemble(
    task: str,
    args,
    work: Path,
    *,
    commands: list[str],
    values: list[float],
    quality: dict[str, Any],
    recipe_speed: float,
    reference_speed: float,
    speed: dict[str, Any],
    latency_ms: dict[str, Any],
    rss: list[float],
    notes: list[str],
) -> dict[str, Any]:
    """The result every task returns: the parts all tasks share, plus the task's own fields.

    Also times the quick start (``rnn-recipes run TASK`` on its demo data) and counts its peak
    memory with the real-data runs' (``rss``).
    """
    quick = run_child(
        cli("run", task, "-o", work / "quickstart", "--force"),
        work / "quickstart.log",
        reuse=False,  # a timing: measured again in each invocation
    )
    mean, std = mean_std(values)
    return {
        "machine": machine(),
        "versions": versions(),
        "commands": commands,
        "quality": {
            "mean": mean,
            "std": std,
            "seeds": list(args.seeds),
            "values": values,
            **quality,
        },
        "speed": {
            "recipe_examples_per_s": recipe_speed,
            "reference_examples_per_s": reference_speed,
            "ratio": recipe_speed / reference_speed,
            "epochs": args.speed_epochs,
            **speed,
        },
        "latency_ms": latency_ms,
        "quickstart_s": quick["seconds"],
        "peak_rss_mb": max(rss),
        "load": machine_load(),
        "notes": notes,
    }


def without_machine_paths(result: dict[str, Any], work: str | Path) -> dict[str, Any]:
    """``result`` with this machine's folders replaced, so a results file reads the same
    anywhere: the scratch folder becomes ``<work>``, the repository's own files become
    repository-relative and the folders beside it (the shared data) ``../NAME``."""
    text = json.dumps(result)
    # Inside-out: the scratch folder and the repository may sit inside the repository's parent.
    for folder, name in (
        (Path(work).resolve(), "<work>"),
        (Path(work), "<work>"),  # as given, when a relative or linked path
        (REPO.resolve(), "."),
        (REPO.resolve().parent, ".."),
    ):
        escaped = json.dumps(str(folder))[1:-1]  # as the folder is spelt inside JSON strings
        text = text.replace(escaped + "/", name + "/").replace(escaped + '"', name + '"')
    return json.loads(text)


def write_result(task: str, result: dict[str, Any], results_dir: Path | None = None) -> Path:
    """Validate and write ``<results_dir>/<task>.json``; then regenerate the markdown.

    ``results_dir`` defaults to ``bench/results`` (whose markdown is the repository's
    BENCHMARKS.md); any other folder gets its own ``BENCHMARKS.md`` inside it, so smoke runs never
    touch the committed figures.
    """
    result = {"task": task, "date": dt.date.today().isoformat(), **result}
    required = SCALING_REQUIRED if "scaling" in result else REQUIRED
    missing = [k for k in required if k not in result]
    if missing:
        raise ValueError(f"result for {task} lacks {missing}")
    if "scaling" in result:  # bench/scaling.py: no quality, speed or latency of its own
        return _write(task, result, results_dir)
    if result["quality"].get("direction", "higher") not in ("higher", "lower"):
        raise ValueError(f"result for {task}: quality direction must be 'higher' or 'lower'")
    for key in ("metric", "mean", "std", "target"):
        if key not in result["quality"]:
            raise ValueError(f"result for {task}: quality lacks {key!r}")
    for key in ("recipe_examples_per_s", "reference_examples_per_s", "ratio"):
        if key not in result["speed"]:
            raise ValueError(f"result for {task}: speed lacks {key!r}")
    return _write(task, result, results_dir)


def _write(task: str, result: dict[str, Any], results_dir: Path | None) -> Path:
    folder = Path(results_dir) if results_dir is not None else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{task}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(results_dir)
    return path


def _fmt(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if isinstance(x, float) else ("—" if x is None else str(x))


def quality_cell(q: dict[str, Any]) -> str:
    """The quality figure for the table; says which way is better when the result says so."""
    figure = f"{q['metric']} {_fmt(q['mean'])} ± {_fmt(q['std'])}"
    direction = q.get("direction")
    if direction is None:  # results written before the field existed: higher is better
        return f"{figure} (target {q['target']})"
    lower = direction == "lower"
    met = q["mean"] <= q["target"] if lower else q["mean"] >= q["target"]
    verdict = "met" if met else f"missed by {_fmt(abs(q['mean'] - q['target']))}"
    sign = "≤" if lower else "≥"
    return f"{figure} (target {sign} {q['target']}, {direction} is better: {verdict})"


def footprint_rows(r: dict[str, Any]) -> list[str]:
    """A task's deployment figures as table rows: run folder size and batch-1 latency, against
    their targets when the result names them (``targets``); none for older result files."""
    folder, lat = r.get("run_folder"), r.get("latency_ms", {})
    if folder is None and "p95" not in lat:
        return []
    targets = r.get("targets", {})

    def verdict(value: float, key: str) -> str:
        bound = targets.get(key)
        if bound is None:
            return "—"
        return f"≤ {bound:g}: " + ("met" if value <= bound else f"missed by {value - bound:.1f}")

    rows = ["| figure | value | target |", "|---|---|---|"]
    if folder is not None:
        parts = ", ".join(f"{x['path']} {x['mb']:.1f}" for x in folder["largest"][:3])
        rows.append(
            f"| run folder MB ({folder.get('what', 'one run')}) | {folder['mb']:.1f} "
            f"(largest: {parts}) | {verdict(folder['mb'], 'run_folder_mb')} |"
        )
    if "p95" in lat:
        load = lat.get("load_average")
        under = f", load average {load[0]:g} → {load[1]:g}" if load else ""
        rows.append(
            f"| batch-1 latency p50 / p95 ms ({lat.get('calls', '?')} calls after "
            f"{lat.get('warmup_calls', '?')} warm-up{under}) | {lat['p50']:.2f} / {lat['p95']:.2f} "
            f"| {verdict(lat['p50'], 'latency_p50_ms')} |"
        )
    return [*rows, ""]


def write_markdown(results_dir: Path | None = None) -> Path:
    """BENCHMARKS.md from every result file: figures, date, machine, versions, commands."""
    folder = Path(results_dir) if results_dir is not None else RESULTS
    rows, details = [], []
    scaling = []
    for path in sorted(folder.glob("*.json")):
        r = json.loads(path.read_text())
        if "scaling" in r:  # its own section after the tasks' (bench/scaling.py)
            scaling.append(r)
            continue
        q, s, lat = r["quality"], r["speed"], r["latency_ms"]
        task = f"{r['task']} (quick smoke run)" if r.get("quick") else r["task"]
        rows.append(
            f"| {task} | {quality_cell(q)} | {_fmt(s['ratio'], 2)}× "
            f"({_fmt(s['recipe_examples_per_s'], 0)} vs {_fmt(s['reference_examples_per_s'], 0)} ex/s) | "
            f"{_fmt(lat['p50'], 1)} / {_fmt(lat['p99'], 1)} | {_fmt(r['quickstart_s'], 0)} | "
            f"{_fmt(r['peak_rss_mb'], 0)} | {r['date']} |"
        )
        details.append(f"## {r['task']}\n")
        details.append(f"Machine: {r.get('machine')}; versions: {r.get('versions')}.\n")
        details.append(load_line(r.get("load")))
        details.extend(footprint_rows(r))
        if s.get("reference"):  # which reference the speed ratio is against, and how it batches
            load = s.get("load_average")
            at = f" (load average {', '.join(f'{x:.1f}' for x in load)})" if load else ""
            how = f"the recipe ({s['recipe_batching']}) " if s.get("recipe_batching") else ""
            spread = pairs_part(s) or ", one recipe/reference pair"
            details.append(f"Speed: {how}against {s['reference']}{at}{spread}.\n")
        if r.get("notes"):
            details.extend(f"- {n}" for n in r["notes"])
            details.append("")
        details.append("Commands:\n\n```bash\n" + "\n".join(r.get("commands", [])) + "\n```\n")
    for r in scaling:
        from bench.scaling import markdown as scaling_markdown

        quick = " (quick smoke run)" if r.get("quick") else ""
        details.append(f"## {r['task']}: throughput against the data size{quick} ({r['date']})\n")
        details.append(f"Machine: {r.get('machine')}; versions: {r.get('versions')}.\n")
        details.append(load_line(r.get("load")))
        details.extend(scaling_markdown(r["scaling"]))
        if r.get("notes"):
            details.extend(f"- {n}" for n in r["notes"])
            details.append("")
        details.append("Commands:\n\n```bash\n" + "\n".join(r.get("commands", [])) + "\n```\n")
    text = (
        "# Benchmarks\n\n"
        "Generated by `python -m bench` from `bench/results/*.json`; do not edit by hand.\n"
        "Quality is the mean ± standard deviation over seeds; speed is training examples per second\n"
        "of the recipe over a hand-written Keras reference with the same architecture and batch\n"
        "size, measured in the same invocation; latency is `serving_default` of the SavedModel at\n"
        "batch 1 (p50 / p99, ms). Each quality cell says whether higher or lower is better\n"
        "(accuracy: higher; forecast MSE: lower) and whether its target was met.\n\n"
        "| task | quality | training speed | latency p50 / p99 ms | quick start s | peak RSS MB | date |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n" + "\n".join(details)
    )
    out = REPO / "BENCHMARKS.md" if results_dir is None else folder / "BENCHMARKS.md"
    out.write_text(text)
    return out
