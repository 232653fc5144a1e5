"""Real-data import (issue 17): an invoice-line export to profiles with the CLI's mapping, and
each customer's orders and revenue checked against an independent pandas computation.

No invoice-line file of the UCI "Online Retail" kind is available offline here (the shared
datasets hold CDNOW, which is one row per order, MovieLens and Groceries; no PyPI package in
the index ships one), so the file is SYNTHETIC, generated in that export's exact shape from the
demo generator's catalog: InvoiceNo (a 'C' prefix marks a cancellation, its quantities
negative), StockCode, Description, Quantity, InvoiceDate (``12/1/2010 8:26``), UnitPrice,
CustomerID (a quarter of the lines without one, as in the UCI file), Country; ~21 lines per
invoice, repeated lines within an invoice, a few zero prices.

Measured: ``aidmp import`` rows/s with the order-lines mapping (derived revenue, refund routing,
grouping into ``Order Completed`` per invoice), the build's time, and per customer
``orders_total`` / ``revenue_total`` / ``refunds`` against pandas (which must be equal); the
pandas pipeline's own time beside it.

Run: ``.venv/bin/python benchmarks/invoice_import_bench.py`` (LINES=500000 by default).
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from aidmp import DMP
from aidmp.demo.generator import DemoConfig, DemoGenerator
from aidmp.spec.imports import ImportMapping

LINES = int(os.environ.get("LINES", "500000"))
MAPPING = ImportMapping(
    source="retail", event="Order Completed", user_id_column="CustomerID",
    timestamp_column="InvoiceDate", timestamp_format="%m/%d/%Y %H:%M",
    where="CustomerID IS NOT NULL",
    derive={"revenue": "Quantity * UnitPrice"},
    event_when={"Order Refunded": "InvoiceNo LIKE 'C%'"},
    lines={"order_id_column": "InvoiceNo",
           "products": {"StockCode": "product_id", "Description": "name",
                        "Quantity": "quantity", "UnitPrice": "price"}},
)


def make_invoices(path: Path, lines: int, seed: int = 11) -> None:
    """Invoice lines in the UCI Online Retail shape, from the demo catalog (synthetic)."""
    rng = np.random.default_rng(seed)
    catalog = DemoGenerator(DemoConfig(people=1000, seed=seed)).catalog()
    invoices = lines // 21
    customers = np.array([f"{12346 + i}" for i in range(4372)])
    # a few heavy buyers, many occasional ones (as in the UCI file)
    who = customers[rng.zipf(1.4, invoices) % len(customers)]
    no_customer = rng.random(invoices) < 0.25  # lines without a customer
    cancel = rng.random(invoices) < 0.02
    start = np.datetime64("2010-12-01T08:00")
    when = start + rng.integers(0, 373 * 24 * 60, invoices).astype("timedelta64[m]")
    sizes = np.maximum(1, rng.poisson(20, invoices))
    sizes = np.round(sizes * lines / sizes.sum()).astype(int)
    inv = np.repeat(np.arange(invoices), sizes)
    n = len(inv)
    item = rng.choice(catalog.height, n, p=(catalog["popularity"] / catalog["popularity"].sum())
                      .to_numpy())
    qty = np.maximum(1, rng.geometric(0.12, n))
    qty = np.where(cancel[inv], -np.minimum(qty, 12), qty)
    price = catalog["price"].to_numpy()[item] / 8  # a wholesaler's unit prices
    price = np.where(rng.random(n) < 0.002, 0.0, np.round(price, 2))
    number = np.array([f"{536365 + i}" for i in range(invoices)])
    number = np.where(cancel, np.char.add("C", number), number)
    stamp = pd.to_datetime(when.astype("datetime64[m]"))
    date_text = np.array([f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}" for t in stamp])
    pl.DataFrame({
        "InvoiceNo": number[inv], "StockCode": catalog["product_id"].to_numpy()[item],
        "Description": catalog["name"].to_numpy()[item], "Quantity": qty,
        "InvoiceDate": date_text[inv], "UnitPrice": price,
        "CustomerID": pl.Series(who[inv]).zip_with(pl.Series(~no_customer[inv]),
                                                   pl.Series([None] * n, dtype=pl.String)),
        "Country": rng.choice(["United Kingdom", "Germany", "France", "EIRE", "Spain"],
                              invoices, p=[0.89, 0.03, 0.03, 0.03, 0.02])[inv],
    }).write_csv(path)


def with_pandas(path: Path) -> pd.DataFrame:
    """Orders, net revenue and refunds per customer, computed with pandas alone."""
    df = pd.read_csv(path, dtype={"InvoiceNo": str, "CustomerID": str, "StockCode": str})
    df = df[df["CustomerID"].notna()].copy()
    df["revenue"] = df["Quantity"] * df["UnitPrice"]
    df["refund"] = df["InvoiceNo"].str.startswith("C")
    orders = df[~df["refund"]].groupby("CustomerID")["InvoiceNo"].nunique()
    refunds = df[df["refund"]].groupby("CustomerID")["InvoiceNo"].nunique()
    revenue = df.groupby("CustomerID")["revenue"].sum()
    out = pd.DataFrame({"orders": orders, "refunds": refunds, "revenue": revenue})
    return out.fillna({"orders": 0, "refunds": 0}).astype({"orders": int, "refunds": int})


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="aidmp-invoice-bench-"))
    csv = folder / "online_retail_synthetic.csv"
    make_invoices(csv, LINES)
    lines = pl.scan_csv(csv).select(pl.len()).collect().item()
    results: dict[str, object] = {"lines": lines, "csv_mb": round(csv.stat().st_size / 1e6, 1),
                                  "data": "synthetic, UCI Online Retail shape"}
    t = time.perf_counter()
    want = with_pandas(csv)
    results["pandas_seconds"] = round(time.perf_counter() - t, 2)

    with DMP(home=folder / "home") as dmp:
        t = time.perf_counter()
        report = dmp.imports.file(csv, MAPPING)
        secs = time.perf_counter() - t
        results["import"] = {"seconds": round(secs, 2), "rows_per_s": round(lines / secs),
                             "dropped": report.dropped, "quarantined": report.quarantined,
                             "orders": report.orders, "stored": report.stored}
        t = time.perf_counter()
        again = dmp.imports.file(csv, MAPPING)
        results["reimport"] = {"seconds": round(time.perf_counter() - t, 2),
                               "stored": again.stored}
        t = time.perf_counter()
        build = dmp.build()
        results["build_seconds"] = round(time.perf_counter() - t, 2)
        results["build_warnings"] = build.warnings
        prof = dmp.engine.execute(dmp.engine.table("profiles").select(
            "user_id", "orders_total", "revenue_total", "refunds")).to_pandas()
    got = prof.set_index("user_id").rename(columns={"refunds": "refunds_aidmp"})
    both = want.join(got, how="outer")
    results["customers"] = {"pandas": len(want), "aidmp": len(got),
                            "in_both": int(both.notna().all(axis=1).sum())}
    results["orders_equal"] = bool((both["orders"] == both["orders_total"]).all())
    results["refunds_equal"] = bool((both["refunds"] == both["refunds_aidmp"]).all())
    diff = (both["revenue"] - both["revenue_total"]).abs()
    results["revenue_max_abs_diff"] = float(diff.max())
    results["revenue_equal_to_the_cent"] = bool((diff < 0.005).all())
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "invoice_import.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
