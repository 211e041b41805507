"""Alerts and webhooks end to end (SPEC §15), from the outside, against the real server.

contract/run.sh starts a server of its own for this step (a fresh SQLite database,
TWIN_WEBHOOKS_ALLOW_PRIVATE=true so endpoints may point at loopback, a retry schedule of
1 s waits, an alert sweep every 500 ms) and runs

    python webhooks_e2e.py --base-url URL --admin-token TOKEN --sample-twin FILE

The script provisions an owner with a ready twin and a key holding every scope through the
operator API (as contract/fixture.py does), starts a receiver on 127.0.0.1 (an http.server,
contract/webhooks_receiver.py) and drives everything through the public HTTP API. Every
request the receiver gets is verified with the PyPI `standardwebhooks` library -- not with
the project's code -- on exactly the bytes and headers that arrived:

  1. endpoints: create (the `whsec_` secret once), read, list, event filters, refusals;
  2. key life cycle -> key.created, key.updated, key.disabled, key.enabled, key.rotated,
     key.revoked, and a test ping: each arrives once, in order, signed, and logged;
  3. the receiver answers 500 three times -> the ping arrives on the 4th attempt, the
     delivery log says attempts 4 / succeeded; redeliver sends it once more; a redirect is
     not followed, a 503's Retry-After lengthens the wait, at most 1 KiB of an answer is kept;
  4. rotate-secret -> later deliveries verify with the new secret;
  5. a disabled endpoint gets nothing and cannot be pinged;
  6. quota.threshold: monthlyQuota 5, alertThresholds [80, 100], 6 calls -> exactly one
     event at 80 and one at 100; spend.threshold likewise;
  7. usage.high / failures.high from `alerts` rules, key.expiring / key.expired;
  8. delete; and over everything: no delivery carries a key's plaintext, every delivery is
     in the endpoint's log.

Scenarios run in order; one that fails is reported and the others still run. The script
ends with one line "webhooks e2e: N passed, M failed" (N checks passed, M scenarios failed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import standardwebhooks
from standardwebhooks import Webhook, WebhookVerificationError

from webhooks_receiver import Delivery, Receiver

# How long an event may take to arrive: the dispatcher wakes on every event of its own
# process and polls every second; the alert sweep runs every 500 ms after a usage-log flush
# of 500 ms.
ARRIVAL = 15.0
# How long to keep listening after the expected events, so that a duplicate would be seen.
SETTLE = 2.0

passed = 0


class Fail(AssertionError):
    pass


def check(condition: Any, what: str, detail: Any = "") -> None:
    global passed
    if not condition:
        raise Fail(f"{what}{': ' + str(detail)[:1500] if detail != '' else ''}")
    passed += 1


# ------------------------------------------------------------------------------------------
# HTTP


class Resp:
    def __init__(self, status: int, body: bytes, headers: dict[str, str]):
        self.status = status
        self.raw = body
        self.headers = headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self) -> str:
        return f"{self.status} {self.raw[:600]!r}"


class Api:
    def __init__(self, base: str, admin_token: str):
        self.base = base.rstrip("/")
        self.admin_token = admin_token

    def call(self, method: str, path: str, *, key: str | None = None, admin: bool = False,
             body: Any = None) -> Resp:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if admin:
            req.add_header("Authorization", f"Bearer {self.admin_token}")
        if key:
            req.add_header("X-Twin-Key", key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return Resp(r.status, r.read(), {k.lower(): v for k, v in r.headers.items()})
        except urllib.error.HTTPError as exc:
            return Resp(exc.code, exc.read(), {k.lower(): v for k, v in exc.headers.items()})

    def expect(self, status: int, method: str, path: str, **kw) -> Resp:
        r = self.call(method, path, **kw)
        check(r.status == status, f"{method} {path} answers {status}", r)
        return r


def error_code(r: Resp) -> str | None:
    return ((r.json or {}).get("error") or {}).get("code") if isinstance(r.json, dict) else None


def iso_in(seconds: float) -> str:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------
# Deliveries


def verify(d: Delivery, secret: str) -> tuple[bool, str]:
    """standardwebhooks' verdict on one delivery as it arrived (timestamp tolerance included)."""
    try:
        Webhook(secret).verify(d.body, d.headers)
        return True, ""
    except WebhookVerificationError as exc:
        return False, str(exc)
    except Exception as exc:  # a malformed header makes the library raise something else
        return False, f"{type(exc).__name__}: {exc}"


def event(d: Delivery) -> dict[str, Any]:
    try:
        value = json.loads(d.body)
    except ValueError:
        raise Fail(f"a delivery's body is not JSON: {d.body[:300]!r}") from None
    return value if isinstance(value, dict) else {}


