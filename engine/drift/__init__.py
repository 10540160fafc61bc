"""What a served model measures about itself, kept light enough to run inside the Bento:
the reference stored with each version (``reference``), drift statistics (``stats``),
rolling-window gauges (``live``), feedback labels (``feedback``) and durations. The watching
side (``sous monitor``, alerts, retraining) is :mod:`engine.monitor`, which builds on this."""
