# shellcheck shell=bash
# Sourced by scripts/build-helm.sh and scripts/build-actionlint.sh: builds one command from a
# released Go module (fetched through the Go module proxy, checked against the checksum database)
# into the cache, like the Kubernetes binaries (scripts/build-kube.sh).
#
#   build_go_tool <name> <version> <package> <how long> [<ldflags>]
#     e.g. build_go_tool helm v4.3.1 helm.sh/helm/v4/cmd/helm "several minutes" "-X ..."
#
# The binary lands in ${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}/<name>/<version>/<name>; its path
# is the only thing printed on stdout. A cache hit is one `test -x`. <how long> goes into the log
# line of a cold build; <ldflags> are added to `-s -w` (e.g. upstream's version stamping).
# Logs go to stderr as "build-<name>: ...".

build_go_tool() {
  local name=$1 version=$2 package=$3 how_long=$4 ldflags="-s -w${5:+ $5}"
  local dir="${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}/$name/$version"
  local bin="$dir/$name"

  if [[ ! -x "$bin" ]]; then
    command -v go >/dev/null 2>&1 || { echo "build-$name: go toolchain not found on PATH" >&2; exit 1; }
    mkdir -p "$dir"
    # One build at a time per cache: two concurrent test runs on a cold cache would both compile.
    exec 9>"$dir/.build.lock"
    flock 9
  fi

  if [[ ! -x "$bin" ]]; then
    echo "build-$name: building $package@$version ($how_long; cached afterwards)" >&2
    local start gobin
    start=$(date +%s)
    # `go install pkg@version` builds the released module as it is (its own go.mod, checksums from
    # sumdb) without touching any module of ours. A temp GOBIN + rename: a killed build never
    # leaves a half-written "cached" binary.
    gobin=$(mktemp -d "$dir/.gobin.XXXXXX")
    # Expanded now: the local is gone by the time the EXIT trap runs.
    # shellcheck disable=SC2064
    trap "rm -rf $(printf %q "$gobin")" EXIT
    CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN="$gobin" nice go install -trimpath -ldflags "$ldflags" "$package@$version" >&2
    mv -f "$gobin/$name" "$bin"
    echo "build-$name: built $name $version in $(($(date +%s) - start)) s ($(du -h "$bin" | cut -f1))" >&2
  fi

  echo "$bin"
}
