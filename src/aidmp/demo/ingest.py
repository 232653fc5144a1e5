"""Run the demo end to end through the real code paths.

Web/app events are POSTed as Segment batches to the real collector over HTTP (write key in HTTP
Basic auth, exactly like the Segment SDKs); the CRM export and the catalog are written as CSV
files and imported with the file importer. The campaign study (:mod:`aidmp.demo.campaigns`:
paid clicks, orders they caused, a newsletter holdout test) goes through the collector too,
under its own write key (source ``campaigns``), and its daily costs are imported.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> result = run_demo(DMP(home=tempfile.mkdtemp()), people=30, seed=7)
    >>> result["events_stored"] > 500 and result["crm_rows_stored"] > 10
    True
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import orjson
import pyarrow.csv as pacsv

from aidmp.api.server import ServerThread
from aidmp.demo.campaigns import CampaignStudy, StudyConfig
from aidmp.demo.config import DEFAULT_END
from aidmp.demo.generator import DemoConfig, DemoGenerator
from aidmp.dmp import DMP
from aidmp.spec.imports import ImportMapping

BATCH = 100  # messages per request, like the Segment SDKs' default flush size


def _requests(gen: DemoGenerator) -> Iterator[bytes]:
    for chunk in gen.event_batches(10_000):
        # The demo replays months of history in seconds. Clock-skew correction measures the
        # client's error as sentAt - received_at, which for a replay would move every event to
        # "now"; like a historical import to Segment, a replay leaves sentAt out so the
        # timestamps are taken as sent (the planted device skew stays in, as in real data).
        for message in chunk:
            message.pop("sentAt", None)
        for i in range(0, len(chunk), BATCH):
            yield orjson.dumps({"batch": chunk[i : i + BATCH]})


def post_events(url: str, write_key: str, bodies: Iterator[bytes], *, workers: int = 4,
                progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """POST request bodies to ``/v1/batch`` with a few concurrent clients; return totals."""
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    totals = {"requests": 0, "accepted": 0, "quarantined": 0}
    with httpx.Client(base_url=url, headers={"Authorization": auth,
                                             "Content-Type": "application/json"},
                      timeout=60) as client, ThreadPoolExecutor(workers) as pool:

        def send(body: bytes) -> dict[str, Any]:
            r = client.post("/v1/batch", content=body)
            r.raise_for_status()
            return r.json()  # type: ignore[no-any-return]

        for result in pool.map(send, bodies):
            totals["requests"] += 1
            totals["accepted"] += result["accepted"]
            totals["quarantined"] += result["quarantined"]
            if progress:
                progress(result["accepted"] + result["quarantined"])
    return totals


def run_demo(
    dmp: DMP, *, people: int = 1000, seed: int = 42,
    progress: Callable[[int, int], None] | None = None, server: ServerThread | None = None,
    campaigns: bool = True, end: datetime | None = None,
) -> dict[str, Any]:
    """Generate the demo data, ingest it, and return what was built.

    ``campaigns`` adds the campaign study with planted effects (its truth is written to
    ``demo-data/campaign_truth.json``). ``end`` ends the event window (default: the fixed
    :data:`~aidmp.demo.config.DEFAULT_END`; ``aidmp demo`` passes
    :func:`~aidmp.demo.config.recent_end`, so that its windows are full at the wall clock).
    """
    started = time.perf_counter()
    gen = DemoGenerator(DemoConfig(people=people, seed=seed, end=end or DEFAULT_END))
    files = gen.write(dmp.home / "demo-data")
    web = dmp.keys.create("write", source="web", name="demo web & app")
    own_server = server is None
    srv = server or ServerThread(dmp).start()
    expected = gen.estimate_events()
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, max(expected, done))

    study = CampaignStudy(gen.people(), StudyConfig(seed=seed), end=gen.config.end).generate() \
        if campaigns else None
    try:
        sent = post_events(srv.url, web.secret, _requests(gen), progress=tick)
        if study is not None:
            ads = dmp.keys.create("write", source="campaigns", name="demo campaign study")
            bodies = (orjson.dumps({"batch": study.messages[i : i + BATCH]})
                      for i in range(0, len(study.messages), BATCH))
            study_sent = post_events(srv.url, ads.secret, bodies)
        srv.flush()
    finally:
        if own_server:
            srv.stop()
    crm = dmp.imports.file(files["crm.csv"], ImportMapping(
        source="crm", type="identify", identifiers={"crm_id": "crm_id"}, traits="*"))
    catalog = dmp.imports.file(files["catalog.csv"], ImportMapping(
        source="catalog", type="item", item_id_column="product_id", name_column="name",
        category_column="category", price_column="price"))
    study_result: dict[str, Any] | None = None
    if study is not None:
        folder = dmp.home / "demo-data"
        pacsv.write_csv(study.costs, folder / "campaign_costs.csv")
        (folder / "campaign_truth.json").write_bytes(orjson.dumps(study.truth,
                                                                  option=orjson.OPT_INDENT_2))
        study_result = {"events_accepted": study_sent["accepted"],
                        "cost_rows": dmp.campaigns.import_costs(study.costs),
                        "experiment_id": study.truth["experiment"]["experiment_id"]}
        files = {**files, "campaign_costs.csv": folder / "campaign_costs.csv",
                 "campaign_truth.json": folder / "campaign_truth.json"}
    return {
        "people": people,
        "requests": sent["requests"],
        "events_accepted": sent["accepted"],
        "events_quarantined": sent["quarantined"],
        "events_stored": dmp.events.count(source="web"),
        "crm_rows_read": crm.read,
        "crm_rows_stored": crm.stored,
        "crm_duplicates": crm.duplicates,
        "catalog_items": catalog.stored,
        "campaign_study": study_result,
        "files": {k: str(v) for k, v in files.items()},
        "seconds": round(time.perf_counter() - started, 2),
    }

