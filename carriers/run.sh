#!/usr/bin/env bash
# Plays calls against the real binary with requests signed as the carriers' own libraries
# sign and check them (Twilio's `twilio`, Telnyx's `telnyx` and Plivo's `plivo` packages from
# PyPI, with PyNaCl for Ed25519): Switchboard must accept what they accept and refuse it tampered,
# replayed or stale. Exits non-zero on any failure.
#
#   bash carriers/run.sh
#
# It builds the debug binary if needed, serves it on a fresh SQLite file in a temporary
# directory, and installs the libraries into carriers/.venv the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

TWILIO_VERSION=9.13.0
TELNYX_VERSION=4.189.0
PYNACL_VERSION=1.6.2
PLIVO_VERSION=4.63.0
VENV=carriers/.venv

if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c "
import sys, importlib.metadata as m
sys.exit(m.version('twilio') != '$TWILIO_VERSION' or m.version('telnyx') != '$TELNYX_VERSION' or m.version('pynacl') != '$PYNACL_VERSION' or m.version('plivo') != '$PLIVO_VERSION')" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "twilio==$TWILIO_VERSION" "telnyx==$TELNYX_VERSION" "pynacl==$PYNACL_VERSION" "plivo==$PLIVO_VERSION"
fi

cargo build --quiet --locked -p switchboard
"$VENV/bin/python" carriers/check.py "$PWD/target/debug/switchboard"
