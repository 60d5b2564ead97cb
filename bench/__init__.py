"""Benchmarks: recipe quality against published results, speed against hand-written Keras.

Run ``python -m bench TASK`` (or ``all``) from the repository root; see ``bench/common.py``.
"""
