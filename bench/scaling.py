"""Data scaling: training time at 1x, 4x and 16x the training data, and memory over epochs.

Protocol (issue 15, "throughput that scales"):

* Data. Each task's training set is replicated k times (``--scales``, default 1 4 16; ``--quick``:
  1 2) in the scratch folder; validation and test stay the same size for every k, so only the
  training pass grows. Sentiment: rt-polarity fold 0 (``recipes/rt-polarity.toml``'s split: every
  10th line of each file is test), written as CSV files; validation is every 10th training row
  (written once), the rest is ``train-x{k}.csv`` with every row k times. Speech: FSDD's official
  split (``recipes/fsdd.toml``: takes 0-4 are test), as a manifest (``path,label,speaker,split``)
  naming each training clip k times; validation is takes 5, 15, 25, 35, 45 (once). No audio is
  copied and nothing is written next to the shared data.
* Runs. The recipe itself (its own model and batching), through the CLI, for ``--speed-epochs``
  epochs (default 2; ``--quick``: 1) with early stopping off, one seed. Per k: training examples
  per second and training seconds from the run's metrics.json (validation passes excluded), the
  time ratio against 1x divided by k (1.0: time grows linearly with the data; the target, 16x data
  in at most 17x the time, is a ratio of 17/16 = 1.06 at 16x), the same ratio over the last epoch
  alone (the steady state: epoch 1 also traces the train step, a fixed cost that flatters larger
  k), the ratio of the training passes' CPU seconds divided by k (steadier than wall time on a
  shared machine), and the child's peak RSS.
* Tasks. Both by default; ``--scaling-tasks speech`` (or ``sentiment``) runs one, with
  ``--scales`` for one k: such a partial run writes to the scratch results folder only.
* Memory over epochs. One 1x run per task for ``MEMORY_EPOCHS`` epochs (``--quick``: 2) whose
  resident memory is sampled every half second (``/proc/<pid>/status``) with the epoch its log is
  in (between Keras' ``Epoch N/M`` line and that epoch's summary line; loading, evaluation and
  export are outside every epoch); the result gives the peak and the end of each epoch, and the
  first against the last epoch.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from bench import common
from bench.sentiment import write_rt_polarity_split
from bench.speech import fsdd_split, parse_name

# The tasks scaled, in the order they run, and what their data is (``--scaling-tasks`` picks).
TASKS = {
    "sentiment": "rt-polarity fold 0, recipe defaults",
    "speech": "FSDD official split, recipe defaults",
}
SCALES = [1, 4, 16]
QUICK_SCALES = [1, 2]
MEMORY_EPOCHS = 6
TARGET_RATIO_16X = 17.0  # issue 15: 16x the data in at most 17x the time
SAMPLE_EVERY_S = 0.5
VALIDATION_EVERY = 10  # sentiment: every 10th training row is validation (written once)
VALIDATION_TAKES = {5, 15, 25, 35, 45}  # speech: FSDD takes held out for validation (11%)


def replicate_sentiment(source: Path, folder: Path, scales: list[int]) -> dict[str, Any]:
    """rt-polarity fold 0 as CSV files: ``validation.csv`` and ``test.csv`` once, and
    ``train-x{k}.csv`` (every training row k times, in order) per k. Returns their paths and
    row counts."""
    train_csv, test_csv = write_rt_polarity_split(source, folder)
    with open(train_csv, newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    validation = [r for i, r in enumerate(rows) if i % VALIDATION_EVERY == VALIDATION_EVERY - 1]
    train = [r for i, r in enumerate(rows) if i % VALIDATION_EVERY != VALIDATION_EVERY - 1]

    def write(name: str, items: list[list[str]]) -> Path:
        with open(folder / name, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([header, *items])
        return folder / name

    out = {
        "validation": write("validation.csv", validation),
        "test": test_csv,
        "train": {k: write(f"train-x{k}.csv", train * k) for k in scales},
        "rows": {"train": len(train), "validation": len(validation)},
    }
    train_csv.unlink()  # the unreplicated file is train-x1.csv without the validation rows
    return out


def replicate_speech(recordings: Path, folder: Path, scales: list[int]) -> dict[str, Any]:
    """FSDD manifests ``fsdd-x{k}.csv`` (``path,label,speaker,split``, absolute clip paths): each
    training clip k times, the validation takes and the official test clips once."""
    names = sorted(p.name for p in recordings.glob("*.wav"))
    official = fsdd_split(names)
    rows: dict[str, list[list[Any]]] = {"train": [], "validation": [], "test": []}
    for split, items in official.items():
        for name in items:
            label, speaker = parse_name(name)
            take = int(Path(name).stem.rsplit("_", 1)[1])
            part = "validation" if split == "train" and take in VALIDATION_TAKES else split
            rows[part].append([str((recordings / name).resolve()), label, speaker, part])
    folder.mkdir(parents=True, exist_ok=True)
    manifests = {}
    for k in scales:
        path = folder / f"fsdd-x{k}.csv"
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label", "speaker", "split"])
            writer.writerows(rows["train"] * k + rows["validation"] + rows["test"])
        manifests[k] = path
    counts = {split: len(items) for split, items in rows.items()}
    return {"manifest": manifests, "rows": counts}


def scale_rows(runs: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per k: examples/s, training seconds, the time ratio against the smallest k divided by the
    data ratio (1.0 = linear) and peak RSS. ``runs[k]`` holds ``train_seconds``,
    ``examples_per_s``, ``examples_per_s_last_epoch``, ``train_examples`` and ``peak_rss_mb``
    (and ``epoch_seconds``, for the same ratio over the last epoch alone)."""
    base_k = min(runs)
    base = runs[base_k]
    rows = []
    for k in sorted(runs):
        r = runs[k]
        time_ratio = r["train_seconds"] / base["train_seconds"]
        row = {
            "scale": k,
            **r,
            "time_ratio": time_ratio,
            "time_ratio_per_data": time_ratio / (k / base_k),
        }
        if r.get("train_cpu_seconds") and base.get("train_cpu_seconds"):
            cpu = r["train_cpu_seconds"] / base["train_cpu_seconds"]
            row["cpu_ratio_per_data"] = cpu / (k / base_k)
        # The steady state: epoch 1 also traces the train step, a cost that does not grow with
        # the data, so the all-epochs ratio flatters larger k when the run is short.
        if r.get("epoch_seconds") and base.get("epoch_seconds"):
            last = r["epoch_seconds"][-1] / base["epoch_seconds"][-1]
            row["last_epoch_time_ratio_per_data"] = last / (k / base_k)
        rows.append(row)
    return rows


