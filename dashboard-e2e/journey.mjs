// The owner dashboard in a real browser: Debian's Chromium, driven by playwright-core,
// against a running twin-server (SPEC §13, issue 11's journey).
//
//   node journey.mjs BASE_URL ADMIN_TOKEN SAMPLE_TWIN_JSON SCREENSHOT_DIR
//
// Operator issues a login link → the page's button signs in → create a key (the plaintext
// once; reloading does not show it) → the key works on the public API → disable in the page →
// refused → enable → rotate → both keys work → revoke → refused; the recent-calls panel shows
// the calls; the language switcher changes the page's text; a forged POST without the CSRF
// token, or from another origin, is refused and changes nothing. axe-core runs on every page
// (signed in and out): no serious or critical violation. The key's alert settings are set in
// the create form and shown in its editor. Webhooks (SPEC §15; the server runs with
// TWIN_WEBHOOKS_ALLOW_PRIVATE=true): add an endpoint pointing at a receiver in this script →
// its secret is shown once → a test ping arrives signed with it and the delivery log says
// succeeded → the editor changes its events → rotating the secret asks first and shows the
// new one → deleting asks first. OAuth (SPEC §14; TWIN_OAUTH_REGISTRATION=open): an app
// registers, the owner approves on the consent page, the browser lands on the app's redirect
// URI with a code, the app's token works, the grant shows on Connected apps and is revoked
// there. Keyboard only: Tab reaches every
// link, button and field of each page. A screenshot of every page goes to SCREENSHOT_DIR.
import { readFileSync, mkdirSync } from "node:fs";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const [base, adminToken, samplePath, shots] = process.argv.slice(2);
if (!base || !adminToken || !samplePath || !shots) {
  console.error("usage: node journey.mjs BASE_URL ADMIN_TOKEN SAMPLE_TWIN_JSON SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
let checks = 0;
const failures = [];
const check = (ok, what, detail) => {
  checks += 1;
  if (!ok) {
    failures.push(what);
    console.error(`FAIL ${what}${detail === undefined ? "" : `: ${JSON.stringify(detail).slice(0, 500)}`}`);
  }
};

async function admin(method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

const api = async (key) =>
  (await fetch(`${base}/v1/public/twin/me`, { headers: { "X-Twin-Key": key } })).status;

// A webhook receiver on loopback: records each request (headers and raw body), answers 200.
const received = [];
const receiver = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
  });
});
await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;
// Standard Webhooks' signature, computed here from its definition (the Rust and Python
// suites verify with the published libraries): v1,base64(HMAC-SHA256(id.timestamp.body)).
const signedWith = (secret, d) => {
  const mac = createHmac("sha256", Buffer.from(secret.replace(/^whsec_/, ""), "base64"))
    .update(`${d.headers["webhook-id"]}.${d.headers["webhook-timestamp"]}.${d.body}`)
    .digest("base64");
  return (d.headers["webhook-signature"] || "").split(" ").includes(`v1,${mac}`);
};
const waitFor = async (predicate, ms = 15000) => {
  for (const until = Date.now() + ms; Date.now() < until; ) {
    const hit = predicate();
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
};

const ownerId = `e2e-${Date.now()}`;
await admin("POST", "/v1/admin/owners", { ownerId, email: `${ownerId}@example.com`, plan: "professional" });
await admin("POST", `/v1/admin/owners/${ownerId}/snapshots`, {
  source: "purchase",
  status: "ready",
  document: JSON.parse(readFileSync(samplePath, "utf8")),
});
const { url: loginUrl } = await admin("POST", `/v1/admin/owners/${ownerId}/login-links`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
// axe-core is injected as a script, which the pages' CSP (rightly) forbids: the test
// context bypasses CSP for that alone. CSP itself is asserted over HTTP by the Rust tests.
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
const page = await context.newPage();
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push(String(e)));

async function audit(name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `axe: no serious or critical violation on ${name}`, bad);
  // Keyboard only: Tab from the top reaches every interactive element of the page.
  const total = await page.evaluate(() =>
    [...document.querySelectorAll("a[href], button:not([hidden]), input:not([type=hidden]), select, textarea")]
      .filter((e) => e.offsetParent !== null).length);
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  const reached = new Set();
  // Some controls take several presses (a datetime-local's day, month, year, hour, minute).
  for (let i = 0; i < total * 8 && reached.size < total; i += 1) {
    await page.keyboard.press("Tab");
    const id = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      if (!e.dataset.tabSeen) e.dataset.tabSeen = String(Math.random());
      return e.dataset.tabSeen;
    });
    if (id) reached.add(id);
  }
  check(reached.size >= total, `keyboard: Tab reaches all ${total} controls on ${name}`, { reached: reached.size, total });
}

