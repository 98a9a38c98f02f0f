"""Humans in the loop: feedback joined to predictions (and, later, the review queue)."""
