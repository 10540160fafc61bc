"""Sous: a declarative, config-driven engine for the machine-learning lifecycle."""

__version__ = "0.1.0"
