"""Monitoring: mergeable window profiles of what each endpoint sees and answers.

Sketches (:mod:`.sketches`) and window profiles (:mod:`.profile`) come first; metrics, drift,
monitors, alerts and pipelines build on them.
"""

from .profile import ProfileBuilder as ProfileBuilder
from .profile import ProfileKey as ProfileKey
from .profile import WindowProfile as WindowProfile
from .profile import merge_all as merge_all
from .sketches import CategorySketch as CategorySketch
from .sketches import NumericSketch as NumericSketch

__all__ = [
    "CategorySketch",
    "NumericSketch",
    "ProfileBuilder",
    "ProfileKey",
    "WindowProfile",
    "merge_all",
]