def unique(deliveries: list[Delivery]) -> list[Delivery]:
    """The first arrival of each webhook-id (retries and redeliveries share it)."""
    seen: set[str] = set()
    out = []
    for d in deliveries:
        if d.webhook_id not in seen:
            seen.add(d.webhook_id)
            out.append(d)
    return out


def of_type(deliveries: list[Delivery], kind: str, **data: Any) -> list[Delivery]:
    out = []
    for d in deliveries:
        e = event(d)
        if e.get("type") != kind:
            continue
        if all((e.get("data") or {}).get(k) == v for k, v in data.items()):
            out.append(d)
    return out


class World:
    """What the scenarios share."""

    def __init__(self, api: Api, receiver: Receiver):
        self.api = api
        self.rx = receiver
        self.key = ""  # the manager key: every scope
        self.owner_id = ""
        self.plaintexts: list[str] = []  # every key plaintext the run saw
        # Endpoint "a" (every event) and "b" (key.revoked only): id and secrets in order.
        self.ids: dict[str, str] = {}
        self.secrets: dict[str, list[tuple[int, str]]] = {}  # name -> [(from arrival index, secret)]

    # --- helpers -------------------------------------------------------------------------

    def owner_call(self, status: int, method: str, path: str, body: Any = None) -> Resp:
        return self.api.expect(status, method, path, key=self.key, body=body)

    def new_key(self, body: dict[str, Any]) -> dict[str, Any]:
        r = self.owner_call(201, "POST", "/v1/keys", body)
        self.plaintexts.append(r.json["key"])
        return r.json

    def secret_for(self, name: str, index: int) -> str:
        """The secret in force for the `index`-th arrival on endpoint `name`."""
        current = ""
        for start, secret in self.secrets[name]:
            if index >= start:
                current = secret
        return current

    def wait_for(self, name: str, what: str, predicate: Callable[[list[Delivery]], bool],
                 timeout: float = ARRIVAL) -> list[Delivery]:
        ok = self.rx.wait(lambda rx: predicate(rx.got(name)), timeout)
        got = self.rx.got(name)
        check(ok, f"{what} (within {timeout:.0f} s)",
              [(event(d).get("type"), (event(d).get("data") or {}).get("keyId"), d.answered) for d in got[-15:]])
        return got

    def log(self, name: str) -> list[dict[str, Any]]:
        """The endpoint's whole delivery log (every page), newest first."""
        items: list[dict[str, Any]] = []
        cursor = None
        for _ in range(50):
            path = f"/v1/webhooks/{self.ids[name]}/deliveries?limit=100" + (f"&cursor={cursor}" if cursor else "")
            page = self.owner_call(200, "GET", path).json
            items.extend(page["items"])
            cursor = page.get("nextCursor")
            if not cursor:
                break
        return items

    def settled(self, name: str, timeout: float = ARRIVAL) -> list[dict[str, Any]]:
        """Waits until nothing of the endpoint is pending; returns its log."""
        deadline = time.monotonic() + timeout
        while True:
            items = self.log(name)
            pending = [i for i in items if i["status"] == "pending"]
            if not pending:
                return items
            if time.monotonic() > deadline:
                raise Fail(f"endpoint {name}: deliveries still pending after {timeout:.0f} s: {pending[:3]}")
            time.sleep(0.2)

    def check_signed(self, name: str, d: Delivery, index: int) -> None:
        secret = self.secret_for(name, index)
        ok, why = verify(d, secret)
        check(ok, f"standardwebhooks verifies delivery #{index} on {name} ({event(d).get('type')})",
              f"{why}; headers {d.headers}")


# ------------------------------------------------------------------------------------------
# Scenarios


def setup(w: World, sample_twin: str) -> None:
    api = w.api
    spec = api.expect(200, "GET", "/openapi.json").json
    scopes = spec["components"]["schemas"]["Scope"]["enum"]
    check({"webhooks:read", "webhooks:write"} <= set(scopes), "the document lists the webhook scopes", scopes)
    r = api.expect(201, "POST", "/v1/admin/owners", admin=True, body={
        "email": "webhooks-e2e@example.com",
        "plan": "professional",
        "issueKey": {"name": "webhooks e2e", "scopes": scopes, "rateLimitRpm": 0, "monthlyQuota": 1_000_000},
    })
    w.owner_id = r.json["ownerId"]
    w.key = r.json["apiKey"]["key"]
    w.plaintexts.append(w.key)
    with open(sample_twin, encoding="utf-8") as fd:
        document = json.load(fd)
    api.expect(201, "POST", f"/v1/admin/owners/{w.owner_id}/snapshots", admin=True, body={
        "source": "purchase", "status": "ready", "purchaseId": "pur_webhooks_1", "document": document,
    })


