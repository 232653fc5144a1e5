"""``aidmp models list|show|fit|score|evaluate|archive``."""

from __future__ import annotations

import json as jsonlib
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aidmp.cli.client import call, run_job
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import console, emit_json, summary, table
from aidmp.errors import ValidationError
from aidmp.ml.registry import FIT_KINDS

if TYPE_CHECKING:
    from aidmp.dmp import DMP

app = typer.Typer(help="Fit, inspect, score and evaluate models (CLV, propensity, rules, "
                       "recommenders).", no_args_is_help=True)

# The event option names a different argument per kind.
_EVENT_ARG = {"clv": "order_event", "rules": "order_event", "recommend": "event",
              "propensity": "target_event", "churn": "target_event"}


def _value(text: str) -> Any:
    """A --set value: JSON when it parses (numbers, true, null, lists), else the text."""
    try:
        return jsonlib.loads(text)
    except ValueError:
        return text


def _settings(values: list[str]) -> dict[str, Any]:
    out = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise ValidationError(f"expected KEY=VALUE, got {v!r}", field="--set")
        out[key.replace("-", "_")] = _value(val)
    return out


def _metric_text(metrics: dict[str, Any]) -> str:
    shown = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
             for k, v in metrics.items() if isinstance(v, int | float | str) and k != "protocol"]
    return ", ".join(shown[:5])


@app.command("list")
def list_(home: HomeOption = None, json: JsonOption = False,
          name: Annotated[str | None, typer.Option(help="Only this model.")] = None) -> None:
    """Every registered model version."""
    rows = call(home, "models_list_v1_models_get", {"name": name},
                local=lambda dmp: dmp.models.list(name))
    if json:
        emit_json(rows)
        return
    table("models", ["name", "version", "kind", "status", "created_at", "metrics"],
          [(r["name"], r["version"], r["kind"], r["status"], r["created_at"],
            _metric_text(r["metrics"])) for r in rows])


@app.command()
def show(name: str, home: HomeOption = None, json: JsonOption = False,
         version: Annotated[int | None, typer.Option(help="A version [default: newest "
                                                          "active].")] = None) -> None:
    """One model version: parameters, metrics, data window."""
    row = call(home, "models_show_v1_models__name__get", {"name": name, "version": version},
               local=lambda dmp: dmp.models.show(name, version))
    if json:
        emit_json(row)
        return
    summary(f"{row['name']} v{row['version']} ({row['kind']}, {row['status']})",
            {**{k: v for k, v in row["metrics"].items() if not isinstance(v, list | dict)},
             **row["data_window"], "scored": row.get("scored")})


@app.command()
def fit(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(FIT_KINDS)}.")],
    home: HomeOption = None, json: JsonOption = False,
    name: Annotated[str | None, typer.Option(help="Model name [default: the kind; "
                                                  "required for propensity/churn].")] = None,
    event: Annotated[str | None, typer.Option(
        help="Order event (clv, rules), interaction event (recommend) or target event "
             "(propensity, churn).")] = None,
    calibration_end: Annotated[str | None, typer.Option(help="clv: end of calibration.")] = None,
    holdout_end: Annotated[str | None, typer.Option(help="clv: end of the holdout.")] = None,
    window_days: Annotated[int | None, typer.Option(help="propensity/churn: outcome "
                                                         "window.")] = None,
    cutoff: Annotated[str | None, typer.Option(help="propensity/churn: end of the "
                                                    "observed past.")] = None,
    method: Annotated[str | None, typer.Option(help="propensity: auto|logistic|svm|tree|gbm; "
                                                    "recommend: als|item_knn|user_knn|"
                                                    "popularity|sasrec|hybrid.")] = None,
    target_column: Annotated[str | None, typer.Option(
        help="propensity/churn: a yes/no profile attribute as the outcome (instead of "
             "--event/--window-days).")] = None,
    positive: Annotated[str | None, typer.Option(
        help="propensity: the value of --target-column that means yes.")] = None,
    features: Annotated[str | None, typer.Option(
        help="propensity/churn: auto|attributes|events|all or a comma-separated list of "
             "columns.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Any other option of the kind, e.g. --set min_support=0.002")] = None,
    score: Annotated[bool, typer.Option(help="Score profiles right after fitting.")] = False,
) -> None:
    """Fit a model from the store and register it as a new version."""
    options = _settings(set_ or [])
    given = {"calibration_end": calibration_end, "holdout_end": holdout_end,
             "window_days": window_days, "cutoff": cutoff, "method": method,
             "target_column": target_column, "positive": positive, "features": features,
             _EVENT_ARG.get(kind, "event"): event}
    options.update({k: v for k, v in given.items() if v is not None})
    row = run_job(home, "models.fit",
                  {"kind": kind, "name": name, "options": options, "score": score},
                  label=f"fit {kind}", show_progress=not json)
    scored = row.pop("scored")
    if json:
        emit_json({**row, "scored": scored})
        return
    summary(f"fitted {row['name']} v{row['version']} ({row['kind']})",
            {**{k: v for k, v in row["metrics"].items() if not isinstance(v, list | dict)},
             **({"scored_profiles": scored["profiles"]} if scored else {})})


@app.command("score")
def score_(name: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """Write the model's per-profile predictions into the predictions table."""
    report = run_job(home, "models.score", {"name": name}, label=f"score {name}",
                     show_progress=not json)
    if json:
        emit_json(report)
    else:
        summary(f"scored {name} v{report['version']}",
                {"profiles": report["profiles"], "keys": ", ".join(report["keys"])})


@app.command()
def evaluate(name: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """The model's metrics (propensity models also re-checked on the newest data)."""
    report = call(home, "models_evaluate", {"name": name},
                  local=lambda dmp: dmp.models.evaluate(name))
    if json:
        emit_json(report)
        return
    summary(f"{name} v{report['version']} ({report['kind']})",
            {k: v for k, v in report["metrics"].items() if not isinstance(v, list | dict)})
    if report["current"]:
        summary("on the newest data", report["current"])


@app.command()
def archive(name: str, home: HomeOption = None, json: JsonOption = False,
            version: Annotated[int | None, typer.Option(help="A version [default: newest "
                                                             "active].")] = None) -> None:
    """Archive a version; the previous active version is used from now on."""

    def local(dmp: DMP) -> dict[str, Any]:
        row = dmp.models.archive(name, version)
        dmp.audit.record("cli", "models.archive", f"{name}:v{row['version']}", {})
        return {k: row[k] for k in ("name", "version", "status")}

    row = call(home, "models_archive", {"name": name, "version": version}, local=local)
    if json:
        emit_json(row)
    else:
        summary("archived", {"name": name, "version": row["version"]})


@app.command()
def explain(
    name: str, ident: Annotated[str, typer.Argument(help="TYPE:VALUE of the person.")],
    home: HomeOption = None, json: JsonOption = False,
    top: Annotated[int, typer.Option(min=1, max=50)] = 5,
) -> None:
    """Why a propensity / churn model scores this person as it does."""
    from aidmp.spec.identity import split_identifier

    id_type, value = split_identifier(ident)
    out = call(home, "models_explain_v1_models__name__explain__ref__get",
               {"name": name, "ref": ident, "top": top},
               local=lambda dmp: dmp.models.explain(
                   name, dmp.identity.profile_of(id_type, value), top=top))
    if json:
        emit_json(out)
        return
    console.print(f"{name}: p = {out['probability']:.3f} for {out['profile_id']}")
    table("what pushed it", ["feature", "value", "log-odds", "direction"],
          [(r["feature"], r["value"], f"{r['contribution']:+.3f}", r["direction"])
           for r in out["reasons"]])
