#!/bin/sh
# fuzz_seed.sh NAME CORPUSDIR - fills CORPUSDIR with a small seed corpus for the libFuzzer
# target NAME (tests/NAME.c). Run from the repository root. Unknown names get an empty corpus.
set -e
name=$1
dir=$2
if [ -z "$name" ] || [ -z "$dir" ]; then
  echo "usage: sh tests/fuzz_seed.sh NAME CORPUSDIR" >&2
  exit 2
fi
mkdir -p "$dir"

# le8 N: the 8 bytes of N as a little-endian 64-bit integer (N < 2^32)
le8() {
  n=$1
  for i in 1 2 3 4; do
    printf "\\$(printf '%03o' $((n % 256)))"
    n=$((n / 256))
  done
  printf '\000\000\000\000'
}

# st FILE HEADER DATABYTES: a safetensors file with HEADER (length computed) and
# DATABYTES bytes of data (each 0x3f)
st() {
  { le8 ${#2}; printf '%s' "$2"; i=0; while [ $i -lt "$3" ]; do printf '?'; i=$((i + 1)); done; } >"$1"
}

case "$name" in
fuzz_safetensors)
  st "$dir/empty" '{}' 0
  st "$dir/padded" '{}      ' 0
  st "$dir/meta" '{"__metadata__":{"format":"pt","k\u00e9y":"v\ud83d\ude00"}}' 0
  st "$dir/one" '{"a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}}' 8
  st "$dir/all" '{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[],"data_offsets":[8,16]},"c":{"dtype":"I32","shape":[1,1,1,1],"data_offsets":[16,20]},"d":{"dtype":"F16","shape":[2],"data_offsets":[20,24]},"e":{"dtype":"BF16","shape":[1],"data_offsets":[24,26]},"f":{"dtype":"U8","shape":[2],"data_offsets":[26,28]},"z":{"dtype":"F32","shape":[0,3],"data_offsets":[28,28]}}' 28
  st "$dir/overlap" '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}' 4
  st "$dir/badjson" '{"a":[1,2,{"x":tru}]}' 0
  printf 'abc' >"$dir/short"
  # a file of every dtype the format defines (tests/data/safetensors_dtypes.py)
  for f in tests/data/dtypes/*.safetensors; do
    [ -f "$f" ] && cp "$f" "$dir/dtype_$(basename "$f")"
  done
  # small golden files, if the tree has them
  for f in golden/*.safetensors; do
    [ -f "$f" ] || continue
    if [ "$(wc -c <"$f")" -le 65536 ]; then cp "$f" "$dir/golden_$(basename "$f")"; fi
  done
  ;;
fuzz_png)
  for f in ../shared/pngsuite/png/*.png; do
    [ -f "$f" ] && cp "$f" "$dir/"
  done
  ;;
fuzz_listfile)
  printf 'images/0001.png labels/0001.png\n# comment\n\n"a b.png"\t"c\\"d.png"\r\n' >"$dir/pairs"
  printf 'aachen_000000_000019\nbochum_000000_000313\n' >"$dir/names"
  printf '0 255\n7 0\n8 1\n26 13\n255 -1\n' >"$dir/ids"
  printf '"unterminated\n' >"$dir/bad"
  ;;
*)
  ;;
esac
exit 0
