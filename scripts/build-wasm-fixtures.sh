#!/usr/bin/env bash
# Builds the WebAssembly test fixtures (issue 13):
#
#   - a real runwasi shim, test/fixtures/wasm-shim (containerd-shim-wasm 1.0 + the wasmi
#     interpreter), compiled with cargo in two revisions that differ only in the version they
#     report, each packed like a runwasi release: containerd-shim-wasmi-<arch>-linux-gnu.tar.gz
#     holding ./containerd-shim-wasmi-v1;
#   - WASI preview1 modules compiled from test/fixtures/wasm-shim/app/*.wat with wabt's wat2wasm:
#     hello.wasm prints "hello from wasm via shimkeeper" and exits 0; ticker.wasm prints
#     "tick from wasm via shimkeeper" every 2 s until it is stopped (a pod that keeps running).
#
#   scripts/build-wasm-fixtures.sh            build what is missing or stale, print the artifacts
#   SHIMKEEPER_WASM_REVISIONS="0.1.0 0.2.0"   the versions to build (default below)
#   scripts/build-wasm-fixtures.sh --missing  build nothing: print each shim revision that a run
#                                             would (re)build with cargo, one a line
#
# Everything lands under ${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}/wasm/, never in the
# repository: target/ (cargo's), <version>/ (binary + archive), app/ (the module), and
# artifacts.json describing them (paths, sha256, versions). A re-run with the same sources is a
# no-op. stdout carries only "key value..." lines naming the artifacts; logs go to stderr.
#
# The cargo build is heavy (about 5 min cold on 2 cores): it runs under nice, with at most -j 2,
# and holds /tmp/shimkeeper-heavy.lock (shared with the integration tests) while it compiles
# (SHIMKEEPER_HEAVY_LOCK='' when the caller already holds it).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CRATE="$REPO_ROOT/test/fixtures/wasm-shim"
CACHE="${SHIMKEEPER_CACHE:-$HOME/.cache/shimkeeper}/wasm"
read -r -a REVISIONS <<<"${SHIMKEEPER_WASM_REVISIONS:-0.1.0 0.2.0}"
# The machine-wide lock for heavy work; a caller that already holds it (a test run under
# `flock /tmp/shimkeeper-heavy.lock ...`) sets SHIMKEEPER_HEAVY_LOCK='' or this would wait for itself.
HEAVY_LOCK="${SHIMKEEPER_HEAVY_LOCK-/tmp/shimkeeper-heavy.lock}"
SHIM=wasmi
BIN="containerd-shim-$SHIM-v1"

log() { echo "build-wasm-fixtures: $*" >&2; }

case "$(uname -m)" in
  x86_64 | amd64) ARCH=x86_64 ;;
  aarch64 | arm64) ARCH=aarch64 ;;
  *) ARCH="$(uname -m)" ;;
esac
ARCHIVE="containerd-shim-$SHIM-$ARCH-linux-gnu.tar.gz"