def endpoints(w: World) -> None:
    """Create, read, list; the secret only on creation; refusals."""
    created = {}
    for name, events, description in (("a", ["*"], "contract e2e: every event"),
                                      ("b", ["key.revoked"], "contract e2e: revocations only")):
        r = w.owner_call(201, "POST", "/v1/webhooks", {"url": w.rx.url(name), "events": events, "description": description})
        body = r.json
        check(body["id"].startswith("wh_") and body["url"] == w.rx.url(name), f"createWebhook {name}: id and url", body)
        check(body["events"] == events and body["enabled"] is True and body["description"] == description,
              f"createWebhook {name}: events, enabled, description", body)
        check(isinstance(body.get("secret"), str) and body["secret"].startswith("whsec_"),
              f"createWebhook {name}: a whsec_ secret", body)
        Webhook(body["secret"])  # the library accepts it as a secret
        w.ids[name] = body["id"]
        w.secrets[name] = [(0, body["secret"])]
        created[name] = body
    check(created["a"]["secret"] != created["b"]["secret"], "each endpoint has its own secret")

    got = w.owner_call(200, "GET", f"/v1/webhooks/{w.ids['a']}").json
    check("secret" not in got and got["id"] == w.ids["a"], "getWebhook: no secret", got)
    listed = w.owner_call(200, "GET", "/v1/webhooks").json["items"]
    check({w.ids["a"], w.ids["b"]} <= {i["id"] for i in listed} and all("secret" not in i for i in listed),
          "listWebhooks: both, without secrets", listed)

    r = w.api.call("POST", "/v1/webhooks", key=w.key, body={"url": "ftp://127.0.0.1/hook"})
    check(r.status == 400 and error_code(r) == "INVALID_PARAMETER" and r.json["error"].get("parameter") == "url",
          "createWebhook: a non-http(s) URL is refused naming `url`", r)
    r = w.api.call("POST", "/v1/webhooks", key=w.key, body={"url": w.rx.url("x"), "events": ["no.such.event"]})
    check(r.status == 400, "createWebhook: an unknown event type is refused", r)
    r = w.api.call("GET", "/v1/webhooks/wh_0000000000000000", key=w.key)
    check(r.status == 404 and error_code(r) == "NOT_FOUND", "getWebhook: an unknown id is 404", r)

    # Scopes: a key without webhooks:* cannot read or write endpoints.
    plain = w.new_key({"name": "no webhook scopes", "scopes": ["twin:read", "keys:read"]})
    r = w.api.call("GET", "/v1/webhooks", key=plain["key"])
    check(r.status == 403 and error_code(r) == "MISSING_SCOPE" and r.json["error"].get("requiredScope") == "webhooks:read",
          "listWebhooks without webhooks:read: 403 MISSING_SCOPE", r)
    r = w.api.call("POST", "/v1/webhooks", key=plain["key"], body={"url": w.rx.url("x")})
    check(r.status == 403 and r.json["error"].get("requiredScope") == "webhooks:write",
          "createWebhook without webhooks:write: 403 MISSING_SCOPE", r)


