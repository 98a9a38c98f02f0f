"""Experiment tracking: runs with their code version, params, datasets, metrics and artifacts.

The public entry points live in :mod:`inprod.tracking.runs` (``inprod.start_run``,
``inprod.runs``). This package imports nothing on its own so that ``import inprod`` stays cheap.
"""
