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
from aidmp.api.routes.jobs import JOB_RESPONSES, WAIT, answer_job
from aidmp.privacy.keys import ApiKey

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


@router.post("/v1/sources/import", status_code=202, responses=JOB_RESPONSES)
def import_database(request: Request, body: DatabaseImportRequest, wait: bool = WAIT,
                    key: ApiKey = Depends(require("operate"))) -> Any:
    """Import rows (all, or those past the stored cursor).

    A ``sources.import`` job (its DSN stored and shown without the password): answered 202
    with the job at once; ``?wait=true`` answers the counts and the cursor once it ends.
    """
    return answer_job(request, key, "sources.import", body.model_dump(), wait=wait)


@router.get("/v1/sources")
def list_sources(request: Request, _: ApiKey = Depends(require("aggregate"))
                 ) -> list[dict[str, Any]]:
    """Database sources imported so far, with their cursor (DSNs without passwords)."""
    return request.app.state.dmp.sources.sources()  # type: ignore[no-any-return]