def key_life_cycle(w: World) -> None:
    """Every key change sends its event, once, in order, signed; a ping too."""
    start_a = len(w.rx.got("a"))
    k1 = w.new_key({"name": "life cycle", "scopes": ["twin:read"]})
    w.owner_call(200, "PATCH", f"/v1/keys/{k1['id']}", {"name": "life cycle renamed"})
    w.owner_call(200, "PATCH", f"/v1/keys/{k1['id']}", {"isActive": False})
    w.owner_call(200, "PATCH", f"/v1/keys/{k1['id']}", {"isActive": True})
    rotated = w.owner_call(201, "POST", f"/v1/keys/{k1['id']}/rotate", {"gracePeriodSeconds": 600}).json
    w.plaintexts.append(rotated["key"])
    k2 = rotated["id"]
    revoked = w.owner_call(200, "DELETE", f"/v1/keys/{k2}").json
    check(revoked["status"] == "revoked", "revokeKey", revoked)
    ping = w.api.expect(202, "POST", f"/v1/webhooks/{w.ids['a']}/test", key=w.key).json
    check(ping["eventId"].startswith("msg_"), "testWebhook: the ping's event id", ping)

    expected = [("key.created", k1["id"]), ("key.updated", k1["id"]), ("key.disabled", k1["id"]),
                ("key.enabled", k1["id"]), ("key.rotated", k2), ("key.revoked", k2), ("ping", None)]

    kinds = {kind for kind, _ in expected}

    def ours(got: list[Delivery]) -> list[Delivery]:
        # (The rotated-out key also gets a key.expiring from the sweep -- its grace period
        # ends within a day -- at any moment: not part of this sequence.)
        return [d for d in unique(got[start_a:])
                if event(d).get("type") in kinds
                and ((event(d).get("data") or {}).get("keyId") in (k1["id"], k2) or d.webhook_id == ping["eventId"])]

    got = w.wait_for("a", "endpoint a receives the 6 key events and the ping", lambda g: len(ours(g)) >= 7)
    mine = ours(got)
    seen = [(event(d)["type"], (event(d).get("data") or {}).get("keyId")) for d in mine]
    check(seen == expected, "the events arrive once each, in the order of the changes", seen)

    for d in mine:
        e = event(d)
        check(set(e) == {"type", "timestamp", "data"} and isinstance(e["data"], dict),
              f"{e.get('type')}: the body is {{type, timestamp, data}}", e)
        dt.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00"))
        check(d.headers.get("content-type", "").startswith("application/json"), f"{e['type']}: Content-Type JSON", d.headers)
        check(d.webhook_id.startswith("msg_"), f"{e['type']}: webhook-id", d.headers)
        ts = int(d.headers.get("webhook-timestamp", "0"))
        check(abs(ts - time.time()) < 120, f"{e['type']}: webhook-timestamp is now (Unix seconds)", d.headers)
        check(d.headers.get("webhook-signature", "").startswith("v1,"), f"{e['type']}: webhook-signature v1,", d.headers)
        if e["type"] != "ping":
            check(e["data"].get("keyPrefix", "").startswith("atk_live_") and e["data"].get("env") == "live",
                  f"{e['type']}: data names the key by id and prefix", e)
    by_type = {event(d)["type"]: event(d) for d in mine}
    check(by_type["key.rotated"]["data"].get("rotatedFrom") == k1["id"], "key.rotated names the key it replaces", by_type["key.rotated"])
    check("name" in (by_type["key.updated"]["data"].get("changed") or []), "key.updated says what changed", by_type["key.updated"])
    check(by_type["ping"]["data"].get("webhookId") == w.ids["a"], "ping names the endpoint", by_type["ping"])

    index_of = {id(d): i for i, d in enumerate(got)}
    for d in mine:
        w.check_signed("a", d, index_of[id(d)])
        other, _ = verify(d, w.secrets["b"][0][1])
        check(not other, "a delivery does not verify under another endpoint's secret")
    tampered = Delivery(mine[0].path, "POST", dict(mine[0].headers), mine[0].body.replace(b"}", b" }", 1), 0)
    check(not verify(tampered, w.secrets["a"][0][1])[0], "a changed body does not verify (the check is real)")

    # Endpoint b wants key.revoked only: it gets exactly that.
    got_b = w.wait_for("b", "endpoint b receives key.revoked", lambda g: of_type(g, "key.revoked", keyId=k2))
    time.sleep(SETTLE)
    got_b = w.rx.got("b")
    check([event(d)["type"] for d in unique(got_b)] == ["key.revoked"], "an endpoint gets only the types it asked for",
          [event(d)["type"] for d in got_b])
    for i, d in enumerate(got_b):
        w.check_signed("b", d, i)

    log = {i["eventId"]: i for i in w.settled("a")}
    for d in mine:
        item = log.get(d.webhook_id)
        check(item and item["status"] == "succeeded" and item["attempts"] == 1 and item["lastStatusCode"] == 200
              and item["eventType"] == event(d)["type"] and item["id"].startswith("dlv_"),
              f"the delivery log shows {event(d)['type']} succeeded at the first attempt", item)


