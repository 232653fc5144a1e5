"""Models, association rules and per-profile recommendations."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from aidmp.api.auth import require
from aidmp.api.routes.jobs import JOB_RESPONSES, WAIT, answer_job
from aidmp.errors import ValidationError
from aidmp.ml.service import Models
from aidmp.privacy.keys import ApiKey
from aidmp.spec.identity import split_identifier

router = APIRouter()


def _models(request: Request) -> Models:
    """The DMP's models namespace (one per app, so loaded models stay cached)."""
    models: Models = request.app.state.dmp.models
    return models


@router.get("/v1/models", tags=["models"])
def models_list(request: Request, name: str | None = None,
                _: ApiKey = Depends(require("aggregate"))) -> list[dict[str, Any]]:
    """Every registered model version with its metrics."""
    return _models(request).list(name)


@router.get("/v1/models/{name}", tags=["models"])
def models_show(request: Request, name: str,
                version: int | None = Query(None, ge=1, le=2**31 - 1),
                _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """One version (the newest active by default): parameters, metrics, data window."""
    return _models(request).show(name, version)


class FitRequest(BaseModel):
    """A model to fit: its kind and the options of that kind's fit."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["clv", "propensity", "churn", "rules", "recommend"]
    options: dict[str, Any] = Field(default_factory=dict)
    score: bool = False


@router.post("/v1/models/{name}/fit", tags=["models"], status_code=202,
             responses=JOB_RESPONSES)
def models_fit(request: Request, name: str, body: FitRequest, wait: bool = WAIT,
               key: ApiKey = Depends(require("operate"))) -> Any:
    """Fit from the store, register a new version (and score profiles when asked).

    A ``models.fit`` job: answered 202 with the job at once (``Location: /v1/jobs/{id}``);
    the kind, the name and the option names are checked first (a 400 names the field).
    ``?wait=true`` answers the registered version itself once the job ends.
    """
    return answer_job(request, key, "models.fit",
                      {"kind": body.kind, "name": name, "options": body.options,
                       "score": body.score}, wait=wait)


@router.post("/v1/models/{name}/score", tags=["models"], status_code=202,
             responses=JOB_RESPONSES)
def models_score(request: Request, name: str, wait: bool = WAIT,
                 key: ApiKey = Depends(require("operate"))) -> Any:
    """Write the active version's predictions for every profile.

    A ``models.score`` job: answered 202 with the job at once (an unknown model is a 404
    first). ``?wait=true`` answers what was written once the job ends.
    """
    return answer_job(request, key, "models.score", {"name": name}, wait=wait)


@router.get("/v1/models/{name}/evaluate", tags=["models"], operation_id="models_evaluate")
def models_evaluate(request: Request, name: str,
                    _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """The model's metrics (propensity models also re-checked on the newest data)."""
    return _models(request).evaluate(name)


@router.post("/v1/models/{name}/archive", tags=["models"], operation_id="models_archive")
def models_archive(request: Request, name: str,
                   version: int | None = Query(None, ge=1, le=2**31 - 1),
                   key: ApiKey = Depends(require("operate"))) -> dict[str, Any]:
    """Archive a version (the newest active by default); the previous active one is used
    from now on."""
    row = _models(request).archive(name, version)
    request.app.state.dmp.audit.record(key.key_id, "models.archive",
                                       f"{name}:v{row['version']}", {})
    return {k: row[k] for k in ("name", "version", "status")}


@router.get("/v1/rules", tags=["models"])
def rules_bought_together(request: Request, items: str, n: int = Query(10, ge=1, le=1000),
                          model: str = "rules",
                          _: ApiKey = Depends(require("aggregate"))) -> list[dict[str, Any]]:
    """Items bought together with ``items`` (comma-separated), best rule first."""
    basket = [i.strip() for i in items.split(",") if i.strip()]
    if not basket:
        raise ValidationError("give at least one item, e.g. ?items=whole milk,yogurt",
                              field="items")
    return _models(request).bought_together(basket, n=min(max(n, 1), 100), name=model)


@router.get("/v1/profiles/{ref}/recommendations", tags=["models"])
def profile_recommendations(request: Request, ref: str, n: int = Query(10, ge=1, le=1000),
                            model: str = "recommend",
                            _: ApiKey = Depends(require("personal"))) -> dict[str, Any]:
    """Top items for the profile of ``<id_type>:<id_value>`` (e.g. ``user_id:42``)."""
    id_type, id_value = split_identifier(ref, field="profile")
    profile_id = request.app.state.dmp.identity.profile_of(id_type, id_value)
    items = _models(request).recommend(profile_id, n=min(max(n, 1), 100), name=model)
    return {"profile_id": profile_id, "model": model, "items": items}


@router.get("/v1/models/{name}/explain/{ref}", tags=["models"])
def models_explain(request: Request, name: str, ref: str, top: int = Query(5, ge=1, le=100),
                   _: ApiKey = Depends(require("personal"))) -> dict[str, Any]:
    """Why the model scores this person (``email:ann@x.com``) as it does."""
    id_type, value = split_identifier(ref, field="ref")
    dmp = request.app.state.dmp
    return _models(request).explain(name, dmp.identity.profile_of(id_type, value), top=top)
