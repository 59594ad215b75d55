#!/usr/bin/env bash
# Checks that the live server's OpenAPI document is valid OpenAPI 3.1, then fuzzes the server
# against it with Schemathesis: every operation, every check, a fixed seed. Exits non-zero on
# any failure.
#
#   bash fuzz/run.sh                      # the budget CI runs (a few minutes)
#   FUZZ_MAX_EXAMPLES=500 FUZZ_SEED=7 bash fuzz/run.sh   # longer, or another seed
#   FUZZ_DATABASE_URL=postgres://postgres@127.0.0.1:5432/fuzz bash fuzz/run.sh   # on PostgreSQL
#
# It builds the debug binary if needed, serves it on a fresh SQLite file in a temporary
# directory, and installs Schemathesis into fuzz/.venv the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VALIDATOR_VERSION=0.9.0
SEED=${FUZZ_SEED:-20261127}
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-40}
VENV=fuzz/.venv

if [[ ! -x $VENV/bin/schemathesis ]] || ! "$VENV/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION" \
    || [[ ! -x $VENV/bin/openapi-spec-validator ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$VALIDATOR_VERSION"
fi

cargo build --quiet --locked -p switchboard
BIN=$PWD/target/debug/switchboard
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# SQLite by default; FUZZ_DATABASE_URL=postgres://… fuzzes on that (empty) PostgreSQL
# database instead, where a NUL or another control character in a text field must be as
# harmless as on SQLite.
if [[ -n ${FUZZ_DATABASE_URL:-} ]]; then
    export SWITCHBOARD_DATABASE_URL=$FUZZ_DATABASE_URL
    SWITCHBOARD_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
    export SWITCHBOARD_SECRET_KEY
    "$BIN" migrate >/dev/null
else
    export SWITCHBOARD_DATABASE_URL="sqlite://$WORK/fuzz.db"
fi
export RUST_LOG=warn
WORKSPACE=$("$BIN" workspace create --name Fuzz --countries US,CA,GB,IN,AU,DE --kyc-verified \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["workspace_id"])')

# A rate limit high enough never to bite, so the X-RateLimit-* headers are on every answer.
# Webhook endpoints the fuzzer creates point at made-up public addresses that nothing here
# answers: a 2 s attempt timeout keeps a test ping (which waits for its attempt) within the
# fuzzer's own 10 s request timeout.
# The server logs at info: its "listening on" line gives the address.
# The fuzzer sends many requests without a key on purpose: failed authentication is not
# throttled here (its own tests cover that).
RUST_LOG=warn,switchboard=info "$BIN" serve --listen 127.0.0.1:0 --rate-limit-per-minute 1000000 \
    --failed-auth-per-minute 0 --webhook-timeout-secs 2 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do
    ADDRESS=$(grep -o 'listening on http://[0-9.:]*' "$WORK/server.log" | head -1 | cut -d/ -f3 || true)
    [[ -n $ADDRESS ]] && break
    sleep 0.1
done
if [[ -z ${ADDRESS:-} ]]; then
    echo "fuzz: the server did not start:" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi

# The document itself first: valid OpenAPI 3.1, as served.
python3 -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' \
    "http://$ADDRESS/v1/openapi.json" >"$WORK/openapi.json"
"$VENV/bin/openapi-spec-validator" "$WORK/openapi.json"

status=0
SWITCHBOARD_BIN=$BIN SWITCHBOARD_FUZZ_WORKSPACE=$WORKSPACE \
    SCHEMATHESIS_HOOKS=hooks PYTHONPATH=$PWD/fuzz \
    "$VENV/bin/schemathesis" --config-file fuzz/schemathesis.toml run \
    "http://$ADDRESS/v1/openapi.json" \
    --checks all --seed "$SEED" --max-examples "$MAX_EXAMPLES" \
    --no-color --report junit --report-dir "$WORK/report" || status=$?

if grep -q -E 'panicked|ERROR' "$WORK/server.log"; then
    echo "fuzz: the server logged errors:" >&2
    grep -E 'panicked|ERROR' "$WORK/server.log" | head -20 >&2
    status=1
fi
exit "$status"
