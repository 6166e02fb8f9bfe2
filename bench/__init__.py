"""dirft's performance benchmarks (issue 7): every figure is a ratio of two things run
side by side in one process run, so the noise of a shared machine hits both sides.

Run ``bench/run`` (``bench/run --help``); the latest figures are in ``BENCHMARKS.md``.
Speed is measured here only: the test suite never asserts on time.
"""
