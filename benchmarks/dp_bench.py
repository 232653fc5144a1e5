"""Accuracy of differentially private segment sizes against epsilon, on the demo shop.

Builds the demo (``--people``), defines four segments, then releases their sizes ``--runs``
times per epsilon and reports the mean absolute and relative error against the exact sizes.

    python benchmarks/dp_bench.py --people 1000
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from aidmp import DMP
from aidmp.demo.ingest import run_demo

OUT = Path(__file__).parent / "results" / "dp.json"
SEGMENTS = {"buyers": 'event("Order Completed")', "browsers": 'event("Product Viewed")',
            "newsletter": 'event("Email Opened")', "engaged": "events >= 10"}
EPSILONS = (0.1, 0.5, 1.0, 2.0, 5.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    dmp = DMP(home=tempfile.mkdtemp(prefix="aidmp-dp-"), privacy={"dp_budget": 1e6})
    run_demo(dmp, people=args.people)
    dmp.build()
    for name, rule in SEGMENTS.items():
        dmp.segments.create(name, rule)
    ids = list(SEGMENTS)
    exact = np.array([dmp.segments.size(s)["size"] for s in ids], dtype=float)
    rows = []
    for eps in EPSILONS:
        noisy = np.array([[dmp.privacy.dp.segment_sizes(ids, epsilon=eps)["sizes"][s]
                           for s in ids] for _ in range(args.runs)], dtype=float)
        err = np.abs(noisy - exact)
        rows.append({"epsilon": eps, "noise_scale": len(ids) / eps,
                     "mean_abs_error": round(float(err.mean()), 2),
                     "mean_rel_error_pct": round(float((err / np.maximum(exact, 1)).mean()
                                                       * 100), 3)})
    result = {"people": args.people, "segments": dict(zip(ids, exact.tolist(), strict=True)),
              "runs": args.runs, "by_epsilon": rows}
    print(json.dumps(result, indent=2))
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
