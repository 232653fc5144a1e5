"""``aidmp demo``: generate realistic e-commerce data, ingest it for real, show what was built."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aidmp.cli.common import HomeOption, JsonOption, open_dmp
from aidmp.cli.output import console, emit_json, summary, table
from aidmp.cli.progress import bar
from aidmp.errors import ValidationError

if TYPE_CHECKING:
    from aidmp.dmp import DMP


DEMO_SEGMENTS = {
    "champions": 'rfm_segment = "champions"',
    "fashion fans who buy": 'interest("fashion") > 0.5 and event("Order Completed", within=90d)',
    "at risk big spenders": 'rfm_segment in ("at risk", "can\'t lose them") and clv_12m > 50',
    "lapsed browsers": 'not event("Order Completed", within=60d) and '
                       'event("Product Viewed", within=30d, count >= 3)',
}


def _build_and_score(dmp: DMP, truth_csv: str, quiet: bool, end: datetime
                     ) -> dict[str, Any]:
    """Build profiles, score identity resolution against the generator's truth."""
    import ibis
    import polars as pl

    from aidmp.identity.evaluate import evaluate

    with bar("building profiles", enabled=not quiet) as progress:
        dmp.build(progress=lambda stage, i, n: progress(i, n))
    # CRM rows that share no identifier with the web: matched on names, phone, postcode
    matched = dmp.matching.match()
    # predictions flow back into the profiles on the next build
    models = _fit_models(dmp, quiet, end)
    with bar("rebuilding with the links and predictions", enabled=not quiet) as progress:
        built = dmp.build(progress=lambda stage, i, n: progress(i, n))
    existing = {s["name"] for s in dmp.segments.list()}
    for name, rule in DEMO_SEGMENTS.items():
        if name not in existing:
            dmp.segments.create(name, rule)
    dmp.segments.refresh(build_id=built.build_id)
    truth = pl.read_csv(truth_csv, schema_overrides={"id_value": pl.String})
    p = dmp.engine.table("profiles")
    seg = p.filter(p.rfm_segment.notnull()).group_by("rfm_segment").aggregate(n=ibis._.count())
    segments = {r["rfm_segment"]: r["n"] for r in dmp.engine.execute(
        seg.order_by(ibis.desc("n"))).to_pylist()}
    return {"build": built.to_dict(), "identity": evaluate(dmp.identity, truth), "models": models,
            "probabilistic_links": matched.linked,
            "segments": {s["name"]: dmp.segments.size(s["id"])["size"]
                         for s in dmp.segments.list()},
            "rfm_segments": segments}


def _fit_models(dmp: DMP, quiet: bool, end: datetime) -> dict[str, dict[str, Any]]:
    """The models a shop starts with: customer value, churn risk, "bought together" and
    "you may also like"; returns each one's headline figure (customers modelled, holdout AUC,
    rules mined, holdout NDCG@10).

    Churn is "no order in the next 30 days", learned on the shop's last 30 days (``end``:
    where its events end): the demo's lapsing customers stop within its last 45 days, so a
    longer window, or one reaching past the events, has nothing to learn from."""
    cutoff = (end - timedelta(days=30)).isoformat()
    fits: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
        ("clv", "customers", lambda: dmp.models.fit_clv()),
        ("churn_30d", "auc", lambda: dmp.models.fit(
            "churn", "churn_30d", target_event="Order Completed", window_days=30,
            cutoff=cutoff)),
        ("rules", "rules", lambda: dmp.models.fit_rules(item_key="product_id")),
        ("recommend", "ndcg@10", lambda: dmp.models.fit_recommender(
            method="item_knn", event="Product Viewed", item_property="product_id"))]
    out: dict[str, dict[str, Any]] = {}
    with bar("fitting models", enabled=not quiet) as progress:
        for i, (name, metric, fit) in enumerate(fits):
            try:
                row = fit()
            except ValidationError as exc:  # a tiny demo (--people 60) may not support one
                out[name] = {"kind": name, "skipped": str(exc)}
            else:
                out[name] = {"kind": row["kind"], "version": row["version"],
                             metric: row["metrics"].get(metric)}
            progress(i + 1, len(fits))
    for name in ("clv", "churn_30d"):  # scores become profile traits (clv_12m, p_churn_30d)
        if "skipped" not in out[name]:
            dmp.models.score(name)
    return out


