"""inprod.Client against a real server."""

from __future__ import annotations

import numpy as np
import pytest

import inprod
from inprod.errors import NotFound, Unprocessable
from inprod.review.feedback import count_feedback


def test_client_predicts_sends_feedback_and_raises_the_servers_errors(served) -> None:
    server, store, data = served
    with inprod.Client(server.url) as client:
        assert client.health() and client.ready()
        result = client.predict("tiny", data["X"][:3], request_key="station-1")
        assert result.model_version == "tiny@1"
        assert result.outputs == data["proba"][:3].argmax(1).tolist()
        client.feedback(result.prediction_ids[0], label=1, source="inspector-2")
        assert count_feedback(result.prediction_ids[0], store=store) == 1
        with pytest.raises(NotFound, match="did you mean 'tiny'"):
            client.predict("tinny", data["X"][:1])
        with pytest.raises(Unprocessable, match="size 3 on axis 1"):
            client.predict("tiny", np.zeros((1, 3)))
