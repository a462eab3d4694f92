#!/usr/bin/env bash
# Builds containerd releases from their Go modules (fetched through the Go module proxy and
# checked against the checksum database), with the runc shim of the same release, for the
# installer's containerd matrix tests.
#
#   scripts/build-containerd.sh [version ...]     default: the releases in CONTAINERD_RELEASES
#   scripts/build-containerd.sh --missing [version ...]   build nothing: print each release not
#                                                         yet built, one a line
#
# Each release lands in ${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}/containerd/<version>/bin/
# (containerd, containerd-shim-runc-v2), outside the repository; re-running is a no-op when both
# binaries exist. stdout carries one "<version> <bin dir>" line per release.
set -euo pipefail

# The newest 1.7 and the newest 2.x that the module proxy serves (Debian's 1.6.20 is the third
# column of the matrix and comes from apt). Keep in step with test/harness/containerd-releases.ts.
CONTAINERD_RELEASES=(1.7.35 2.4.2)
CACHE_ROOT="${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}"

log() { echo "build-containerd: $*" >&2; }

list_missing=false
if [[ ${1-} == --missing ]]; then list_missing=true; shift; fi
if [[ $# -gt 0 ]]; then versions=("$@"); else versions=("${CONTAINERD_RELEASES[@]}"); fi

built() { [[ -x "$CACHE_ROOT/containerd/$1/bin/containerd" && -x "$CACHE_ROOT/containerd/$1/bin/containerd-shim-runc-v2" ]]; }
if $list_missing; then
  for v in "${versions[@]}"; do built "$v" || echo "$v"; done
  exit 0
fi

build_release() {
  local version=$1
  local dir="$CACHE_ROOT/containerd/$version"
  local bin="$dir/bin"
  if built "$version"; then
    echo "$version $bin"
    return
  fi
  command -v go >/dev/null 2>&1 || { log "go toolchain not found on PATH"; exit 1; }
  mkdir -p "$bin"
  # One build per release at a time: two cold test runs would otherwise both compile it.
  exec 9>"$dir/.build.lock"
  flock 9
  if built "$version"; then
    echo "$version $bin"
    return
  fi

  local module=github.com/containerd/containerd
  [[ $version == 1.* ]] || module=github.com/containerd/containerd/v2
  log "downloading $module@v$version"
  local download_json source
  download_json=$(GOFLAGS=-mod=mod go mod download -json "$module@v$version")
  source=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$download_json")
  [[ -d $source ]] || { log "could not download $module@v$version:"; echo "$download_json" >&2; exit 1; }

  # `go install module@version` is refused for 1.7 (its go.mod has exclude directives), so the
  # module is built as the main module from a writable copy. Module zips carry no vendor/, so
  # dependencies come from the proxy (-mod=mod), verified by go.sum.
  local work="$dir/src"
  rm -rf "$work"
  cp -r "$source" "$work"
  chmod -R u+w "$work"
  local start
  start=$(date +%s)
  local ldflags="-s -w -X $module/version.Version=v$version -X $module/version.Revision=module-proxy"
  for cmd in containerd containerd-shim-runc-v2; do
    log "go build $cmd $version"
    # no_btrfs: the btrfs snapshotter needs kernel headers; tests use overlayfs and native.
    (cd "$work" && CGO_ENABLED=1 GOTOOLCHAIN=local GOFLAGS=-mod=mod nice go build -trimpath \
      -tags "no_btrfs" -ldflags "$ldflags" -o "$bin/.$cmd.tmp" "./cmd/$cmd" >&2)
    mv -f "$bin/.$cmd.tmp" "$bin/$cmd"
  done
  rm -rf "$work"
  log "built containerd $version in $(($(date +%s) - start)) s"
  echo "$version $bin"
}

for v in "${versions[@]}"; do build_release "$v"; done
