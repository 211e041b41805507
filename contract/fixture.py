"""Provision the data the schemathesis run needs, through the operator API.

Standard library only (it runs before anything is generated). Prints shell `export` lines
that contract/run.sh evaluates:

- CONTRACT_OWNER_ID, CONTRACT_KEY, CONTRACT_KEY_ID: an owner on the `professional` plan with
  a ready twin, and a live key holding every scope the document lists, no rate limit and the
  plan's largest quota, so a few thousand generated requests never meet 429.
- CONTRACT_DECOY_KEY_ID, CONTRACT_DECOY_OWNER_ID: a second key of that owner and a second
  owner. The hooks (st_hooks.py) send the mutating calls that schemathesis aims at the
  authenticating key or owner (revoke, rotate, PATCH, plan change) to these instead, so the
  run cannot saw off the branch it sits on.
- CONTRACT_SNAPSHOT_ID, CONTRACT_PURCHASE_ID: the owner's ready snapshot.
- CONTRACT_LOGIN_TOKEN: a one-time dashboard login link's token (the first redeem answers 303,
  every later one 401, both documented).
- CONTRACT_PLAN_LIMITS: JSON {slug: {maxMonthlyQuota, maxRateLimitRpm, ...}} of the plans seen,
  for the plan-maximum exception in st_hooks.py.

Usage: fixture.py BASE_URL ADMIN_TOKEN SAMPLE_TWIN_JSON
"""

from __future__ import annotations

import json
import shlex
import sys
import urllib.error
import urllib.request

PURCHASE_ID = "pur_contract_1"


def call(base: str, method: str, path: str, token: str, body: object | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"fixture: {method} {path} answered {exc.code}: {exc.read()[:500]!r}") from None


def main() -> None:
    base, admin, sample_path = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    with open(sample_path, encoding="utf-8") as fd:
        document = json.load(fd)
    with urllib.request.urlopen(base + "/openapi.json", timeout=30) as resp:
        spec = json.load(resp)
    scopes = spec["components"]["schemas"]["Scope"]["enum"]

    provisioned = call(base, "POST", "/v1/admin/owners", admin, {
        "email": "contract-owner@example.com",
        "plan": "professional",
        "issueKey": {"name": "contract", "scopes": scopes, "rateLimitRpm": 0, "monthlyQuota": 1_000_000},
    })
    owner_id = provisioned["ownerId"]
    key = provisioned["apiKey"]
    decoy = call(base, "POST", f"/v1/admin/owners/{owner_id}/keys", admin, {
        "name": "decoy", "scopes": scopes, "rateLimitRpm": 0, "monthlyQuota": 1_000_000,
    })
    decoy_owner = call(base, "POST", "/v1/admin/owners", admin, {
        "email": "contract-decoy@example.com", "plan": "professional",
    })
    snapshot = call(base, "POST", f"/v1/admin/owners/{owner_id}/snapshots", admin, {
        "source": "purchase", "status": "ready", "purchaseId": PURCHASE_ID, "document": document,
    })
    link = call(base, "POST", f"/v1/admin/owners/{owner_id}/login-links", admin)
    owner = call(base, "GET", f"/v1/admin/owners/{owner_id}", admin)
    limits = {owner["plan"]["slug"]: owner["plan"]}

    values = {
        "CONTRACT_OWNER_ID": owner_id,
        "CONTRACT_KEY": key["key"],
        "CONTRACT_KEY_ID": key["id"],
        "CONTRACT_DECOY_KEY_ID": decoy["id"],
        "CONTRACT_DECOY_OWNER_ID": decoy_owner["ownerId"],
        "CONTRACT_SNAPSHOT_ID": snapshot["id"],
        "CONTRACT_PURCHASE_ID": PURCHASE_ID,
        "CONTRACT_LOGIN_TOKEN": link["url"].split("token=", 1)[1],
        "CONTRACT_PLAN_LIMITS": json.dumps(limits, separators=(",", ":")),
    }
    for name, value in values.items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
