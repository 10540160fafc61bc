"""One owner for a run: assemble the plan, drive it, release the winner, record it all.

``assemble`` turns a recipe into plan nodes (the only place that does, for ``sous plan``,
the cache check and the driver alike); ``driver`` runs them on an executor session;
``record`` is the typed run record; ``run`` ties them together."""
