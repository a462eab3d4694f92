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

# shellcheck source-path=SCRIPTDIR source=lib/go-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-tool.sh"

major="${HELM_VERSION%%.*}" # v4.3.1 -> v4
module="helm.sh/helm/$major"
# Stamp the version as upstream's release builds do, so `helm version` reports the release.
build_go_tool helm "$HELM_VERSION" "$module/cmd/helm" "several minutes on 2 cores" \
  "-X $module/internal/version.version=$HELM_VERSION -X $module/internal/version.gitTreeState=clean"
