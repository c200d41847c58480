#!/usr/bin/env bash
# Clang's -Wthread-safety over sources the tsan stage does not build (the
# server: Debian's gRPC is not instrumented), so their ABSL_GUARDED_BY and
# lock annotations are checked too. Compiles each file given (syntax only)
# with its flags from BUILD/compile_commands.json, under clang++ with
# -Wthread-safety -Werror.
# Usage: tools/dev/thread_safety_check.sh BUILD FILE...
set -euo pipefail
build=$(realpath "$1")
shift
failed=0
for file in "$@"; do
  path=$(realpath "$file")
  # The file's command line as the build wrote it (Node is there already:
  # the server's conformance tests run on it).
  command=$(node -e '
    const [db, file] = process.argv.slice(1);
    const entry = require(db).find((e) => e.file === file);
    if (!entry) process.exit(3);
    console.log(entry.command);
  ' "$build/compile_commands.json" "$path") || {
    echo "thread safety: $file is not in $build/compile_commands.json" >&2
    failed=1
    continue
  }
  eval "words=($command)"  # our own build's command: split as the shell would
  args=()
  for ((i = 1; i < ${#words[@]}; i++)); do
    case ${words[i]} in
      -o | -MF | -MT) i=$((i + 1)) ;;
      -c | -MD | "$path") ;;
      *) args+=("${words[i]}") ;;
    esac
  done
  if ! (cd "$build" && clang++ -fsyntax-only -Wthread-safety -Werror -Wno-unknown-warning-option \
      -Wno-unused-command-line-argument "${args[@]}" "$path"); then
    failed=1
  fi
done
exit $failed