def _campaigns(dmp: DMP, result: dict[str, Any]) -> dict[str, Any] | None:
    """ROI by channel and the newsletter holdout test against the study's planted effect."""
    import orjson

    study = result.get("campaign_study")
    if not study:
        return None
    truth = orjson.loads(Path(result["files"]["campaign_truth.json"]).read_bytes())
    exp = dmp.campaigns.experiment(study["experiment_id"])
    comp = exp["comparisons"].get("exposed", {}).get("conversion")
    experiment: dict[str, Any] = {"holdout": exp["sizes"].get("holdout"),
                                  "exposed": exp["sizes"].get("exposed"),
                                  "planted uplift (true effect)":
                                      truth["experiment"]["ate_conversion"]}
    if comp:
        experiment["measured uplift"] = round(comp["uplift"], 4)
        experiment["95% CI"] = [round(x, 4) for x in comp["uplift_ci"]]
    return {"experiment_id": study["experiment_id"], "roi": dmp.campaigns.roi("channel"),
            "experiment": experiment}


def demo_command(
    home: HomeOption = None, json: JsonOption = False,
    people: Annotated[int | None, typer.Option(min=10, help="People to simulate.")] = None,
    events: Annotated[int | None, typer.Option(
        min=1000, help="Roughly this many events (sizes --people; up to 10M).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
    serve: Annotated[bool, typer.Option(help="Keep the API running afterwards.")] = False,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
) -> None:
    """Generate the demo shop's data, send it through the collector and importer, summarise."""
    from aidmp.api.server import ServerThread
    from aidmp.demo.config import recent_end
    from aidmp.demo.generator import people_for_events
    from aidmp.demo.ingest import run_demo

    n_people = people or (people_for_events(events) if events else 1000)
    end = recent_end()
    with open_dmp(home) as dmp:
        server = ServerThread(dmp, port=port if serve else 0).start()
        try:
            with bar("sending events to the collector", enabled=not json) as progress:
                # the shop's events end within the last week: its windows are read at the
                # wall clock
                result = run_demo(dmp, people=n_people, seed=seed, progress=progress,
                                  server=server, end=end)
            stats = dmp.events.stats()
            result.update(_build_and_score(dmp, result["files"]["truth.csv"], json, end))
            result["campaigns"] = _campaigns(dmp, result)
            admin = dmp.keys.create("admin", source="demo", name="demo admin")
            result["quarantine_waiting"] = dmp.quarantine.count()
            if json:
                emit_json({**result, "stats": stats})
            else:
                summary("demo built", {k: v for k, v in result.items()
                                       if k not in ("files", "models")})
                table("events by type", ["type", "events"], stats["by_type"].items())
                table("top events", ["event", "events"], list(stats["top_events"].items())[:8])
                summary("profiles", {"profiles": result["build"]["profiles"],
                                     "identifiers": result["build"]["identifiers"],
                                     "identity precision": result["identity"]["precision"],
                                     "identity recall (linked ids)":
                                         result["identity"]["recall_linked"],
                                     "identity recall (all ids)": result["identity"]["recall"]})
                table("models", ["model", "kind", "metric", "value"],
                      [(name, m["kind"], *next((k, v) for k, v in m.items()
                                               if k not in ("kind", "version")))
                       for name, m in result["models"].items()])
                table("RFM segments", ["segment", "profiles"], result["rfm_segments"].items())
                table("audiences", ["segment", "members"], result["segments"].items())
                if result["campaigns"]:
                    c = result["campaigns"]
                    table("campaigns (last-touch, 30-day look-back)",
                          ["channel", "conversions", "revenue", "cost", "ROAS"],
                          [(r["channel"], f"{r['conversions']:.0f}", f"{r['revenue']:,.0f}",
                            f"{r['cost']:,.0f}", "" if r["roas"] is None else
                            f"{r['roas']:.2f}") for r in c["roi"]])
                    summary(f"experiment {c['experiment_id']} (exposed vs holdout)",
                            c["experiment"])
                console.print(f"data files in [bold]{dmp.home / 'demo-data'}[/]")
            if serve:
                import threading

                from aidmp.dashboard.warm import warm

                # the dashboard's store-wide figures are ready before the first click
                threading.Thread(target=warm, args=(server.url, admin.secret),
                                 name="aidmp-dashboard-warm", daemon=True).start()
                console.print(f"\nDashboard on [bold]{server.url}/[/] (sign in with the admin "
                              f"key), API and collector on the same address, docs at "
                              f"{server.url}/docs; admin key (shown once): {admin.secret}\n"
                              "Ctrl-C to stop.")
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
