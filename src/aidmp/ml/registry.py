"""Model registry: every fitted model version, its artefact on disk and its row in ``models``.

A version is a saved estimator (``joblib``, under ``<folder>/<name>/v<version>.joblib``) plus a
row of the ``models`` table with its kind, parameters, metrics and data window as JSON.
Versions count up per name from 1; :meth:`ModelRegistry.show` and :meth:`ModelRegistry.load`
without a version take the newest *active* one, so archiving a bad version rolls back to the
one before it.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> reg = ModelRegistry(dmp.engine, Path(dmp.home) / "models")
    >>> reg.register("demo", {"w": 2.0}, kind="dict", metrics={"auc": 0.75})
    1
    >>> reg.register("demo", {"w": 3.0}, kind="dict")
    2
    >>> reg.load("demo"), reg.show("demo", 1)["metrics"]
    ({'w': 3.0}, {'auc': 0.75})
    >>> _ = reg.archive("demo", 2)
    >>> reg.show("demo")["version"]
    1
"""

from __future__ import annotations

import builtins
import json
import math
import pickle
import re
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import cloudpickle
import joblib
import numpy as np
import pyarrow as pa

from aidmp.engine.base import Engine, arrow_schema
from aidmp.errors import NotFoundError, ValidationError
from aidmp.store.schema import TABLES

__all__ = ["FIT_KINDS", "ModelRegistry", "Rows", "check_name", "check_versions", "json_ready",
           "library_versions"]

# the kinds ``dmp.models.fit`` builds (here, where the command line can read them cheaply)
FIT_KINDS = ("clv", "propensity", "churn", "rules", "recommend")

