#!/usr/bin/env bash
# Builds annals and runs every test: the regular build, then the same suites
# under AddressSanitizer+UndefinedBehaviorSanitizer (Clang, with libFuzzer's
# coverage: the same build makes the fuzz binaries), then under
# ThreadSanitizer with Clang's -Wthread-safety -Werror (lock annotations),
# then the lint stage (clang-format over every C++ source, clang-tidy over
# engine/ commands/ projections/, Clang's -Wthread-safety over the server),
# then each libFuzzer target of tests/fuzz
# for a bounded time.
# Usage (from a fresh clone): bash tests/run.sh
# ANNALS_TEST_STAGES="release asan tsan lint fuzz" picks stages; ANNALS_CRASH_ROUNDS
# sets the crash test's kill rounds (default 50; 10 under the sanitizers),
# ANNALS_CORRUPTION_FLIPS the flips per damaged file (default 6; 2 under the
# sanitizers); ANNALS_FUZZ_SECONDS each fuzz target's run (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/dev/install_deps.sh

jobs=$(nproc)
# Line tables only (-g1): backtraces and sanitizer reports keep their file
# and line, and each compile is 20-30% shorter than with full debug info.
# Unity builds (CMake joins a target's sources into a few files; the
# installed libraries excepted): the headers are parsed once per batch, not
# once per file, which makes each build about half as long (docs/ARCHITECTURE.md,
# "Tests and CI").
unity=(-DCMAKE_UNITY_BUILD=ON)
release_flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
  "${unity[@]}")
stages=${ANNALS_TEST_STAGES:-"release asan tsan lint fuzz"}
asan_built=0

run_stage() {
  local name=$1; shift
  echo "=== annals tests: $name ==="
  cmake -S . -B "build-$name" -G Ninja -DANNALS_WERROR=ON "$@" >/dev/null
  cmake --build "build-$name" -j "$jobs"
  (cd "build-$name" && ctest --output-on-failure -j "$jobs" --timeout 1200 ${ctest_exclude:+-LE "$ctest_exclude"})
}

