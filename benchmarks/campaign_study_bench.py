"""Campaign measurement against the demo's planted effects (accuracy and time).

The campaign study (``aidmp.demo.campaigns``) plants, for the 19,884 registered customers of a
30,000-person demo population: three paid channels with known orders-per-click and response
curves, organic orders, and a newsletter holdout test with a known effect. The store sees only
events and costs. This script ingests and builds them, then reports, next to the truth:

* every attribution model's credited orders per channel with 95 % bootstrap intervals
  (3-day look-back: the study's orders follow their click within 2 days);
* the holdout test's uplift in conversion and revenue per person against the sample average
  treatment effect computed from both potential outcomes of every customer;
* the cross-fitted uplift model on ``age`` (the newsletter moves under-35s about 3x more):
  Qini, predicted vs observed uplift by decile, share of under-35s among the top 40 %;
* the budget optimiser fed by ``Campaigns.history`` (daily costs, last-touch revenue by click
  day): fitted vs true marginal return at the current spend, and the re-allocation.

Run: ``.venv/bin/python benchmarks/campaign_study_bench.py``
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from aidmp import DMP
from aidmp.campaigns.optimiser.model import BudgetOptimiser
from aidmp.demo.campaigns import CampaignStudy, StudyConfig
from aidmp.demo.generator import DemoConfig, DemoGenerator

ROOT = Path(__file__).resolve().parent.parent
LOOKBACK = 3.0


def main() -> dict[str, Any]:
    t0 = time.perf_counter()
    data = CampaignStudy(DemoGenerator(DemoConfig(people=30_000, seed=42)).people(),
                         StudyConfig(seed=7)).generate()
    timings = {"generate_s": time.perf_counter() - t0}
    truth = data.truth
    with DMP(home=Path(tempfile.mkdtemp()) / "home") as dmp:
        t = time.perf_counter()
        dmp.events.ingest(data.messages, source="campaigns")
        dmp.build()
        dmp.campaigns.import_costs(data.costs)
        timings["ingest_build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        plain = dmp.campaigns.attribution(lookback_days=LOOKBACK)
        timings["attribution_s"] = time.perf_counter() - t
        t = time.perf_counter()
        attr = dmp.campaigns.attribution(lookback_days=LOOKBACK, ci=0.95, n_boot=300)
        timings["attribution_ci300_s"] = time.perf_counter() - t
        t = time.perf_counter()
        exp = dmp.campaigns.experiment("newsletter_holdout")
        timings["experiment_s"] = time.perf_counter() - t
        t = time.perf_counter()
        n = sum(truth["experiment"]["arms"].values())
        up = dmp.campaigns.uplift("newsletter_holdout", ["age"], top=int(0.4 * n))
        timings["uplift_5fold_s"] = time.perf_counter() - t
        p = dmp.engine.table("profiles")
        age = {r["profile_id"]: r["age"] for r in dmp.engine.execute(
            p.select("profile_id", "age")).to_pylist()}
        t = time.perf_counter()
        history = dmp.campaigns.history(lookback_days=LOOKBACK, fittable=True)
        opt = BudgetOptimiser().fit(history)
        plan = opt.allocate(sum(opt.current_.values()))
        timings["history_fit_allocate_s"] = time.perf_counter() - t
    planted = {ch: t["caused_orders"] for ch, t in truth["channels"].items()}
    planted["email"] = truth["experiment"]["caused_orders"]
    rows = {r["channel"]: r for r in attr["rows"]}
    attribution = {ch: {"planted": n, **{m: {"credit": round(rows[ch][m], 1),
                                             "ci": rows[ch].get(f"{m}_ci")}
                                         for m in attr["models"]}}
                   for ch, n in planted.items()}
    conv = exp["comparisons"]["exposed"]["conversion"]
    rev = exp["comparisons"]["exposed"]["revenue"]
    result = {
        "customers": truth["customers"], "events": len(data.messages),
        "conversions": plain["conversions"], "timings": {k: round(v, 3) for k, v in
                                                         timings.items()},
        "attribution": attribution,
        "experiment": {"ate_conversion": truth["experiment"]["ate_conversion"],
                       "uplift": round(conv["uplift"], 5),
                       "uplift_ci": [round(x, 5) for x in conv["uplift_ci"]],
                       "ate_revenue_per_person": truth["experiment"]["ate_revenue_per_person"],
                       "revenue_difference": round(rev["difference"], 4),
                       "welch_ci": [round(x, 4) for x in rev["welch_ci"]]},
        "uplift": {"qini": up["qini"],
                   "ate_under_35": truth["experiment"]["ate_conversion_under_35"],
                   "ate_35_plus": truth["experiment"]["ate_conversion_35_plus"],
                   "deciles": [(d["predicted_uplift"], d["observed_uplift"])
                               for d in up["deciles"]],
                   "top40_under_35": round(sum(age[r["profile_id"]] < 35 for r in up["top"])
                                           / len(up["top"]), 4),
                   "all_under_35": round(sum(a < 35 for a in age.values() if a is not None)
                                         / len(age), 4)},
        "optimiser": {ch: {"true_marginal": truth["channels"][ch]["marginal_return_at_plan"],
                           "fitted_marginal": round(float(opt.curves_[ch].marginal(
                               opt.current_[ch])), 4),
                           "current": round(opt.current_[ch], 2),
                           "optimal": round(next(c.spend for c in plan.channels
                                                 if c.unit == ch), 2)}
                      for ch in opt.units_},
        "expected_return": round(plan.expected_return, 2),
        "current_return": round(plan.current_return, 2),
    }
    out = ROOT / "benchmarks" / "results" / "campaign_study.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
