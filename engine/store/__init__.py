"""Persistent state: the keyed artifact cache, the runs database, the model registry."""
