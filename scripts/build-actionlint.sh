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

# shellcheck source-path=SCRIPTDIR source=lib/go-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-tool.sh"

module=github.com/rhysd/actionlint
# The version is stamped as upstream's release builds do, so `actionlint -version` names it.
build_go_tool actionlint "$ACTIONLINT_VERSION" "$module/cmd/actionlint" "under a minute" "-X $module.version=$ACTIONLINT_VERSION"