// Signed out: the sign-in page; opening it twice consumes nothing.
await page.goto(loginUrl);
await page.goto(loginUrl);
check(await page.isVisible("form[action='/dashboard/login'] button"), "the link shows a Sign in button");
await audit("01-sign-in");
await page.click("form[action='/dashboard/login'] button");
await page.waitForURL(`${base}/dashboard/`);
await audit("02-keys-empty");

// Create a key: the plaintext once.
await page.click("a[href='/dashboard/keys/new']");
await audit("03-create-key");
await page.fill("#name", "Browser CRM");
await page.check("#scope-usage-read");
await page.fill("#alertThresholds", "90, 50");
await page.fill("#highUsageThreshold", "5000");
await page.selectOption("#highUsagePeriod", "day");
await page.check("#unusualActivity");
await page.click("main form button[type=submit]");
await page.waitForURL(/\/dashboard\/keys\/[0-9a-f]{8}\/created$/);
const key = (await page.textContent("#new-key")).trim();
check(/^atk_live_[0-9a-f]{8}_[0-9a-f]{32}$/.test(key), "the new key is shown", key);
await audit("04-key-shown-once");
const keyId = key.split("_")[2];
await page.reload();
check(!(await page.content()).includes(key), "reloading does not show the key again");
check((await api(key)) === 200, "the new key works on the public API");

// The key page: disable → refused, enable → works.
await page.goto(`${base}/dashboard/keys/${keyId}`);
await audit("05-key-detail");
check((await page.inputValue("#alertThresholds")) === "50, 90", "the editor shows the key's alert thresholds");
check((await page.inputValue("#highUsageThreshold")) === "5000" && (await page.inputValue("#highUsagePeriod")) === "day"
  && (await page.isChecked("#unusualActivity")), "the editor shows the key's alert rules");
await page.click("form[action$='/state'] button");
await page.waitForURL(`${base}/dashboard/keys/${keyId}`);
check((await api(key)) === 401, "a disabled key is refused");
await page.click("form[action$='/state'] button");
await page.waitForURL(`${base}/dashboard/keys/${keyId}`);
check((await api(key)) === 200, "an enabled key works again");

// Rotate with a grace period: both keys work.
await page.fill("#grace", "600");
await page.click("form[action$='/rotate'] button");
await page.waitForURL(/\/created$/);
const rotated = (await page.textContent("#new-key")).trim();
check(rotated !== key && (await api(rotated)) === 200 && (await api(key)) === 200, "after rotation both keys work");
const rotatedId = rotated.split("_")[2];

// The recent-calls panel shows those calls (after the usage flush).
await new Promise((r) => setTimeout(r, 1200));
await page.goto(`${base}/dashboard/keys/${keyId}`);
check((await page.textContent("table[data-recent]")).includes("/v1/public/twin/me"), "recent calls show the calls");

// Revoke the new key, with the confirmation step.
await page.goto(`${base}/dashboard/keys/${rotatedId}`);
await page.click("a[href$='/revoke']");
await audit("06-revoke-confirm");
check((await api(rotated)) === 200, "the confirmation step alone revokes nothing");
await page.click("form[action$='/revoke'] button");
await page.waitForURL(`${base}/dashboard/keys/${rotatedId}`);
check((await api(rotated)) === 401, "a revoked key is refused");

// Webhooks: add one; its secret once; a ping arrives signed; the log says so.
await page.click("nav a[href='/dashboard/webhooks']");
await audit("12-webhooks-empty");
await page.fill("input[name=url]", hookUrl);
await page.fill("input[name=description]", "browser receiver");
await page.click("form[action='/dashboard/webhooks'] button[type=submit]");
const secret = (await page.textContent("#new-secret")).trim();
check(/^whsec_[A-Za-z0-9+/=]{40,}$/.test(secret), "the new endpoint's signing secret is shown", secret);
await audit("13-webhook-secret");
await page.click("main a[href^='/dashboard/webhooks/wh_']");
const hookPage = page.url();
check(!(await page.content()).includes(secret), "the endpoint's page does not show the secret");
await page.click("form[action$='/test'] button");
await page.waitForURL(hookPage);
const ping = await waitFor(() => received.find((d) => JSON.parse(d.body).type === "ping"));
check(ping && signedWith(secret, ping), "the test ping arrives, signed with the shown secret", ping && ping.headers);
await waitFor(() => false, 500);
await page.reload();
check((await page.textContent("main table")).includes("succeeded"), "the delivery log shows the ping succeeded");
await audit("14-webhook-detail");
// The editor: only key.revoked from now on.
await page.uncheck("input[name=events][value='*']");
await page.check("input[name=events][value='key.revoked']");
await page.click(`form[action='${new URL(hookPage).pathname}'] button[type=submit]`);
await page.waitForURL(hookPage);
check((await page.textContent("main dl")).includes("key.revoked"), "the editor changed the endpoint's events");
// Rotate the secret: asked first, then the new one once.
await page.click("a[href$='/rotate-secret']");
await audit("15-webhook-rotate-confirm");
await page.click("form[action$='/rotate-secret'] button");
const rotatedSecret = (await page.textContent("#new-secret")).trim();
check(rotatedSecret.startsWith("whsec_") && rotatedSecret !== secret, "rotating shows a new secret");
// Delete: asked first.
await page.goto(hookPage);
await page.click("a[href$='/delete']");
await audit("16-webhook-delete-confirm");
await page.click("form[action$='/delete'] button");
await page.waitForURL(`${base}/dashboard/webhooks`);
check((await page.textContent("main")).includes("No webhooks yet."), "the endpoint is deleted");

