"""The data half of a recipe: sources (a registry), integration, PII masking, fingerprints,
profiles and the out-of-core ingest path.

Nothing here is imported by ``sous --help``; pandas and pyarrow are imported inside functions.
"""
