"""Code that runs inside the served Bento process (imported by the generated service).

It depends on numpy, pandas, pydantic and prometheus (through ``bentoml.metrics``), and of
Sous only on ``engine.home``; a Bento carries a copy of the ``engine`` package because the
pickled estimator may reference Sous's own model adapters.
"""
