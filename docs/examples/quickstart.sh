#!/usr/bin/env bash
# Fetch a twin as a system prompt with curl. Needs TWIN_KEY; TWIN_BASE_URL defaults to the
# local server.
set -euo pipefail
BASE="${TWIN_BASE_URL:-http://127.0.0.1:8080}"

# Is the key alive? (/health costs no quota.)
curl -fsS -H "X-Twin-Key: $TWIN_KEY" "$BASE/v1/public/twin/health" > /dev/null

# The standard preset as JSON, in Spanish.
curl -fsS -H "X-Twin-Key: $TWIN_KEY" \
  "$BASE/v1/public/twin/preset/estandar?format=json&lang=es"
