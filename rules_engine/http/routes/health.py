"""`/healthz` (the process answers), `/readyz` (it takes requests: programs loaded, store answers,
not shutting down) and `/metrics` (Prometheus). None needs a key: a load balancer and Prometheus
call them; bind the service to loopback or keep these behind the proxy (docs/service.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from rules_engine.errors import StoreError
from rules_engine.http.metrics import CONTENT_TYPE
from rules_engine.http.models import Health
from rules_engine.http.problems import ServiceError
from rules_engine.http.routes import exact, problems
from rules_engine.http.runtime import Runtime, runtime

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz", summary="The process answers", response_model=None, responses={200: {"model": Health}}
)
def healthz() -> Response:
    return exact({"status": "ok"})


@router.get(
    "/readyz",
    summary="Ready for requests: programs loaded, the store answers, not shutting down",
    response_model=None,
    responses={200: {"model": Health}, **problems(503)},
)
def readyz(service: Annotated[Runtime, Depends(runtime)]) -> Response:
    if not service.ready:
        raise ServiceError("RE810", "the service is starting or shutting down", headers={"Retry-After": "1"})
    try:
        with service.stores.keys() as store:
            store.api_key("-")  # one indexed read: the database answers
    except StoreError:
        raise ServiceError("RE810", "the store does not answer", headers={"Retry-After": "1"}) from None
    return exact({"status": "ready"})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_model=None,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(service: Annotated[Runtime, Depends(runtime)]) -> Response:
    return Response(service.metrics.render(), media_type=CONTENT_TYPE)
