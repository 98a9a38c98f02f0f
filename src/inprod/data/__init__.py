"""Datasets: immutable, content-hashed versions of a table or an image folder, with their schema,
profile and provenance.

The public entry point is :mod:`inprod.data.datasets` (``inprod.datasets``). The other modules
are its parts: ``readers`` (CSV/Parquet with clear errors), ``schema`` and ``profile`` (what the
columns hold), ``images`` (manifest + image files), ``diff`` (what changed between versions).
"""
