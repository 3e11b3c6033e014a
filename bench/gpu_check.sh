#!/bin/sh
# gpu_check.sh - the one script of a session with an NVIDIA GPU (see docs/opencl.md,
# "Running on a GPU"). Everything it learns lands in one folder, at most 8 files:
#
#   gpu_check.log    every step's output (nvidia-smi, lsdseg devices, build, tests, benches)
#   summary.txt      one line per step: ok / FAILED (status) / skipped (why), with seconds
#   results.csv      rows "bench,case,threads,impl,value,unit" of bench_opencl (lsdseg-opencl)
#                    and bench/gpu_torch.py (pytorch-cuda, pytorch-cuda-tf32)
#   table.md         those rows side by side, ready for docs/performance.md
#   golden-gpu.tar   golden/gen.py --device cuda (float32, TF32 off): unpack into golden/gpu/
#
# Usage:
#   sh bench/gpu_check.sh --fetch   here, where Debian's packages can be reached: downloads
#                                   the OpenCL headers and ICD loader (.deb) into
#                                   build/cl-debs, for a GPU machine that has none
#   sh bench/gpu_check.sh [DIR]     on the GPU machine: DIR defaults to $OUT, else
#                                   build/gpu-check/out
#
# Steps, in order, each under `timeout` and all within LSD_GPU_BUDGET seconds (default 480,
# 8 minutes, counted from the start; a step gets at most what is left less 15 s, and is
# skipped with a note when under 10 s are left):
#   1. registers the NVIDIA OpenCL driver with the ICD loader (/etc/OpenCL/vendors/nvidia.icd,
#      or OCL_ICD_VENDORS when /etc cannot be written); prints nvidia-smi
#   2. finds OpenCL headers and loader: the system's, else the carried build/cl-debs (unpacked
#      with dpkg -x into build/gpu-check/clroot), else CUDA's (/usr/local/cuda);
#      LSD_GPU_CL=debs or cuda skips the system's
#   3. make -j OPENCL=1 BUILD=build/gpu: lsdseg, tests/test_opencl, tests/test_clnet,
#      bench/bench_opencl
#   4. lsdseg devices; picks the first platform whose name has "NVIDIA" (else platform 0,
#      PoCL on a CPU machine, where the full-size benchmark rows are left out)
#   5. test_opencl and test_clnet (LSD_SLOW=1 on the GPU: the full-size widths too)
#   6. golden/gen.py --device cuda (only where PyTorch sees CUDA); lsdseg diff of each file
#      against the CPU golden into the log (informational)
#   7. bench/gpu_torch.py (PyTorch on CUDA, TF32 off and on)
#   8. bench_opencl on the chosen device
# Exit status 0 when every step that ran passed.

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
DEBS="build/cl-debs"
PKGS="opencl-c-headers ocl-icd-opencl-dev ocl-icd-libopencl1"