def memory_summary(samples: list[list[float]]) -> dict[str, Any]:
    """Peak resident memory per training epoch from ``[seconds, epoch, MB]`` samples, and the
    first against the last epoch; samples outside epochs (epoch 0: loading, the vocabulary,
    evaluation and export after fit) are left out of the epochs and peak separately."""
    per_epoch: dict[int, float] = {}
    at_end: dict[int, float] = {}  # the last sample of each epoch
    for _, epoch, mb in samples:
        if epoch >= 1:
            per_epoch[int(epoch)] = max(per_epoch.get(int(epoch), 0.0), mb)
            at_end[int(epoch)] = mb
    outside = [mb for _, epoch, mb in samples if epoch < 1]
    if not per_epoch:
        return {"per_epoch_peak_mb": {}, "samples": len(samples)}
    first, last = min(per_epoch), max(per_epoch)
    return {
        "per_epoch_peak_mb": {str(e): per_epoch[e] for e in sorted(per_epoch)},
        "per_epoch_end_mb": {str(e): at_end[e] for e in sorted(at_end)},
        "outside_epochs_peak_mb": max(outside) if outside else None,
        "first_epoch_mb": per_epoch[first],
        "last_epoch_mb": per_epoch[last],
        "growth_mb": per_epoch[last] - per_epoch[first],
        "samples": len(samples),
        "sample_every_s": SAMPLE_EVERY_S,
    }


