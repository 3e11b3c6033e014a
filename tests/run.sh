#!/bin/sh
# run.sh RUNNER TEST... - runs each test program (from the repository root),
# prints its output, and ends with the total line "N passed, N failed".
# A program that crashes or exits without its summary line counts one failure.
runner=$1; shift
# idle OpenMP threads sleep instead of spinning: on a machine shared with other work
# (CI runners, parallel builds) spinning threads make the tests several times slower
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
passed=0; failed=0; skipped=0
out=${LSD_TMP:-build/tmp}/run-$$.log
mkdir -p "$(dirname "$out")"
for t in "$@"; do
  # shellcheck disable=SC2086
  $runner "$t" >"$out" 2>&1
  rc=$?
  cat "$out"
  line=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
  if [ -z "$line" ]; then
    echo "FAIL $(basename "$t"): exited with status $rc before its summary line"
    failed=$((failed + 1))
    continue
  fi
  p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $(basename "$t"): exit status $rc with no failed check"
    failed=$((failed + 1))
  fi
done
rm -f "$out"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
