"""``aidmp profiles describe|rfm|recommend``: statistics and model outputs without Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from aidmp.cli.client import call
from aidmp.cli.common import HomeOption, JsonOption
from aidmp.cli.output import console, emit_json, table
from aidmp.spec.identity import split_identifier

if TYPE_CHECKING:
    from aidmp.dmp import DMP

TraitsOption = Annotated[str | None, typer.Option(
    help="Comma-separated traits (profile columns), e.g. age,plan [default: every column, "
         "up to 50].")]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.4g}" if isinstance(value, float) else str(value)


def show_stats(report: dict[str, Any], groups: list[str]) -> None:
    """Tables of numeric and text traits, one column block per group."""
    traits = report["traits"]
    numbers = [(n, s) for n, s in traits.items() if s["population"]["type"] == "number"]
    texts = [(n, s) for n, s in traits.items() if s["population"]["type"] == "text"]
    keys = ["count", "missing", "mean", "std", "min", "p25", "median", "p75", "max"]
    if numbers:
        table("numbers", ["trait", "group", *keys],
              [(n, g, *[_fmt(s[g][k]) for k in keys]) for n, s in numbers for g in groups])
    if texts:
        table("categories", ["trait", "group", "count", "missing", "distinct", "top values"],
              [(n, g, s[g]["count"], s[g]["missing"], s[g]["distinct"],
                ", ".join(f"{t['value']} ({t['share']:.0%})" for t in s[g]["top"]))
               for n, s in texts for g in groups])


def describe(home: HomeOption = None, json: JsonOption = False,
             traits: TraitsOption = None) -> None:
    """Count, mean, median, std, quartiles (numbers) and top values (texts) of traits."""
    report = call(home, "describe_traits_v1_stats_traits_get", {"traits": traits},
                  local=lambda dmp: dmp.profiles.describe(traits))
    if json:
        emit_json(report)
        return
    console.print(f"{report['profiles']:,} profiles")
    show_stats(report, ["population"])


def rfm(home: HomeOption = None, json: JsonOption = False) -> None:
    """Buyers per R x F score pair (5 x 5 grid) and per RFM segment."""
    report = call(home, "rfm_distribution_v1_stats_rfm_get",
                  local=lambda dmp: dmp.profiles.rfm())
    if json:
        emit_json(report)
        return
    counts = report["grid"]["counts"]
    table(f"buyers by recency (R, rows; 5 = most recent) and frequency (F, columns): "
          f"{report['buyers']:,} of {report['profiles']:,} profiles",
          ["R \\ F", "1", "2", "3", "4", "5"],
          [(str(r + 1), *[f"{c:,}" for c in counts[r]]) for r in range(4, -1, -1)])
    table("RFM segments", ["segment", "people", "share", "recency (days)", "orders", "revenue"],
          [(s["segment"], f"{s['people']:,}", f"{s['share']:.1%}", _fmt(s["recency_days"]),
            _fmt(s["orders"]), _fmt(s["revenue"])) for s in report["segments"]])


def recommend(ident: Annotated[str, typer.Argument(help="TYPE:VALUE, e.g. user_id:42")],
              home: HomeOption = None, json: JsonOption = False,
              n: Annotated[int, typer.Option(min=1, max=100, help="How many items.")] = 10,
              model: Annotated[str, typer.Option(help="Recommender model name.")]
              = "recommend") -> None:
    """Top items for a person from a fitted recommender, with the reason for each."""
    id_type, value = split_identifier(ident)

    def local(dmp: DMP) -> dict[str, Any]:
        profile_id = dmp.identity.profile_of(id_type, value)
        return {"profile_id": profile_id, "model": model,
                "items": dmp.models.recommend(profile_id, n=n, name=model)}

    out = call(home, "profile_recommendations_v1_profiles__ref__recommendations_get",
               {"ref": ident, "n": n, "model": model}, local=local)
    profile_id, items = out["profile_id"], out["items"]
    if json:
        emit_json(out)
        return
    table(f"recommended for {profile_id}", ["rank", "item", "name", "score", "reason"],
          [(r["rank"], r["item_id"], r["name"] or "", _fmt(r["score"]), r["reason"])
           for r in items])
