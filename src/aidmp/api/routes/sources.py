"""``/v1/sources/import``: import a PostgreSQL / MySQL / MariaDB table or query (admin keys).

The DSN may name its password as ``${VAR}``, read from the server's environment, so a
password need not travel in the request; either way it is never logged or answered back.

Example:
    >>> sorted(r.path for r in router.routes)
    ['/v1/sources', '/v1/sources/import']
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from aidmp.api.auth import require
from aidmp.privacy.keys import ApiKey
from aidmp.spec.imports import mapping_from

router = APIRouter(tags=["sources"])


class DatabaseImportRequest(BaseModel):
    """A table or a query to import, and how its columns map to events."""

    model_config = ConfigDict(extra="forbid")
    dsn: str = Field(min_length=1, max_length=2000,
                     description="postgresql:// or mysql:// URL; ${VAR} from the environment")
    table: str | None = Field(default=None, max_length=200)
    query: str | None = Field(default=None, max_length=100_000)
    cursor: str | None = Field(default=None, max_length=63)
    name: str | None = Field(default=None, max_length=64)
    full: bool = False
    mapping: dict[str, Any] = Field(description="import mapping (as for files)")


@router.post("/v1/sources/import")
def import_database(request: Request, body: DatabaseImportRequest,
                    key: ApiKey = Depends(require("operate"))) -> dict[str, Any]:
    """Import rows (all, or those past the stored cursor); answers the counts and the cursor."""
    dmp = request.app.state.dmp
    report = dmp.sources.run(body.dsn, mapping_from(body.mapping), table=body.table,
                                  query=body.query, cursor=body.cursor, name=body.name,
                                  full=body.full)
    out: dict[str, Any] = report.to_dict()
    dmp.audit.record(key.key_id, "sources.import", report.source,
                     {"read": out["read"], "stored": out["stored"]})
    return out


@router.get("/v1/sources")
def list_sources(request: Request, _: ApiKey = Depends(require("aggregate"))
                 ) -> list[dict[str, Any]]:
    """Database sources imported so far, with their cursor (DSNs without passwords)."""
    return request.app.state.dmp.sources.sources()  # type: ignore[no-any-return]
