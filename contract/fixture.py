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
- CONTRACT_WEBHOOK_ID, CONTRACT_DELIVERY_ID, CONTRACT_DECOY_WEBHOOK_ID: a webhook endpoint of
  the owner with one delivery in its log (a ping), and a second endpoint that st_hooks.py
  sends schemathesis' DELETEs of the first one to. The server refuses private addresses
  (SPEC §15), so the endpoint's URL is https on a public address; run.sh points the server's
  HTTP(S)_PROXY at its loopback egress sink (contract/egress_sink.py, log in
  $CONTRACT_EGRESS_LOG), and this script makes sure the ping's delivery attempt really ended
  there before it hands anything to schemathesis. Without $CONTRACT_EGRESS_LOG it refuses to
  make webhook endpoints at all.

Usage: fixture.py BASE_URL ADMIN_TOKEN SAMPLE_TWIN_JSON
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
import urllib.error
import urllib.request

PURCHASE_ID = "pur_contract_1"
# A public address the server's address rules accept (it is their own example of one). No
# packet goes there: the server's deliveries go to the egress sink, as checked below.
WEBHOOK_HOST = "93.184.216.34"


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


def webhook_fixture(base: str, key: str) -> tuple[str, str, str]:
    """The endpoint, a delivery of it, and the decoy endpoint (see the module's doc)."""
    egress_log = os.environ.get("CONTRACT_EGRESS_LOG")
    if not egress_log:
        raise SystemExit("fixture: CONTRACT_EGRESS_LOG is not set: no webhook endpoint is made without the "
                         "egress sink that keeps its deliveries on this machine (see contract/run.sh)")
    url = f"https://{WEBHOOK_HOST}/contract-webhooks"
    # `grant.revoked` is not sent yet (SPEC §14): only pings and redeliveries reach the log
    # until schemathesis changes the events.
    endpoint = call(base, "POST", "/v1/webhooks", key, {
        "url": url, "events": ["grant.revoked"], "description": "contract fixture",
    })
    decoy = call(base, "POST", "/v1/webhooks", key, {
        "url": url, "events": ["grant.revoked"], "description": "contract decoy (DELETEs land here)",
    })
    ping = call(base, "POST", f"/v1/webhooks/{endpoint['id']}/test", key)
    deadline = time.monotonic() + 20
    item, held = None, False
    while time.monotonic() < deadline:
        log = call(base, "GET", f"/v1/webhooks/{endpoint['id']}/deliveries", key)
        item = next((i for i in log["items"] if i["eventId"] == ping["eventId"]), None)
        with open(egress_log, encoding="utf-8") as fd:
            held = any(f"CONNECT {WEBHOOK_HOST}:443 " in line for line in fd)
        if item and item["attempts"] >= 1 and held:
            return endpoint["id"], item["id"], decoy["id"]
        time.sleep(0.2)
    # Stop it trying again before failing.
    call(base, "PATCH", f"/v1/webhooks/{endpoint['id']}", key, {"enabled": False})
    raise SystemExit(f"fixture: the ping's delivery attempt did not reach the egress sink "
                     f"(delivery {item}, sink saw it: {held}): the egress guard does not hold")


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
    webhook_id, delivery_id, decoy_webhook_id = webhook_fixture(base, key["key"])
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
        "CONTRACT_WEBHOOK_ID": webhook_id,
        "CONTRACT_DELIVERY_ID": delivery_id,
        "CONTRACT_DECOY_WEBHOOK_ID": decoy_webhook_id,
    }
    for name, value in values.items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
