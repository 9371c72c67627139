"""The JSON API under ``/api/v1``: predict, health, readiness, model card, metrics, params,
and the admin reload."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from imdbops.genres import IMDB_GENRES
from imdbops.monitoring.routes import build_summary
from imdbops.movies import record_document
from imdbops.serving.deps import AppConfig, Holder, State
from imdbops.serving.envelope import APIError, envelope
from imdbops.serving.predictor import ModelHolder
from imdbops.serving.schemas import (
    Envelope,
    ErrorData,
    GenresData,
    PredictData,
    PredictRequest,
    describe_errors,
    is_syntax_error,
)
from imdbops.serving.service import (
    ExplainUnavailableError,
    GenresUnknownToModelError,
    ModelNotReadyError,
    PredictionService,
    require_model,
)

router = APIRouter()
MAX_SUMMARY_MINUTES = 7 * 24 * 60  # one week

# Every answer's declared shape: the envelope around its data (errors: ErrorData).
_OK = {"model": Envelope[dict[str, Any]]}
_ERROR = {"model": Envelope[ErrorData]}
_ERRORS = {400: _ERROR, 404: _ERROR, 405: _ERROR, 413: _ERROR, 422: _ERROR, 500: _ERROR}
_NO_MODEL = {503: _ERROR}
# The admin endpoints' scheme (declared in the OpenAPI document); checked in the route so a
# missing header is a 401 in the envelope, not FastAPI's bare 403.
admin_bearer = HTTPBearer(
    auto_error=False, scheme_name="adminBearer", description="serving.admin_token"
)
_PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}
        },
    }
}


def _loaded_or_503(holder: ModelHolder):
    try:
        return require_model(holder)
    except ModelNotReadyError as exc:
        raise APIError(503, str(exc), {"ready": False}) from None


def _select(what: str, mapping: dict[str, Any], key: str | None) -> Any:
    if key is None:
        return mapping
    if key not in mapping:
        available = ", ".join(sorted(mapping)) or "(none recorded)"
        raise APIError(
            404, f"unknown {what} {key!r}; available: {available}", {"available": sorted(mapping)}
        )
    return {key: mapping[key]}


@router.get("/", summary="Health", responses={200: _OK, **_ERRORS})
async def health(request: Request, holder: Holder):
    return envelope(request, {"status": "ok", "model_loaded": holder.current is not None})


@router.get(
    "/genres",
    summary="IMDb's genre vocabulary",
    responses={200: {"model": Envelope[GenresData]}, **_ERRORS},
)
async def genres(request: Request):
    return envelope(request, {"genres": list(IMDB_GENRES)})


@router.get(
    "/movie-record",
    summary="The movie record: each field's type, bounds and label (the page builds its form from it)",
    responses={200: _OK, **_ERRORS},
)
async def movie_record(request: Request):
    return envelope(request, record_document())


@router.get(
    "/ready", summary="Ready once a model is loaded", responses={200: _OK, 503: _OK, **_ERRORS}
)
async def ready(request: Request, holder: Holder):
    reason = holder.not_ready_reason()
    if reason is not None:
        return envelope(request, {"ready": False, "reason": reason}, status=503, message=reason)
    return envelope(
        request,
        {
            "ready": True,
            "model_version": holder.version,
            "last_reload_error": holder.last_error,
            # Ready all the same: the loaded champion serves while the registry is down.
            "registry": holder.registry_state(),
        },
    )


@router.get(
    "/model", summary="The served model's card", responses={200: _OK, **_NO_MODEL, **_ERRORS}
)
async def model_card(request: Request, holder: Holder):
    model = _loaded_or_503(holder)
    vocab = getattr(model, "vocabulary", None)
    tags = dict(getattr(model, "tags", None) or {})
    return envelope(
        request,
        {
            "name": model.name,
            "version": str(model.version),
            "alias": getattr(model, "alias", "champion"),
            "run_id": getattr(model, "run_id", None),
            "data_md5": tags.get("data_md5"),
            "git_commit": tags.get("git_commit"),
            "trained_at": tags.get("trained_at"),
            "model_kind": tags.get("model_kind"),
            "metrics": dict(getattr(model, "metrics", None) or {}),
            "known_genres": None if vocab is None else sorted(vocab.known, key=IMDB_GENRES.index),
            "unknown_genres": None if vocab is None else vocab.unknown(),
            "vocabulary": None if vocab is None else vocab.as_dict(),
            "loaded_at": holder.loaded_at,
            "last_reload_error": holder.last_error,
            "registry": holder.registry_state(),
        },
    )


@router.get("/performance", summary="Holdout metrics", responses={200: _OK, **_NO_MODEL, **_ERRORS})
async def performance(
    request: Request,
    holder: Holder,
    filter: str | None = Query(None, description="One metric name, e.g. roc_auc", max_length=200),
):
    model = _loaded_or_503(holder)
    metrics = dict(getattr(model, "metrics", None) or {})
    return envelope(request, {"performance": _select("metric", metrics, filter)})


@router.get("/args", summary="Training parameters", responses={200: _OK, **_NO_MODEL, **_ERRORS})
async def all_args(request: Request, holder: Holder):
    model = _loaded_or_503(holder)
    return envelope(request, {"args": dict(getattr(model, "params", None) or {})})


@router.get(
    "/args/{arg}", summary="One training parameter", responses={200: _OK, **_NO_MODEL, **_ERRORS}
)
async def one_arg(request: Request, holder: Holder, arg: str):
    model = _loaded_or_503(holder)
    params = dict(getattr(model, "params", None) or {})
    return envelope(request, {"args": _select("parameter", params, arg)})


@router.post(
    "/predict",
    summary="Predict whether audiences will like each movie",
    openapi_extra=_PREDICT_BODY,
    responses={200: {"model": Envelope[PredictData]}, 409: _ERROR, **_NO_MODEL, **_ERRORS},
)
async def predict(request: Request):
    # The service straight from the app state: a FastAPI dependency costs a resolution per
    # request, which showed in the single-item profile.
    service: PredictionService = request.app.state.serving.service
    body = await request.body()
    try:
        parsed = PredictRequest.model_validate_json(body)
    except ValidationError as exc:
        message, details = describe_errors(exc)
        raise APIError(400 if is_syntax_error(exc) else 422, message, {"errors": details}) from None
    items = parsed.items
    max_items = service.cfg.serving.max_items
    if len(items) > max_items:
        raise APIError(422, f"too many items ({len(items)}); send at most {max_items} per request")
    try:
        outcome = await service.predict(items, strict=parsed.strict_genres, explain=parsed.explain)
    except ModelNotReadyError as exc:
        raise APIError(503, str(exc), {"ready": False}) from None
    except ExplainUnavailableError as exc:
        # The request is valid; the served model cannot honour it (its state): 409.
        raise APIError(409, str(exc), {"explain": False}) from None
    except GenresUnknownToModelError as exc:
        errors = [
            {
                "item": i,
                "field": "genres",
                "problem": f"the model never saw {', '.join(genres)} in training",
                "fix": "remove the genre(s) or send strict_genres false",
            }
            for i, genres in exc.by_item.items()
        ]
        data = {
            "errors": errors[:100],
            "unknown_to_model": exc.genres,
            "model_version": exc.version,
        }
        # Valid per the document, refused by the served model's vocabulary (its state): 409.
        raise APIError(409, f"refused: {exc}", data) from None
    return envelope(
        request,
        {
            "predictions": outcome.predictions,
            "model": {"name": outcome.model_name, "version": outcome.version},
        },
        message=outcome.message,
    )


@router.get(
    "/monitoring/summary",
    summary="Traffic aggregates, the latest drift run and the latest delayed-ground-truth report",
    responses={200: _OK, **_ERRORS},
)
async def monitoring_summary(
    request: Request,
    cfg: AppConfig,
    minutes: int = Query(60, ge=1, le=MAX_SUMMARY_MINUTES, description="The traffic window."),
):
    return envelope(request, await asyncio.to_thread(build_summary, cfg, minutes))


@router.post(
    "/admin/reload",
    summary="Reload the champion now (bearer token from serving.admin_token)",
    responses={200: _OK, 401: _ERROR, 403: _ERROR, 409: _ERROR, **_NO_MODEL, **_ERRORS},
)
async def admin_reload(
    request: Request,
    state: State,
    credentials: HTTPAuthorizationCredentials | None = Depends(admin_bearer),
):
    token = state.cfg.serving.admin_token
    if token is None or not token.get_secret_value():
        raise APIError(
            404,
            "the admin endpoints are disabled: set serving.admin_token "
            "(or IMDBOPS_SERVING__ADMIN_TOKEN) to enable them",
        )
    if credentials is None or not credentials.credentials.strip():
        raise APIError(
            401,
            "send the admin token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    given = credentials.credentials.strip()
    if not secrets.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise APIError(403, "the admin token is wrong")
    result = await asyncio.to_thread(state.holder.load)
    state.sync_metrics()
    if result.error and state.holder.current is not None:
        raise APIError(
            409,
            f"could not load the new champion ({result.error}); still serving version {result.version}",
            result.as_dict(),
        )
    if result.error:
        raise APIError(503, result.error, result.as_dict())
    message = (
        f"now serving version {result.version}"
        if result.changed
        else f"already serving version {result.version}"
    )
    return envelope(request, result.as_dict(), message=message)