# The shim sources' fingerprint: a change to any of them rebuilds every revision.
fingerprint=$(cd "$CRATE" && cat Cargo.toml Cargo.lock src/*.rs | sha256sum | cut -d' ' -f1)

up_to_date() {
  local dir="$CACHE/$1"
  [[ -x "$dir/$BIN" && -s "$dir/$ARCHIVE" && -f "$dir/.fingerprint" ]] &&
    [[ "$(cat "$dir/.fingerprint")" == "$fingerprint" ]]
}

if [[ ${1-} == --missing ]]; then
  for v in "${REVISIONS[@]}"; do up_to_date "$v" || echo "$v"; done
  exit 0
fi

mkdir -p "$CACHE"
# One build at a time per cache (two cold test runs would otherwise both compile).
exec 8>"$CACHE/.build.lock"
flock 8

# --- the WASI modules -----------------------------------------------------------------------
# app/hello.wat (prints one line, exits 0) and app/ticker.wat (prints a line every 2 s, forever).
APPS=(hello ticker)
for app in "${APPS[@]}"; do
  wat="$CRATE/app/$app.wat"
  wasm="$CACHE/app/$app.wasm"
  if [[ ! -s $wasm || $wat -nt $wasm ]]; then
    command -v wat2wasm >/dev/null 2>&1 || {
      log "wat2wasm not found: apt-get install wabt (scripts/install-test-deps.sh does)"
      exit 1
    }
    mkdir -p "$CACHE/app"
    wat2wasm "$wat" -o "$wasm.tmp"
    mv -f "$wasm.tmp" "$wasm"
    log "compiled $wat"
  fi
done
wasm="$CACHE/app/hello.wasm"

# --- the shim ---------------------------------------------------------------------------------
stale=()
for v in "${REVISIONS[@]}"; do up_to_date "$v" || stale+=("$v"); done

if [[ ${#stale[@]} -gt 0 ]]; then
  # rustup installs into ~/.cargo/bin, which a non-login shell (CI) may not have on PATH.
  command -v cargo >/dev/null 2>&1 || PATH="$HOME/.cargo/bin:$PATH"
  command -v cargo >/dev/null 2>&1 || { log "cargo not found on PATH or in ~/.cargo/bin (install rustup's stable toolchain)"; exit 1; }
  # libcontainer links libseccomp (its -dev package has the link-time library); containerd-client
  # generates its gRPC bindings with protoc at build time.
  pkg-config --exists libseccomp 2>/dev/null || {
    log "libseccomp not found by pkg-config: apt-get install libseccomp-dev pkg-config"
    exit 1
  }
  command -v protoc >/dev/null 2>&1 || { log "protoc not found: apt-get install protobuf-compiler"; exit 1; }
  for v in "${stale[@]}"; do
    dir="$CACHE/$v"
    start=$(date +%s)
    log "cargo build $BIN $v (target dir $CACHE/target)"
    # Only the fixture crate itself recompiles for a second revision (option_env! is tracked).
    SHIMKEEPER_WASM_SHIM_VERSION="$v" SHIMKEEPER_WASM_SHIM_REVISION="shimkeeper-fixture-$v" \
      CARGO_TARGET_DIR="$CACHE/target" \
      ${HEAVY_LOCK:+flock "$HEAVY_LOCK"} nice cargo build --release --locked -j 2 \
      --manifest-path "$CRATE/Cargo.toml" --bin "$BIN" >&2
    rm -rf "$dir"
    mkdir -p "$dir/pkg"
    install -m 0755 "$CACHE/target/release/$BIN" "$dir/pkg/$BIN"
    # A runwasi release archive: the binaries at the top level, entries named "./<file>".
    tar --owner=0 --group=0 --numeric-owner --sort=name --mtime='2020-01-01 00:00Z' \
      -czf "$dir/$ARCHIVE.tmp" -C "$dir/pkg" .
    mv -f "$dir/$ARCHIVE.tmp" "$dir/$ARCHIVE"
    mv -f "$dir/pkg/$BIN" "$dir/$BIN"
    rmdir "$dir/pkg"
    echo "$fingerprint" >"$dir/.fingerprint"
    log "built $BIN $v in $(($(date +%s) - start)) s"
  done
fi

# --- the description of what was built ----------------------------------------------------------
sha() { sha256sum "$1" | cut -d' ' -f1; }
{
  echo "{"
  echo "  \"shim\": \"$SHIM\","
  echo "  \"binary\": \"$BIN\","
  echo "  \"runtimeType\": \"io.containerd.$SHIM.v1\","
  echo "  \"module\": {\"path\": \"$wasm\", \"sha256\": \"$(sha "$wasm")\"},"
  echo "  \"modules\": {"
  n=0
  for app in "${APPS[@]}"; do
    n=$((n + 1))
    sep=","
    [[ $n -eq ${#APPS[@]} ]] && sep=""
    echo "    \"$app\": {\"path\": \"$CACHE/app/$app.wasm\", \"sha256\": \"$(sha "$CACHE/app/$app.wasm")\"}$sep"
  done
  echo "  },"
  echo "  \"revisions\": ["
  n=0
  for v in "${REVISIONS[@]}"; do
    n=$((n + 1))
    sep=","
    [[ $n -eq ${#REVISIONS[@]} ]] && sep=""
    echo "    {\"version\": \"$v\", \"binary\": \"$CACHE/$v/$BIN\", \"archive\": \"$CACHE/$v/$ARCHIVE\", \"sha256\": \"$(sha "$CACHE/$v/$ARCHIVE")\"}$sep"
  done
  echo "  ]"
  echo "}"
} >"$CACHE/artifacts.json.tmp"
mv -f "$CACHE/artifacts.json.tmp" "$CACHE/artifacts.json"

echo "manifest $CACHE/artifacts.json"
echo "module $wasm"
for app in "${APPS[@]}"; do echo "app $app $CACHE/app/$app.wasm"; done
for v in "${REVISIONS[@]}"; do
  echo "shim $v $CACHE/$v/$BIN"
  echo "archive $v $CACHE/$v/$ARCHIVE"
done
