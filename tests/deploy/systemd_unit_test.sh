#!/usr/bin/env bash
# Checks deploy/communegw.service with systemd's own tools:
#   - systemd-analyze security --offline: exposure must stay <= 2.0;
#   - systemd-analyze verify: no warnings. verify insists that ExecStart's
#     binary exists, so it checks a copy whose /usr/bin/communegw points at
#     the freshly built binary (nothing is installed).
# Needs no running systemd and no root. Exit 77 (ctest: skipped) only when
# systemd-analyze is not installed.
# Usage: systemd_unit_test.sh <unit file> <communegw binary>
set -euo pipefail
unit=$1
binary=$2
max_exposure=2.0

if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze not installed (apt-get install systemd)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --offline needs systemd >= 250 (Debian 12 has 252).
security=$(systemd-analyze security --offline=true "$unit" 2>&1) || {
  echo "$security"; echo "FAIL: systemd-analyze security failed"; exit 1; }
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$security")
echo "exposure: $exposure (limit $max_exposure)"
if [[ -z "$exposure" ]] || ! awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'; then
  echo "$security"
  echo "FAIL: exposure ${exposure:-unknown} is above $max_exposure"
  exit 1
fi

sed "s|/usr/bin/communegw|$binary|g" "$unit" >"$work/communegw.service"
verify=$(systemd-analyze verify "$work/communegw.service" 2>&1) || true
if [[ -n "$verify" ]]; then
  echo "$verify"
  echo "FAIL: systemd-analyze verify reported problems"
  exit 1
fi
echo "ok: verify clean"
