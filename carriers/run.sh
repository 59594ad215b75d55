#!/usr/bin/env bash
# Plays calls against the real binary with requests signed by the carriers' own libraries
# (Twilio's `twilio` package from PyPI): Switchboard must accept what they sign and refuse it
# tampered. Exits non-zero on any failure.
#
#   bash carriers/run.sh
#
# It builds the debug binary if needed, serves it on a fresh SQLite file in a temporary
# directory, and installs the libraries into carriers/.venv the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

TWILIO_VERSION=9.13.0
VENV=carriers/.venv

if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c "import twilio, sys; sys.exit(twilio.__version__ != '$TWILIO_VERSION')" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "twilio==$TWILIO_VERSION"
fi

cargo build --quiet --locked -p switchboard
"$VENV/bin/python" carriers/check.py "$PWD/target/debug/switchboard"
