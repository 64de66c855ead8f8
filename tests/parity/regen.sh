#!/usr/bin/env bash
# Regenerate expected.txt: the golden output of the Python qik for `qik --ls ...`.
#
# Each entry below is  case | cwd | args | env | expect-substring
#   case             directory next to this script (copied to a temp dir, then `git init`)
#   cwd              directory inside the copy to run from ("." = root)
#   args             arguments after `qik`, split on whitespace (no quoting supported)
#   env              optional KEY=VAL pairs, space separated
#   expect-substring empty for normal entries. For entries where the Python qik fails,
#                    a short stable substring of its error message. The script checks the
#                    run failed and that the substring occurs; it records the stream it was
#                    found in as `stdout-contains:` / `stderr-contains:` (Python qik prints its
#                    errors through rich on STDOUT) instead of a verbatim `stdout:` section.
#
# Usage: PYQIK=/path/to/qik ./regen.sh   (default /work/tools/pyqik/bin/qik)
set -euo pipefail
set -f  # never glob-expand args

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYQIK="${PYQIK:-/work/tools/pyqik/bin/qik}"
OUT="$HERE/expected.txt"

ENTRIES=(
  # --- basic: plain commands, string shorthand, dep chains, isolation, hidden, tags
  "basic|.|--ls||"
  "basic|.|--ls test||"
  "basic|.|--ls release||"
  "basic|.|--ls release --isolated||"
  "basic|.|--ls lint||"
  "basic|.|--ls lint --isolated||"
  "basic|.|--ls docs||"
  "basic|.|--ls docs gen||"
  "basic|.|--ls secret||"
  "basic|.|--ls --isolated||"
  "basic|.|--ls test lint||"
  "basic|.|--ls test test||"
  "basic|.|--ls -t fast||"
  "basic|.|--ls -t ci||"
  "basic|.|--ls -t slow -t fast||"
  "basic|.|--ls release -t ci||"
  "basic|.|--ls -s default||"
  "basic|.|--ls -s nope||"
  "basic|.|--ls -m nope||"
  "basic|src/pkg|--ls test||"
  "basic|.|--ls release|QIK__ISOLATED=1|"
  "basic|.|--ls|QIK__COMMANDS=docs,lint|"
  "basic|.|docs|QIK__LS=1|"
  "basic|.|--ls --fail test||"
  "basic|.|--ls --fail -s nope||"
  "basic|.|--ls nope||Command \"nope\" not configured"
  # --- ordering: output is sorted by runnable name (code point order)
  "ordering|.|--ls||"
  # --- one explicitly declared space named "default": no @suffix
  "space-default-only|.|--ls||"
  "space-default-only|.|--ls -s default||"
  # --- one named space (+ the implicit default) => every name gets @space
  "space-one-named|.|--ls||"
  "space-one-named|api|--ls||"
  "space-one-named|api/core|--ls||"
  "space-one-named|api2|--ls||"
  "space-one-named|tools|--ls||"
  "space-one-named|api|--ls -s default||"
  "space-one-named|api|--ls lint||"
  "space-one-named|.|--ls -m handlers||"
  "space-one-named|.|--ls -m api/core||"
  "space-one-named|.|--ls -m api/handlers||"
  "space-one-named|.|--ls serve -m handlers||"
  # --- explicit default space + one other space, same module name in both
  "spaces-two|.|--ls||"
  "spaces-two|.|--ls -m shared||"
  "spaces-two|lib/shared|--ls||"
  # --- three spaces: string / list / table forms, module aliases, nested paths, module qik.toml
  "spaces-three|.|--ls||"
  "spaces-three|.|--ls -m billing||"
  "spaces-three|.|--ls -m app/payments/billing||"
  "spaces-three|.|--ls -m app/users||"
  "spaces-three|.|--ls -s app||"
  "spaces-three|.|--ls -s tools -s web||"
  "spaces-three|.|--ls test typecheck||"
  "spaces-three|.|--ls webmods||"
  "spaces-three|.|--ls app/users/migrate||"
  "spaces-three|.|--ls app/users/check -m billing||"
  "spaces-three|.|--ls app/users/internal||"
  "spaces-three|.|--ls billing/run||"
  "spaces-three|.|--ls -t unit -s app||"
  "spaces-three|.|--ls -m billing -m app/users -s app||"
  "spaces-three|.|--ls -m billing -s web||"
  "spaces-three|app|--ls||"
  "spaces-three|app/users|--ls||"
  "spaces-three|app|--ls app/users/migrate||Command \"app/users/migrate\" not configured"
  "spaces-three|.|--ls app/payments/billing/run||Module or plugin \"app/payments/billing\" not configured"
  # --- parametrized commands depending on parametrized commands
  "modules-deps|.|--ls||"
  "modules-deps|.|--ls report||"
  "modules-deps|.|--ls report --isolated||"
  "modules-deps|.|--ls test -m a||"
  "modules-deps|.|--ls -m c||"
  "modules-deps|.|--ls -m b --isolated||"
  "modules-deps|.|--ls a/each||"
  "modules-deps|.|--ls a/each -m b||"
  "modules-deps|.|--ls a.each||"
  "modules-deps|.|--ls a.each a/each -m c||"
  "modules-deps|.|--ls -m pkgs/c||"
  "modules-deps|a|--ls||"
  "modules-deps|pkgs|--ls -m c||"
  # --- config discovery
  "nested-config|.|--ls||"
  "nested-config|sub|--ls||"
  "nested-config|sub/inner|--ls||"
  "nested-config|sub|--ls sub-cmd||Command \"sub-cmd\" not configured"
  "subproject|proj|--ls||"
  "subproject|proj/x|--ls||"
  "subproject|proj/svc|--ls||"
  "subproject|.|--ls||Could not locate qik.toml"
  # --- uv plugin
  "uv|.|--ls||"
  "uv|.|--ls --isolated||"
  "uv|.|--ls uv.install||"
  "uv|.|--ls uv.lock||"
  "uv|.|--ls uv.install --isolated||"
  "uv|.|--ls uv.install -s docs||"
  "uv|.|--ls uv/install||"
  "uv|.|--ls -s api||"
  "uv|.|--ls -s tools||"
  "uv|.|--ls test||"
  "uv|docs|--ls||"
  # --- pygraph plugin
  "pygraph|.|--ls||"
  "pygraph|.|--ls --isolated||"
  "pygraph|.|--ls pygraph.check||"
  "pygraph|.|--ls pygraph.check --isolated||"
  "pygraph|.|--ls pygraph.lock||"
  "pygraph|.|--ls pygraph.build||"
  "pygraph|.|--ls pygraph/check||"
  "pygraph|.|--ls lint||"
  "pygraph|.|--ls -m web||"
  "pygraph|.|--ls -s scripts --isolated||"
  # --- plugins registered under other names, single space
  "plugin-alias|.|--ls||"
  "plugin-alias|.|--ls --isolated||"
  "plugin-alias|.|--ls graph.check||"
  "plugin-alias|.|--ls py.install||"
  "plugin-alias|.|--ls py.lock||"
  "plugin-alias|.|--ls -m utils||"
  "plugin-alias|.|--ls uv.install||Module or plugin \"uv\" not configured"
  # --- ctx variables
  "ctx|.|--ls|TARGET=a|"
  "ctx|.|--ls main|TARGET=a|"
  "ctx|.|--ls main|TARGET=b|"
  "ctx|.|--ls pre-a pre-b||"
  "ctx|.|--ls||No value supplied for \"target\" ctx"
  "ctx|.|--ls main|TARGET=c|Command \"pre-c\" not configured"
  "ctx|.|--ls|TARGET=a LEVEL=x|Unable to cast env ctx LEVEL"
  # --- error behaviour
  "errors|.|--ls ok||"
  "errors|.|--ls a --isolated||"
  "errors|.|--ls||Module or plugin \"x\" not configured"
  "errors|.|--ls a||Cycle detected in DAG"
  "errors|.|--ls badspace||Space \"missing\" not configured"
  "bad-module-dep|.|--ls root-only||"
  "bad-module-dep|.|--ls||unknown field \`type\`"
)

