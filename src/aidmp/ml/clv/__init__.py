"""Customer lifetime value: BG/NBD purchase counts, Gamma-Gamma spend, and their evaluation.

The public face of the CLV models; the code lives in ``clv_summary`` (the per-customer
frequency / recency / T table, as an ibis expression), ``clv_bgnbd``, ``clv_gamma`` and
``clv_eval``.

Example:
    >>> import pyarrow as pa
    >>> from aidmp.ml.clv import BGNBD, GammaGamma, transaction_summary
    >>> log = pa.table({"customer": ["a", "a", "a", "b", "b", "c"],
    ...                 "day": ["2024-01-01", "2024-02-05", "2024-03-04", "2024-01-08",
    ...                         "2024-01-22", "2024-01-15"],
    ...                 "value": [10.0, 30.0, 20.0, 7.0, 9.0, 12.0]})
    >>> s = transaction_summary(log, customer_col="customer", date_col="day", value_col="value",
    ...                         date_format="%Y-%m-%d", observation_end="2024-04-01")
    >>> s.column("frequency").to_pylist(), s.column("T").to_pylist()
    ([2, 1, 0], [13.0, 12.0, 11.0])
    >>> bgnbd = BGNBD().set_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> gg = GammaGamma().set_params(p=6.25, q=3.74, gamma=15.44)
    >>> f, r, t, m = (s.column(c).to_numpy() for c in ("frequency", "recency", "T",
    ...                                                 "monetary_value"))
    >>> [round(v, 1) for v in gg.clv(bgnbd, f, r, t, m, horizon_periods=52).tolist()]
    [81.4, 21.7, 20.9]
"""

from __future__ import annotations

from aidmp.ml.clv.bgnbd import BGNBD
from aidmp.ml.clv.common import ConvergenceError, NotFittedError
from aidmp.ml.clv.evaluate import (
    ForecastErrors,
    cumulative_tracking,
    forecast_errors,
    holdout_table,
)
from aidmp.ml.clv.gamma import GammaGamma
from aidmp.ml.clv.summary import summary_expr, transaction_summary

__all__ = [
    "BGNBD",
    "ConvergenceError",
    "ForecastErrors",
    "GammaGamma",
    "NotFittedError",
    "cumulative_tracking",
    "forecast_errors",
    "holdout_table",
    "summary_expr",
    "transaction_summary",
]
