"""``aidmp identity match|review|accept|reject``: probabilistic matching from the shell.

A configuration file (``--config m.yaml``) and flags combine; flags win. A run that cannot
compare anything prints why and exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aidmp.cli.client import call, run_job
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import console, emit_json, err_console, summary, table
from aidmp.errors import ValidationError


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _comparisons(values: list[str]) -> list[dict[str, Any]]:
    out = []
    for item in values:
        name, _, rest = item.partition(":")
        kind, _, ts = rest.partition(":")
        spec: dict[str, Any] = {"field": name.strip(), "type": kind.strip() or "exact"}
        if ts:
            try:
                spec["thresholds"] = [float(t) for t in ts.split(",")]
            except ValueError:
                raise ValidationError(f"expected FIELD:TYPE[:T1,T2], got {item!r}",
                                      field="compare") from None
        out.append(spec)
    return out


def config_from(config: Path | None, flags: dict[str, Any]) -> Any:
    """The run's :class:`MatchingConfig`: the file's values, then the flags that were given."""
    from aidmp.identity.matching.config import load_config, parse_config

    base = load_config(config).model_dump(exclude_unset=True) if config else {}
    base.update({k: v for k, v in flags.items() if v is not None})
    return parse_config(base)


def match(
    home: HomeOption = None, json: JsonOption = False,
    config: Annotated[Path | None, typer.Option(
        help="YAML/JSON matching configuration (sources, comparisons, blocking, thresholds).")
    ] = None,
    sources: Annotated[list[str] | None, typer.Option(
        "--source", help="Source to match (repeat, or a,b); default: every source with "
                         "person traits.")] = None,
    left: Annotated[list[str] | None, typer.Option(
        help="Sources on the left side of the link (the others are the right).")] = None,
    mode: Annotated[str | None, typer.Option(
        help="link_only | dedupe_only | link_and_dedupe (default: auto).")] = None,
    compare: Annotated[list[str] | None, typer.Option(
        help="FIELD:TYPE[:THRESHOLDS] (repeat), e.g. surname:jaro_winkler:0.92,0.8; types: "
             "exact, name, jaro_winkler, levenshtein, damerau_levenshtein, date, numeric, "
             "postcode, email. Replaces the automatic comparisons.")] = None,
    block: Annotated[list[str] | None, typer.Option(
        help="Blocking rule FIELD+FIELD (repeat); replaces the automatic rules.")] = None,
    threshold: Annotated[float | None, typer.Option(
        min=0, max=1, help="Link at or above this probability (0.95).")] = None,
    review_threshold: Annotated[float | None, typer.Option(
        min=0, max=1, help="List for review at or above this probability (0.80).")] = None,
    prior: Annotated[float | None, typer.Option(
        help="Probability that two random records match (default: estimated).")] = None,
    one_to_one: Annotated[bool | None, typer.Option(
        "--one-to-one", help="Each record links to at most one of the other side.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the random sampling.")] = None,
    show_model: Annotated[bool, typer.Option(
        "--show-model", help="Print the fitted model (prior, m / u / weight per level).")
    ] = False,
    resolve: Annotated[bool, typer.Option(help="Re-resolve identities afterwards.")] = True,
) -> None:
    """Link profiles that share no identifier (Splink, Fellegi-Sunter) on every recognised
    name, address, date and contact field, or the comparisons you name."""
    flags = {"sources": _split(sources), "left": _split(left), "mode": mode,
             "comparisons": _comparisons(compare) if compare else None,
             "blocking": [r.split("+") for r in block] if block else None,
             "threshold": threshold, "review_threshold": review_threshold, "prior": prior,
             "one_to_one": one_to_one, "seed": seed}
    cfg = config_from(config, flags)
    # the identity.match job: through the server when one holds the home, else here
    result = run_job(home, "identity.match",
                     {"config": cfg.model_dump(mode="json", exclude_unset=True),
                      "resolve": resolve}, label="probabilistic matching",
                     show_progress=not json)
    model = result.pop("model", None)
    if show_model and model is not None:
        result["model"] = model
    if json:
        emit_json(result)
    else:
        summary("probabilistic matching", {k: v for k, v in result.items()
                                           if k not in ("resolve", "model", "warnings")})
        if show_model and model is not None:
            _print_model(model)
    for w in result["warnings"]:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    if result["warnings"] and not result["linked"]:
        raise typer.Exit(1)


def _print_model(model: dict[str, Any]) -> None:
    console.print(f"prior {model['prior']:.6g} ({model['prior_method']}); training passes: "
                  f"{', '.join(model['training_passes']) or 'none'}")
    rows = []
    for name, levels in model["comparisons"].items():
        for lv in levels:
            rows.append((name, lv["label"], lv["m"], lv["u"], lv["match_weight"]))
    table("fitted model", ["comparison", "level", "m", "u", "weight"], rows)


def review(home: HomeOption = None, json: JsonOption = False,
           limit: Annotated[int, typer.Option(min=1, max=1000)] = 50) -> None:
    """Probable matches waiting for a decision: both records' values, each comparison's
    level and match weight, and why a pair above the threshold was held back."""
    rows = call(home, "review_v1_identity_review_get", {"limit": limit},
                local=lambda dmp: dmp.matching.review_list(limit=limit))
    if json:
        emit_json(rows)
        return
    if not rows:
        console.print("nothing to review")
    for r in rows:
        ev = r["evidence"]
        title = (f"{r['id']}  {r['id_type']}:{r['id_value']} ~ {r['other_type']}:"
                 f"{r['other_value']}  p={r['score']:.4f}")
        if ev.get("reason"):
            title += f"  ({ev['reason']})"
        table(title, ["field", "first", "second", "level", "weight"],
              [(name, c.get("left"), c.get("right"), c.get("level"), c.get("match_weight"))
               for name, c in ev.get("comparisons", {}).items()])


def accept(link_id: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """Accept a link from the review list (the two profiles merge)."""
    result = call(home, "accept_v1_identity_links__link_id__accept_post", {"link_id": link_id},
                  local=lambda dmp: dmp.matching.accept(link_id))
    emit_json(result) if json else console.print(f"link {link_id} accepted")


def reject(link_id: str, home: HomeOption = None, json: JsonOption = False) -> None:
    """Reject a link (it is never proposed again)."""
    result = call(home, "reject_v1_identity_links__link_id__reject_post", {"link_id": link_id},
                  local=lambda dmp: dmp.matching.reject(link_id))
    emit_json(result) if json else console.print(f"link {link_id} rejected")


__all__ = ["accept", "config_from", "match", "reject", "review"]