def markdown(result: dict[str, Any]) -> list[str]:
    """BENCHMARKS.md's lines for a result's ``scaling`` part: a table per task, memory lines."""
    lines = [
        f"Training time against the training data (replicated k times; "
        f"{result['epochs']} epochs, validation excluded); time ratio / k = 1.00 is linear, "
        f"target at {max(result['scales'])}x: ≤ "
        f"{result['target_ratio_per_data']:.2f} ({TARGET_RATIO_16X:g}x the time for 16x).\n",
    ]
    for task, t in result["tasks"].items():
        lines += [
            f"**{task}** ({t['data']}):\n",
            "| data | training examples | examples/s (last epoch) | training s | time ratio / k "
            "(last epoch) | CPU s ratio / k | peak RSS MB |",
            "|---|---|---|---|---|---|---|",
            *(scale_row_markdown(r) for r in t["rows"]),
            "",
        ]
        m = t.get("memory")
        if m and "first_epoch_mb" in m:
            ends = list(m.get("per_epoch_end_mb", {}).values())
            at_ends = f"; at the epochs' ends {ends[0]:.0f} → {ends[-1]:.0f} MB" if ends else ""
            lines.append(
                f"Memory over {len(m['per_epoch_peak_mb'])} epochs (1x): peak RSS epoch 1 "
                f"{m['first_epoch_mb']:.0f} MB, last epoch {m['last_epoch_mb']:.0f} MB "
                f"({m['growth_mb']:+.0f} MB){at_ends}.\n"
            )
    return lines


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def scale_row_markdown(r: dict[str, Any]) -> str:
    return (
        f"| {r['scale']}x | {r['train_examples']} | {r['examples_per_s']:.0f} "
        f"({r['examples_per_s_last_epoch']:.0f}) | {r['train_seconds']:.1f} | "
        f"{r['time_ratio_per_data']:.2f} ({_fmt(r.get('last_epoch_time_ratio_per_data'))}) | "
        f"{_fmt(r.get('cpu_ratio_per_data'))} | {r['peak_rss_mb']:.0f} |"
    )


def _measure(cmd: list[str], out: Path, log: Path, sample: float = 0) -> dict[str, Any]:
    measured = common.run_child(  # the scales are compared with each other: never reused
        [*cmd, "--set", "train.verbose=epoch"], log, sample_rss=sample, reuse=False
    )
    train = json.loads((out / "metrics.json").read_text())["train"]
    return {
        "train_seconds": train["train_seconds"],
        "epoch_seconds": train.get("epoch_seconds"),
        # CPU seconds of the training passes (all threads): on a shared machine wall time moves
        # with the other jobs, CPU time much less.
        "train_cpu_seconds": round(sum(train.get("epoch_cpu_seconds") or []), 3) or None,
        "examples_per_s": train["examples_per_second"],
        "examples_per_s_last_epoch": train.get("examples_per_second_last_epoch")
        or train["examples_per_second"],
        "peak_rss_mb": round(measured["peak_rss_mb"], 1),
        "wall_seconds": round(measured["seconds"], 1),
        "rss_samples": measured.get("rss_samples"),
    }


