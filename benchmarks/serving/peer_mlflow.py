"""Save the benchmark model as an MLflow model folder (run with the MLflow peer's python).

    benchmarks/.peers/mlflow/bin/python benchmarks/serving/peer_mlflow.py OUT_DIR

``pyfunc_predict_fn="predict_proba"`` makes ``/invocations`` do the same work as the other servers
(probabilities, not only labels). Served by
``mlflow models serve -m OUT_DIR --env-manager local -w 1``.
"""

from __future__ import annotations

import sys

import mlflow.sklearn
from model_data import fit_logistic

if __name__ == "__main__":
    mlflow.sklearn.save_model(fit_logistic(), sys.argv[1], pyfunc_predict_fn="predict_proba")
