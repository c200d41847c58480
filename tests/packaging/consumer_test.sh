#!/usr/bin/env bash
# The library as a user's project finds it: the consumer (consumer/) built
# with find_package and with pkg-config against this build's static
# libraries installed to a prefix, and with add_subdirectory of the source
# tree as shared libraries (ANNALS_BUILD_SHARED=ON), that build then
# installed and found again by find_package and pkg-config. Each consumer
# must run; the shared engine must export the public API and hide the
# internals. add_subdirectory is built once, shared: a static one would
# build the libraries again (about 2 minutes on 2 cores) to check what this
# build and the static install already check.
# Usage: consumer_test.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
src=$1 build=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
# The consumer's sources, with the annals source tree as ./annals for
# add_subdirectory(annals); make writes its output there too.
cp -R "$here/consumer" "$work/src"
ln -s "$src" "$work/src/annals"
# The shared build is only the three libraries, unoptimized: it checks
# linking and visibility, not speed.
quick=(-G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DANNALS_BUILD_SERVER=OFF)

fail() { echo "consumer_test: $*" >&2; exit 1; }
runs() {  # runs consumer binary $1 on a fresh store; it must say ok
  local out
  out=$("$1" "$work/store-$2") || fail "$2: the consumer failed"
  echo "$2: $out"
  [[ $out == "annals "*": ok" ]] || fail "$2: unexpected output '$out'"
}
pc_dir() { dirname "$(find "$1" -name annals-engine.pc | head -n 1)"; }
needs_shared_engine() {  # $1: binary; $2: yes/no
  if readelf -d "$1" | grep -q 'NEEDED.*libannals_engine\.so'; then
    [ "$2" = yes ] || fail "$1 links libannals_engine.so, expected the static library"
  else
    [ "$2" = no ] || fail "$1 does not link libannals_engine.so"
  fi
}

echo "--- static: install $build, then find_package and pkg-config --static"
cmake --install "$build" --prefix "$work/static" >/dev/null
# Our warning flags are build-only: the package neither carries nor imposes them.
if grep -l annals_warnings "$work"/static/lib*/cmake/annals/*.cmake "$work"/static/lib*/pkgconfig/*.pc; then
  fail "the installed package names the build-only target annals_warnings"
fi
cmake -S "$work/src" -B "$work/find-static" "${quick[@]}" -DANNALS_CONSUMER_USE=package \
  -DCMAKE_PREFIX_PATH="$work/static" >/dev/null
cmake --build "$work/find-static" >/dev/null
needs_shared_engine "$work/find-static/app" no
runs "$work/find-static/app" find-static
PKG_CONFIG_PATH=$(pc_dir "$work/static") make -s -C "$work/src" STATIC=1 -B
mv "$work/src/app" "$work/pkg-config-static"
needs_shared_engine "$work/pkg-config-static" no
runs "$work/pkg-config-static" pkg-config-static

echo "--- shared: add_subdirectory with ANNALS_BUILD_SHARED=ON"
cmake -S "$work/src" -B "$work/subdirectory-shared" "${quick[@]}" \
  -DANNALS_CONSUMER_USE=subdirectory -DANNALS_BUILD_SHARED=ON \
  -DANNALS_BUILD_TOOLS=OFF -DANNALS_BUILD_EXAMPLES=OFF -DANNALS_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$work/subdirectory-shared" >/dev/null
needs_shared_engine "$work/subdirectory-shared/app" yes
runs "$work/subdirectory-shared/app" subdirectory-shared

# The public API is exported, the internals are not (the writer, the
# storage layer, RocksDB's and protobuf's code linked into the engine).
engine_so=$(find "$work/subdirectory-shared" -name 'libannals_engine.so.*.*' | head -n 1)
[ -n "$engine_so" ] || fail "no versioned libannals_engine.so"
exported=$(nm -D --defined-only -C "$engine_so")
for public in 'annals::EventStore::Open' 'annals::IsWrongExpectedRevision' 'annals::Verify(' \
              'annals::Version()' 'typeinfo for annals::EventStore'; do
  grep -qF "$public" <<<"$exported" || fail "$engine_so does not export $public"
done
internal=$(grep -E "^[0-9a-f]+ [A-Za-z] ((typeinfo|vtable) for )?(annals::internal::|rocksdb::|google::protobuf::)" \
  <<<"$exported" || true)
[ -z "$internal" ] || fail "$engine_so exports internals: $(head -n 3 <<<"$internal")"
echo "exports: $(wc -l <<<"$exported") symbols of $(nm -C --defined-only "$engine_so" | wc -l) defined"

echo "--- shared: install, then find_package and pkg-config"
cmake --install "$work/subdirectory-shared" --prefix "$work/shared" >/dev/null
cmake -S "$work/src" -B "$work/find-shared" "${quick[@]}" -DANNALS_CONSUMER_USE=package \
  -DCMAKE_PREFIX_PATH="$work/shared" >/dev/null
cmake --build "$work/find-shared" >/dev/null
needs_shared_engine "$work/find-shared/app" yes
runs "$work/find-shared/app" find-shared
PKG_CONFIG_PATH=$(pc_dir "$work/shared") make -s -C "$work/src" -B
mv "$work/src/app" "$work/pkg-config-shared"
needs_shared_engine "$work/pkg-config-shared" yes
runs "$work/pkg-config-shared" pkg-config-shared
echo "consumer_test: all five consumers ran (find_package and pkg-config, static and shared; add_subdirectory, shared)"
