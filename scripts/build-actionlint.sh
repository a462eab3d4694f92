#!/usr/bin/env bash
# Builds actionlint, the GitHub Actions workflow linter, from its Go module
# (github.com/rhysd/actionlint, fetched through the Go module proxy and checked against the checksum
# database) for test/integration/workflows.test.ts, which lints .github/workflows/ with it.
# actionlint runs shellcheck on every `run:` script when shellcheck is on PATH
# (scripts/install-test-deps.sh installs Debian's).
#
#   scripts/build-actionlint.sh        prints the binary's path on stdout
#
# The binary lands in ${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}/actionlint/<version>/actionlint,
# outside the repository, like the Kubernetes binaries (scripts/build-kube.sh). A cache hit is one
# `test -x`. Environment:
#   SHIMKEEPER_CACHE                cache root (default $HOME/.cache/shimkeeper)
#   SHIMKEEPER_ACTIONLINT_VERSION   override the pinned release (must exist on the Go proxy)
set -euo pipefail

ACTIONLINT_VERSION="${SHIMKEEPER_ACTIONLINT_VERSION:-v1.7.12}"
CACHE_ROOT="${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}"
DIR="$CACHE_ROOT/actionlint/$ACTIONLINT_VERSION"
BIN="$DIR/actionlint"

log() { echo "build-actionlint: $*" >&2; }

if [[ ! -x "$BIN" ]]; then
  command -v go >/dev/null 2>&1 || { log "go toolchain not found on PATH"; exit 1; }
  mkdir -p "$DIR"
  # One build at a time per cache: two concurrent test runs on a cold cache would both compile.
  exec 9>"$DIR/.build.lock"
  flock 9
fi

if [[ ! -x "$BIN" ]]; then
  module=github.com/rhysd/actionlint
  log "building $module/cmd/actionlint@$ACTIONLINT_VERSION (under a minute; cached afterwards)"
  start=$(date +%s)
  # `go install pkg@version` builds the released module with its own go.mod and sumdb-checked
  # dependencies. The version is stamped as upstream's release builds do, so `actionlint -version`
  # names it. A temp GOBIN + rename: a killed build never leaves a half-written "cached" binary.
  gobin=$(mktemp -d "$DIR/.gobin.XXXXXX")
  trap 'rm -rf "$gobin"' EXIT
  CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN="$gobin" nice go install -trimpath \
    -ldflags "-s -w -X $module.version=$ACTIONLINT_VERSION" "$module/cmd/actionlint@$ACTIONLINT_VERSION" >&2
  mv -f "$gobin/actionlint" "$BIN"
  log "built actionlint $ACTIONLINT_VERSION in $(($(date +%s) - start)) s"
fi

echo "$BIN"
