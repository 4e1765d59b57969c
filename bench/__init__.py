"""Benchmarks: cost per project and scaling (`python -m bench`). Not tests: they print figures."""
