"""API keys as tenants with scopes.

`MICROFLEET_API_KEYS` takes two forms:
- plain, `k1,k2`: each key is a tenant of its own (named by a hash of the key), with every scope;
- with tenants, `keyA=acme:chat,ingest;keyB=beta:chat`: entries split by `;`, each
  `KEY=TENANT` with an optional `:SCOPE,SCOPE` list (every scope when it is left out).

A server with no keys serves one tenant, `public`, with every scope.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from microfleet.core.hits import OPERATOR
from microfleet.errors import UserError

SCOPES = ("chat", "ingest")  # chat: answers, search, models, ratings; ingest: write documents
PUBLIC_TENANT = "public"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: its tenant, and what it may do."""

    tenant: str
    scopes: frozenset[str] = frozenset(SCOPES)

    def can(self, scope: str) -> bool:
        return scope in self.scopes


PUBLIC = Principal(PUBLIC_TENANT)


def tenant_of(api_key: str | None) -> str:
    """A stable, non-secret tenant id for a key given in the plain form."""
    if not api_key:
        return PUBLIC_TENANT
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def parse_api_keys(raw: str) -> dict[str, Principal]:
    """Key -> principal; a UserError naming the entry that cannot be read."""
    if "=" not in raw:
        keys = [key.strip() for key in raw.split(",") if key.strip()]
        return {key: Principal(tenant_of(key)) for key in keys}
    return dict(_entry(part.strip()) for part in raw.split(";") if part.strip())


def _entry(text: str) -> tuple[str, Principal]:
    key, _, rest = text.partition("=")
    tenant, _, listed = rest.partition(":")
    key, tenant = key.strip(), tenant.strip()
    scopes = frozenset(s.strip() for s in listed.split(",") if s.strip()) or frozenset(SCOPES)
    where = f"MICROFLEET_API_KEYS entry '{key[:4]}…'"
    if not key or not tenant:
        raise UserError(f"{where}: write KEY=TENANT or KEY=TENANT:chat,ingest")
    if unknown := sorted(scopes - set(SCOPES)):
        raise UserError(f"{where}: unknown scope {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    return key, Principal(tenant, scopes)


def principal(conn: HTTPConnection) -> Principal:
    """The principal the guard admitted this request as (`public` on an open route)."""
    found = getattr(conn.state, "principal", None)
    return found if isinstance(found, Principal) else PUBLIC


def require(scope: str) -> Callable[[HTTPConnection], Principal]:
    """A route dependency: the principal, or 403 when its key lacks `scope`."""

    def check(conn: HTTPConnection) -> Principal:
        who = principal(conn)
        if not who.can(scope):
            raise HTTPException(403, f"this API key may not {scope}; ask for a key with '{scope}'")
        return who

    return check


def readers(who: Principal, visibility: str) -> tuple[str, ...]:
    """Whose documents `who` may read: the operator's and its own, or (shared) everyone's."""
    return () if visibility == "shared" else (OPERATOR, who.tenant)