strip_ansi() { sed -E 's/\x1b\[[0-9;?]*[A-Za-z]//g'; }

TMPROOT="$(mktemp -d)"
trap 'rm -rf "$TMPROOT"' EXIT

: > "$OUT"
first=1
n=0
for entry in "${ENTRIES[@]}"; do
  IFS='|' read -r case cwd args envs expect <<<"$entry"
  work="$TMPROOT/$n-$case"
  mkdir -p "$work"
  cp -a "$HERE/$case/." "$work/"
  (cd "$work" && git init -q .)

  # shellcheck disable=SC2086
  set +e
  (cd "$work/$cwd" && env -i PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 \
      NO_COLOR=1 COLUMNS=200 $envs "$PYQIK" $args) >"$work.out" 2>"$work.err"
  code=$?
  set -e
  strip_ansi <"$work.out" >"$work.out2"
  strip_ansi <"$work.err" >"$work.err2"

  if [[ $first -eq 0 ]]; then echo >>"$OUT"; fi
  first=0
  {
    echo "case: $case"
    echo "cwd: $cwd"
    echo "args: $args"
    if [[ -n "$envs" ]]; then echo "env: $envs"; fi
    echo "exit: $code"
  } >>"$OUT"

  if [[ -n "$expect" ]]; then
    if [[ $code -eq 0 ]]; then
      echo "regen: expected failure but got exit 0: $entry" >&2; exit 1
    fi
    if grep -qF -- "$expect" "$work.out2"; then
      echo "stdout-contains: $expect" >>"$OUT"
    elif grep -qF -- "$expect" "$work.err2"; then
      echo "stderr-contains: $expect" >>"$OUT"
    else
      echo "regen: substring not found for: $entry" >&2
      cat "$work.out2" "$work.err2" >&2; exit 1
    fi
  else
    if [[ $code -ne 0 && " $args " != *" --fail "* ]]; then
      echo "regen: unexpected failure (exit $code): $entry" >&2
      cat "$work.out2" "$work.err2" >&2; exit 1
    fi
    echo "stdout:" >>"$OUT"
    sed 's/^/  /' "$work.out2" >>"$OUT"
  fi
  n=$((n + 1))
done

echo "regen: wrote $n entries to $OUT" >&2
