#!/usr/bin/env bash
# "make fuzz": runs every fuzz target of the module for FUZZTIME each and
# prints how many inputs each ran. A new interesting input is minimised
# for at most FUZZMINIMIZE (go test's default, 60 s, used to eat a 30 s
# budget whole, so that a target ran a few dozen inputs). A crasher fails
# the run; go test saves it under the package's testdata/fuzz, where
# it becomes a regression case of the package's ordinary tests.
#   FUZZTIME (30s), FUZZMINIMIZE (2s), FUZZPKGS (./...)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
minimize=${FUZZMINIMIZE:-2s}
summary=()
failed=()
for pkg in $(go list ${FUZZPKGS:-./...}); do
  targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
  for f in $targets; do
    echo "== $pkg $f (for $fuzztime)"
    log=$(mktemp)
    if go test -run='^$' -fuzz="^$f\$" -fuzztime="$fuzztime" -fuzzminimizetime="$minimize" "$pkg" 2>&1 | tee "$log"; then
      status=ok
    else
      status=FAILED
      failed+=("$pkg $f")
    fi
    # The last progress line: "fuzz: elapsed: 30s, execs: 123456 (4115/sec), ..."
    execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n1 | awk '{print $2}')
    rm -f "$log"
    note=""
    if [ "${execs:-0}" -lt 1000 ]; then note=" (few inputs: raise FUZZTIME)"; fi
    summary+=("$(printf '%-8s %10s inputs  %s %s%s' "$status" "${execs:-?}" "${pkg#github.com/wwboot/wwboot/}" "$f" "$note")")
  done
done
echo
echo "fuzz: $fuzztime per target, minimising for at most $minimize"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
