"""Trust boundaries: what a recipe may name, and what the run record may keep.

Sous treats recipes and command-line overrides as untrusted input (see docs/security.md).
The modules here are small, dependency-free checks shared by the recipe layer (validation)
and the model builder (build time), which must agree.
"""
