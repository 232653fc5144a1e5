"""``/v1/keys/{key_id}/revoke|rotate`` and ``/v1/uploads/{filename}`` (admin keys).

Example:
    >>> sorted({r.path for r in router.routes})
    ['/v1/keys/{key_id}/revoke', '/v1/keys/{key_id}/rotate', '/v1/uploads/{filename}']
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request

from aidmp.api.auth import require
from aidmp.errors import ValidationError
from aidmp.privacy.keys import ApiKey

router = APIRouter()
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_SUFFIXES = (".csv", ".json", ".ndjson", ".jsonl", ".parquet")


@router.post("/v1/keys/{key_id}/revoke", tags=["keys"], operation_id="keys_revoke")
def keys_revoke(request: Request, key_id: str,
                key: ApiKey = Depends(require("admin"))) -> dict[str, Any]:
    """Revoke a key: every later request with it is refused (no restart needed)."""
    dmp = request.app.state.dmp
    revoked = dmp.keys.revoke(key_id)
    dmp.audit.record(key.key_id, "keys.revoke", key_id)
    return dict(revoked.__dict__)


@router.post("/v1/keys/{key_id}/rotate", tags=["keys"], status_code=201,
             operation_id="keys_rotate")
def keys_rotate(request: Request, key_id: str,
                key: ApiKey = Depends(require("admin"))) -> dict[str, Any]:
    """A new key with the old one's scope and source; the old one is revoked. The new secret
    is in this answer only."""
    dmp = request.app.state.dmp
    created = dmp.keys.rotate(key_id)
    dmp.audit.record(key.key_id, "keys.rotate", key_id, {"new": created.key.key_id})
    return {**created.key.__dict__, "secret": created.secret, "replaces": key_id}


@router.put("/v1/uploads/{filename}", tags=["imports"], status_code=201,
            operation_id="uploads_put")
async def uploads_put(request: Request, filename: str,
                      key: ApiKey = Depends(require("operate"))) -> dict[str, Any]:
    """Store a file (the raw request body) for an import; answers the server-side ``path`` to
    give an ``import`` job. Bodies are limited to ``limits.max_body_bytes``; larger files are
    imported from a path the server can read."""
    if not _FILE_NAME.match(filename) or not filename.lower().endswith(_SUFFIXES):
        raise ValidationError(f"use letters, digits, '_', '-', '.' and one of the suffixes "
                              f"{', '.join(_SUFFIXES)}", field="filename")
    body = await request.body()
    if not body:
        raise ValidationError("the file is empty", field="body")
    folder = Path(request.app.state.dmp.home) / "uploads" / secrets.token_hex(8)
    folder.mkdir(parents=True)
    target = folder / filename
    target.write_bytes(body)
    request.app.state.dmp.audit.record(key.key_id, "uploads.put", filename, {"bytes": len(body)})
    return {"path": str(target), "bytes": len(body)}
