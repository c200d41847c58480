#!/usr/bin/env bash
# Builds annals and runs every test: the regular build, then the same suites
# under AddressSanitizer+UndefinedBehaviorSanitizer, then under
# ThreadSanitizer with Clang's -Wthread-safety -Werror (lock annotations).
# Usage (from a fresh clone): bash tests/run.sh
# ANNALS_TEST_STAGES="release asan tsan" picks stages; ANNALS_CRASH_ROUNDS
# sets the crash test's kill rounds (default 50).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/dev/install_deps.sh

jobs=$(nproc)
stages=${ANNALS_TEST_STAGES:-"release asan tsan"}

run_stage() {
  local name=$1; shift
  echo "=== annals tests: $name ==="
  cmake -S . -B "build-$name" -G Ninja -DANNALS_WERROR=ON "$@" >/dev/null
  cmake --build "build-$name" -j "$jobs"
  (cd "build-$name" && ctest --output-on-failure -j "$jobs" --timeout 1200)
}

for stage in $stages; do
  case $stage in
    release)
      run_stage release -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
    asan)
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        run_stage asan -DCMAKE_BUILD_TYPE=Debug -DANNALS_SANITIZE=address,undefined \
        -DANNALS_BUILD_BENCHMARKS=OFF -DANNALS_BUILD_EXAMPLES=OFF ;;
    tsan)
      TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
        run_stage tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANNALS_SANITIZE=thread \
        -DCMAKE_CXX_COMPILER=clang++ -DANNALS_THREAD_SAFETY=ON \
        -DANNALS_BUILD_BENCHMARKS=OFF -DANNALS_BUILD_EXAMPLES=OFF ;;
    *)
      echo "unknown stage '$stage' (release, asan, tsan)" >&2; exit 2 ;;
  esac
done
