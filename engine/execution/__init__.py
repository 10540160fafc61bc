"""Execution: compile (plan -> tasks), the worker runtime, sessions, executors and cluster
start-up, each in its own module. The only place Dask's scheduler (``distributed``) is used."""
