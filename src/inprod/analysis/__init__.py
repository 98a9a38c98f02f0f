"""Analysis: what to work on next. Error analysis by tags and the prioritization table, human-level
performance and other baselines, and the evaluation gate a candidate model must pass.

::

    from inprod import analysis

    report = analysis.analyze_errors(frame, baseline_col="inspector-1", tags=["dark", "factory=B"])
    hlp = analysis.dataset_hlp("phone-images@1", labelers=["inspector-1", "inspector-2"])
    result = analysis.evaluate("phone-inspector@2", dataset="phone-images@1",
                               require=["accuracy>=champion"])
"""

from __future__ import annotations

from ..data.slices import frame_tag as frame_tag
from ..data.slices import tag_masks as tag_masks
from .errors import ErrorAnalysis as ErrorAnalysis
from .errors import analyze_errors as analyze_errors
from .evaluate import Evaluation as Evaluation
from .evaluate import evaluate as evaluate
from .evaluate import evaluations as evaluations
from .hlp import HLPReport as HLPReport
from .hlp import dataset_hlp as dataset_hlp
from .hlp import human_level as human_level
from .hlp import majority_of_others as majority_of_others
from .hlp import model_baseline as model_baseline
from .hlp import simple_baseline as simple_baseline
from .run_predictions import load_predictions as load_predictions
from .run_predictions import log_predictions as log_predictions

__all__ = [
    "ErrorAnalysis",
    "Evaluation",
    "HLPReport",
    "analyze_errors",
    "dataset_hlp",
    "evaluate",
    "evaluations",
    "frame_tag",
    "human_level",
    "load_predictions",
    "log_predictions",
    "majority_of_others",
    "model_baseline",
    "simple_baseline",
    "tag_masks",
]