def retries(w: World) -> None:
    """500, 500, 500, then 200: the 4th attempt delivers; the log says so; redeliver."""
    w.settled("a")  # nothing else in flight: the three 500s are the ping's
    start = len(w.rx.got("a"))
    w.rx.fail_next("a", 3)
    ping = w.api.expect(202, "POST", f"/v1/webhooks/{w.ids['a']}/test", key=w.key).json["eventId"]

    def attempts(got: list[Delivery]) -> list[Delivery]:
        return [d for d in got[start:] if d.webhook_id == ping]

    # While it is failing the log shows it pending, with the answer and the next attempt.
    w.wait_for("a", "the first attempt arrives", lambda g: len(attempts(g)) >= 1)
    deadline = time.monotonic() + ARRIVAL
    pending = None
    while time.monotonic() < deadline:
        item = next((i for i in w.log("a") if i["eventId"] == ping), None)
        if item and item["status"] == "pending" and item["attempts"] >= 1 and item["lastStatusCode"] == 500:
            pending = item
            break
        if item and item["status"] == "succeeded":
            break
        time.sleep(0.1)
    check(pending and pending["nextAttemptAt"] and "500" in (pending.get("error") or "")
          and "failing on purpose" in (pending.get("response") or ""),
          "between attempts the log shows pending, the 500, the answer's body and the next attempt", pending)

    got = w.wait_for("a", "the ping arrives on the 4th attempt", lambda g: any(d.answered == 200 for d in attempts(g)))
    tries = attempts(got)
    check([d.answered for d in tries] == [500, 500, 500, 200], "attempts answered 500, 500, 500, 200",
          [d.answered for d in tries])
    gaps = [round(b.received_at - a.received_at, 2) for a, b in zip(tries, tries[1:])]
    check(all(0.7 <= g <= 10 for g in gaps), "the retries follow the schedule (1 s ± 20 %)", gaps)
    index_of = {id(d): i for i, d in enumerate(got)}
    for d in tries:
        w.check_signed("a", d, index_of[id(d)])
    check(len({d.body for d in tries}) == 1, "every attempt carries the same body")

    deadline = time.monotonic() + ARRIVAL
    item = None
    while time.monotonic() < deadline:
        item = next((i for i in w.log("a") if i["eventId"] == ping), None)
        if item and item["status"] == "succeeded":
            break
        time.sleep(0.1)
    check(item and item["status"] == "succeeded" and item["attempts"] == 4 and item["lastStatusCode"] == 200
          and item["eventType"] == "ping" and item["nextAttemptAt"] is None,
          "the delivery log: attempts 4, status succeeded, last status 200", item)
    check(isinstance(item.get("latencyMs"), int) and item.get("lastAttemptAt"), "the log has latency and last attempt", item)

    # Redeliver: the same event (same webhook-id) once more.
    r = w.api.expect(202, "POST", f"/v1/webhooks/{w.ids['a']}/deliveries/{item['id']}/redeliver", key=w.key).json
    check(r["id"] == item["id"] and r["eventId"] == ping, "redeliverWebhook answers the delivery", r)
    got = w.wait_for("a", "the redelivery arrives", lambda g: len(attempts(g)) >= 5)
    again = attempts(got)[4]
    check(again.body == tries[0].body and again.answered == 200, "the redelivery is the same event")
    w.check_signed("a", again, got.index(again))
    item = next(i for i in w.settled("a") if i["eventId"] == ping)
    check(item["status"] == "succeeded" and item["attempts"] == 5, "the log counts the redelivery", item)
    r = w.api.call("POST", f"/v1/webhooks/{w.ids['a']}/deliveries/dlv_0000000000000000/redeliver", key=w.key)
    check(r.status == 404, "redeliver an unknown delivery: 404", r)


def receiver_answers(w: World) -> None:
    """A redirect is not followed; a 503's Retry-After lengthens the wait; 1 KiB is kept."""
    w.settled("a")
    start = len(w.rx.got("a"))
    start_elsewhere = len(w.rx.got("elsewhere"))
    long_body = b"x" * 5000
    w.rx.answer_next("a", [
        (302, {"Location": w.rx.url("elsewhere")}, b""),
        (503, {"Retry-After": "3"}, long_body),
    ])
    ping = w.api.expect(202, "POST", f"/v1/webhooks/{w.ids['a']}/test", key=w.key).json["eventId"]

    def attempts(got: list[Delivery]) -> list[Delivery]:
        return [d for d in got[start:] if d.webhook_id == ping]

    # After the 503: pending, at most 1 KiB of its body kept, the next attempt >= 3 s away.
    w.wait_for("a", "the attempt answered 503 arrives", lambda g: len(attempts(g)) >= 2)
    deadline = time.monotonic() + ARRIVAL
    item = None
    while time.monotonic() < deadline:
        item = next((i for i in w.log("a") if i["eventId"] == ping), None)
        if item and (item["lastStatusCode"] == 503 or item["status"] == "succeeded"):
            break
        time.sleep(0.1)
    check(item and item["lastStatusCode"] == 503 and item["status"] == "pending" and item["attempts"] == 2,
          "after the 503 the log shows it pending", item)
    kept = (item.get("response") or "").encode()
    check(0 < len(kept) <= 1024 and set(kept) == {ord("x")}, "at most 1 KiB of the answer is kept", len(kept))
    wait = (dt.datetime.fromisoformat(item["nextAttemptAt"].replace("Z", "+00:00"))
            - dt.datetime.fromisoformat(item["lastAttemptAt"].replace("Z", "+00:00"))).total_seconds()
    check(wait >= 2.9, "Retry-After: 3 lengthens the 1 s wait to 3 s", item)

    got = w.wait_for("a", "the ping arrives on the 3rd attempt", lambda g: any(d.answered == 200 for d in attempts(g)))
    tries = attempts(got)
    check([d.answered for d in tries] == [302, 503, 200], "attempts answered 302, 503, 200", [d.answered for d in tries])
    check(tries[2].received_at - tries[1].received_at >= 2.9, "the attempt after the 503 waited for Retry-After",
          tries[2].received_at - tries[1].received_at)
    check(len(w.rx.got("elsewhere")) == start_elsewhere, "the redirect was not followed")
    for d in tries:
        w.check_signed("a", d, got.index(d))
    item = next(i for i in w.settled("a") if i["eventId"] == ping)
    check(item["status"] == "succeeded" and item["attempts"] == 3, "the log: attempts 3, succeeded", item)


