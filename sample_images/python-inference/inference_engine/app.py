"""HTTP API: POST /predict with four features, GET /healthz."""

from __future__ import annotations

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, Field

from inference_engine import __version__
from inference_engine.model import LABELS, N_FEATURES, MLP

app = FastAPI(title="inference-engine", version=__version__)
model = MLP.seeded()


class PredictRequest(BaseModel):
    features: list[float] = Field(min_length=N_FEATURES, max_length=N_FEATURES)


class PredictResponse(BaseModel):
    label: str
    probabilities: dict[str, float]


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@app.post("/predict")
def predict(request: PredictRequest) -> PredictResponse:
    proba = model.predict_proba(np.asarray([request.features]))[0]
    return PredictResponse(
        label=LABELS[int(proba.argmax())],
        probabilities={label: float(p) for label, p in zip(LABELS, proba)},
    )
