"""OAuth for third-party apps end to end (SPEC §14), driven by Authlib -- an OAuth client
library nobody here wrote -- against the real server.

contract/run.sh starts a server with TWIN_OAUTH_REGISTRATION=open (once on SQLite, once on
PostgreSQL) and runs

    python oauth_e2e.py --base-url URL --admin-token TOKEN --sample-twin FILE

The script provisions an owner with a ready twin through the operator API, and then, as an
app would: discovers the server (RFC 8414 / RFC 9728 metadata, starting from the
`WWW-Authenticate` of a 401), registers dynamically (RFC 7591), builds the authorization URL
with Authlib's `OAuth2Session(code_challenge_method="S256")`, sends the owner there (the owner
signs in with a one-time login link and submits the consent page's own form, as its
Approve button does), lets Authlib exchange the code, calls the twin API with the access
token, refreshes (the old refresh token is then dead, and using it again kills the grant),
and revokes. Negative cases: a wrong redirect URI, `plain` PKCE, a reused code, a scope
apps cannot have, the consent form without its CSRF token, a confidential client without
its secret. Ends with "oauth e2e: N passed, M failed".
"""

from __future__ import annotations

import argparse
import html.parser
import json
import secrets
import sys
import traceback
import urllib.parse

import authlib
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError

REDIRECT = "http://127.0.0.1:9/callback"
passed = 0


class Fail(AssertionError):
    pass


def check(condition, what: str, detail="") -> None:
    global passed
    if not condition:
        raise Fail(f"{what}{': ' + str(detail)[:800] if detail != '' else ''}")
    passed += 1


