"""The model registry (``inprod.models``) and lineage (``inprod.lineage``).

``models`` keeps immutable, numbered versions of named models with aliases; ``lineage`` walks
from a version back to its run, the dataset versions it used and where those came from.
"""