def rotate_secret(w: World) -> None:
    """After rotate-secret, deliveries verify with the new secret."""
    w.settled("a")
    old = w.secret_for("a", 10**9)
    r = w.owner_call(200, "POST", f"/v1/webhooks/{w.ids['a']}/rotate-secret").json
    new = r.get("secret", "")
    check(new.startswith("whsec_") and new != old and r["id"] == w.ids["a"], "rotateWebhookSecret: a new secret", r)
    got = w.owner_call(200, "GET", f"/v1/webhooks/{w.ids['a']}").json
    check("secret" not in got, "getWebhook still shows no secret", got)
    start = len(w.rx.got("a"))
    w.secrets["a"].append((start, new))

    k = w.new_key({"name": "after rotation"})
    ping = w.api.expect(202, "POST", f"/v1/webhooks/{w.ids['a']}/test", key=w.key).json["eventId"]
    got = w.wait_for("a", "key.created and a ping after the rotation",
                     lambda g: of_type(g[start:], "key.created", keyId=k["id"]) and any(d.webhook_id == ping for d in g[start:]))
    after = [d for d in got[start:] if d.webhook_id == ping or of_type([d], "key.created", keyId=k["id"])]
    for d in after:
        w.check_signed("a", d, got.index(d))  # the new secret
        sigs = d.headers.get("webhook-signature", "").split(" ")
        check(len(sigs) == 2 and all(s.startswith("v1,") for s in sigs),
              "during the grace period the signature header carries two v1 signatures", d.headers)
        check(verify(d, old)[0], "...and the previous secret still verifies for 24 h (docs/DECISIONS.md)")
    before = w.rx.got("a")[:start]
    check(before and not any(verify(d, new)[0] for d in before), "deliveries before the rotation do not verify with the new secret")


def disabled_endpoint(w: World) -> None:
    """A disabled endpoint receives nothing and cannot be pinged; enabled again, it receives."""
    w.settled("a")
    r = w.owner_call(200, "PATCH", f"/v1/webhooks/{w.ids['a']}", {"enabled": False}).json
    check(r["enabled"] is False, "updateWebhook: disabled", r)
    r = w.api.call("POST", f"/v1/webhooks/{w.ids['a']}/test", key=w.key)
    check(r.status == 409, "testWebhook on a disabled endpoint: 409", r)
    start = len(w.rx.got("a"))
    quiet = w.new_key({"name": "while disabled"})
    time.sleep(SETTLE + 1.0)
    check(not of_type(w.rx.got("a")[start:], "key.created", keyId=quiet["id"]), "a disabled endpoint receives nothing")
    r = w.owner_call(200, "PATCH", f"/v1/webhooks/{w.ids['a']}", {"enabled": True, "description": "enabled again"}).json
    check(r["enabled"] is True and r["description"] == "enabled again", "updateWebhook: enabled", r)
    loud = w.new_key({"name": "enabled again"})
    got = w.wait_for("a", "key.created after re-enabling", lambda g: of_type(g[start:], "key.created", keyId=loud["id"]))
    d = of_type(got[start:], "key.created", keyId=loud["id"])[0]
    w.check_signed("a", d, got.index(d))


def calls(w: World, key: str, n: int, path: str = "/v1/public/twin/preset/estandar") -> list[Resp]:
    return [w.api.call("GET", path, key=key) for _ in range(n)]


