"""Windowed features declared once (``features.windows``), computed two ways with one kernel.

- :mod:`engine.features.batch`: point in time over historical events, for training rows;
- :mod:`engine.features.state`: incrementally per entity key, for a stream (checkpointable).

Both call :func:`engine.features.windows.aggregate` on the same slice of the same events, so
a row and a streamed event at the same time get the same values (no training/serving skew;
``tests/unit/stream/test_windows.py`` feeds the same events through both paths).
"""

from __future__ import annotations
