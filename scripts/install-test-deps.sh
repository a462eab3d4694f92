#!/usr/bin/env bash
# Installs what the integration tests run against: Debian's containerd and runc (a real
# containerd, started by the tests under a temp dir), static busybox (the test image), chattr
# (the read-only config fault). Idempotent: does nothing when everything is present.
set -euo pipefail

missing=()
command -v containerd >/dev/null || missing+=(containerd)
command -v runc >/dev/null || missing+=(runc)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v chattr >/dev/null || missing+=(e2fsprogs)
command -v nsenter >/dev/null || missing+=(util-linux)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: missing ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "install-test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
  }
fi
