#!/bin/sh
# run.sh BENCH... - runs every benchmark program and every bench/*.py (PyTorch,
# Pillow and other references), collecting rows "bench,case,threads,impl,value,unit" into
# bench/results.csv, then prints them as a table with the ratio of each
# implementation to lsdseg's on the same row (side by side, one run).
out=bench/results.csv
echo "bench,case,threads,impl,value,unit" > "$out"
for b in "$@"; do
  echo "== $(basename "$b")" >&2
  "$b" >> "$out" || echo "bench: $b failed" >&2
done
py=${PYTHON:-python3}
# every bench/*.py prints its own rows; each says on stderr what it skips when a
# reference (PyTorch, Pillow) is missing
for s in bench/*.py; do
  [ -f "$s" ] || continue
  echo "== $(basename "$s")" >&2
  LSD_LSDSEG=$LSD_LSDSEG $py "$s" >> "$out" || echo "bench: $s failed" >&2
done
awk -F, 'NR > 1 {
  key = $1 "," $2 "," $3
  if (!(key in seen)) { seen[key] = 1; order[++n] = key }
  val[key, $4] = $5; unit[key] = $6
  if (!($4 in impls)) { impls[$4] = 1; iorder[++m] = $4 }
}
END {
  printf "%-10s %-34s %3s", "bench", "case", "thr"
  for (j = 1; j <= m; j++) printf " %14s", iorder[j]
  printf "  unit\n"
  for (i = 1; i <= n; i++) {
    split(order[i], k, ",")
    printf "%-10s %-34s %3s", k[1], k[2], k[3]
    for (j = 1; j <= m; j++) {
      v = val[order[i], iorder[j]]
      if (v == "") printf " %14s", "-"; else printf " %14.4g", v
    }
    printf "  %s\n", unit[order[i]]
  }
}' "$out"
echo "(rows written to $out)"
