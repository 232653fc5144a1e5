"""Recommendation lookup over HTTP: ``GET /v1/profiles/{id}/recommendations?n=10``.

MovieLens-100K loaded through the real loaders, profiles built, ALS fitted from the store
(``dmp.models.fit_recommender``), then 500 lookups for random users over loopback with one
keep-alive client: p50 / p99 of the round trip (identity lookup + model + reasons + JSON).
The in-process call (``dmp.models.recommend``) is measured beside it.

Run: ``.venv/bin/python benchmarks/recommend_http_bench.py``.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

import httpx

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.demo.datasets import default_datasets_dir, load_dataset


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def main() -> None:
    dmp = DMP(home=Path(tempfile.mkdtemp(prefix="aidmp-rec-http-")))
    load_dataset(dmp, "movielens", default_datasets_dir() / "movielens-100k")
    dmp.build()
    dmp.models.fit_recommender(method="als")
    users = [str(u) for u in range(1, 944)]
    random.seed(7)
    sample = [random.choice(users) for _ in range(500)]
    inproc = []
    for u in sample:
        pid = dmp.identity.profile_of("user_id", u)
        t = time.perf_counter()
        dmp.models.recommend(pid, n=10)
        inproc.append(time.perf_counter() - t)
    key = dmp.keys.create("read", source="bench").secret
    http = []
    with ServerThread(dmp) as srv, httpx.Client(
            base_url=srv.url, headers={"Authorization": f"Bearer {key}"}) as client:
        client.get("/v1/profiles/user_id:1/recommendations?n=10").raise_for_status()
        for u in sample:
            t = time.perf_counter()
            r = client.get(f"/v1/profiles/user_id:{u}/recommendations?n=10")
            http.append(time.perf_counter() - t)
            r.raise_for_status()
            assert len(r.json()["items"]) == 10
    result = {"lookups": len(sample),
              "in_process_ms": {"p50": pct(inproc, 0.5), "p99": pct(inproc, 0.99)},
              "http_ms": {"p50": pct(http, 0.5), "p99": pct(http, 0.99)}}
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "recommend_http.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
