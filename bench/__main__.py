"""``python -m bench TASK|all [--data-root DIR] [--seeds 1337 1338 1339] [--quick]``: run benchmarks.

TASK is sentiment, speech, forecast or scaling (sentiment and speech at 1x/4x/16x their training
data, and memory over epochs; ``bench/scaling.py``); ``all`` runs them in that order.

Full runs write ``bench/results/<task>.json`` and ``BENCHMARKS.md``. ``--quick`` is a smoke run (one
seed, 2 training epochs, 1 speed epoch, fewer forecast horizons) whose results go to a scratch folder
(``--results-dir``, default ``<tmp>/rnn-bench-quick``), never to ``bench/results``.
``forecast --speed-only`` runs just the forecast speed rows (recipe against the matched reference)
and prints them; they are kept in the scratch folder (``--work``) as ``forecast/speed.json``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from pathlib import Path

from bench import common

# scaling: sentiment and speech at 1x/4x/16x their training data, memory over epochs (last in
# `all`: it is the longest and has no quality figure of its own).
TASKS = ["sentiment", "speech", "forecast", "scaling"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("task", choices=[*TASKS, "all"])
    parser.add_argument("--data-root", default=str(common.REPO.parent / "shared" / "data"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337, 1338, 1339])
    parser.add_argument("--speed-epochs", type=int, default=2)
    parser.add_argument(
        "--speed-rounds",
        type=int,
        default=common.SPEED_ROUNDS,
        help=f"recipe/reference speed pairs per task, run alternately; each side's figure is "
        f"its median (default {common.SPEED_ROUNDS}; --quick: 1)",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="cap training epochs (default: the recipe's)"
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=None,
        help="cross-validated benchmarks (sentiment): run the first N folds (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: one seed, 2 epochs, fewer horizons"
    )
    parser.add_argument(
        "--results-dir",
        default=None,
        help="where result files and their BENCHMARKS.md go (default: bench/results and the "
        "repository's BENCHMARKS.md; with --quick: <tmp>/rnn-bench-quick)",
    )
    parser.add_argument(
        "--protocol",
        choices=["all", "loso"],
        default="all",
        help="speech only: 'loso' runs just the leave-one-speaker-out folds and the augmentation "
        "throughput pair, printed and kept in the scratch folder (no result file)",
    )
    parser.add_argument(
        "--scales",
        type=int,
        nargs="+",
        default=None,
        help="scaling only: how many times to replicate the training data (default 1 4 16; "
        "--quick: 1 2)",
    )
    parser.add_argument(
        "--scaling-tasks",
        nargs="+",
        choices=["sentiment", "speech"],
        default=None,
        help="scaling only: the tasks to run (default both); fewer than both is a partial "
        "run, its results go to the scratch folder",
    )
    parser.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --work: keep runs that already finished there with the same command, code, "
        "named files and output (every task; speed pairs, scaling and the quick start run "
        "again), so an interrupted benchmark continues where it stopped",
    )
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="forecast only: just the speed rows (recipe, matched reference, keras-io style), "
        "printed and kept in the scratch folder as speed.json (no result file)",
    )
    parser.add_argument(
        "--horizon-seeds",
        type=int,
        default=3,
        help="forecast: how many of --seeds the longer horizons (192/336/720) run with",
    )
    args = parser.parse_args(argv)
    if args.scales is not None and min(args.scales) < 1:
        parser.error("--scales takes whole numbers of 1 or more, e.g. --scales 1 4 16")
    if args.speed_only and args.task != "forecast":
        parser.error("--speed-only runs the forecast speed rows: use it with 'forecast'")
    if args.quick:
        args.seeds = args.seeds[:1]
        args.epochs = args.epochs or 2
        args.speed_epochs = 1
        args.speed_rounds = 1
        args.folds = 1
    if args.speed_rounds < 1:
        parser.error("--speed-rounds takes 1 or more pairs, e.g. --speed-rounds 3")
    # Fewer than rt-polarity's 10 folds is not the published protocol: scratch results only.
    partial = (
        args.quick or args.epochs or args.speed_only or (args.folds is not None and args.folds < 10)
    )
    # One scaling task alone would replace the other's rows in bench/results/scaling.json.
    partial = partial or len(set(args.scaling_tasks or ["sentiment", "speech"])) < 2
    if partial and args.results_dir is None:
        args.results_dir = str(Path(tempfile.gettempdir()) / "rnn-bench-quick")
    results_dir = Path(args.results_dir).resolve() if args.results_dir else None
    if results_dir == common.RESULTS.resolve() and partial:
        print(
            "Error: quick, epoch-capped, fold-capped or one-task scaling results must not go to "
            "bench/results",
            file=sys.stderr,
        )
        return 2
    if not Path(args.data_root).is_dir():
        print(f"Error: data root {args.data_root} not found; pass --data-root", file=sys.stderr)
        return 1
    if args.reuse and args.work is None:
        parser.error("--reuse needs --work DIR: the folder whose finished runs it keeps")
    common.REUSE = args.reuse
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="rnn-bench-") as tmp:
        args.work = args.work or tmp
        written = 0
        for task in TASKS if args.task == "all" else [args.task]:
            common.CHILD_LOAD.clear()  # each task's load section counts its own runs only
            result = importlib.import_module(f"bench.{task}").run(args)
            if not result:  # a partial protocol (--protocol loso, --speed-only): printed only
                continue
            if partial:
                result["quick"] = True
                result.setdefault("notes", []).insert(
                    0,
                    f"SMOKE RUN (--quick/--epochs {args.epochs}/--folds {args.folds}/"
                    f"--scaling-tasks {args.scaling_tasks}): not a benchmark figure",
                )
            result = common.without_machine_paths(result, args.work)
            path = common.write_result(task, result, results_dir)
            print(f"{task}: wrote {path}")
            written += 1
    if written:
        print(f"wrote {common.write_markdown(results_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
