"""``python -m bench TASK|all [--data-root DIR] [--seeds 1337 1338 1339]``: run benchmarks."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from pathlib import Path

from bench import common

TASKS = ["sentiment"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("task", choices=[*TASKS, "all"])
    parser.add_argument("--data-root", default=str(common.REPO.parent / "shared" / "data"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337, 1338, 1339])
    parser.add_argument("--speed-epochs", type=int, default=2)
    parser.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    args = parser.parse_args(argv)
    if not Path(args.data_root).is_dir():
        print(f"Error: data root {args.data_root} not found; pass --data-root", file=sys.stderr)
        return 1
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="rnn-bench-") as tmp:
        args.work = args.work or tmp
        for task in TASKS if args.task == "all" else [args.task]:
            result = importlib.import_module(f"bench.{task}").run(args)
            path = common.write_result(task, result)
            print(f"{task}: wrote {path.relative_to(common.REPO)}")
    print(f"wrote {common.write_markdown().relative_to(common.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