# Every C++ source formatted as .clang-format says, and clang-tidy clean (as
# .clang-tidy configures it) over the write side, the log and the read side.
# clang-tidy reads each file's own command from build-lint, configured here
# without unity files, and only protoc's output is built there. Bounded:
# about 4 minutes on 2 cores; 15 at most.
run_lint_stage() {
  echo "=== annals tests: lint ==="
  local sources
  sources=$(find base engine commands projections server relay tools tests bench examples \
    \( -name '*.cc' -o -name '*.h' \) -not -path '*/fuzz/corpus/*' 2>/dev/null | sort)
  echo "--- clang-format: $(echo "$sources" | wc -l) files"
  echo "$sources" | xargs clang-format --dry-run --Werror
  cmake -S . -B build-lint -G Ninja -DANNALS_WERROR=ON "${release_flags[@]}" \
    -DCMAKE_UNITY_BUILD=OFF >/dev/null
  cmake --build build-lint -j "$jobs" --target annals_proto_generated
  # The lock annotations of the server and the relay, which no other stage
  # compiles with Clang's -Wthread-safety (the tsan stage leaves both out).
  local annotated=()
  if [ -d build-lint/server ]; then
    cmake --build build-lint -j "$jobs" --target annals_server_proto_generated
    annotated+=(server tests/server)
  fi
  [ -d build-lint/relay ] && annotated+=(relay tests/relay)
  if [ ${#annotated[@]} -gt 0 ]; then
    local annotated_sources
    annotated_sources=$(find "${annotated[@]}" -name '*.cc' -not -path '*/node/*' | sort)
    echo "--- clang -Wthread-safety: $(echo "$annotated_sources" | wc -l) files of ${annotated[*]}"
    # shellcheck disable=SC2086  # one file per word
    bash tools/dev/thread_safety_check.sh build-lint $annotated_sources
  fi
  local tidy_sources
  tidy_sources=$(find engine commands projections -name '*.cc' 2>/dev/null | sort)
  echo "--- clang-tidy: $(echo "$tidy_sources" | wc -l) files"
  echo "$tidy_sources" | timeout 900 xargs -P "$jobs" -n 2 clang-tidy -p build-lint --quiet
}

# Runs each libFuzzer target (Clang, ASan+UBSan: the asan stage's build, or
# a build of only them when that stage did not run) for
# ANNALS_FUZZ_SECONDS on a scratch copy of its corpus and regressions, so
# nothing is written into the repository. Any crash, leak or timeout fails
# the stage; its reproducer stays in build-{asan,fuzz}/fuzz-run/<target>/.
run_fuzz_stage() {
  echo "=== annals tests: fuzz ==="
  local seconds=${ANNALS_FUZZ_SECONDS:-10} failed=0 src name run build=build-fuzz
  if [ "$asan_built" = 1 ]; then
    build=build-asan  # the asan stage built the libFuzzer binaries too
  else
    cmake -S . -B build-fuzz -G Ninja -DANNALS_WERROR=ON "${release_flags[@]}" \
      -DCMAKE_CXX_COMPILER=clang++ -DANNALS_FUZZ=ON -DANNALS_BUILD_TESTS=OFF \
      -DANNALS_BUILD_BENCHMARKS=OFF -DANNALS_BUILD_EXAMPLES=OFF >/dev/null
    cmake --build build-fuzz -j "$jobs" --target annals_fuzzers
  fi
  rm -rf "$build/fuzz-run"
  for src in tests/fuzz/*_fuzz.cc; do
    name=$(basename "$src" _fuzz.cc)
    run=$build/fuzz-run/$name
    mkdir -p "$run/corpus" "$run/artifacts"
    cp -R "tests/fuzz/corpus/$name/." "$run/corpus/"
    [ -d "tests/fuzz/regressions/$name" ] && cp -R "tests/fuzz/regressions/$name/." "$run/corpus/"
    echo "--- fuzz $name (${seconds}s)"
    if ! "$build/tests/fuzz/${name}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$run/artifacts/" "$run/corpus" >"$run/log" 2>&1; then
      failed=1
      tail -n 60 "$run/log"
      echo "fuzz $name FAILED; reproducer: $(ls -d "$PWD/$run/artifacts/"* 2>/dev/null | head -n 1)" >&2
      echo "replay it: $build/tests/fuzz/${name}_fuzz REPRODUCER" >&2
    fi
    echo "fuzz $name: $(grep -o 'number_of_executed_units: [0-9]*' "$run/log" | tail -n 1 | cut -d' ' -f2) executions"
  done
  return $failed
}

for stage in $stages; do
  stage_started=$SECONDS
  case $stage in
    release)
      run_stage release "${release_flags[@]}" ;;
    asan)
      # Clang's ASan+UBSan with libFuzzer's coverage (ANNALS_FUZZ), so one
      # build serves the suites here and the fuzz stage's binaries.
      # The sanitizer stages run the kill and flip loops shorter: the
      # regular stage runs them in full, and the packaging test (the
      # library's install and consumers, nothing sanitizers would check).
      # The server (server/) is built and tested in the regular stage only:
      # Debian's gRPC is not instrumented, and its build would double the
      # stage (docs/SERVER.md, "Tests and CI"); the relay (relay/) too:
      # libnats is not instrumented either (docs/RELAY.md).
      ANNALS_CRASH_ROUNDS=${ANNALS_CRASH_ROUNDS:-10} ANNALS_CORRUPTION_FLIPS=${ANNALS_CORRUPTION_FLIPS:-2} \
      ctest_exclude=packaging ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        run_stage asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 "${unity[@]}" \
        -DCMAKE_CXX_COMPILER=clang++ -DANNALS_FUZZ=ON \
        -DANNALS_BUILD_BENCHMARKS=OFF -DANNALS_BUILD_EXAMPLES=OFF -DANNALS_BUILD_SERVER=OFF \
        -DANNALS_BUILD_RELAY=OFF
      asan_built=1 ;;
    tsan)
      ANNALS_CRASH_ROUNDS=${ANNALS_CRASH_ROUNDS:-10} ANNALS_CORRUPTION_FLIPS=${ANNALS_CORRUPTION_FLIPS:-2} \
      ctest_exclude=packaging TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
        run_stage tsan "${release_flags[@]}" -DANNALS_SANITIZE=thread \
        -DCMAKE_CXX_COMPILER=clang++ -DANNALS_THREAD_SAFETY=ON \
        -DANNALS_BUILD_BENCHMARKS=OFF -DANNALS_BUILD_EXAMPLES=OFF -DANNALS_BUILD_SERVER=OFF \
        -DANNALS_BUILD_RELAY=OFF ;;
    lint)
      run_lint_stage ;;
    fuzz)
      UBSAN_OPTIONS=print_stacktrace=1 run_fuzz_stage ;;
    *)
      echo "unknown stage '$stage' (release, asan, tsan, lint, fuzz)" >&2; exit 2 ;;
  esac
  # Each stage's wall time, for the CI budget (docs/ARCHITECTURE.md, "Tests and CI").
  echo "=== annals tests: $stage took $((SECONDS - stage_started)) s ==="
done