if [ "$1" = "--fetch" ]; then
  mkdir -p "$DEBS" || exit 1
  (cd "$DEBS" && apt-get download $PKGS) || {
    echo "gpu_check: apt-get download failed (run apt-get update first?)" >&2; exit 1; }
  for f in "$DEBS"/*~*.deb; do # plain file names ('~' -> '_'); dpkg -x reads any name
    [ -f "$f" ] && mv "$f" "$(echo "$f" | tr '~' '_')"
  done
  ls -l "$DEBS"
  echo "gpu_check: carry $DEBS to the GPU machine (run's carry: [\"$DEBS\"])"
  exit 0
fi

OUTDIR=${1:-${OUT:-build/gpu-check/out}}
mkdir -p "$OUTDIR" build/gpu-check || exit 2
OUTDIR=$(cd "$OUTDIR" && pwd)
WORK="$ROOT/build/gpu-check"
LOG="$OUTDIR/gpu_check.log"
SUM="$OUTDIR/summary.txt"
CSV="$OUTDIR/results.csv"
: > "$LOG"
: > "$SUM"
echo "bench,case,threads,impl,value,unit" > "$CSV"
BUDGET=${LSD_GPU_BUDGET:-480}
START=$(date +%s)
FAILED=0
PY=python3
export PYTHONUNBUFFERED=1

say() { echo "gpu_check: $*" | tee -a "$LOG"; }
left() { echo $((START + BUDGET - $(date +%s))); }

# step NAME MAXSECONDS COMMAND: runs COMMAND (sh -c) under timeout, output to the log and
# to stdout; one line in the summary
step() {
  name=$1 max=$2 cmd=$3
  rem=$(($(left) - 15))
  [ "$rem" -lt "$max" ] && max=$rem
  if [ "$max" -lt 10 ]; then
    say "== $name: skipped (time budget spent)"
    echo "$name: skipped (time budget spent)" >> "$SUM"
    return 1
  fi
  say "== $name (at most ${max} s): $cmd"
  t0=$(date +%s)
  { timeout -k 5 "$max" sh -c "$cmd"; echo $? > "$WORK/status"; } 2>&1 | tee -a "$LOG"
  st=$(cat "$WORK/status")
  dt=$(($(date +%s) - t0))
  if [ "$st" = 0 ]; then
    echo "$name: ok (${dt} s)" >> "$SUM"
  else
    [ "$st" = 124 ] || [ "$st" = 137 ] && st="$st, timed out"
    echo "$name: FAILED (status $st, ${dt} s)" >> "$SUM"
    FAILED=1
  fi
  say "-- $name: status $st, ${dt} s"
  [ "$st" = 0 ]
}
skip() {
  say "== $1: skipped ($2)"
  echo "$1: skipped ($2)" >> "$SUM"
}

say "start $(date -u '+%Y-%m-%d %H:%M:%S UTC'), budget ${BUDGET} s, output in $OUTDIR"
say "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(git status --short 2>/dev/null | wc -l) changed file(s); $(uname -srm)"

# ---- 1. the NVIDIA OpenCL driver and the ICD loader
NVLIB=$( (ldconfig -p 2>/dev/null | sed -n 's/.*libnvidia-opencl\.so\.1.*=> //p' | head -n 1) )
if [ -z "$NVLIB" ]; then
  for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/nvidia/lib64 \
           /usr/local/nvidia/lib /usr/local/cuda/compat /usr/local/cuda/lib64; do
    [ -e "$d/libnvidia-opencl.so.1" ] && { NVLIB="$d/libnvidia-opencl.so.1"; break; }
  done
fi
if [ -z "$NVLIB" ] && [ -e /dev/nvidiactl ]; then # a GPU but the library elsewhere: look
  NVLIB=$(timeout 20 find /usr /lib /lib64 /opt -maxdepth 5 -name 'libnvidia-opencl.so.1' 2>/dev/null | head -n 1)
fi
if [ -n "$NVLIB" ]; then
  if [ -f /etc/OpenCL/vendors/nvidia.icd ]; then
    say "NVIDIA ICD already registered: $(cat /etc/OpenCL/vendors/nvidia.icd)"
  elif mkdir -p /etc/OpenCL/vendors 2>/dev/null && echo "$NVLIB" > /etc/OpenCL/vendors/nvidia.icd 2>/dev/null; then
    say "registered $NVLIB in /etc/OpenCL/vendors/nvidia.icd"
  else
    mkdir -p "$WORK/vendors"
    echo "$NVLIB" > "$WORK/vendors/nvidia.icd"
    export OCL_ICD_VENDORS="$WORK/vendors"
    say "/etc not writable: OCL_ICD_VENDORS=$OCL_ICD_VENDORS ($NVLIB)"
  fi
else
  say "no libnvidia-opencl.so.1 found: no NVIDIA OpenCL (the OpenCL steps use whatever platform exists)"
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  step nvidia-smi 20 "nvidia-smi; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv"
else
  skip nvidia-smi "not installed: no NVIDIA driver here"
fi

# ---- 2. OpenCL headers and loader
CLCFLAGS= CLLDFLAGS=
probe() { # probe CFLAGS LDFLAGS: does a program that calls clGetPlatformIDs build?
  printf '#define CL_TARGET_OPENCL_VERSION 120\n#include <CL/cl.h>\nint main(void){cl_uint n; return clGetPlatformIDs(0, 0, &n) == 12345;}\n' \
    > "$WORK/probe.c"
  ${CC:-cc} $1 "$WORK/probe.c" -o "$WORK/probe" $2 -lOpenCL >/dev/null 2>&1
}
# LSD_GPU_CL=debs or cuda skips the system's (to check those paths on a machine that has it)
if [ -z "$LSD_GPU_CL" ] && probe "" ""; then
  say "OpenCL headers and loader: the system's"
else
  if [ "$LSD_GPU_CL" != cuda ] && ls "$DEBS"/*.deb >/dev/null 2>&1; then
    R="$WORK/clroot"
    mkdir -p "$R"
    for d in "$DEBS"/*.deb; do
      dpkg -x "$d" "$R" 2>/dev/null || {
        mkdir -p "$WORK/ar" && (cd "$WORK/ar" && rm -f data.tar.* && ar x "$ROOT/$d" && tar -xf data.tar.* -C "$R"); }
    done
    L="$R/usr/lib/x86_64-linux-gnu"
    if probe "-I$R/usr/include" "-L$L -Wl,-rpath,$L"; then
      CLCFLAGS="-I$R/usr/include" CLLDFLAGS="-L$L -Wl,-rpath,$L"
      export LD_LIBRARY_PATH="$L${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      say "OpenCL headers and loader: carried $DEBS, unpacked in $R"
    fi
  fi
  if [ -z "$CLCFLAGS" ] && [ -f /usr/local/cuda/include/CL/cl.h ]; then
    L=/usr/local/cuda/lib64
    if probe "-I/usr/local/cuda/include" "-L$L -Wl,-rpath,$L"; then
      CLCFLAGS="-I/usr/local/cuda/include" CLLDFLAGS="-L$L -Wl,-rpath,$L"
      export LD_LIBRARY_PATH="$L${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      say "OpenCL headers and loader: CUDA's ($L)"
    fi
  fi
  [ -z "$CLCFLAGS" ] && say "no OpenCL headers/loader: carry them (sh bench/gpu_check.sh --fetch here, then carry $DEBS)"
fi

# ---- 3. build
BUILT=0
if ! command -v make >/dev/null 2>&1; then
  skip build "no make here"
elif ! probe "$CLCFLAGS" "$CLLDFLAGS"; then
  skip build "no OpenCL headers and loader"
else
  J=$(nproc 2>/dev/null || echo 4)
  step build 240 "make -j$J OPENCL=1 BUILD=build/gpu CFLAGS='$CLCFLAGS' LDFLAGS='$CLLDFLAGS' build/gpu/lsdseg build/gpu/tests/test_opencl build/gpu/tests/test_clnet build/gpu/bench/bench_opencl >'$WORK/build.log' 2>&1; s=\$?; tail -n 20 '$WORK/build.log'; exit \$s" && BUILT=1
fi

# ---- 4. devices and the platform to use
PLAT=0 NV=0
if [ "$BUILT" = 1 ]; then
  step devices 30 "build/gpu/lsdseg devices > '$WORK/devices.txt' 2>&1; s=\$?; cat '$WORK/devices.txt'; exit \$s"
  P=$(sed -n 's/^platform \([0-9][0-9]*\): .*NVIDIA.*/\1/p' "$WORK/devices.txt" | head -n 1)
  if [ -n "$P" ]; then
    PLAT=$P NV=1
    say "NVIDIA OpenCL platform: $PLAT (device 0)"
    step devices-check 60 "build/gpu/lsdseg devices --check --cl-platform $PLAT --cl-device 0"
  else
    say "no NVIDIA OpenCL platform: the OpenCL steps run on platform 0, reduced sizes only"
  fi
