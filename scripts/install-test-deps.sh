#!/usr/bin/env bash
# Installs what the integration and e2e tests run against: Debian's containerd and runc (a real
# containerd, started by the tests under a temp dir), static busybox (the test image), chattr
# (the read-only config fault), CNI plugins and iptables (the e2e node). Idempotent: does nothing
# when everything is present.
#
#   scripts/install-test-deps.sh                  install what is missing (root; apt-get)
#   scripts/install-test-deps.sh --list-missing   only print the missing Debian packages, one a line
#                                                 (local-cluster/check-prerequisites.ts asks this)
set -euo pipefail

missing=()
command -v containerd >/dev/null || missing+=(containerd)
command -v runc >/dev/null || missing+=(runc)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v chattr >/dev/null || missing+=(e2fsprogs)
command -v nsenter >/dev/null || missing+=(util-linux)
# The e2e cluster: bridge CNI for pods, iptables for the kubelet, Debian's etcd for the apiserver.
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
command -v iptables >/dev/null || missing+=(iptables)
# The node's veth pair (local-cluster/netns.ts).
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
# The static pause binary of the e2e images is compiled here.
command -v gcc >/dev/null || missing+=(gcc)
compgen -G '/usr/lib/*-linux-gnu/libc.a' >/dev/null || missing+=(libc6-dev)
# The Wasm fixtures (scripts/build-wasm-fixtures.sh): wat2wasm for the WASI app; libseccomp's
# link-time library, pkg-config and protoc for the runwasi shim (cargo itself comes from rustup).
command -v wat2wasm >/dev/null || missing+=(wabt)
pkg-config --exists libseccomp 2>/dev/null || missing+=(libseccomp-dev pkg-config)
command -v protoc >/dev/null || missing+=(protobuf-compiler)
# actionlint (test/integration/workflows.test.ts) runs shellcheck on the workflows' run: scripts.
command -v shellcheck >/dev/null || missing+=(shellcheck)

if [ "${1-}" = --list-missing ]; then
  [ ${#missing[@]} -eq 0 ] || printf '%s\n' "${missing[@]}"
  exit 0
fi

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
