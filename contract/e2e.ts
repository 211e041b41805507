// End-to-end journey through a TypeScript client generated from the live OpenAPI document.
//
// contract/run.sh generates the types with
//   npx openapi-typescript <live openapi.json> -o contract/generated/schema.d.ts
// compiles this file with `npx tsc -p contract/tsconfig.json` (strict: a type error fails the
// run) and runs
//   node contract/generated/dist/e2e.js BASE_URL ADMIN_TOKEN SAMPLE_TWIN_JSON
//
// Every request goes through openapi-fetch's createClient<paths>(), so paths, parameters,
// bodies and responses are type-checked against the document. A few `@ts-expect-error` lines
// check that the document really constrains what it must (enums): if the document loosened
// one, the directive would be unused and tsc would fail.

import { readFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type Schemas = components["schemas"];
type PresetBody = Schemas["PresetBody"];
type ErrorEnvelope = Schemas["ErrorEnvelope"];

const [baseUrl, adminToken, samplePath] = process.argv.slice(2);
if (!baseUrl || !adminToken || !samplePath) {
  console.error("usage: node e2e.js BASE_URL ADMIN_TOKEN SAMPLE_TWIN_JSON");
  process.exit(2);
}

const KEY_RE = /^atk_(live|test)_[0-9a-f]{8}_[0-9a-f]{32}$/;
const LANGS = ["es", "en", "fr", "de", "it", "pt"] as const;
const VARIANTS = ["claude", "gpt", "gemini", "generic"] as const;
const FORMATS = { txt: "text/plain", md: "text/markdown", json: "application/json", yaml: "application/yaml" } as const;
type Format = keyof typeof FORMATS;

let passed = 0;
class Fail extends Error {}

function check(condition: unknown, what: string, detail?: unknown): asserts condition {
  if (!condition) {
    const extra = detail === undefined ? "" : `: ${JSON.stringify(detail)?.slice(0, 800)}`;
    throw new Fail(`${what}${extra}`);
  }
  passed += 1;
}

function expectStatus(response: Response, status: number, what: string, body?: unknown): void {
  check(response.status === status, `${what}: status ${response.status}, expected ${status}`, body);
}

function checkError(response: Response, error: unknown, status: number, code: string, what: string): Schemas["ErrorBody"] {
  expectStatus(response, status, what, error);
  const envelope = error as ErrorEnvelope | undefined;
  check(envelope?.error, `${what}: the error envelope`, error);
  const inner = envelope.error;
  check(inner.code === code, `${what}: error.code ${inner.code}, expected ${code}`, inner);
  check(inner.type && inner.message && inner.requestId, `${what}: type, message, requestId`, inner);
  check(response.headers.get("x-request-id") === inner.requestId, `${what}: X-Request-Id equals error.requestId`);
  return inner;
}

function forgedKey(): string {
  // Well formed and checksum-valid, but never issued.
  const head = `atk_live_0badc0de_${"5".repeat(24)}`;
  return head + crc32(head).toString(16).padStart(8, "0");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  // The sample twin, typed by the document's TwinDocument (the published PCP schema).
  const sample = JSON.parse(readFileSync(samplePath!, "utf-8")) as Schemas["TwinDocument"];
  const anon = createClient<paths>({ baseUrl });
  const admin = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${adminToken}` } });
  const keyClient = (key: string) => createClient<paths>({ baseUrl, headers: { "X-Twin-Key": key } });

  // --- operator ------------------------------------------------------------------------
  const ownerId = `ts-e2e-${Date.now()}`;
  {
    const { data, response } = await admin.POST("/v1/admin/owners", {
      body: { ownerId, email: "ts-e2e@example.com", plan: "professional", issueKey: true },
    });
    expectStatus(response, 201, "provisionOwner", data);
    check(data?.ownerId === ownerId && data.status === "provisioned", "provisioned", data);
  }
  // The first key, as a separate call this time: createOwnerKey with every scope.
  const allScopes: Schemas["Scope"][] = ["twin:read", "keys:read", "keys:write", "usage:read", "account:read"];
  const root = await (async () => {
    const { data, response } = await admin.POST("/v1/admin/owners/{id}/keys", {
      params: { path: { id: ownerId } },
      body: { name: "ts root", scopes: allScopes, rateLimitRpm: 0 },
    });
    expectStatus(response, 201, "createOwnerKey", data);
    check(data && KEY_RE.test(data.key) && data.env === "live", "createOwnerKey: a live key", data);
    return keyClient(data.key);
  })();

  const second = structuredClone(sample);
  second.subject = { displayName: "Contract TypeScript Twin" };
  const snapshots: Schemas["SnapshotMeta"][] = [];
  for (const [purchaseId, document] of [["pur_ts_1", sample], ["pur_ts_2", second]] as const) {
    const { data, response } = await admin.POST("/v1/admin/owners/{id}/snapshots", {
      params: { path: { id: ownerId } },
      body: { source: "purchase", purchaseId, status: "ready", document },
    });
    expectStatus(response, 201, `createSnapshot ${purchaseId}`, data);
    check(data?.status === "ready" && data.purchaseId === purchaseId, "createSnapshot", data);
    snapshots.push(data);
  }
  const [snap1, snap2] = snapshots as [Schemas["SnapshotMeta"], Schemas["SnapshotMeta"]];
  check(snap2.version === snap1.version + 1, "snapshot versions increase", snapshots);

  // --- keys ---------------------------------------------------------------------------
  const created = await root.POST("/v1/keys", {
    body: {
      name: "ts live",
      env: "live",
      scopes: ["twin:read", "usage:read"],
      monthlyQuota: 4000,
      rateLimitRpm: 0,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      spendLimit: "500",
      spendPeriod: "day",
      meta: { crm: "ts" },
    },
  });
  expectStatus(created.response, 201, "createKey live", created.data);
  const liveView = created.data!;
  check(KEY_RE.test(liveView.key) && liveView.key.startsWith("atk_live_"), "createKey: live key", liveView);
  check(liveView.spendLimit === "500.000000" && liveView.spendPeriod === "day" && liveView.monthlyQuota === 4000, "createKey: limits", liveView);
  check(JSON.stringify(liveView.meta) === JSON.stringify({ crm: "ts" }), "createKey: meta round-trips", liveView.meta);
  const live = keyClient(liveView.key);

  {
    const { error, response } = await root.POST("/v1/keys", { body: { name: "ts test", env: "test" } });
    checkError(response, error, 403, "MISSING_SCOPE", "a live key creating a test key");
  }
  const testRoot = await admin.POST("/v1/admin/owners/{id}/keys", {
    params: { path: { id: ownerId } },
    body: { name: "ts test root", env: "test", scopes: allScopes, rateLimitRpm: 0 },
  });
  expectStatus(testRoot.response, 201, "createOwnerKey test", testRoot.data);
  const testCreated = await keyClient(testRoot.data!.key).POST("/v1/keys", {
    body: { name: "ts test", env: "test", rateLimitRpm: 0 },
  });
  expectStatus(testCreated.response, 201, "createKey test", testCreated.data);
  check(testCreated.data!.key.startsWith("atk_test_") && testCreated.data!.scopes.join() === "twin:read", "createKey: a test key with the default scope", testCreated.data);
  const test = keyClient(testCreated.data!.key);

  // --- presets: every parameter ----------------------------------------------------------
  const txtByVariant = new Map<string, string>();
  let lastEtag = "";
  for (const format of Object.keys(FORMATS) as Format[]) {
    for (const variant of VARIANTS) {
      const { data, response } = await live.GET("/v1/public/twin/preset/{slug}", {
        params: { path: { slug: "estandar" }, query: { format, variant, lang: "en" } },
        parseAs: "text",
      });
      expectStatus(response, 200, `preset ${format}/${variant}`, data);
      check(data !== undefined, `preset ${format}/${variant}: a body`);
      check(response.headers.get("content-type")?.split(";")[0] === FORMATS[format], `preset ${format}: Content-Type`, response.headers.get("content-type"));
      check(response.headers.get("content-language") === "en", `preset ${format}/${variant}: Content-Language`);
      for (const h of ["x-twin-quota-limit", "x-twin-quota-used", "x-twin-quota-remaining", "x-twin-quota-reset"]) {
        check(response.headers.has(h), `preset ${format}/${variant}: header ${h}`);
      }
      lastEtag = response.headers.get("etag") ?? "";
      check(lastEtag.startsWith('"'), `preset ${format}/${variant}: strong ETag`, lastEtag);
      if (format === "txt") {
        txtByVariant.set(variant, data);
        check(data.includes("Contract TypeScript Twin"), `preset txt/${variant}: the latest ready snapshot`, data.slice(0, 200));
      } else if (format === "json") {
        const body = JSON.parse(data) as PresetBody;
        check(body.preset === "estandar" && body.variant === variant && body.lang === "en", `preset json/${variant}: fields`, body);
        check(body.systemPrompt === txtByVariant.get(variant), `preset json/${variant}: systemPrompt is the txt rendering`);
        check(body.snapshot.id === snap2.id && body.sections.length > 0, `preset json/${variant}: snapshot and sections`, body.snapshot);
      } else if (format === "yaml") {
        check(data.includes("systemPrompt:") && data.includes(snap2.id), `preset yaml/${variant}: the same shape`, data.slice(0, 200));
      }
    }
  }
  {
    const { response } = await live.GET("/v1/public/twin/preset/{slug}", {
      params: { path: { slug: "estandar" }, query: { format: "yaml", variant: "generic", lang: "en" } },
      headers: { "If-None-Match": lastEtag },
      parseAs: "text",
    });
    expectStatus(response, 304, "If-None-Match");
  }
  const prompts = new Set<string>();
  for (const lang of LANGS) {
    const { data, response } = await live.GET("/v1/public/twin/preset/{slug}", {
      params: { path: { slug: "completo" }, query: { format: "json", lang } },
      parseAs: "text",
    });
    expectStatus(response, 200, `preset lang=${lang}`, data);
    const body = JSON.parse(data!) as PresetBody;
    check(body.lang === lang && response.headers.get("content-language") === lang, `preset lang=${lang}`, body.lang);
    prompts.add(body.systemPrompt);
  }
  check(prompts.size === LANGS.length, "six languages, six prompts");
  {
    const { response } = await live.GET("/v1/public/twin/preset/{slug}", { params: { path: { slug: "estandar" } }, parseAs: "text" });
    check(response.headers.get("content-type")?.startsWith("text/plain") && response.headers.get("content-language") === sample.sourceLang,
      "preset defaults: txt in the source language");
  }
  const narratives: Record<string, PresetBody> = {};
  for (const includeNarratives of [true, false]) {
    const { data, response } = await live.GET("/v1/public/twin/preset/{slug}", {
      params: { path: { slug: "estandar" }, query: { format: "json", includeNarratives } },
      parseAs: "text",
    });
    expectStatus(response, 200, `includeNarratives=${includeNarratives}`, data);
    narratives[String(includeNarratives)] = JSON.parse(data!) as PresetBody;
  }
  check(narratives["true"]!.sections.some((s) => s.narrative), "includeNarratives=true: narratives");
  check(!narratives["false"]!.sections.some((s) => s.narrative), "includeNarratives=false: none");
  {
    const { data, response } = await live.GET("/v1/public/twin/preset/{slug}", {
      params: { path: { slug: "breve" }, query: { format: "json", purchaseId: "pur_ts_1", lang: "fr", variant: "gpt", includeNarratives: false } },
      parseAs: "text",
    });
    expectStatus(response, 200, "preset purchaseId", data);
    const body = JSON.parse(data!) as PresetBody;
    check(body.snapshot.id === snap1.id && !body.systemPrompt.includes("Contract TypeScript Twin"), "purchaseId serves that snapshot", body.snapshot);
  }
  {
    const { data, response } = await test.GET("/v1/public/twin/preset/{slug}", {
      params: { path: { slug: "estandar" }, query: { format: "json", lang: "en" } },
      parseAs: "text",
    });
    expectStatus(response, 200, "preset with a test key", data);
    const body = JSON.parse(data!) as PresetBody;
    check(body.systemPrompt.includes(sample.subject.displayName) && ![snap1.id, snap2.id].includes(body.snapshot.id),
      "a test key gets the sample twin", body.snapshot);
  }
  {
    const { error, response } = await live.GET("/v1/public/twin/preset/{slug}", {
      // @ts-expect-error -- `format` is an enum in the document; "pdf" must not type-check.
      params: { path: { slug: "estandar" }, query: { format: "pdf" } },
    });
    const inner = checkError(response, error, 400, "INVALID_PARAMETER", "format=pdf");
    const extra = inner as Record<string, unknown>;
    check(extra["parameter"] === "format" && Array.isArray(extra["allowed"]), "format=pdf: parameter and allowed", inner);
  }
  {
    const { error, response } = await live.GET("/v1/public/twin/preset/{slug}", { params: { path: { slug: "no-such-preset" } } });
    checkError(response, error, 404, "NOT_FOUND", "an unknown slug");
  }

  // --- public metadata ---------------------------------------------------------------------
  {
    const { data, response } = await live.GET("/v1/public/twin/health");
    expectStatus(response, 200, "health", data);
    check(data?.ok === true && data.apiKeyId === liveView.id && data.userId === ownerId, "health", data);
    const me = await live.GET("/v1/public/twin/me");
    expectStatus(me.response, 200, "me", me.data);
    check(me.data?.quota.limit === 4000 && me.data.snapshot?.id === snap2.id, "me: quota and latest ready snapshot", me.data);
    const hist = await live.GET("/v1/public/twin/historic", { params: { query: { limit: 1 } } });
    expectStatus(hist.response, 200, "historic", hist.data);
    check(hist.data?.items[0]?.id === snap2.id && hist.data.nextCursor, "historic: newest first with a cursor", hist.data);
    const next = await live.GET("/v1/public/twin/historic", { params: { query: { limit: 1, cursor: hist.data.nextCursor } } });
    check(next.data?.items[0]?.id === snap1.id, "historic: next page", next.data);
    const one = await live.GET("/v1/public/twin/snapshots/{id}", { params: { path: { id: snap1.id } } });
    check(one.data?.purchaseId === "pur_ts_1", "getSnapshot", one.data);
  }

  // --- usage ----------------------------------------------------------------------------
  const expectedPresetCalls = 16 + 1 + 6 + 1 + 2 + 1;
  let report: Schemas["KeyUsageReport"] | undefined;
  for (let tries = 0; tries < 40; tries++) {
    const { data, response } = await root.GET("/v1/keys/{id}/usage", { params: { path: { id: liveView.id }, query: { since: "day" } } });
    expectStatus(response, 200, "getKeyUsage", data);
    report = data;
    if ((report?.totalCalls ?? 0) >= expectedPresetCalls + 3) break;
    await sleep(500);
  }
  check(report && report.totalCalls >= expectedPresetCalls, "usage counts the calls", report);
  check(new Set(report.byVariant.map((v) => v.variant)).size === VARIANTS.length, "usage byVariant", report.byVariant);
  check(report.byStatus.some((s) => s.status === 304), "usage byStatus includes the 304", report.byStatus);
  for (const since of ["week", "month", "all"] as const) {
    const { data } = await root.GET("/v1/keys/{id}/usage", { params: { path: { id: liveView.id }, query: { since } } });
    check(data?.since === since && data.totalCalls >= report.totalCalls, `usage since=${since}`, data);
  }
  {
    // @ts-expect-error -- `since` is an enum in the document.
    const { response } = await root.GET("/v1/keys/{id}/usage", { params: { path: { id: liveView.id }, query: { since: "year" } } });
    expectStatus(response, 400, "since=year");
  }
  const month = new Date().toISOString().slice(0, 7);
  {
    const { data, response } = await root.GET("/v1/account/usage", { params: { query: { month } } });
    expectStatus(response, 200, "getAccountUsage", data);
    check(data?.month === month && data.keys.some((k) => k.keyId === liveView.id), "account usage per key", data);
    const recent = await root.GET("/v1/keys/{id}/recent", { params: { path: { id: liveView.id }, query: { limit: 3 } } });
    check(recent.data?.items.length === 3 && recent.data.limit === 3, "listRecentCalls limit=3", recent.data);
    const at = recent.data.items.map((c) => c.at);
    check(at.join() === [...at].sort().reverse().join(), "recent calls newest first", at);
    const account = await root.GET("/v1/account");
    check(account.data?.ownerId === ownerId && account.data.plan.slug === "professional", "getAccount", account.data);
  }

  // --- key life cycle and the status filter ------------------------------------------------
  const disabled = await root.PATCH("/v1/keys/{id}", { params: { path: { id: liveView.id } }, body: { isActive: false } });
  check(disabled.data?.status === "disabled", "updateKey: disable", disabled.data);
  {
    const { error, response } = await live.GET("/v1/public/twin/health");
    checkError(response, error, 401, "INVALID_OR_REVOKED_API_KEY", "a disabled key");
  }
  const enabled = await root.PATCH("/v1/keys/{id}", { params: { path: { id: liveView.id } }, body: { isActive: true, spendLimit: null } });
  check(enabled.data?.status === "active" && enabled.data.spendLimit === null, "updateKey: enable, clear the cap", enabled.data);
  const rotated = await root.POST("/v1/keys/{id}/rotate", { params: { path: { id: liveView.id } }, body: { gracePeriodSeconds: 0 } });
  expectStatus(rotated.response, 201, "rotateKey", rotated.data);
  check(rotated.data?.rotatedFrom === liveView.id && rotated.data.oldKeyExpiresAt, "rotateKey", rotated.data);
  const rotatedId = rotated.data.id;
  {
    const { error, response } = await live.GET("/v1/public/twin/health");
    checkError(response, error, 401, "INVALID_OR_REVOKED_API_KEY", "the old key after a rotation without grace");
  }
  const revoked = await root.DELETE("/v1/keys/{id}", { params: { path: { id: rotatedId } } });
  check(revoked.data?.status === "revoked", "revokeKey", revoked.data);
  for (const status of ["revoked", "expired", "active"] as const) {
    const { data, response } = await root.GET("/v1/keys", { params: { query: { status, limit: 100 } } });
    expectStatus(response, 200, `listKeys status=${status}`, data);
    check(data, `listKeys status=${status}: a page`);
    check(data.items.every((k) => k.status === status), `listKeys status=${status}: only ${status}`, data.items.map((k) => k.status));
    check(data.items.every((k) => !("key" in k) && !("keyHash" in k)), "listKeys: never a secret");
    if (status === "revoked") check(data.items.some((k) => k.id === rotatedId), "the revoked key is listed");
  }
  {
    // @ts-expect-error -- the status filter is an enum of lowercase states.
    const { response } = await root.GET("/v1/keys", { params: { query: { status: "Active" } } });
    expectStatus(response, 400, "status=Active");
  }

  // --- error envelopes -------------------------------------------------------------------
  {
    const unknown = await keyClient(forgedKey()).GET("/v1/public/twin/health");
    checkError(unknown.response, unknown.error, 401, "INVALID_OR_REVOKED_API_KEY", "an unknown key");
    const none = await anon.GET("/v1/public/twin/health");
    checkError(none.response, none.error, 401, "MISSING_API_KEY", "no key");
    const scope = await test.GET("/v1/account");
    const inner = checkError(scope.response, scope.error, 403, "MISSING_SCOPE", "a key without account:read");
    check((inner as Record<string, unknown>)["requiredScope"] === "account:read", "requiredScope", inner);
    const adminOnly = await createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${testRoot.data!.key}` } })
      .GET("/v1/admin/owners/{id}", { params: { path: { id: ownerId } } });
    checkError(adminOnly.response, adminOnly.error, 403, "ADMIN_ONLY", "a customer key on an admin route");
    const missing = await root.GET("/v1/keys/{id}", { params: { path: { id: "ffffffff" } } });
    checkError(missing.response, missing.error, 404, "NOT_FOUND", "an unknown key id");
  }

  {
    // Spend cap: a preset costs 1 credit, so a cap of 0.5 refuses the first one with 402.
    const capped = await root.POST("/v1/keys", { body: { name: "ts capped", spendLimit: "0.5", spendPeriod: "forever", rateLimitRpm: 0 } });
    expectStatus(capped.response, 201, "createKey capped", capped.data);
    const refused = await keyClient(capped.data!.key).GET("/v1/public/twin/preset/{slug}", { params: { path: { slug: "estandar" } } });
    const inner = checkError(refused.response, refused.error, 402, "SPEND_LIMIT_EXCEEDED", "a preset past the spend cap") as Record<string, unknown>;
    check(inner["periodLimit"] === "0.500000" && "periodUsed" in inner && "periodResetAt" in inner, "SPEND_LIMIT_EXCEEDED fields", inner);
  }

  console.log(`typescript e2e: ${passed} passed, 0 failed`);
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`typescript e2e FAILED after ${passed} checks: ${message}`);
  if (!(err instanceof Fail) && err instanceof Error) console.error(err.stack);
  console.log(`typescript e2e: ${passed} passed, 1 failed`);
  process.exit(1);
});