def run(args) -> dict[str, Any]:
    """Each task (``--scaling-tasks``, default both) at every scale, then its memory-over-epochs
    run; see the module text."""
    quick = getattr(args, "quick", False)
    scales = getattr(args, "scales", None) or (QUICK_SCALES if quick else SCALES)
    memory_epochs = 2 if quick else MEMORY_EPOCHS
    epochs, seed = args.speed_epochs, args.seeds[0]
    root = Path(args.data_root)
    work = Path(args.work) / "scaling"
    work.mkdir(parents=True, exist_ok=True)
    which = getattr(args, "scaling_tasks", None) or list(TASKS)
    # Only the data of the tasks asked for (``--scaling-tasks``) is replicated.
    if "sentiment" in which:
        sentiment = replicate_sentiment(
            root / "sentiment" / "rt-polarity", work / "sentiment-data", scales
        )
    if "speech" in which:
        speech = replicate_speech(
            root / "speech" / "fsdd" / "recordings", work / "speech-data", scales
        )

    def sentiment_cmd(k: int, n_epochs: int, out: Path) -> list[str]:
        data = {
            "data.train": sentiment["train"][k],
            "data.validation": sentiment["validation"],
            "data.test": sentiment["test"],
            "data.encoding": "utf-8",
        }
        return common.fixed_epochs_command(
            str(common.RECIPES.relative_to(common.REPO) / "rt-polarity.toml"),
            data,
            n_epochs,
            seed,
            out,
        )

    def speech_cmd(k: int, n_epochs: int, out: Path) -> list[str]:
        data = {
            "data.manifest": speech["manifest"][k],
            "data.sample_rate": 8000,  # a manifest replaces the recipe's data section
            "data.allow_outside": "true",  # the clips are outside the scratch folder
            "train.ensemble": 1,  # one model's time and memory per scale, not the recipe's three
        }
        return common.fixed_epochs_command(
            str(common.RECIPES.relative_to(common.REPO) / "fsdd.toml"), data, n_epochs, seed, out
        )

    tasks = {}
    if "sentiment" in which:
        tasks["sentiment"] = (sentiment_cmd, sentiment["rows"], TASKS["sentiment"])
    if "speech" in which:
        tasks["speech"] = (speech_cmd, speech["rows"], TASKS["speech"])
    commands, rss, results = [], [], {}
    for task, (make, rows, what) in tasks.items():
        runs = {}
        for k in scales:
            out = work / f"{task}-x{k}"
            cmd = make(k, epochs, out)
            runs[k] = {
                "train_examples": rows["train"] * k,
                **_measure(cmd, out, work / f"{task}-x{k}.log"),
            }
            runs[k].pop("rss_samples")
            rss.append(runs[k]["peak_rss_mb"])
            commands.append(common.command_line(cmd))
            print(
                f"scaling {task} {k}x: {runs[k]['examples_per_s']:.0f} ex/s, training "
                f"{runs[k]['train_seconds']:.1f} s, peak RSS {runs[k]['peak_rss_mb']:.0f} MB",
                flush=True,
            )
        out = work / f"{task}-memory"
        cmd = make(min(scales), memory_epochs, out)
        measured = _measure(cmd, out, work / f"{task}-memory.log", SAMPLE_EVERY_S)
        commands.append(common.command_line(cmd))
        rss.append(measured["peak_rss_mb"])
        memory = memory_summary(measured.pop("rss_samples") or [])
        print(f"scaling {task} memory over {memory_epochs} epochs: {memory}", flush=True)
        results[task] = {
            "data": f"{what}; train {rows['train']} x k, validation {rows['validation']} once",
            "rows": scale_rows(runs),
            "memory": {**memory, "epochs": memory_epochs, "run": measured},
        }
    top = max(scales)
    verdicts = {
        task: t["rows"][-1]["time_ratio_per_data"] <= TARGET_RATIO_16X / 16
        for task, t in results.items()
    }
    return {
        "machine": common.machine(),
        "versions": common.versions(),
        "commands": commands,
        "scaling": {
            "scales": scales,
            "epochs": epochs,
            "memory_epochs": memory_epochs,
            "target_ratio_per_data": TARGET_RATIO_16X / 16,
            "tasks": results,
            "met": verdicts,
        },
        "peak_rss_mb": max(rss),
        "load": common.machine_load(),
        "notes": [
            f"{task}: {top}x the data in {t['rows'][-1]['time_ratio']:.2f}x the training time "
            f"({t['rows'][-1]['time_ratio_per_data']:.2f} per unit of data; target ≤ "
            f"{TARGET_RATIO_16X / 16:.2f}: {'met' if verdicts[task] else 'missed'}; last epoch "
            f"alone {_fmt(t['rows'][-1].get('last_epoch_time_ratio_per_data'))} per unit)"
            for task, t in results.items()
        ],
    }
