"""Benchmarks of the FretCoach analysis engine against peers (aubio, librosa).

Run ``python -m bench.analysis --help``; see ``bench/README.md``.
"""
