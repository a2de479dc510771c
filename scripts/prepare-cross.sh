#!/usr/bin/env bash
# Prepares what a cross build for the Raspberry Pi needs, idempotently:
#   1. the host tools (apt, only what is missing): Debian's cross compilers,
#      qemu-user-static to run the results, mmdebstrap to make the sysroot;
#   2. a bookworm sysroot for the target holding the -dev packages we link
#      (the libraries of scripts/install-deps.sh, plus OpenCV for the camera
#      work), made with `mmdebstrap --variant=extract`, with its absolute
#      symlinks made relative and the BLAS/LAPACK alternatives links that the
#      extract variant skips.
# The sysroot is cached outside the checkout, in $COMMUNEGW_SYSROOT_CACHE
# (default /var/cache/communegw/sysroot-<debian arch>). A stamp file in it
# holds the architecture, suite, mirrors and package list it was made from:
# when they are unchanged and the list holds every package needed here the
# script is a no-op; otherwise the sysroot is made anew (into a temporary
# directory, then swapped in) with the packages needed here plus those it
# already had, so that checkouts needing different packages (a branch adding
# a library) do not make it over and over. A lock file in /tmp serialises
# concurrent runs.
#
# Usage: scripts/prepare-cross.sh <aarch64|armhf>
# Prints the sysroot path as its last line of standard output.
# COMMUNEGW_DEBIAN_MIRROR overrides the Debian mirror (default: deb.debian.org).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  aarch64 | arm64) deb_arch=arm64 triplet=aarch64-linux-gnu qemu=qemu-aarch64-static ;;
  armhf) deb_arch=armhf triplet=arm-linux-gnueabihf qemu=qemu-arm-static ;;
  *)
    echo "usage: $0 <aarch64|armhf>" >&2
    exit 2
    ;;
esac

sysroot=${COMMUNEGW_SYSROOT_CACHE:-/var/cache/communegw/sysroot-$deb_arch}
suite=bookworm
mirror=${COMMUNEGW_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# The target's libraries: keep in step with the libraries of scripts/install-deps.sh.
target_packages=(
  libc6-dev libstdc++-12-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev libssl-dev
  libsqlite3-dev
  libboost-dev
  doctest-dev
  libtomlplusplus-dev
  libspdlog-dev libfmt-dev
  libcli11-dev
  libsimdjson-dev
  libzstd-dev
  libprotobuf-dev
  libopencv-dev
)
# protoc (protobuf-compiler) is not in the sysroot: the build machine's runs
# at build time (scripts/install-deps.sh installs it) and must be the same
# version as the target's libprotobuf-dev (both bookworm's 3.21).
host_packages=("crossbuild-essential-$deb_arch" qemu-user-static mmdebstrap)

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi

# 1. Host tools.
missing=()
for p in "${host_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} > 0)); then
  echo "prepare-cross: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The sysroot.
# The release and its point-release updates. The sysroot serves headers and
# link-time libraries only, whose ABI is fixed within a Debian release; the Pi
# gets security updates from its own apt. (bookworm-security's armhf index
# also failed its size check on our mirror, which stops mmdebstrap.)
sources=(
  "deb $mirror $suite main"
  "deb $mirror $suite-updates main"
)
stamp=$sysroot/.communegw-sysroot-stamp
"${sudo_cmd[@]}" mkdir -p "$(dirname "$sysroot")"
# One run at a time per sysroot: another run may be making or swapping it.
# (In /tmp, which every user may write; the cache directory may be root's.)
lock_file=/tmp/communegw-$(tr '/' '_' <<<"$sysroot").lock
exec {lock_fd}>>"$lock_file"
if ! flock -w 3600 "$lock_fd"; then
  echo "prepare-cross: another run has held $lock_file for an hour; giving up" >&2
  exit 1
fi
header_text=$(
  echo "arch=$deb_arch"
  printf 'source=%s\n' "${sources[@]}"
)
if [[ -f $stamp && "$(grep -v '^package=' "$stamp")" == "$header_text" ]]; then
  have=$(sed -n 's/^package=//p' "$stamp")
  missing_packages=()
  for p in "${target_packages[@]}"; do
    grep -qxF "$p" <<<"$have" || missing_packages+=("$p")
  done
  if ((${#missing_packages[@]} == 0)); then
    echo "$sysroot"
    exit 0
  fi
  echo "prepare-cross: the cached sysroot lacks ${missing_packages[*]}" >&2
  mapfile -t target_packages < <(printf '%s\n' "${target_packages[@]}" $have | awk '!seen[$0]++')
fi
stamp_text=$(
  echo "$header_text"
  printf 'package=%s\n' "${target_packages[@]}"
)

echo "prepare-cross: making the $deb_arch sysroot in $sysroot (mmdebstrap, ~1.3 GB)" >&2
fresh=$sysroot.new
"${sudo_cmd[@]}" rm -rf "$fresh"
# No standard input: mmdebstrap reads sources from it when it is not a terminal.
"${sudo_cmd[@]}" mmdebstrap --quiet --variant=extract --arch="$deb_arch" \
  --include="$(IFS=,; echo "${target_packages[*]}")" \
  "$suite" "$fresh" "${sources[@]}" </dev/null >&2

# Absolute symlinks point into the host once seen from outside the sysroot
# (e.g. libm.so -> /lib/<triplet>/libm.so.6): make them relative. `find` does
# not descend through symlinked directories, so each link's directory is a
# real path and the lexical relative path is right.
while IFS= read -r -d '' link; do
  target=$(readlink "$link")
  "${sudo_cmd[@]}" ln -sfn "$(realpath -ms --relative-to="$(dirname "$link")" "$fresh$target")" "$link"
done < <(find "$fresh" -type l -lname '/*' -print0)

# The extract variant runs no maintainer scripts, so update-alternatives never
# made libblas.so.3 / liblapack.so.3 (OpenCV links against them).
libdir=$fresh/usr/lib/$triplet
for lib in libblas.so.3 liblapack.so.3; do
  if [[ ! -e $libdir/$lib ]]; then
    candidate=$(cd "$libdir" && find . -mindepth 2 -name "$lib" | sort | head -n1)
    if [[ -z $candidate ]]; then
      echo "prepare-cross: no $lib in the sysroot" >&2
      exit 1
    fi
    "${sudo_cmd[@]}" ln -sfn "${candidate#./}" "$libdir/$lib"
  fi
done

echo "$stamp_text" | "${sudo_cmd[@]}" tee "$fresh/.communegw-sysroot-stamp" >/dev/null
"${sudo_cmd[@]}" rm -rf "$sysroot"
"${sudo_cmd[@]}" mv "$fresh" "$sysroot"
echo "$sysroot"
