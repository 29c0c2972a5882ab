"""Benchmarks of the real nodes, each printing a small table.

Run one from the checkout root, so `scantalk` and `testbench` import as they do for the tests:

    .venv/bin/python -m bench.<name>
"""
