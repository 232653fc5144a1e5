"""Job kinds of the analyses that refit models for minutes: attribution with bootstrap
intervals, the budget optimiser, profile clustering, lookalike segments and probabilistic
identity matching (registered with :func:`aidmp.service.kinds.register` when
:mod:`aidmp.service.jobs` loads)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from aidmp.errors import ValidationError
from aidmp.identity.matching.config import MatchingConfig
from aidmp.service.kinds import AsOf, JobKind, Progress, instant, register

if TYPE_CHECKING:
    from aidmp.service.host import Host


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttributionParams(_Params):
    """Parameters of ``campaigns.attribution`` (every model, with bootstrap intervals)."""

    lookback_days: float = Field(default=30.0, gt=0, le=3650, allow_inf_nan=False)
    """Touches this many days before a conversion count."""
    half_life_days: float = Field(default=7.0, gt=0, le=3650, allow_inf_nan=False)
    """Time-decay half-life."""
    by_campaign: bool = False
    """Credit channel + campaign instead of channel."""
    ci: float | None = Field(default=None, ge=0.5, lt=1.0)
    """Bootstrap intervals at this level (e.g. 0.95)."""
    as_of: AsOf = None
    """Only touches and conversions up to this instant."""


class OptimiseParams(_Params):
    """Parameters of ``campaigns.optimise``: the body of ``POST /v1/campaigns/optimise``
    (checked against :class:`aidmp.campaigns.optimiser.request.OptimiseRequest` when the job
    is submitted; that module loads the optimiser's libraries only when used)."""

    model_config = ConfigDict(extra="allow")


class ClusterParams(_Params):
    """Parameters of ``segments.cluster``."""

    name: str = Field(min_length=1, max_length=100)
    """Name of the clustering; each cluster becomes the segment ``<name> <n>``."""
    features: list[str] | None = None
    """Profile columns to cluster on (default: every numeric one)."""
    method: Literal["kmeans", "dbscan", "agglomerative"] = "kmeans"
    """Clustering method."""
    k: int | None = Field(default=None, ge=2, le=50)
    """Number of clusters (default: chosen by silhouette)."""


class LookalikeParams(_Params):
    """Parameters of ``segments.lookalike``."""

    seed: str = Field(min_length=1)
    """Segment whose members the audience should look like."""
    name: str = Field(min_length=1, max_length=100)
    """Name of the segment to save."""
    top_percent: float | None = Field(default=10.0, gt=0, le=100)
    """Share of the non-members to keep, best first."""
    top_n: int | None = Field(default=None, ge=1)
    """Number of people to keep instead of a share."""
    features: list[str] | None = None
    """Profile columns to compare on (default: every numeric one)."""
    purpose: str = "advertising"
    """Consent purpose: people who withdrew it are left out."""


class MatchParams(_Params):
    """Parameters of ``identity.match``: the body of ``POST /v1/identity/match``."""

    config: MatchingConfig | None = None
    """Sources, comparisons, blocking and thresholds (none: all derived from the records)."""
    resolve: bool = True
    """Bring the identity graph up to date when something was linked."""


def _matcher(dmp: Host, p: dict[str, Any]) -> Any:
    config = p["config"]
    return dmp.matching_with(None if config is None else MatchingConfig.model_validate(config))


def _check_match(dmp: Host, p: dict[str, Any]) -> None:
    # an unknown source or field (the message lists the valid ones), before a job exists
    _matcher(dmp, p).plan()


def _match(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    """The matching run (stages :data:`~aidmp.identity.probabilistic.MATCH_STAGES`): its
    summary, the fitted model when one was fitted, and the resolution when links were made."""
    from aidmp.identity.probabilistic import MATCH_STAGES, stage

    matcher = _matcher(dmp, p)
    out: dict[str, Any] = matcher.match(progress).to_dict()
    if getattr(matcher, "fitted_", None) is not None:
        out["model"] = matcher.model()
    if p["resolve"] and out["linked"]:
        stage(progress, "resolving")
        out["resolve"] = dmp.identity.resolve().to_dict()
    progress(MATCH_STAGES[-1], len(MATCH_STAGES), len(MATCH_STAGES))
    dmp.audit.record("job", "identity.match", None,
                     {"linked": out["linked"], "for_review": out["for_review"]})
    return out


def _check_profiles(dmp: Host, p: dict[str, Any]) -> None:
    if not dmp.engine.has_table("profiles"):
        raise ValidationError("no profiles yet: run `aidmp build` first", field="profiles")


def _check_lookalike(dmp: Host, p: dict[str, Any]) -> None:
    dmp.segments.get(p["seed"])
    _check_profiles(dmp, p)


def _attribution(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    from aidmp.campaigns import Campaigns
    from aidmp.ml.registry import json_ready

    progress("attribution", 0, 1)
    by = ("channel", "campaign") if p["by_campaign"] else ("channel",)
    return json_ready(Campaigns(dmp.engine, as_of=instant(p["as_of"])).attribution(
        lookback_days=p["lookback_days"], half_life_days=p["half_life_days"], by=by,
        ci=p["ci"]))


def _optimise_request(p: dict[str, Any]) -> Any:
    from aidmp.campaigns.optimiser.request import OptimiseRequest

    try:
        return OptimiseRequest.model_validate(p)
    except PydanticValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise ValidationError(str(err["msg"]), field="params." + ".".join(
            str(x) for x in err["loc"])) from None


def _check_optimise(dmp: Host, p: dict[str, Any]) -> None:
    _optimise_request(p)


def _optimise(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    from aidmp.campaigns import Campaigns
    from aidmp.campaigns.optimiser.request import run
    from aidmp.ml.registry import json_ready

    progress("optimise", 0, 1)
    return json_ready(run(Campaigns(dmp.engine), _optimise_request(p)))


def _cluster(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    from aidmp.segments.learned import cluster_segments

    progress("cluster", 0, 1)
    out = cluster_segments(dmp, p["name"], features=p["features"],  # type: ignore[arg-type]
                           method=p["method"], k=p["k"])
    dmp.audit.record("job", "segments.cluster", p["name"], {"clusters": len(out["clusters"])})
    return out


def _lookalike(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    from aidmp.segments.learned import lookalike_segment

    progress("lookalike", 0, 1)
    out = lookalike_segment(dmp, p["seed"], p["name"],  # type: ignore[arg-type]
                            top_percent=p["top_percent"], top_n=p["top_n"],
                            features=p["features"], purpose=p["purpose"])
    dmp.audit.record("job", "segments.lookalike", p["name"], {"seed": p["seed"]})
    return out


for _kind in (
    JobKind("campaigns.attribution", "Every attribution model side by side, with bootstrap "
            "intervals when ci is given.", AttributionParams, _attribution),
    JobKind("campaigns.optimise", "Fit response curves and allocate a budget across "
            "channels.", OptimiseParams, _optimise, check=_check_optimise),
    JobKind("segments.cluster", "Cluster the profiles; one segment per cluster.",
            ClusterParams, _cluster, check=_check_profiles),
    JobKind("segments.lookalike", "Save the people most like a seed segment as a segment.",
            LookalikeParams, _lookalike, check=_check_lookalike),
    JobKind("identity.match", "Probabilistic matching (Splink) of profiles that share no "
            "identifier; links, a review list, then the identity graph brought up to date.",
            MatchParams, _match, check=_check_match),
):
    register(_kind)


__all__ = ["AttributionParams", "ClusterParams", "LookalikeParams", "MatchParams",
           "OptimiseParams"]
