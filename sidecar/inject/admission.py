"""The mutating admission webhook: AdmissionReview v1 over HTTPS, on Starlette and uvicorn.

The API server calls `/inject` for pods in namespaces that did not opt in (the pod's
annotation decides) and `/inject/namespace` for namespaces labelled
`agent-sidecar.io/inject: "true"` (every pod but those annotated "false"); the chart registers
one webhook for each, so the injector never needs to read a Namespace. A request that is not
an AdmissionReview gets a 400; a pod that cannot be injected is denied with what to fix.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import ssl
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sidecar.inject.annotations import Denied
from sidecar.inject.injector import Injector

log = logging.getLogger("sidecar.inject")
API_VERSION = "admission.k8s.io/v1"
MAX_BODY = 8 << 20
CERTIFICATE_CHECK_SECONDS = 30.0
SHUTDOWN_SECONDS = 2


class ReviewError(ValueError):
    """The request is not an AdmissionReview v1 this webhook can answer."""


def review(body: Any, injector: Injector, *, namespace_opted_in: bool) -> dict[str, Any]:
    """The AdmissionReview answering `body`: allowed with a JSONPatch, allowed as it is, or
    denied with the reason."""
    request = _request(body)
    response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
    kind = request.get("kind") or {}
    if (kind.get("group"), kind.get("kind")) == ("", "Pod") and request.get("operation") in (
        None,
        "CREATE",
    ):
        pod = request.get("object")
        where = _where(request, pod)
        try:
            if not isinstance(pod, dict):
                raise Denied("the request carries no pod object")
            operations = injector.patch(pod, namespace_opted_in=namespace_opted_in)
        except Denied as error:
            log.warning("denied %s: %s", where, error)
            response["allowed"] = False
            response["status"] = {"code": 400, "reason": "BadRequest", "message": str(error)}
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
            # Fail closed on a pod this code cannot read rather than admit it uninjected.
            log.exception("cannot inject %s", where)
            message = f"the injector could not read the pod ({type(error).__name__}: {error})"
            response["allowed"] = False
            response["status"] = {"code": 400, "reason": "BadRequest", "message": message}
        else:
            if operations:
                log.info("injected %s (%d operations)", where, len(operations))
                response["patchType"] = "JSONPatch"
                response["patch"] = base64.b64encode(json.dumps(operations).encode()).decode()
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def _request(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or body.get("kind") != "AdmissionReview":
        raise ReviewError("expected an AdmissionReview object")
    if body.get("apiVersion") != API_VERSION:
        raise ReviewError(
            f"apiVersion {body.get('apiVersion')!r} is not supported: register the webhook with "
            f"admissionReviewVersions: [v1]"
        )
    request = body.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str):
        raise ReviewError("the AdmissionReview has no request with a uid")
    return request


def _where(request: dict[str, Any], pod: Any) -> str:
    metadata = (pod.get("metadata") or {}) if isinstance(pod, dict) else {}
    name = request.get("name") or metadata.get("name") or metadata.get("generateName", "") + "*"
    return f"pod {request.get('namespace', '')}/{name}"


def app(injector: Injector) -> Starlette:
    async def handle(request: Request, namespace_opted_in: bool) -> Response:
        body = await _capped_body(request)
        if body is None:
            return _error(413, f"the request is larger than {MAX_BODY >> 20} MiB")
        try:
            answer = review(json.loads(body), injector, namespace_opted_in=namespace_opted_in)
        except (ValueError, ReviewError) as error:
            return _error(400, f"not an AdmissionReview v1 request: {error}")
        except RecursionError:
            return _error(400, "not an AdmissionReview v1 request: it nests too deeply")
        return JSONResponse(answer)

    async def pods(request: Request) -> Response:
        return await handle(request, namespace_opted_in=False)

    async def namespaces(request: Request) -> Response:
        return await handle(request, namespace_opted_in=True)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/inject", pods, methods=["POST"]),
            Route("/inject/namespace", namespaces, methods=["POST"]),
            Route("/health", health),
        ]
    )


async def _capped_body(request: Request) -> bytes | None:
    """The body, or None past MAX_BODY: refused by its Content-Length before it is read, or
    as soon as a body without one grows past it, never held whole first."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)


def serve(injector: Injector, *, host: str, port: int, cert: Path, key: Path) -> None:
    """Serve until SIGTERM. Raises OSError or ssl.SSLError when the certificate cannot load."""
    config = uvicorn.Config(
        app(injector),
        host=host,
        port=port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level="warning",
        lifespan="off",
        # The API server keeps connections open; on SIGTERM an idle TLS connection would hold
        # the shutdown until its close handshake times out.
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
    )
    config.load()
    asyncio.run(_serve(config, cert, key))


async def _serve(config: uvicorn.Config, cert: Path, key: Path) -> None:
    assert config.ssl is not None
    reloader = asyncio.create_task(_reload_certificate(config.ssl, cert, key))
    try:
        await uvicorn.Server(config).serve()
    finally:
        reloader.cancel()


async def _reload_certificate(context: ssl.SSLContext, cert: Path, key: Path) -> None:
    """cert-manager renews the certificate in place (a Secret volume updates its files): load
    the new pair into the live context, so new connections get it with no restart."""
    seen = _fingerprint(cert, key)
    while True:
        await asyncio.sleep(CERTIFICATE_CHECK_SECONDS)
        current = _fingerprint(cert, key)
        if current == seen:
            continue
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as error:
            log.warning("keeping the current certificate: cannot load the new one: %s", error)
            continue
        seen = current
        log.info("loaded the renewed certificate %s", cert)


def _fingerprint(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"missing")
    return digest.hexdigest()
