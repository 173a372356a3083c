"""Benchmarks of the memory and the train step (not part of the installed package).

Run them with `python tools/benchmark.py`; results are summarised in docs/PERFORMANCE.md.
"""