def quota_thresholds(w: World) -> None:
    """monthlyQuota 5, alertThresholds [80, 100], 6 calls: one event at 80, one at 100."""
    k = w.new_key({"name": "quota alerts", "scopes": ["twin:read"], "monthlyQuota": 5,
                   "alertThresholds": [80, 100], "rateLimitRpm": 0})
    check(k.get("alertThresholds") == [80, 100] and k["monthlyQuota"] == 5, "createKey shows alertThresholds", k)
    answers = calls(w, k["key"], 6)
    check([r.status for r in answers] == [200] * 5 + [429], "5 calls pass, the 6th is 429", [r.status for r in answers])
    check(error_code(answers[5]) == "MONTHLY_QUOTA_EXCEEDED", "the 6th: MONTHLY_QUOTA_EXCEEDED", answers[5])

    def crossings(got: list[Delivery]) -> list[Delivery]:
        return of_type(unique(got), "quota.threshold", keyId=k["id"])

    w.wait_for("a", "quota.threshold at 80 and at 100",
               lambda g: {event(d)["data"].get("threshold") for d in crossings(g)} >= {80, 100})
    time.sleep(SETTLE)
    got = w.rx.got("a")
    found = crossings(got)
    levels = sorted(event(d)["data"].get("threshold") for d in found)
    check(levels == [80, 100], "exactly one quota.threshold at 80 and one at 100", levels)
    data = {event(d)["data"]["threshold"]: event(d)["data"] for d in found}
    check(data[80]["used"] == 4 and data[80]["limit"] == 5, "80 %: used 4 of 5", data[80])
    check(data[100]["used"] == 5 and data[100]["limit"] == 5, "100 %: used 5 of 5", data[100])
    check(data[80]["keyPrefix"] == k["prefix"] and data[100].get("resetsAt"), "the event names the key and the reset", data[100])
    for d in found:
        w.check_signed("a", d, got.index(d))


def spend_thresholds(w: World) -> None:
    """spendLimit 2 credits (a preset costs 1), alertThresholds [50, 100]: 50 and 100 once each."""
    k = w.new_key({"name": "spend alerts", "scopes": ["twin:read"], "spendLimit": "2", "spendPeriod": "month",
                   "alertThresholds": [50, 100], "rateLimitRpm": 0})
    answers = calls(w, k["key"], 3)
    check([r.status for r in answers] == [200, 200, 402], "2 calls pass, the 3rd is 402", [r.status for r in answers])

    def crossings(got: list[Delivery]) -> list[Delivery]:
        return of_type(unique(got), "spend.threshold", keyId=k["id"])

    w.wait_for("a", "spend.threshold at 50 and at 100",
               lambda g: {event(d)["data"].get("threshold") for d in crossings(g)} >= {50, 100})
    time.sleep(SETTLE)
    got = w.rx.got("a")
    found = crossings(got)
    data = {event(d)["data"]["threshold"]: event(d)["data"] for d in found}
    check(sorted(event(d)["data"]["threshold"] for d in found) == [50, 100], "exactly one spend.threshold at 50 and one at 100",
          [event(d)["data"] for d in found])
    check(data[50]["used"] == "1.000000" and data[100]["used"] == "2.000000" and data[100]["limit"] == "2.000000",
          "spend.threshold carries credits as strings", data)
    for d in found:
        w.check_signed("a", d, got.index(d))


def rules_and_expiry(w: World) -> None:
    """alerts: highUsage / failures rules; a key about to expire, then expired."""
    start = len(w.rx.got("a"))
    k = w.new_key({"name": "rules", "scopes": ["twin:read"], "rateLimitRpm": 0,
                   "alerts": {"highUsage": {"threshold": 3, "period": "hour"},
                              "failures": {"threshold": 1, "period": "hour"}, "unusualActivity": False}})
    check(k.get("alerts", {}).get("highUsage") == {"threshold": 3, "period": "hour"}, "createKey shows the alert rules", k)
    expiring = w.new_key({"name": "expiring", "scopes": ["twin:read"], "expiresAt": iso_in(8)})
    ok = calls(w, k["key"], 4)
    bad = calls(w, k["key"], 2, "/v1/public/twin/preset/estandar?lang=xx")
    check([r.status for r in ok] == [200] * 4 and [r.status for r in bad] == [400, 400], "4 calls pass, 2 are refused 400",
          [r.status for r in ok + bad])

    got = w.wait_for("a", "usage.high and failures.high",
                     lambda g: of_type(g[start:], "usage.high", keyId=k["id"]) and of_type(g[start:], "failures.high", keyId=k["id"]))
    got = w.wait_for("a", "key.expiring, then key.expired",
                     lambda g: of_type(g[start:], "key.expiring", keyId=expiring["id"])
                     and of_type(g[start:], "key.expired", keyId=expiring["id"]), timeout=ARRIVAL + 10)
    calls(w, k["key"], 2)  # more calls in the same hour: no second alert
    time.sleep(SETTLE)
    got = w.rx.got("a")
    mine = unique(got[start:])
    for kind, key_id in (("usage.high", k["id"]), ("failures.high", k["id"]), ("key.expired", expiring["id"])):
        check(len(of_type(mine, kind, keyId=key_id)) == 1, f"exactly one {kind}", [event(d) for d in of_type(mine, kind)])
    check(len(of_type(mine, "key.expiring", keyId=expiring["id"])) == 1, "one key.expiring for a key with less than a day",
          [event(d) for d in of_type(mine, "key.expiring")])
    names = [event(d)["type"] for d in mine if (event(d).get("data") or {}).get("keyId") == expiring["id"]]
    check(names.index("key.expiring") < names.index("key.expired"), "key.expiring comes before key.expired", names)
    for d in mine:
        w.check_signed("a", d, got.index(d))