class FormParser(html.parser.HTMLParser):
    """The consent page's form: its action and hidden fields, and its buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action = None
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []
        self.csrf_meta = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and a.get("name") == "csrf-token":
            self.csrf_meta = a.get("content")
        if tag == "form" and a.get("action") == "/oauth/authorize":
            self.action = a["action"]
        if self.action and tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")
        if self.action and tag == "button" and a.get("name"):
            self.buttons.append((a["name"], a.get("value", "")))


class World:
    def __init__(self, base: str, admin: str):
        self.base = base
        self.admin = admin
        self.browser = requests.Session()  # the owner's browser (cookies)
        self.meta: dict = {}

    def admin_call(self, method: str, path: str, body=None) -> dict:
        r = requests.request(method, self.base + path, json=body,
                             headers={"Authorization": f"Bearer {self.admin}"}, timeout=10)
        if r.status_code >= 300:
            raise Fail(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json() if r.text else {}

    def sign_in(self, owner: str) -> None:
        link = self.admin_call("POST", f"/v1/admin/owners/{owner}/login-links")
        token = urllib.parse.parse_qs(urllib.parse.urlparse(link["url"]).query)["token"][0]
        r = self.browser.post(self.base + "/dashboard/login", data={"token": token},
                              headers={"Origin": self.base}, allow_redirects=False, timeout=10)
        check(r.status_code == 303 and "twin_session" in self.browser.cookies, "the owner signs in", r.status_code)

    def consent(self, url: str, decision: str = "approve", csrf: str | None = None) -> requests.Response:
        """Opens the consent page at `url` and submits its form as its `decision` button does."""
        page = self.browser.get(url, allow_redirects=False, timeout=10)
        check(page.status_code == 200, "the consent page opens", page.status_code)
        form = FormParser()
        form.feed(page.text)
        check(form.action == "/oauth/authorize" and ("decision", "approve") in form.buttons
              and ("decision", "deny") in form.buttons,
              "the consent page has the approve and deny buttons of SPEC §14", form.buttons)
        fields = dict(form.fields)
        if csrf is not None:
            fields["csrf"] = csrf
        fields["decision"] = decision
        return self.browser.post(self.base + form.action, data=fields, headers={"Origin": self.base},
                                 allow_redirects=False, timeout=10)

    def register(self, **metadata) -> dict:
        r = requests.post(self.meta["registration_endpoint"], json=metadata, timeout=10)
        check(r.status_code == 201, "RFC 7591 registration", r.text)
        return r.json()

    def session(self, client: dict, scope: str = "twin:read") -> OAuth2Session:
        return OAuth2Session(
            client_id=client["client_id"],
            client_secret=client.get("client_secret"),
            token_endpoint_auth_method=client["token_endpoint_auth_method"],
            redirect_uri=REDIRECT,
            scope=scope,
            code_challenge_method="S256",
        )

    def authorize(self, app: OAuth2Session, **extra) -> tuple[str, str]:
        """Authorization URL and the code verifier Authlib will send."""
        verifier = secrets.token_urlsafe(48)
        url, _state = app.create_authorization_url(self.meta["authorization_endpoint"], code_verifier=verifier, **extra)
        return url, verifier


def discovery(w: World) -> None:
    r = requests.get(w.base + "/v1/public/twin/preset/estandar", timeout=10)
    challenge = r.headers.get("WWW-Authenticate", "")
    check(r.status_code == 401 and "resource_metadata=" in challenge, "a 401 names the resource metadata", challenge)
    resource_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
    resource = requests.get(resource_url, timeout=10).json()
    issuer = resource["authorization_servers"][0]
    w.meta = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=10).json()
    check(w.meta["issuer"] == issuer and w.meta["code_challenge_methods_supported"] == ["S256"],
          "RFC 8414 metadata: issuer, S256 only", w.meta)
    for name in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint",
                 "introspection_endpoint"):
        check(w.meta.get(name, "").startswith(issuer), f"metadata names {name}", w.meta.get(name))


def public_client_flow(w: World) -> None:
    client = w.register(client_name="Authlib CRM", redirect_uris=[REDIRECT], token_endpoint_auth_method="none")
    check("client_secret" not in client, "a public client gets no secret", client)
    app = w.session(client)
    url, verifier = w.authorize(app)
    check("code_challenge_method=S256" in url, "Authlib asks for S256", url)
    r = w.consent(url)
    location = r.headers.get("Location", "")
    check(r.status_code == 303 and location.startswith(REDIRECT) and "code=" in location,
          "approving redirects with a code", (r.status_code, location))
    token = app.fetch_token(w.meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    check(token["access_token"].startswith("ato_live_") and token["refresh_token"].startswith("atr_live_")
          and token["token_type"] == "Bearer" and token["scope"] == "twin:read", "Authlib gets the tokens", token)
    r = app.get(w.base + "/v1/public/twin/preset/estandar")
    check(r.status_code == 200 and len(r.text) > 100, "the access token reads the preset", r.text[:300])
    check("X-RateLimit-Limit" in r.headers, "metered as a key (rate headers)", dict(r.headers))
    r = app.get(w.base + "/v1/account")
    check(r.status_code == 403, "account:read was not granted", r.status_code)

    # The code again: refused, and what it issued stops.
    code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]
    r = requests.post(w.meta["token_endpoint"], timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier, "client_id": client["client_id"]})
    check(r.status_code == 400 and r.json()["error"] == "invalid_grant", "a reused code is invalid_grant", r.text)
    r = app.get(w.base + "/v1/public/twin/preset/estandar")
    check(r.status_code == 401, "and the tokens it issued are revoked", r.status_code)

    # A fresh grant: refresh rotates; the old refresh token again kills the grant.
    app = w.session(client)
    url, verifier = w.authorize(app)
    location = w.consent(url).headers["Location"]
    first = app.fetch_token(w.meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    second = app.refresh_token(w.meta["token_endpoint"])
    check(second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"],
          "refreshing rotates both tokens", second)
    check(app.get(w.base + "/v1/public/twin/preset/estandar").status_code == 200, "the new access token works")
    r = requests.post(w.meta["token_endpoint"], timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": client["client_id"]})
    check(r.status_code == 400 and r.json()["error"] == "invalid_grant", "a used refresh token is invalid_grant", r.text)
    check(app.get(w.base + "/v1/public/twin/preset/estandar").status_code == 401,
          "and presenting it revoked the whole grant")

    # Revocation by the client (RFC 7009) with Authlib.
    app = w.session(client)
    url, verifier = w.authorize(app)
    location = w.consent(url).headers["Location"]
    token = app.fetch_token(w.meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    check(app.get(w.base + "/v1/public/twin/me").status_code == 200, "a new grant works")
    r = app.revoke_token(w.meta["revocation_endpoint"], token=token["access_token"])
    check(r.status_code == 200, "RFC 7009 revocation", r.status_code)
    check(app.get(w.base + "/v1/public/twin/me").status_code == 401, "refused after revocation")


def refusals(w: World) -> None:
    client = w.register(client_name="Careful app", redirect_uris=[REDIRECT], token_endpoint_auth_method="none")
    app = w.session(client)
    url, _ = w.authorize(app)
    bad = url.replace(urllib.parse.quote(REDIRECT, safe=""), urllib.parse.quote("https://evil.example/cb", safe=""))
    r = w.browser.get(bad, allow_redirects=False, timeout=10)
    check(r.status_code == 400 and "Location" not in r.headers, "a wrong redirect_uri is refused on the page, sent nowhere",
          r.status_code)
    plain = url.replace("code_challenge_method=S256", "code_challenge_method=plain")
    r = w.browser.get(plain, allow_redirects=False, timeout=10)
    check(r.status_code == 303 and "error=invalid_request" in r.headers.get("Location", ""), "plain PKCE is refused",
          r.headers.get("Location"))
    wide = w.session(client, scope="twin:read keys:write")
    url_wide, _ = w.authorize(wide)
    r = w.browser.get(url_wide, allow_redirects=False, timeout=10)
    check(r.status_code == 303 and "error=invalid_scope" in r.headers.get("Location", ""),
          "a scope beyond twin:read account:read is invalid_scope", r.headers.get("Location"))
    r = w.consent(url, csrf="forged")
    check(r.status_code == 403, "the consent form without its CSRF token is refused", r.status_code)
    r = w.consent(url, decision="deny")
    check(r.status_code == 303 and "error=access_denied" in r.headers.get("Location", ""), "deny is access_denied")

    secret_app = w.register(client_name="Confidential app", redirect_uris=[REDIRECT],
                            token_endpoint_auth_method="client_secret_basic")
    check(secret_app.get("client_secret"), "a confidential client gets its secret once", secret_app)
    app = w.session(secret_app)
    url, verifier = w.authorize(app)
    location = w.consent(url).headers["Location"]
    code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]
    r = requests.post(w.meta["token_endpoint"], timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier, "client_id": secret_app["client_id"]})
    check(r.status_code == 401 and r.json()["error"] == "invalid_client", "a confidential client needs its secret",
          r.text)
    url, verifier = w.authorize(app)
    location = w.consent(url).headers["Location"]
    token = app.fetch_token(w.meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    r = requests.post(w.meta["introspection_endpoint"], timeout=10, data={"token": token["access_token"]},
                      auth=(secret_app["client_id"], secret_app["client_secret"]))
    check(r.status_code == 200 and r.json().get("active") is True and r.json().get("scope") == "twin:read",
          "RFC 7662 introspection by the confidential client", r.text)
    try:
        OAuth2Session(client_id=client["client_id"], token_endpoint_auth_method="none", redirect_uri=REDIRECT,
                      code_challenge_method="S256").fetch_token(
            w.meta["token_endpoint"], authorization_response=REDIRECT + "?code=atc_nope&state=x", code_verifier="v" * 43,
            state="x")
        check(False, "an unknown code is refused")
    except OAuthError as e:
        check(e.error == "invalid_grant", "Authlib reads OAuth's error shape (invalid_grant)", e.error)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--admin-token", required=True)
    p.add_argument("--sample-twin", required=True)
    args = p.parse_args()
    w = World(args.base_url.rstrip("/"), args.admin_token)
    failed = []
    try:
        owner = f"oauth-{secrets.token_hex(4)}"
        w.admin_call("POST", "/v1/admin/owners", {"ownerId": owner, "email": f"{owner}@example.com", "plan": "professional"})
        w.admin_call("POST", f"/v1/admin/owners/{owner}/snapshots",
                     {"source": "purchase", "status": "ready", "document": json.load(open(args.sample_twin))})
        w.sign_in(owner)
    except Exception as exc:
        traceback.print_exc()
        print(f"oauth e2e: {passed} passed, 1 failed (setup: {exc})")
        return 1
    for scenario in (discovery, public_client_flow, refusals):
        before = passed
        try:
            scenario(w)
            print(f"PASS  {scenario.__name__:20s} {passed - before:3d} checks")
        except Exception as exc:
            failed.append(scenario.__name__)
            if not isinstance(exc, Fail):
                traceback.print_exc()
            print(f"FAIL  {scenario.__name__:20s} after {passed - before} checks: {type(exc).__name__}: {exc}")
    print(f"authlib {authlib.__version__}")
    print(f"oauth e2e: {passed} passed, {len(failed)} failed{' (' + ', '.join(failed) + ')' if failed else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
