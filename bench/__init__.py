"""Benchmarks: each prints figures as ratios against a ceiling measured in the same run, because
these machines are noisy. Run them all with `make bench`, or one with `python -m bench NAME`."""
