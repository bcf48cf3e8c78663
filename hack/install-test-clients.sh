#!/usr/bin/env bash
# Installs the external FTP clients used by test/integration: curl, lftp, python3.
# Idempotent and quiet; runs `apt-get update` once, only when a package is missing.
# Works as root on a fresh Debian 12 (uses sudo when not root and sudo exists).
set -euo pipefail

declare -A bin_for=([curl]=curl [lftp]=lftp [python3]=python3)
missing=()
for pkg in curl lftp python3; do
  if ! command -v "${bin_for[$pkg]}" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-test-clients: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-test-clients: installing ${missing[*]}" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-test-clients: apt-get failed" >&2
  exit 1
fi

for pkg in "${missing[@]}"; do
  command -v "${bin_for[$pkg]}" >/dev/null 2>&1 || { echo "install-test-clients: $pkg still missing" >&2; exit 1; }
done
