#!/usr/bin/env bash
# Installs the Debian 12 packages communegw needs to build, test, benchmark and
# run its demo. Idempotent: packages already present are left alone, and apt is
# not touched at all when nothing is missing.
#
#   scripts/install-deps.sh            build + test + demo dependencies
#   scripts/install-deps.sh --bench    also the benchmark tools (valgrind, python3-paho-mqtt)
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build
  libpaho-mqttpp-dev libpaho-mqtt-dev libssl-dev openssl
  libsqlite3-dev sqlite3
  libboost-dev
  doctest-dev
  libtomlplusplus-dev
  libspdlog-dev libfmt-dev
  libcli11-dev
  libsimdjson-dev
  libzstd-dev
  libprotobuf-dev protobuf-compiler
  mosquitto mosquitto-clients
  util-linux e2fsprogs
  systemd dpkg-dev
  clang libclang-rt-14-dev
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(valgrind python3-paho-mqtt time)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
