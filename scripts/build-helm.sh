#!/usr/bin/env bash
# Builds the `helm` CLI from its Go module (helm.sh/helm/v4, fetched through the Go module proxy)
# for the chart's tests (charts/shimkeeper: lint, template, install on the local cluster).
#
#   scripts/build-helm.sh        prints the binary's path on stdout
#
# The binary lands in ${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}/helm/<version>/helm, outside the
# repository, like the Kubernetes binaries (scripts/build-kube.sh). A cache hit is one `test -x`.
# Environment:
#   SHIMKEEPER_CACHE          cache root (default $HOME/.cache/shimkeeper)
#   SHIMKEEPER_HELM_VERSION   override the pinned release (must exist on the Go proxy)
set -euo pipefail

# Helm 4, the current major. The chart is apiVersion v2, which Helm 3 reads too.
HELM_VERSION="${SHIMKEEPER_HELM_VERSION:-v4.3.1}"
CACHE_ROOT="${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}"
HELM_DIR="$CACHE_ROOT/helm/$HELM_VERSION"
BIN="$HELM_DIR/helm"

log() { echo "build-helm: $*" >&2; }

if [[ ! -x "$BIN" ]]; then
  command -v go >/dev/null 2>&1 || { log "go toolchain not found on PATH"; exit 1; }
  mkdir -p "$HELM_DIR"
  # One build at a time per cache: two concurrent test runs on a cold cache would both compile.
  exec 9>"$HELM_DIR/.build.lock"
  flock 9
fi

if [[ ! -x "$BIN" ]]; then
  major="${HELM_VERSION%%.*}" # v4.3.1 -> v4
  module="helm.sh/helm/$major"
  log "building $module/cmd/helm@$HELM_VERSION (several minutes on 2 cores; cached afterwards)"
  start=$(date +%s)
  # Stamp the version as upstream's release builds do, so `helm version` reports the release.
  ldflags="-s -w -X $module/internal/version.version=$HELM_VERSION -X $module/internal/version.gitTreeState=clean"
  # `go install pkg@version` builds the released module as it is (its own go.mod, checksums from
  # sumdb) without touching any module of ours. A temp GOBIN + rename: a killed build never leaves a
  # half-written "cached" binary.
  gobin=$(mktemp -d "$HELM_DIR/.gobin.XXXXXX")
  trap 'rm -rf "$gobin"' EXIT
  CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN="$gobin" nice go install -trimpath -ldflags "$ldflags" "$module/cmd/helm@$HELM_VERSION" >&2
  mv -f "$gobin/helm" "$BIN"
  log "built helm $HELM_VERSION in $(($(date +%s) - start)) s ($(du -h "$BIN" | cut -f1))"
fi

echo "$BIN"
