from fastapi.testclient import TestClient

from inference_engine.app import app

client = TestClient(app)


def test_healthz():
    assert client.get("/healthz").json()["status"] == "ok"


def test_predict_rejects_wrong_arity():
    assert client.post("/predict", json={"features": [1.0, 2.0]}).status_code == 422
