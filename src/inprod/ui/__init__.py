"""The web dashboard at /ui: endpoints, charts, drift, rollouts, the review queue, the registry
and alerts, served by ``inprod serve`` (see docs/dashboard.md)."""

from .app import create_ui as create_ui
