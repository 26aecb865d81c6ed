#!/usr/bin/env bash
# Puts right what the test suite needs from the machine: a working /dev/null, and the Debian
# packages it uses (redis-server, and promtool out of prometheus), installed when missing.
set -euo pipefail
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)

# /dev/null must be the null device. Machines have been seen with a regular file in its place
# (CI's among them): whatever was last written to it is then read back by every program that
# reads it. cargo feeds /dev/null to its rustc target probe, so `cargo install` failed with
# rustc parsing an old compiler warning as source. The new node is renamed into place, so no
# writer in between can recreate the regular file.
if [[ ! -c /dev/null ]]; then
  echo "system-deps: /dev/null is a regular file; recreating the null device" >&2
  "${sudo_cmd[@]}" mknod -m 666 "/dev/.null.$$" c 1 3
  "${sudo_cmd[@]}" mv -f "/dev/.null.$$" /dev/null
  [[ -c /dev/null ]] || { echo "system-deps: could not restore /dev/null" >&2; exit 1; }
fi

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# promtool (`promtool check metrics` lints the /metrics exposition in the tests) ships only in
# Debian's prometheus package, whose maintainer scripts set up a server we do not want: take
# the one binary out of the package instead of installing it.
if ! command -v promtool >/dev/null 2>&1; then
  work=$(mktemp -d)
  chmod 777 "$work" # apt downloads as its own _apt user, who must write there
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && "${sudo_cmd[@]}" apt-get update -qq && apt-get download -qq prometheus)
  dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$work" ./usr/bin/promtool
  "${sudo_cmd[@]}" install -m 755 "$work/usr/bin/promtool" /usr/local/bin/promtool
  promtool --version >/dev/null
fi
