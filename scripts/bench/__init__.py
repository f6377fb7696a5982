"""Benchmark helpers: run servers, drive load from a separate process, print ratios."""
