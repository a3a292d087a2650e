"""Benchmarks: `python -m bench NAME` prints a table with ratios against a baseline measured in
the same run, and as its last line one JSON object with the figures."""