def delete_and_audit(w: World) -> None:
    """Delete b; then, over every delivery of the run: signed, no plaintext key, in the log."""
    w.api.expect(204, "DELETE", f"/v1/webhooks/{w.ids['b']}", key=w.key)
    r = w.api.call("GET", f"/v1/webhooks/{w.ids['b']}", key=w.key)
    check(r.status == 404, "getWebhook after deleteWebhook: 404", r)
    r = w.api.call("GET", f"/v1/webhooks/{w.ids['b']}/deliveries", key=w.key)
    check(r.status == 404, "its deliveries are gone with it: 404", r)
    r = w.api.call("DELETE", f"/v1/webhooks/{w.ids['b']}", key=w.key)
    check(r.status == 404, "deleteWebhook again: 404", r)
    start_b = len(w.rx.got("b"))
    k = w.new_key({"name": "after delete"})
    w.owner_call(200, "DELETE", f"/v1/keys/{k['id']}")
    w.wait_for("a", "key.revoked reaches a", lambda g: of_type(g, "key.revoked", keyId=k["id"]))
    time.sleep(SETTLE)
    check(len(w.rx.got("b")) == start_b, "a deleted endpoint receives nothing")

    got = w.rx.got("a")
    bad = [(i, event(d).get("type"), verify(d, w.secret_for("a", i))[1]) for i, d in enumerate(got)
           if not verify(d, w.secret_for("a", i))[0]]
    check(not bad, f"standardwebhooks verifies all {len(got)} requests endpoint a received "
          "(the secret in force when each arrived)", bad)
    everything = w.rx.got()
    check(all(d.method == "POST" and d.path in ("/hook/a", "/hook/b") for d in everything), "only POSTs to the endpoints' URLs",
          sorted({(d.method, d.path) for d in everything}))
    leaks = [(event(d).get("type"), d.webhook_id) for d in everything
             if any(plain.encode() in d.body or plain[-32:].encode() in d.body for plain in w.plaintexts)]
    check(not leaks, f"none of the {len(everything)} deliveries carries any of the {len(w.plaintexts)} keys' plaintext "
          "or secret", leaks)
    logged = {i["eventId"] for i in w.settled("a")}
    check({d.webhook_id for d in got} <= logged, "every delivery that arrived is in the endpoint's log",
          {d.webhook_id for d in got} - logged)
    print(f"  {len(everything)} requests received, {len({d.webhook_id for d in everything})} distinct events, "
          f"all verified with standardwebhooks {getattr(standardwebhooks, '__version__', '?')}")


SCENARIOS = [endpoints, key_life_cycle, retries, receiver_answers, rotate_secret, disabled_endpoint,
             quota_thresholds, spend_thresholds, rules_and_expiry, delete_and_audit]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--sample-twin", required=True)
    args = parser.parse_args()

    failed: list[str] = []
    started = time.monotonic()
    with Receiver() as rx:
        print(f"receiver on 127.0.0.1:{rx.port}")
        w = World(Api(args.base_url, args.admin_token), rx)
        try:
            setup(w, args.sample_twin)
        except Exception as exc:
            traceback.print_exc()
            print(f"webhooks e2e: {passed} passed, 1 failed (setup: {exc})")
            return 1
        for scenario in SCENARIOS:
            t0 = time.monotonic()
            before = passed
            try:
                scenario(w)
                print(f"PASS  {scenario.__name__:22s} {passed - before:4d} checks  {time.monotonic() - t0:5.1f} s")
            except Exception as exc:
                failed.append(scenario.__name__)
                if not isinstance(exc, Fail):
                    traceback.print_exc()
                print(f"FAIL  {scenario.__name__:22s} after {passed - before} checks  {time.monotonic() - t0:5.1f} s: "
                      f"{type(exc).__name__}: {exc}", flush=True)
    took = time.monotonic() - started
    detail = f" ({', '.join(failed)})" if failed else ""
    print(f"took {took:.1f} s")
    print(f"webhooks e2e: {passed} passed, {len(failed)} failed{detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
