"""Code that runs inside the served Bento process (imported by the generated service).

It depends on numpy/pandas/pydantic/prometheus (through ``bentoml.metrics``) but never on
the rest of Sous, so a Bento carries only ``engine/serving/runtime`` and what its model needs.
"""
