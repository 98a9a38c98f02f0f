"""The ceiling: a bare Starlette app + orjson on uvicorn that parses, predicts, responds.

Nothing else: no validation beyond what numpy does, no metrics, no logging, the model called on
the event loop. Any server that does more (inprod logs every prediction and keeps metrics) is
measured against this.

    python benchmarks/serving/ceiling_app.py PORT
"""

from __future__ import annotations

import sys

import numpy as np
import orjson
import uvicorn
from model_data import fit_logistic
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MODEL = fit_logistic()


async def predict(request: Request) -> Response:
    payload = orjson.loads(await request.body())
    proba = MODEL.predict_proba(np.asarray(payload["instances"], dtype=np.float64))
    body = orjson.dumps({"predictions": proba}, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, media_type="application/json")


app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        http="httptools",
        loop="uvloop",
        access_log=False,
        log_level="warning",
    )
