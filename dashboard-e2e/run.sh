#!/usr/bin/env bash
# The owner dashboard in a real browser, on both backends:
#
#   bash dashboard-e2e/run.sh PATH/TO/twin-server
#
# Needs Debian's chromium (apt-get install -y chromium chromium-driver; .ci/run installs it),
# node and npm, and PostgreSQL on 127.0.0.1:5432 (trust auth). For each backend it starts the
# server on a free loopback port with a fresh database and runs journey.mjs; screenshots go to
# $SCREENSHOTS (default target/dashboard-screenshots/<backend>), never committed.
set -uo pipefail
if [[ $# -ne 1 || ! -x "$1" ]]; then
    echo "usage: bash dashboard-e2e/run.sh PATH/TO/twin-server" >&2
    exit 2
fi
SERVER_BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
SHOTS_ROOT="${SCREENSHOTS:-$REPO/target/dashboard-screenshots}"
PG_BASE="${TWIN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
PG_BASE="${PG_BASE%/*}"

(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || { echo "dashboard e2e: npm ci failed" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/twin-dashboard-e2e.XXXXXX")"
SERVER_PID=""
PG_DB=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill -TERM "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
    if [[ -n "$PG_DB" ]]; then psql "$PG_BASE/postgres" -q -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

status=0
for backend in sqlite postgres; do
    if [[ "$backend" == sqlite ]]; then
        url="sqlite://$WORK/twin.db"
    else
        PG_DB="twin_e2e_$$_$RANDOM"
        psql "$PG_BASE/postgres" -q -c "CREATE DATABASE $PG_DB" >/dev/null || { echo "dashboard e2e: cannot create $PG_DB" >&2; exit 1; }
        url="$PG_BASE/$PG_DB"
    fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    token="e2e-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    TWIN_DATABASE_URL="$url" TWIN_BIND="127.0.0.1:$port" TWIN_ADMIN_TOKEN="$token" TWIN_LOG=warn \
        TWIN_WEBHOOKS_ALLOW_PRIVATE=true TWIN_OAUTH_REGISTRATION=open \
        "$SERVER_BIN" serve > "$WORK/server-$backend.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    echo "==> dashboard in Chromium on $backend"
    if ! node "$HERE/journey.mjs" "http://127.0.0.1:$port" "$token" \
        "$REPO/crates/twin-render/data/sample-twin.json" "$SHOTS_ROOT/$backend"; then
        status=1
        echo "--- server log ($backend)" >&2
        tail -n 40 "$WORK/server-$backend.log" >&2
    fi
    kill -TERM "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
done
exit $status
