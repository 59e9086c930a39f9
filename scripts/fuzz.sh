#!/usr/bin/env bash
# "make fuzz": runs every fuzz target of the module for FUZZTIME each and
# prints how many inputs each ran. A new interesting input is minimised
# for at most FUZZMINIMIZE (go test's default, 60 s, used to eat a 30 s
# budget whole, so that a target ran a few dozen inputs). A crasher fails
# the run; go test saves it under the package's testdata/fuzz, where
# it becomes a regression case of the package's ordinary tests.
# Targets whose every input does heavy work (a real import into a
# temporary directory; four compressors) get FUZZSLOWTIME, so that they
# run thousands of inputs too, and temporary directories are made in
# /dev/shm when it is writable.
#   FUZZTIME (30s), FUZZSLOWTIME (90s), FUZZMINIMIZE (2s), FUZZPKGS (./...)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
slowtime=${FUZZSLOWTIME:-90s}
slow=" FuzzRoundTrip FuzzTarImport FuzzImportFile "
minimize=${FUZZMINIMIZE:-2s}
if [ -z "${TMPDIR:-}" ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
summary=()
failed=()
for pkg in $(go list ${FUZZPKGS:-./...}); do
  targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
  for f in $targets; do
    t=$fuzztime
    case "$slow" in *" $f "*) t=$slowtime ;; esac
    echo "== $pkg $f (for $t)"
    log=$(mktemp)
    status=FAILED
    for try in 1 2; do
      if go test -run='^$' -fuzz="^$f\$" -fuzztime="$t" -fuzzminimizetime="$minimize" "$pkg" 2>&1 | tee "$log"; then
        status=ok
        break
      fi
      # Go's fuzzing coordinator sometimes gives up on a busy worker at the
      # very end ("context deadline exceeded") with no failing input: run
      # the target once more. A real failure names the input it saved.
      if grep -q 'Failing input written' "$log" || ! grep -q 'context deadline exceeded' "$log" || [ $try = 2 ]; then
        break
      fi
      echo "fuzz: $f: go test's deadline at the end, no failing input: running it again"
    done
    [ $status = ok ] || failed+=("$pkg $f")
    # The last progress line: "fuzz: elapsed: 30s, execs: 123456 (4115/sec), ..."
    execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n1 | awk '{print $2}')
    rm -f "$log"
    note=""
    if [ "${execs:-0}" -lt 1000 ]; then note=" (few inputs: raise FUZZTIME)"; fi
    summary+=("$(printf '%-8s %10s inputs  %s %s%s' "$status" "${execs:-?}" "${pkg#github.com/wwboot/wwboot/}" "$f" "$note")")
  done
done
echo
echo "fuzz: $fuzztime per target ($slowtime for$slow), minimising for at most $minimize"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
