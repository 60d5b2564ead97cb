"""Reproduce the tf.data iterator-teardown stall (session 16, 2026-12-07).

    python bench/findings/speed/iterator_teardown.py on 15 8    # autotuning on (stock tf.data)
    python bench/findings/speed/iterator_teardown.py off 15 8   # off, as the recipes run

Makes an iterator of a small autotuned pipeline, reads from it for LIVE seconds (20 elements a
second, so the machine stays almost idle), deletes it and times the deletion; COUNT times. With
autotuning on, a deletion sometimes takes 5-10 s: tf.data's model thread (``OptimizeLoop``) is
in its timed wait and the deleting thread waits for it. See FINDINGS.md, "Iterator teardown".
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

autotune = sys.argv[1] == "on"
live = float(sys.argv[2])
count = int(sys.argv[3])
ds = tf.data.Dataset.range(10**9).map(lambda x: x * 2, num_parallel_calls=tf.data.AUTOTUNE)
ds = ds.prefetch(tf.data.AUTOTUNE)
options = tf.data.Options()
options.autotune.enabled = autotune
ds = ds.with_options(options)
for _ in range(count):
    it = iter(ds)
    started, n = time.time(), 0
    while time.time() - started < live:
        next(it)
        n += 1
        time.sleep(0.05)
    t = time.perf_counter()
    del it
    print(
        f"autotune {autotune}: iterator lived {live:.0f} s ({n} elements); deleting it took "
        f"{time.perf_counter() - t:.2f} s",
        flush=True,
    )