// OAuth: register an app, approve on the consent page, exchange the code, revoke the grant.
const callback = `http://127.0.0.1:${receiver.address().port}/callback`;
const registered = await (await fetch(`${base}/oauth/register`, {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ client_name: "Browser CRM app", redirect_uris: [callback], token_endpoint_auth_method: "none" }),
})).json();
const verifier = randomBytes(40).toString("base64url");
const challenge = createHash("sha256").update(verifier).digest("base64url");
const authorize = `${base}/oauth/authorize?${new URLSearchParams({
  response_type: "code", client_id: registered.client_id, redirect_uri: callback, scope: "twin:read account:read",
  state: "e2e-state", code_challenge: challenge, code_challenge_method: "S256",
})}`;
await page.goto(authorize);
check((await page.textContent("main")).includes("Browser CRM app"), "the consent page names the app");
await audit("17-oauth-consent");
await page.click("button[name=decision][value=approve]");
await page.waitForURL(/\/callback\?/);
const back = new URL(page.url());
check(back.searchParams.get("state") === "e2e-state" && back.searchParams.get("code"), "approving returns a code and the state", page.url());
const tokenRes = await fetch(`${base}/oauth/token`, {
  method: "POST",
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({
    grant_type: "authorization_code", code: back.searchParams.get("code"), redirect_uri: callback,
    code_verifier: verifier, client_id: registered.client_id,
  }),
});
const tokens = await tokenRes.json();
const bearer = async () => (await fetch(`${base}/v1/public/twin/me`, { headers: { Authorization: `Bearer ${tokens.access_token}` } })).status;
check(tokenRes.status === 200 && (await bearer()) === 200, "the app's access token works", tokens);
await page.goto(`${base}/dashboard/apps`);
check((await page.textContent("main table")).includes("Browser CRM app"), "Connected apps lists the app");
await audit("18-connected-apps-one");
// The app's page: its use and a limits editor.
await page.click("main table a[href^='/dashboard/apps/grt_']");
check((await page.inputValue("#monthlyQuota")) !== "", "the app's page shows its limits");
await audit("18b-connected-app");
await page.click("main a[href$='/revoke']");
await audit("19-revoke-app-confirm");
await page.click("form[action$='/revoke'] button");
await page.waitForURL(`${base}/dashboard/apps`);
check((await bearer()) === 401, "the revoked app's token is refused");

// Forged posts: without the CSRF token, and from another origin. Nothing changes.
const cookies = await context.cookies();
const session = cookies.find((c) => c.name === "twin_session");
for (const [what, headers, body] of [
  ["without the CSRF token", { Origin: base }, "name=forged&scopes=twin:read"],
  ["from another origin", { Origin: "https://evil.example" }, `name=forged&scopes=twin:read&csrf=${await page.getAttribute("meta[name=csrf-token]", "content")}`],
]) {
  const res = await fetch(`${base}/dashboard/keys`, {
    method: "POST",
    redirect: "manual",
    headers: { ...headers, Cookie: `twin_session=${session.value}`, "Content-Type": "application/x-www-form-urlencoded" },
    body,
  });
  check(res.status === 403, `a forged POST ${what} is refused`, res.status);
}
await page.goto(`${base}/dashboard/`);
check(!(await page.content()).includes("forged"), "forged posts created nothing");
await audit("07-keys");

// Languages: the switcher changes the page's text.
await page.click("nav.languages a[lang=es]");
check((await page.textContent("h1")).includes("Tus claves de API"), "the switcher changes the language");
await audit("08-keys-es");
await page.click("nav.languages a[lang=en]");
await page.goto(`${base}/dashboard/account`);
await audit("09-account");
await page.goto(`${base}/dashboard/apps`);
await audit("10-connected-apps");

// Sign out: the session ends.
await page.click("form[action='/dashboard/logout'] button");
await page.waitForURL(`${base}/dashboard/signed-out`);
await audit("11-signed-out");
await page.goto(`${base}/dashboard/`);
check(page.url() === `${base}/dashboard/signed-out`, "signed out for good");

check(consoleErrors.length === 0, "no console error on any page", consoleErrors);
await browser.close();
receiver.close();
console.log(`dashboard e2e: ${checks - failures.length} passed, ${failures.length} failed; screenshots in ${shots}`);
process.exit(failures.length === 0 ? 0 : 1);
