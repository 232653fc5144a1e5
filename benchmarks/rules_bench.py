"""Association rules on Groceries: ``AssociationRules.fit`` vs mlxtend's own pipeline.

The mlxtend side is what a user would otherwise write: ``TransactionEncoder`` ->
``fpgrowth`` -> ``association_rules(metric="confidence")``. Both start from the list of
baskets. mlxtend's rules include multi-item consequents, which arules' ``apriori()`` (and
aidmp) do not make, so the rule sets are compared on single-item consequents; the published
arules counts are 410 (supp .001 / conf .8) and 5,668 (supp .001 / conf .5).

Time is the median of 3 runs (alternating between the two); peak memory is the ``tracemalloc``
peak of a 4th run (numpy and pandas buffers included), i.e. the memory the fit allocates on
top of the loaded baskets.

Run: ``.venv/bin/python benchmarks/rules_bench.py``
"""

from __future__ import annotations

import json
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

import mlxtend
import pandas as pd
from mlxtend.frequent_patterns import association_rules, fpgrowth
from mlxtend.preprocessing import TransactionEncoder

from aidmp.demo.datasets import default_datasets_dir
from aidmp.ml.rules.model import AssociationRules

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = [(0.001, 0.8, 410), (0.001, 0.5, 5668)]
RuleKey = tuple[tuple[str, ...], tuple[str, ...]]


def load() -> list[list[str]]:
    path = default_datasets_dir() / "groceries" / "groceries.csv"
    return [line.split(",") for line in path.read_text().splitlines()]


def ours(baskets: list[list[str]], supp: float, conf: float) -> pd.DataFrame:
    return AssociationRules(min_support=supp, min_confidence=conf).fit(baskets).rules_


def plain_mlxtend(baskets: list[list[str]], supp: float, conf: float) -> pd.DataFrame:
    encoder = TransactionEncoder()
    onehot = pd.DataFrame(encoder.fit(baskets).transform(baskets), columns=encoder.columns_)
    frequent = fpgrowth(onehot, min_support=supp, use_colnames=True)
    return association_rules(frequent, num_itemsets=len(onehot), metric="confidence",
                             min_threshold=conf)


def peak_mb(fn: Callable[[], pd.DataFrame]) -> float:
    """tracemalloc peak (MB) of one run."""
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def measure(
    fns: dict[str, Callable[[], pd.DataFrame]],
) -> dict[str, tuple[float, float, float, pd.DataFrame]]:
    """Median wall and CPU seconds of 3 runs, tracemalloc peak MB of a 4th, and the result.

    The runs alternate between the contenders so that load from other processes on a shared
    machine spreads over both.
    """
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    outs: dict[str, pd.DataFrame] = {}
    for _ in range(3):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            outs[name] = fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name]), peak_mb(fn),
                   outs[name]) for name, fn in fns.items()}


def rule_keys(rules: pd.DataFrame, single_consequent: bool) -> set[RuleKey]:
    keys = set()
    for ante, cons in zip(rules["antecedents"], rules["consequents"], strict=True):
        if single_consequent and len(cons) != 1:
            continue
        keys.add((tuple(sorted(ante)), tuple(sorted(cons))))
    return keys


def main() -> None:
    baskets = load()
    results: dict[str, object] = {"dataset": "groceries", "baskets": len(baskets),
                                  "mlxtend": mlxtend.__version__, "runs": []}
    rows = []
    for supp, conf, published in CONFIGS:
        got = measure({"aidmp": partial(ours, baskets, supp, conf),
                       "mlxtend": partial(plain_mlxtend, baskets, supp, conf)})
        (t_ours, c_ours, m_ours, r_ours), (t_mlx, c_mlx, m_mlx, r_mlx) = (got["aidmp"],
                                                                          got["mlxtend"])
        mine, theirs = rule_keys(r_ours, False), rule_keys(r_mlx, True)
        run = {
            "min_support": supp, "min_confidence": conf, "published_arules_rules": published,
            "aidmp": {"seconds": round(t_ours, 3), "cpu_seconds": round(c_ours, 3),
                      "peak_mb": round(m_ours, 1),
                      "rules": len(r_ours)},
            "mlxtend": {"seconds": round(t_mlx, 3), "cpu_seconds": round(c_mlx, 3),
                        "peak_mb": round(m_mlx, 1),
                        "rules_all_consequents": len(r_mlx),
                        "rules_single_consequent": len(theirs)},
            "single_consequent_sets_equal": mine == theirs,
            "only_in_aidmp": len(mine - theirs), "only_in_mlxtend": len(theirs - mine),
        }
        results["runs"].append(run)  # type: ignore[attr-defined]
        rows.append(
            f"| {supp} / {conf} | {t_ours:.2f} s ({c_ours:.2f}) | {m_ours:.0f} MB | "
            f"{len(r_ours):,} | {t_mlx:.2f} s ({c_mlx:.2f}) | {m_mlx:.0f} MB | "
            f"{len(r_mlx):,} ({len(theirs):,} single) | "
            f"{'yes' if mine == theirs else 'no'} | {published:,} |")
    results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "rules.json").write_text(json.dumps(results, indent=2))
    print(f"Groceries ({len(baskets):,} baskets), median of 3 (wall, CPU in brackets); "
          f"mlxtend {mlxtend.__version__}; load average {os.getloadavg()[0]:.1f}\n")
    print("| supp / conf | aidmp fit | aidmp peak | aidmp rules | mlxtend fpgrowth+rules | "
          "mlxtend peak | mlxtend rules | same single-RHS set | arules (published) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
