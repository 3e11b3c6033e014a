#!/bin/sh
# run.sh BENCH... - runs every benchmark program and every bench/*.py (PyTorch,
# Pillow and other references), collecting rows "bench,case,threads,impl,value,unit" into
# bench/results.csv, then prints them as a table with one column per implementation.
# The network rows are the exception: when BENCH... includes bench_nets, it and
# bench/nets_torch.py run alternately, case by case and thread count by thread count
# (bench/lib/nets_interleaved.py, LSD_BENCH_ROUNDS rounds, default 3, best of each;
# LSD_BENCH_NETS_FILTER=substring keeps the cases whose name contains it), and their table
# with the ratio lsdseg/pytorch is printed last.
#
# run.sh nets-interleaved [substring] - only that: the network rows alternately (cases whose
# name contains substring), appended to bench/results.csv; the bench_nets program is
# LSD_BENCH_NETS, or the newest build/*/bench/bench_nets.
out=bench/results.csv
py=${PYTHON:-python3}
if [ "$1" = nets-interleaved ]; then
  shift
  exec $py bench/lib/nets_interleaved.py "$@"
fi
echo "bench,case,threads,impl,value,unit" > "$out"
nets=
for b in "$@"; do
  if [ "$(basename "$b")" = bench_nets ]; then nets=$b; continue; fi
  echo "== $(basename "$b")" >&2
  "$b" >> "$out" || echo "bench: $b failed" >&2
done
# every bench/*.py prints its own rows; each says on stderr what it skips when a
# reference (PyTorch, Pillow) is missing
for s in bench/*.py; do
  [ -f "$s" ] || continue
  [ -n "$nets" ] && [ "$(basename "$s")" = nets_torch.py ] && continue
  echo "== $(basename "$s")" >&2
  LSD_LSDSEG=$LSD_LSDSEG $py "$s" >> "$out" || echo "bench: $s failed" >&2
done
nets_table=
if [ -n "$nets" ]; then
  echo "== bench_nets and nets_torch.py, alternately" >&2
  nets_table=$(mktemp "${TMPDIR:-/tmp}/lsd-nets.XXXXXX")
  if $py -c 'import sys' 2>/dev/null; then
    $py bench/lib/nets_interleaved.py --bench-nets "$nets" --csv "$out" \
        ${LSD_BENCH_NETS_FILTER:+"$LSD_BENCH_NETS_FILTER"} > "$nets_table" ||
      echo "bench: nets_interleaved.py failed" >&2
  else # no Python: lsdseg's rows alone
    echo "bench: no $py; bench_nets alone" >&2
    "$nets" ${LSD_BENCH_NETS_FILTER:+"$LSD_BENCH_NETS_FILTER"} >> "$out" ||
      echo "bench: $nets failed" >&2
  fi
fi
awk -F, 'NR > 1 {
  key = $1 "," $2 "," $3
  if (!(key in seen)) { seen[key] = 1; order[++n] = key }
  val[key, $4] = $5; unit[key] = $6
  if (!($4 in impls)) { impls[$4] = 1; iorder[++m] = $4 }
}
END {
  printf "%-11s %-34s %3s", "bench", "case", "thr"
  for (j = 1; j <= m; j++) printf " %14s", iorder[j]
  printf "  unit\n"
  for (i = 1; i <= n; i++) {
    split(order[i], k, ",")
    printf "%-11s %-34s %3s", k[1], k[2], k[3]
    for (j = 1; j <= m; j++) {
      v = val[order[i], iorder[j]]
      if (v == "") printf " %14s", "-"; else printf " %14.4g", v
    }
    printf "  %s\n", unit[order[i]]
  }
}' "$out"
if [ -n "$nets_table" ]; then
  if [ -s "$nets_table" ]; then echo; cat "$nets_table"; fi
  rm -f "$nets_table"
fi
echo "(rows written to $out)"
