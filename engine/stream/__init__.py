"""Streaming: score events as they arrive, with the recipe's windowed features, exactly once.

One consumer (:mod:`engine.stream.consumer`) runs a loop of micro-batches:

    read (source) -> drop replays (event ids) -> schema and lateness checks (dead letters)
      -> window features (engine.features.state) -> score (the promoted model)
      -> stage the sink's files -> write the checkpoint -> publish the files -> ack

The checkpoint (offsets' progress, window state, recent event ids) is the commit point:
files staged after the last checkpoint are deleted on restart, files it names are published
(idempotently), and events it covers that the broker still holds as pending are acked as
replays. So a crash at any point (``kill -9`` included) leaves every event in the sink exactly
once, with the prediction it would have had without the crash.
"""

from __future__ import annotations
