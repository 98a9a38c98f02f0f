"""The benchmark model as a BentoML service (run with the BentoML peer's python / bentoml).

    BENTOML_HOME=... benchmarks/.peers/bentoml/bin/python benchmarks/serving/peer_bentoml.py
    BENTOML_HOME=... benchmarks/.peers/bentoml/bin/bentoml serve peer_bentoml:Classifier \
        --working-dir benchmarks/serving --port PORT

The first saves the model to the model store; the second serves ``POST /predict`` with the body
``{"instances": [[...]]}`` (BentoML names the JSON field after the argument), one worker.
"""

from __future__ import annotations

import bentoml
import numpy as np

MODEL_NAME = "inprod-bench-lr"


@bentoml.service(workers=1)
class Classifier:
    def __init__(self) -> None:
        self.model = bentoml.sklearn.load_model(f"{MODEL_NAME}:latest")

    @bentoml.api
    def predict(self, instances: list[list[float]]) -> list[list[float]]:
        return self.model.predict_proba(np.asarray(instances, dtype=np.float64)).tolist()


if __name__ == "__main__":
    from model_data import fit_logistic

    bentoml.sklearn.save_model(MODEL_NAME, fit_logistic())