# Names become folder names: keep them to a safe, lower-case slug.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def check_name(name: object, field: str = "name") -> str:
    """``name`` when it is a valid model name (a lower-case slug), else a ValidationError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(f"model names are lower-case slugs of letters, digits and '_' "
                              f"starting with a letter (e.g. 'clv', 'p_order_90d'), got {name!r}",
                              field=field)
    return name


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON values: numpy scalars and arrays unwrapped, dates as ISO text,
    non-finite floats as ``None`` (strict JSON has no NaN or infinity)."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [json_ready(v) for v in (value.tolist() if isinstance(value, np.ndarray)
                                        else value)]
    if isinstance(value, np.generic):
        return json_ready(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _save(obj: Any, path: Path) -> None:
    try:
        joblib.dump(obj, path)
    except (pickle.PicklingError, AttributeError, TypeError):
        # Some fitted objects hold closures (e.g. a propensity model's linear explainer) that
        # plain pickle cannot name; cloudpickle stores them by value, and its files are
        # ordinary pickles that joblib.load reads back.
        with path.open("wb") as f:
            cloudpickle.dump(obj, f)


# Two fits registering at once (two jobs, an API call beside a job) must not both read the same
# "next version": choosing the number, saving the artefact and adding the row happen under one
# lock (one process owns a DuckDB store, so a process-wide lock is enough).
_REGISTER_LOCK = threading.Lock()
# Libraries whose pickles only load faithfully into the same major.minor release.
_PINNED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "lightgbm", "implicit", "mlxtend")


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a saved model's pickle depends on."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for lib in ("aidmp", *_PINNED_LIBRARIES):
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            continue
    return out


def check_versions(saved: Mapping[str, str], model: str) -> None:
    """Refuse a model saved under another major.minor of a library its pickle depends on.

    Raises:
        ValidationError: naming the library, the version it was saved with and the one here.
    """
    here = library_versions()
    for lib in ("python", *_PINNED_LIBRARIES):
        then, now = saved.get(lib), here.get(lib)
        if then and now and then.split(".")[:2] != now.split(".")[:2]:
            raise ValidationError(
                f"{model} was saved with {lib} {then}, this installation has {now}; "
                f"refit it (`aidmp models fit`) or install {lib}=={then}", field="model")


def _dumps(value: Mapping[str, Any] | None) -> str:
    return json.dumps(json_ready(dict(value or {})), allow_nan=False)


Rows = list[dict[str, Any]]


class ModelRegistry:
    """Versions of named models: save, list, show, load, archive.

    Args:
        engine: the store holding the ``models`` table.
        folder: the folder artefacts are saved under (one sub-folder per model name).
    """

    def __init__(self, engine: Engine, folder: Path | str) -> None:
        self.engine = engine
        self.folder = Path(folder)

    def _rows(self, name: str | None = None) -> Rows:
        t = self.engine.table("models")
        if name is not None:
            t = t.filter(t.name == name)
        rows = self.engine.execute(t.order_by(["name", "version"])).to_pylist()
        for row in rows:
            for col in ("params", "metrics", "data_window"):
                row[col] = json.loads(row[col]) if row[col] else {}
        return rows

    def _next_version(self, name: str) -> int:
        t = self.engine.table("models")
        t = t.filter(t.name == name)
        top = self.engine.execute(t.aggregate(v=t.version.max())).column("v")[0].as_py()
        return int(top or 0) + 1

    def register(self, name: str, estimator: Any, kind: str,
                 params: Mapping[str, Any] | None = None,
                 metrics: Mapping[str, Any] | None = None,
                 data_window: Mapping[str, Any] | None = None) -> int:
        """Save ``estimator`` as the next version of ``name``; return that version number.

        Args:
            name: model name (a lower-case slug).
            estimator: any picklable fitted object.
            kind: what it is (``clv``, ``propensity``, ``rules``, ``recommend``...).
            params: hyper-parameters and learned parameters (JSON-ready after conversion).
            metrics: evaluation metrics.
            data_window: which data it saw (dates, row counts).

        Raises:
            ValidationError: a bad name or kind.
        """
        check_name(name)
        if not isinstance(kind, str) or not kind:
            raise ValidationError("kind must be a non-empty text such as 'clv'", field="kind")
        with _REGISTER_LOCK:
            version = self._next_version(name)
            path = self.folder / name / f"v{version}.joblib"
            path.parent.mkdir(parents=True, exist_ok=True)
            _save(estimator, path)
            path.with_suffix(".versions.json").write_text(json.dumps(library_versions()))
            row = {"name": name, "version": version, "kind": kind, "params": _dumps(params),
                   "metrics": _dumps(metrics), "data_window": _dumps(data_window),
                   "artifact": str(path), "created_at": datetime.now(UTC), "status": "active"}
            self.engine.append("models", pa.Table.from_pylist(
                [row], schema=arrow_schema(TABLES["models"])))
        return version

    def list(self, name: str | None = None, include_archived: bool = True) -> Rows:
        """Every registered version (of one name), by name and version, JSON fields parsed."""
        rows = self._rows(None if name is None else check_name(name))
        return [r for r in rows if include_archived or r["status"] == "active"]

    def names(self) -> builtins.list[str]:
        """Names with at least one version."""
        return sorted({r["name"] for r in self._rows()})

    def show(self, name: str, version: int | None = None) -> dict[str, Any]:
        """One version's row; the newest active version when ``version`` is ``None``.

        Raises:
            NotFoundError: no such model, version, or no active version (the message lists
                what exists).
        """
        rows = self._rows(check_name(name))
        if not rows:
            known = ", ".join(self.names()) or "none yet"
            raise NotFoundError(f"no model named {name!r}; registered models: {known}")
        if version is None:
            active = [r for r in rows if r["status"] == "active"]
            if not active:
                raise NotFoundError(f"model {name!r} has no active version (all "
                                    f"{len(rows)} archived); pass a version")
            return active[-1]
        for row in rows:
            if row["version"] == version:
                return row
        raise NotFoundError(f"model {name!r} has no version {version}; versions: "
                            f"{', '.join(str(r['version']) for r in rows)}")

    def load(self, name: str, version: int | None = None) -> Any:
        """The saved estimator of a version (the newest active one by default).

        Raises:
            NotFoundError: unknown model or version, or its artefact file is gone.
        """
        row = self.show(name, version)
        path = Path(row["artifact"])
        if not path.exists():
            raise NotFoundError(f"the artefact of {name} v{row['version']} is missing: {path}")
        versions = path.with_suffix(".versions.json")
        if versions.exists():  # versions saved before this was recorded load as before
            check_versions(json.loads(versions.read_text()), f"model {name} v{row['version']}")
        return joblib.load(path)

    def archive(self, name: str, version: int | None = None) -> dict[str, Any]:
        """Mark a version (the newest active one by default) archived; return its row."""
        row = self.show(name, version)
        stored = {**row, "status": "archived"}
        for col in ("params", "metrics", "data_window"):
            stored[col] = _dumps(row[col])
        self.engine.upsert("models", pa.Table.from_pylist(
            [stored], schema=arrow_schema(TABLES["models"])))
        return {**row, "status": "archived"}
