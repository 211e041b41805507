"""End-to-end journey through a Python client generated from the live OpenAPI document.

contract/run.sh generates the client with
    openapi-python-client generate --path <live openapi.json> --output-path <dir>/twin_api_client --meta none
and runs
    python e2e_python.py --client-dir <dir> --base-url URL --admin-token TOKEN --sample-twin FILE

Every request goes through the generated package: its operation modules (`sync_detailed`, which
also exposes status and headers) and its models (`from_dict` / `to_dict`). The one request the
typed API cannot express -- an out-of-enum `format` -- is sent through the same module's
request builder and response parser on the generated client's own httpx client. Request
bodies are built with `Model.from_dict` and enums are looked up from the operations' type
hints, so a model renamed in the document does not break the script; a field renamed does.

Assertions fail the run; the script ends with one line "python e2e: N passed, 0 failed".
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import enum
import importlib
import json
import pkgutil
import re
import sys
import time
import traceback
import typing
import zlib
from typing import Any

KEY_RE = re.compile(r"^atk_(live|test)_[0-9a-f]{8}_[0-9a-f]{32}$")
LANGS = ["es", "en", "fr", "de", "it", "pt"]
VARIANTS = ["claude", "gpt", "gemini", "generic"]
FORMATS = {"txt": "text/plain", "md": "text/markdown", "json": "application/json", "yaml": "application/yaml"}

passed = 0


class Fail(AssertionError):
    pass


def check(condition: bool, what: str, detail: Any = "") -> None:
    global passed
    if not condition:
        raise Fail(f"{what}{': ' + str(detail)[:800] if detail != '' else ''}")
    passed += 1


# ------------------------------------------------------------------------------------------
# Helpers over the generated package.


def api(pkg: str, name: str):
    """The generated module of an operation (`<pkg>.api.<tag>.<snake_case operationId>`)."""
    tags = importlib.import_module(f"{pkg}.api")
    for tag in pkgutil.iter_modules(tags.__path__):
        try:
            return importlib.import_module(f"{pkg}.api.{tag.name}.{name}")
        except ModuleNotFoundError:
            continue
    raise Fail(f"the generated client has no module for operation {name}")


def _hint_types(func, param: str) -> list[type]:
    hint = typing.get_type_hints(func)[param]
    args = typing.get_args(hint) or (hint,)
    return [a for a in args if isinstance(a, type)]


def enum_arg(func, param: str, value: str):
    """`value` as the enum the generated function expects for `param`."""
    for t in _hint_types(func, param):
        if issubclass(t, enum.Enum):
            return t(value)
    raise Fail(f"{func.__module__}.{param} is not an enum in the generated client")


def body_arg(func, data: dict[str, Any]):
    """`data` (wire names) as the model the generated function expects for `body`."""
    for t in _hint_types(func, "body"):
        if hasattr(t, "from_dict"):
            return t.from_dict(data)
    raise Fail(f"{func.__module__} takes no model body in the generated client")


def call(mod, expected: int, **kwargs):
    """`sync_detailed` of a generated module, asserting the status."""
    resp = mod.sync_detailed(**kwargs)
    check(
        int(resp.status_code) == expected,
        f"{mod.__name__.rsplit('.', 1)[-1]} answered {int(resp.status_code)}, expected {expected}",
        resp.content[:800].decode("utf-8", "replace"),
    )
    if 200 <= expected < 300 and resp.headers.get("content-type", "").startswith("application/json"):
        check(resp.parsed is not None, f"{mod.__name__}: the generated client parsed the body", resp.content[:300])
    return resp


def as_dict(parsed) -> dict[str, Any]:
    return parsed.to_dict() if hasattr(parsed, "to_dict") else parsed


def forged_key() -> str:
    """A key that is well formed and checksum-valid but was never issued."""
    head = "atk_live_0badc0de_" + "5" * 24
    return head + format(zlib.crc32(head.encode()), "08x")


def check_error(resp, status: int, code: str, what: str) -> dict[str, Any]:
    check(int(resp.status_code) == status, f"{what}: status {int(resp.status_code)}, expected {status}", resp.content[:400])
    check(resp.parsed is not None and hasattr(resp.parsed, "error"), f"{what}: parsed as the error envelope", resp.content[:400])
    error = as_dict(resp.parsed)["error"]
    check(error.get("code") == code, f"{what}: error.code {error.get('code')!r}, expected {code}", error)
    for field in ("type", "message", "requestId"):
        check(bool(error.get(field)), f"{what}: error.{field} present", error)
    check(resp.headers.get("x-request-id") == error["requestId"], f"{what}: X-Request-Id equals error.requestId",
          (resp.headers.get("x-request-id"), error["requestId"]))
    return error


# ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client-dir", required=True)
    parser.add_argument("--package", default="twin_api_client")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--sample-twin", required=True)
    parser.add_argument("--openapi", required=True, help="the document the client was generated from")
    args = parser.parse_args()

    sys.path.insert(0, args.client_dir)
    pkg = args.package

    # The generator must not have dropped an operation: every operationId has its module,
    # with the synchronous and asynchronous entry points.
    with open(args.openapi, encoding="utf-8") as fd:
        spec = json.load(fd)
    operation_ids = [
        o["operationId"] for item in spec["paths"].values() for o in item.values()
        if isinstance(o, dict) and "operationId" in o
    ]
    for operation_id in operation_ids:
        mod = api(pkg, re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower())
        check(all(hasattr(mod, fn) for fn in ("sync_detailed", "asyncio_detailed")),
              f"the generated client has operation {operation_id}")
    check(len(operation_ids) == len(set(operation_ids)), "operationIds are unique", operation_ids)
    client_mod = importlib.import_module(f"{pkg}.client")
    Client, AuthenticatedClient = client_mod.Client, client_mod.AuthenticatedClient

    base = args.base_url.rstrip("/")
    anon = Client(base_url=base)
    admin = AuthenticatedClient(base_url=base, token=args.admin_token)

    def key_client(key: str):
        return AuthenticatedClient(base_url=base, token=key, auth_header_name="X-Twin-Key", prefix="")

    with open(args.sample_twin, encoding="utf-8") as fd:
        sample = json.load(fd)

    op = lambda name: api(pkg, name)  # noqa: E731

    # --- ops -------------------------------------------------------------------------------
    r = call(op("get_livez"), 200, client=anon)
    r = call(op("get_readyz"), 200, client=anon)
    check(as_dict(r.parsed)["status"] == "ready", "readyz says ready", r.content)

    # --- operator: provision an owner, ingest twins ------------------------------------------
    prov = op("provision_owner")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%H%M%S%f")
    owner_id = f"py-e2e-{stamp}"
    r = call(prov, 201, client=admin, body=body_arg(prov.sync_detailed, {
        "ownerId": owner_id, "email": "py-e2e@example.com", "plan": "professional", "issueKey": True,
    }))
    provisioned = r.parsed
    check(provisioned.owner_id == owner_id and provisioned.status == "provisioned", "provisioned", as_dict(provisioned))
    root_key = provisioned.api_key.key
    check(bool(KEY_RE.match(root_key)), "issued key matches the key regex", root_key)
    root_view = as_dict(provisioned.api_key)
    check(root_view["env"] == "live" and root_view["status"] == "active", "issued key is live and active", root_view)
    check({"twin:read", "keys:read", "keys:write", "usage:read", "account:read"} <= set(root_view["scopes"]),
          "issueKey: true grants every scope", root_view["scopes"])
    check(root_view["prefix"] == root_key[: len("atk_live_") + 8], "prefix is the key's display prefix", root_view)

    r = call(prov, 409, client=admin, body=body_arg(prov.sync_detailed, {
        "ownerId": owner_id, "email": "py-e2e@example.com", "plan": "professional",
    }))
    check_error(r, 409, "CONFLICT", "provisioning a taken owner id")

    r = call(op("get_owner"), 200, client=admin, id=owner_id)
    owner = as_dict(r.parsed)
    check(owner["plan"]["slug"] == "professional" and owner["activeKeys"] == 1 and owner["snapshotCount"] == 0,
          "getOwner: plan, one active key, no snapshot", owner)

    root = key_client(root_key)
    r = call(op("get_preset"), 403, client=root, slug="estandar")
    check_error(r, 403, "NO_TWIN_PURCHASED", "preset before any snapshot")

    snap_create = op("create_snapshot")
    r = call(snap_create, 201, client=admin, id=owner_id, body=body_arg(snap_create.sync_detailed, {
        "source": "purchase", "purchaseId": "pur_py_1", "status": "ready", "document": sample,
    }))
    snap1 = as_dict(r.parsed)
    check(snap1["version"] == 1 and snap1["status"] == "ready" and snap1["purchaseId"] == "pur_py_1",
          "createSnapshot: version 1, ready, purchaseId", snap1)

    second = copy.deepcopy(sample)
    second["subject"]["displayName"] = "Contract Python Twin"
    r = call(snap_create, 201, client=admin, id=owner_id, body=body_arg(snap_create.sync_detailed, {
        "source": "purchase", "purchaseId": "pur_py_2", "status": "pending",
    }))
    snap2 = as_dict(r.parsed)
    check(snap2["version"] == 2 and snap2["status"] == "pending", "createSnapshot: version 2, pending", snap2)

    bad = copy.deepcopy(sample)
    bad["sections"][0]["key"] = "Not A Key"
    r = call(snap_create, 400, client=admin, id=owner_id, body=body_arg(snap_create.sync_detailed, {
        "source": "purchase", "status": "ready", "document": bad,
    }))
    err = check_error(r, 400, "INVALID_PARAMETER", "an invalid twin document")
    check(str(err.get("path", "")).startswith("/sections/0"), "invalid document: error.path points into it", err)

    snap_update = op("update_snapshot")
    r = call(snap_update, 200, client=admin, id=snap2["id"], body=body_arg(snap_update.sync_detailed, {"status": "generating"}))
    check(as_dict(r.parsed)["status"] == "generating", "updateSnapshot: pending -> generating", r.content)

    live = key_client(root_key)
    r = call(op("get_preset"), 200, client=live, slug="estandar", format_=enum_arg(op("get_preset").sync_detailed, "format_", "json"))
    check(json.loads(r.content)["snapshot"]["id"] == snap1["id"], "while v2 generates, the latest ready (v1) is served", r.content[:300])

    r = call(snap_update, 200, client=admin, id=snap2["id"], body=body_arg(snap_update.sync_detailed, {"status": "ready", "document": second}))
    check(as_dict(r.parsed)["status"] == "ready", "updateSnapshot: generating -> ready", r.content)
    r = call(snap_update, 409, client=admin, id=snap2["id"], body=body_arg(snap_update.sync_detailed, {"status": "pending"}))
    check_error(r, 409, "CONFLICT", "ready is final")

    # --- owner API: keys -----------------------------------------------------------------------
    create_key = op("create_key")
    r = call(create_key, 201, client=root, body=body_arg(create_key.sync_detailed, {
        "name": "  py live  ", "env": "live", "scopes": ["twin:read", "usage:read"],
        "monthlyQuota": 5000, "rateLimitRpm": 0, "expiresInDays": 30,
        "spendLimit": "1000.5", "spendPeriod": "week", "meta": {"crm": "py", "n": 1},
    }))
    live_created = r.parsed
    live_key = live_created.key
    lv = as_dict(live_created)
    check(bool(KEY_RE.match(live_key)) and live_key.startswith("atk_live_"), "createKey: a live key", live_key)
    check(lv["name"] == "py live", "createKey: name trimmed", lv["name"])
    check(sorted(lv["scopes"]) == ["twin:read", "usage:read"], "createKey: scopes as asked", lv["scopes"])
    check(lv["monthlyQuota"] == 5000 and lv["rateLimitRpm"] == 0, "createKey: limits as asked", lv)
    check(lv["spendLimit"] == "1000.500000" and lv["spendPeriod"] == "week", "createKey: spend cap as asked", lv)
    check(lv["meta"] == {"crm": "py", "n": 1}, "createKey: meta round-trips", lv.get("meta"))
    check(bool(lv.get("expiresAt")) and bool(live_created.warning), "createKey: expiry and warning", lv)
    live = key_client(live_key)

    r = call(create_key, 403, client=root, body=body_arg(create_key.sync_detailed, {"name": "py test", "env": "test"}))
    check_error(r, 403, "MISSING_SCOPE", "a live key creating a test key")

    owner_key = op("create_owner_key")
    r = call(owner_key, 201, client=admin, id=owner_id, body=body_arg(owner_key.sync_detailed, {
        "name": "py test root", "env": "test",
        "scopes": ["twin:read", "keys:read", "keys:write", "usage:read", "account:read"], "rateLimitRpm": 0,
    }))
    test_root = r.parsed.key
    check(test_root.startswith("atk_test_"), "createOwnerKey: a test key", test_root)
    r = call(create_key, 201, client=key_client(test_root), body=body_arg(create_key.sync_detailed, {
        "name": "py test", "env": "test", "scopes": ["twin:read"], "rateLimitRpm": 0,
    }))
    test_key = r.parsed.key
    check(test_key.startswith("atk_test_") and as_dict(r.parsed)["env"] == "test", "createKey: a test key made by a test key", test_key)
    test = key_client(test_key)

    r = call(create_key, 201, client=root, body=body_arg(create_key.sync_detailed, {"name": "py defaults"}))
    dv = as_dict(r.parsed)
    check(dv["scopes"] == ["twin:read"] and dv["env"] == "live" and dv["monthlyQuota"] == 10000 and dv["rateLimitRpm"] == 60,
          "createKey: defaults (twin:read, live, plan quota and rate)", dv)
    defaults_id = dv["id"]

    r = call(create_key, 400, client=root, body=body_arg(create_key.sync_detailed, {"name": "x", "monthlyQuota": 2_000_000}))
    err = check_error(r, 400, "INVALID_PARAMETER", "createKey above the plan's quota")
    check(err.get("parameter") == "monthlyQuota", "the 400 names monthlyQuota", err)

    # --- public API: every preset parameter ---------------------------------------------------
    preset = op("get_preset")
    f = preset.sync_detailed
    txt_by_variant: dict[str, str] = {}
    for fmt, ctype in FORMATS.items():
        for variant in VARIANTS:
            r = call(preset, 200, client=live, slug="estandar", format_=enum_arg(f, "format_", fmt),
                     variant=enum_arg(f, "variant", variant), lang=enum_arg(f, "lang", "en"))
            got = r.headers.get("content-type", "")
            check(got.split(";")[0].strip() == ctype, f"preset {fmt}/{variant}: Content-Type {ctype}", got)
            check(r.headers.get("content-language") == "en", f"preset {fmt}/{variant}: Content-Language en", r.headers.get("content-language"))
            check(r.headers.get("etag", "").startswith('"'), f"preset {fmt}/{variant}: strong ETag", r.headers.get("etag"))
            for h in ("x-twin-quota-limit", "x-twin-quota-used", "x-twin-quota-remaining", "x-twin-quota-reset"):
                check(h in r.headers, f"preset {fmt}/{variant}: header {h}")
            text = r.content.decode("utf-8")
            if fmt == "txt":
                txt_by_variant[variant] = text
                check("Contract Python Twin" in text, f"preset txt/{variant}: the latest ready snapshot's twin", text[:200])
            elif fmt in ("json", "yaml"):
                if fmt == "json":
                    data = json.loads(text)
                else:
                    import yaml

                    # PyYAML reads YAML 1.1, where an unquoted ISO time is a timestamp; the
                    # body is YAML 1.2 (no timestamp type), so read times back as strings.
                    class Yaml12(yaml.SafeLoader):
                        pass

                    Yaml12.yaml_implicit_resolvers = {
                        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
                        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
                    }
                    data = yaml.load(text, Loader=Yaml12)
                preset_model = importlib.import_module(f"{pkg}.models").PresetBody.from_dict(data)
                check(preset_model.preset == "estandar" and preset_model.variant == variant and preset_model.lang == "en",
                      f"preset {fmt}/{variant}: preset, variant, lang", data)
                check(preset_model.system_prompt == txt_by_variant[variant],
                      f"preset {fmt}/{variant}: systemPrompt is exactly the txt rendering")
                check(preset_model.snapshot.id == snap2["id"], f"preset {fmt}/{variant}: snapshot is v2", data["snapshot"])
                check(len(preset_model.sections) > 0, f"preset {fmt}/{variant}: sections")

    etag = r.headers["etag"]
    r = call(preset, 304, client=live.with_headers({"If-None-Match": etag}), slug="estandar",
             format_=enum_arg(f, "format_", "yaml"), variant=enum_arg(f, "variant", "generic"), lang=enum_arg(f, "lang", "en"))
    check(r.content == b"", "If-None-Match: 304 without a body", r.content[:100])

    seen_langs = set()
    for lang in LANGS:
        r = call(preset, 200, client=live, slug="completo", format_=enum_arg(f, "format_", "json"), lang=enum_arg(f, "lang", lang))
        data = json.loads(r.content)
        check(data["lang"] == lang and r.headers.get("content-language") == lang, f"preset lang={lang} served in {lang}", data["lang"])
        seen_langs.add(data["systemPrompt"])
    check(len(seen_langs) == len(LANGS), "the six languages give six different prompts")

    r = call(preset, 200, client=live, slug="estandar")
    check(r.headers.get("content-type", "").startswith("text/plain") and r.headers.get("content-language") == sample["sourceLang"],
          "preset defaults: txt in the source language", (r.headers.get("content-type"), r.headers.get("content-language")))

    with_n = json.loads(call(preset, 200, client=live, slug="estandar", format_=enum_arg(f, "format_", "json"), include_narratives=True).content)
    without_n = json.loads(call(preset, 200, client=live, slug="estandar", format_=enum_arg(f, "format_", "json"), include_narratives=False).content)
    check(any(s.get("narrative") for s in with_n["sections"]), "includeNarratives=true: narratives present")
    check(not any(s.get("narrative") for s in without_n["sections"]), "includeNarratives=false: no narrative", without_n["sections"][0])
    check(len(without_n["systemPrompt"]) < len(with_n["systemPrompt"]), "includeNarratives=false: a shorter prompt")

    r = call(preset, 200, client=live, slug="breve", format_=enum_arg(f, "format_", "json"), purchase_id="pur_py_1",
             lang=enum_arg(f, "lang", "de"), variant=enum_arg(f, "variant", "claude"), include_narratives=False)
    data = json.loads(r.content)
    check(data["snapshot"]["id"] == snap1["id"] and "Contract Python Twin" not in data["systemPrompt"],
          "purchaseId serves that purchase's snapshot", data["snapshot"])
    r = call(preset, 404, client=live, slug="estandar", purchase_id="pur_unknown")
    check_error(r, 404, "NOT_FOUND", "an unknown purchaseId")
    r = call(preset, 404, client=live, slug="no-such-preset")
    check_error(r, 404, "NOT_FOUND", "an unknown preset slug")

    r = call(preset, 200, client=test, slug="estandar", format_=enum_arg(f, "format_", "json"), lang=enum_arg(f, "lang", "en"))
    data = json.loads(r.content)
    check("Contract Python Twin" not in data["systemPrompt"] and sample["subject"]["displayName"] in data["systemPrompt"]
          and data["snapshot"]["id"] not in (snap1["id"], snap2["id"]), "a test key gets the built-in sample twin", data["snapshot"])

    # Error envelope through the generated request builder: an out-of-enum format.
    kwargs = preset._get_kwargs(slug="estandar")
    kwargs["params"] = {**kwargs.get("params", {}), "format": "pdf"}
    raw = preset._build_response(client=live, response=live.get_httpx_client().request(**kwargs))
    err = check_error(raw, 400, "INVALID_PARAMETER", "format=pdf")
    check(err.get("parameter") == "format" and set(err.get("allowed", [])) == set(FORMATS), "format=pdf: parameter and allowed", err)

    # --- public API: health, me, historic, snapshot ---------------------------------------------
    r = call(op("get_health"), 200, client=live)
    h = as_dict(r.parsed)
    check(h["ok"] is True and h["apiKeyId"] == lv["id"] and h["userId"] == owner_id, "health names the key and owner", h)
    r = call(op("get_me"), 200, client=live)
    me = as_dict(r.parsed)
    check(me["quota"]["limit"] == 5000 and me["quota"]["used"] >= 1 and me["snapshot"]["id"] == snap2["id"] and me["env"] == "live",
          "me: quota and the latest ready snapshot", me)
    hist = op("list_snapshots")
    r = call(hist, 200, client=live, limit=1)
    page = as_dict(r.parsed)
    check(len(page["items"]) == 1 and page["items"][0]["version"] == 2 and page.get("nextCursor"), "historic: newest first, paginated", page)
    r = call(hist, 200, client=live, limit=1, cursor=page["nextCursor"])
    page2 = as_dict(r.parsed)
    check(page2["items"][0]["version"] == 1, "historic: the cursor gives the next page", page2)
    r = call(op("get_snapshot"), 200, client=live, id=snap1["id"])
    check(as_dict(r.parsed)["purchaseId"] == "pur_py_1" and "document" not in as_dict(r.parsed), "getSnapshot: metadata only", r.content)

    # --- usage -------------------------------------------------------------------------------
    usage = op("get_key_usage")
    preset_calls = 16 + 1 + 6 + 1 + 2 + 1 + 1 + 1  # 200s and the 304
    deadline = time.monotonic() + 20
    while True:
        r = call(usage, 200, client=root, id=lv["id"], since=enum_arg(usage.sync_detailed, "since", "day"))
        report = as_dict(r.parsed)
        if report["totalCalls"] >= preset_calls + 5 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    check(report["totalCalls"] >= preset_calls, "usage since=day counts the calls (after the flush)", report["totalCalls"])
    check(any(e["route"] == "GET /v1/public/twin/preset/{slug}" for e in report["byEndpoint"]), "usage byEndpoint names the route template", report["byEndpoint"])
    check({v["variant"] for v in report["byVariant"]} >= set(VARIANTS), "usage byVariant has every variant", report["byVariant"])
    check({s["status"] for s in report["byStatus"]} >= {200, 304, 404}, "usage byStatus", report["byStatus"])
    check(0 < report["successRate"] <= 1 and len(report["byDay"]) >= 1, "usage successRate and byDay", report)
    for since in ("week", "month", "all"):
        r = call(usage, 200, client=root, id=lv["id"], since=enum_arg(usage.sync_detailed, "since", since))
        rep = as_dict(r.parsed)
        check(rep["since"] == since and rep["totalCalls"] >= report["totalCalls"], f"usage since={since}", rep["totalCalls"])
        check((rep.get("from") is None) == (since == "all"), f"usage since={since}: from", rep.get("from"))
    r = call(usage, 200, client=live, id=lv["id"])
    check(as_dict(r.parsed)["since"] == "month", "usage: since defaults to month (usage:read key)")

    month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    acc_usage = op("get_account_usage")
    r = call(acc_usage, 200, client=root, month=month)
    au = as_dict(r.parsed)
    check(au["month"] == month and any(k["keyId"] == lv["id"] and k["calls"] >= 1 for k in au["keys"]), "account usage per key", au)
    r = call(acc_usage, 200, client=root)
    check(as_dict(r.parsed)["month"] == month, "account usage defaults to the current month")
    r = call(acc_usage, 400, client=root, month="2026-13")
    check_error(r, 400, "INVALID_PARAMETER", "month=2026-13")

    r = call(op("list_recent_calls"), 200, client=root, id=lv["id"], limit=5)
    recent = as_dict(r.parsed)
    check(recent["limit"] == 5 and len(recent["items"]) == 5, "recent: limit 5", recent)
    ats = [c["at"] for c in recent["items"]]
    check(ats == sorted(ats, reverse=True), "recent: newest first", ats)
    check(all(c["route"] == "/v1/public/twin/preset/{slug}" or c["route"].startswith("/v1/") for c in recent["items"]), "recent: route templates")
    r = call(op("list_recent_calls"), 200, client=root, id=lv["id"], limit=1000)
    check(as_dict(r.parsed)["limit"] == 200, "recent: limit clamped to 200", as_dict(r.parsed)["limit"])

    r = call(op("get_account"), 200, client=root)
    acc = as_dict(r.parsed)
    check(acc["ownerId"] == owner_id and acc["plan"]["slug"] == "professional" and acc["plan"]["maxKeys"] == 50, "account", acc)

    # --- key life cycle and the status filter -----------------------------------------------
    update = op("update_key")
    r = call(update, 200, client=root, id=defaults_id, body=body_arg(update.sync_detailed, {
        "isActive": False, "name": "py disabled", "meta": {"why": "test"}, "spendLimit": None,
    }))
    uv = as_dict(r.parsed)
    check(uv["status"] == "disabled" and uv["isActive"] is False and uv["name"] == "py disabled", "updateKey: disabled", uv)

    rotate = op("rotate_key")
    r = call(rotate, 201, client=root, id=lv["id"], body=body_arg(rotate.sync_detailed, {"gracePeriodSeconds": 3600}))
    rotated = r.parsed
    rv = as_dict(rotated)
    check(KEY_RE.match(rotated.key) and rv["rotatedFrom"] == lv["id"] and rv.get("oldKeyExpiresAt"), "rotateKey: a new key", rv)
    check(rv["scopes"] == lv["scopes"] and rv["monthlyQuota"] == lv["monthlyQuota"], "rotateKey: same settings", rv)
    call(op("get_health"), 200, client=live)  # the old one works during the grace period
    call(op("get_health"), 200, client=key_client(rotated.key))

    revoke = op("revoke_key")
    r = call(revoke, 200, client=root, id=rv["id"])
    rev = as_dict(r.parsed)
    check(rev["status"] == "revoked" and rev["revokedAt"], "revokeKey", rev)
    r = call(revoke, 200, client=root, id=rv["id"])
    check(as_dict(r.parsed)["revokedAt"] == rev["revokedAt"], "revokeKey is idempotent")
    r = call(op("get_key"), 200, client=root, id=rv["id"])
    check(as_dict(r.parsed)["status"] == "revoked", "a revoked key stays readable (soft revoke)")
    r = call(op("get_health"), 401, client=key_client(rotated.key))
    check_error(r, 401, "INVALID_OR_REVOKED_API_KEY", "a revoked key")

    listing = op("list_keys")
    lf = listing.sync_detailed
    for status, expected_in in (("revoked", rv["id"]), ("disabled", defaults_id), ("active", lv["id"])):
        r = call(listing, 200, client=root, status=enum_arg(lf, "status", status), limit=100)
        items = as_dict(r.parsed)["items"]
        check(all(k["status"] == status for k in items) and any(k["id"] == expected_in for k in items),
              f"listKeys status={status}", [(k["id"], k["status"]) for k in items])
        for k in items:
            check("key" not in k and "hash" not in k and "keyHash" not in k, f"listKeys: no secret in {k['id']}")
    r = call(listing, 200, client=root, limit=2)
    p1 = as_dict(r.parsed)
    check(len(p1["items"]) == 2 and p1.get("nextCursor"), "listKeys paginates", p1)
    r = call(listing, 200, client=root, limit=2, cursor=p1["nextCursor"])
    check({k["id"] for k in as_dict(r.parsed)["items"]}.isdisjoint({k["id"] for k in p1["items"]}), "listKeys: next page")

    # --- error envelopes ---------------------------------------------------------------------
    r = call(op("get_health"), 401, client=key_client(forged_key()))
    check_error(r, 401, "INVALID_OR_REVOKED_API_KEY", "an unknown key (well-formed, checksum valid)")
    r = call(op("get_health"), 401, client=anon)
    check_error(r, 401, "MISSING_API_KEY", "no key")
    r = call(op("get_health"), 401, client=key_client("not-a-key"))
    check_error(r, 401, "INVALID_API_KEY_FORMAT", "a malformed key")
    r = call(op("get_account"), 403, client=live)
    err = check_error(r, 403, "MISSING_SCOPE", "a key without account:read")
    check(err.get("requiredScope") == "account:read", "MISSING_SCOPE names requiredScope", err)
    r = call(op("get_owner"), 403, client=AuthenticatedClient(base_url=base, token=root_key), id=owner_id)
    check_error(r, 403, "ADMIN_ONLY", "a customer key on an admin route")
    r = call(op("get_key"), 404, client=root, id="ffffffff")
    check_error(r, 404, "NOT_FOUND", "an unknown key id")
    r = call(op("get_owner"), 404, client=admin, id="no-such-owner")
    check_error(r, 404, "NOT_FOUND", "an unknown owner")

    # Spend cap: a preset costs 1 credit; a cap of 0.5 refuses the first one with 402, and the
    # generated client must know that answer (it parses only documented statuses).
    r = call(create_key, 201, client=root, body=body_arg(create_key.sync_detailed, {
        "name": "py capped", "spendLimit": "0.5", "spendPeriod": "forever", "rateLimitRpm": 0,
    }))
    r = call(preset, 402, client=key_client(r.parsed.key), slug="estandar")
    err = check_error(r, 402, "SPEND_LIMIT_EXCEEDED", "a preset past the key's spend cap")
    check(err.get("periodLimit") == "0.500000" and "periodUsed" in err and "periodResetAt" in err,
          "SPEND_LIMIT_EXCEEDED carries periodUsed, periodLimit, periodResetAt", err)

    # Plan downgrade: keys stay, calls answer PLAN_REQUIRED.
    upd_owner = op("update_owner")
    r = call(upd_owner, 200, client=admin, id=owner_id, body=body_arg(upd_owner.sync_detailed, {"plan": "free"}))
    check(as_dict(r.parsed)["plan"]["slug"] == "free", "updateOwner: downgrade")
    r = call(op("get_me"), 403, client=live)
    check_error(r, 403, "PLAN_REQUIRED", "a downgraded owner's key")
    call(upd_owner, 200, client=admin, id=owner_id, body=body_arg(upd_owner.sync_detailed, {"plan": "professional"}))
    call(op("get_me"), 200, client=live)

    r = call(op("create_login_link"), 201, client=admin, id=owner_id)
    link = as_dict(r.parsed)
    check("/dashboard/login?token=" in link["url"] and link["expiresAt"], "createLoginLink", link)

    print(f"python e2e: {passed} passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except Fail as exc:
        print(f"python e2e FAILED after {passed} checks: {exc}", file=sys.stderr)
        print(f"python e2e: {passed} passed, 1 failed")
        sys.exit(1)
    except Exception as exc:  # the generated client itself broke (e.g. parsing a response)
        traceback.print_exc()
        print(f"python e2e FAILED after {passed} checks: the generated client raised "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"python e2e: {passed} passed, 1 failed (the generated client raised {type(exc).__name__})")
        sys.exit(1)
