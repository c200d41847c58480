#!/usr/bin/env bash
# Every fenced code block of README.md is a copy of a file that CI builds
# and runs, and must stay one. The line before each block names its source:
#   <!-- snippet: PATH -->          the whole file, less its leading comment
#   <!-- snippet: PATH#REGION -->   the lines between "[START REGION]" and
#                                   "[END REGION]" comments, dedented
#   <!-- commands: SCRIPT... -->    the block is "bash SCRIPT" per line
#                                   (with comments); each script exists
# A block without such a line, a missing file or region, or a block that
# differs from its source fails the test, with a diff.
# Usage: readme_snippets_test.sh SOURCE_DIR
set -euo pipefail
root=$1
readme=$root/README.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0 blocks=0

fail() { echo "README.md:$1: $2" >&2; failed=1; }

# The source text a marker names, on stdout; returns 1 if it has none.
source_of() {
  local path=${1%%#*} region=
  [[ $1 == *"#"* ]] && region=${1#*#}
  [ -f "$root/$path" ] || return 1
  if [ -z "$region" ]; then
    # The whole file without its leading comment block (what it is for, how
    # CI runs it: true of the copy in the tree, not of a reader's copy).
    awk 'started || !/^(\/\/|#)( |$)/ { started = 1; print }' "$root/$path" |
      awk 'NR > 1 || NF'  # and the blank line after the comment
  else
    awk -v start="[START $region]" -v end="[END $region]" '
      index($0, end) { inside = 0; found = 1 }
      inside { print }
      index($0, start) { inside = 1 }
      END { exit found ? 0 : 1 }' "$root/$path" >"$work/region" || return 1
    # Dedent by the region's smallest indentation.
    local indent
    indent=$(awk 'NF { match($0, /^ */); if (min == "" || RLENGTH < min) min = RLENGTH }
                  END { print min + 0 }' "$work/region")
    cut -c"$((indent + 1))"- "$work/region"
  fi
}

marker_re='^<!-- (snippet|commands): (.*) -->$'
marker= marker_line=0 line_no=0 in_block=0 block_start=0
: >"$work/block"
while IFS= read -r line || [ -n "$line" ]; do
  line_no=$((line_no + 1))
  if [ $in_block = 0 ]; then
    if [[ $line =~ $marker_re ]]; then
      marker="${BASH_REMATCH[1]} ${BASH_REMATCH[2]}" marker_line=$line_no
    elif [[ $line == '```'* ]]; then
      in_block=1 block_start=$line_no
      : >"$work/block"
      [ $marker_line = $((line_no - 1)) ] || marker=
    fi
    continue
  fi
  if [[ $line != '```' ]]; then
    printf '%s\n' "$line" >>"$work/block"
    continue
  fi
  in_block=0 blocks=$((blocks + 1))
  case $marker in
    "snippet "*)
      src=${marker#snippet }
      if ! source_of "$src" >"$work/source"; then
        fail $block_start "the block's source $src does not exist (file or region)"
      elif ! diff -u --label "$src" --label "README.md:$block_start" "$work/source" "$work/block"; then
        fail $block_start "the block differs from $src (above: - is the source, + README)"
      fi ;;
    "commands "*)
      expected=$(for script in ${marker#commands }; do
        [ -f "$root/$script" ] || fail $block_start "$script does not exist"
        echo "bash $script"
      done)
      actual=$(sed -e 's/ *#.*$//' -e '/^$/d' "$work/block")
      [ "$actual" = "$expected" ] ||
        fail $block_start "the block runs '$actual', expected '$expected'" ;;
    *)
      fail $block_start "a code block without a source: put <!-- snippet: PATH[#REGION] --> before it" ;;
  esac
  marker=
done <"$readme"
[ $in_block = 0 ] || fail $block_start "an unclosed code block"
[ $blocks -gt 0 ] || fail 1 "no code blocks found"
[ $failed = 0 ] && echo "readme_snippets: $blocks blocks match their sources"
exit $failed