fi
export LSD_CL_PLATFORM=$PLAT LSD_CL_DEVICE=0

# ---- 5. tests on the device
if [ "$BUILT" = 1 ]; then
  step test_opencl 120 "build/gpu/tests/test_opencl"
  if [ "$NV" = 1 ]; then
    step test_clnet 150 "LSD_SLOW=1 build/gpu/tests/test_clnet"
  else
    step test_clnet 150 "build/gpu/tests/test_clnet"
  fi
else
  skip tests "not built"
fi

# ---- 6. GPU goldens
HASCUDA=0
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1 && HASCUDA=1
if [ "$HASCUDA" = 1 ]; then
  rm -rf "$WORK/golden-gpu"
  if step golden-gpu 120 "$PY golden/gen.py --device cuda --out '$WORK/golden-gpu'"; then
    (cd "$WORK/golden-gpu" && tar -cf "$OUTDIR/golden-gpu.tar" *.safetensors) &&
      say "golden-gpu.tar: $(tar -tf "$OUTDIR/golden-gpu.tar" | tr '\n' ' ')"
    # each CUDA float32 golden against the CPU float64 one (lsdseg diff, every tensor's max
    # abs/rel/ulp error into the log): PyTorch's own float32 error on the GPU, a yardstick
    # for the OpenCL results. Informational: it never fails the run.
    if [ "$BUILT" = 1 ]; then
      for f in "$WORK"/golden-gpu/*.safetensors; do
        g="golden/$(basename "$f")"
        [ -f "$f" ] && [ -f "$g" ] || continue
        timeout 30 build/gpu/lsdseg diff --rtol 1e-4 --atol 1e-6 "$f" "$g" > "$WORK/diff.txt" 2>&1
        cat "$WORK/diff.txt" >> "$LOG"
        say "golden-gpu vs golden/$(basename "$f"): $(tail -n 1 "$WORK/diff.txt")"
      done
    fi
  fi
else
  skip golden-gpu "PyTorch with CUDA not found"
fi

# ---- 7. PyTorch on CUDA
if [ "$HASCUDA" = 1 ]; then
  step gpu_torch 150 "$PY bench/gpu_torch.py > '$WORK/torch.csv'; s=\$?; cat '$WORK/torch.csv'; exit \$s"
  cat "$WORK/torch.csv" >> "$CSV" 2>/dev/null
else
  skip gpu_torch "PyTorch with CUDA not found"
fi

# ---- 8. lsdseg on the OpenCL device
if [ "$BUILT" = 1 ]; then
  if [ "$NV" = 1 ]; then FULL=${LSD_BENCH_FULL:-1}; else FULL=0; fi
  step bench_opencl 300 "LSD_BENCH_FULL=$FULL build/gpu/bench/bench_opencl > '$WORK/opencl.csv'; s=\$?; cat '$WORK/opencl.csv'; exit \$s"
  cat "$WORK/opencl.csv" >> "$CSV" 2>/dev/null  # the rows printed before a timeout too
else
  skip bench_opencl "not built"
fi

# ---- the table: every case with each implementation, and lsdseg-opencl's time (ms) or
# speed (GFLOP/s) relative to pytorch-cuda
awk -F, 'NR > 1 {
  key = $1 "," $2
  if (!(key in seen)) { seen[key] = 1; order[++n] = key }
  val[key, $4] = $5; unit[key] = $6
}
END {
  m = split("lsdseg-opencl pytorch-cuda pytorch-cuda-tf32", im, " ")
  printf "| bench | case | unit |"
  for (j = 1; j <= m; j++) printf " %s |", im[j]
  printf " lsdseg-opencl / pytorch-cuda |\n|---|---|---|"
  for (j = 1; j <= m; j++) printf "---:|"
  printf "---:|\n"
  for (i = 1; i <= n; i++) {
    split(order[i], k, ",")
    printf "| %s | %s | %s |", k[1], k[2], unit[order[i]]
    for (j = 1; j <= m; j++) {
      v = val[order[i], im[j]]
      printf " %s |", v == "" ? "-" : v
    }
    a = val[order[i], "lsdseg-opencl"]; b = val[order[i], "pytorch-cuda"]
    if (a != "" && b != "" && a > 0 && b > 0) printf " %.2fx |\n", a / b
    else printf " - |\n"
  }
}' "$CSV" > "$OUTDIR/table.md"
say "== results"
cat "$OUTDIR/table.md" | tee -a "$LOG"
say "== summary (total $(($(date +%s) - START)) s)"
cat "$SUM" | tee -a "$LOG"
exit $FAILED
