#!/usr/bin/env python3
"""The network rows of bench/bench_nets.c and bench/nets_torch.py, run ALTERNATELY: for each
round, each case and each thread count, one run of bench_nets and one of nets_torch.py on that
case alone (LSD_BENCH_THREADS=t, the case name as the substring), so both see the same load
within seconds of each other; the order of the two flips every round (lsdseg first in odd
rounds, PyTorch first in even ones). Each program does its own warm-up and best-of timing;
this keeps the best of the rounds for each implementation, prints the table

    | case | thr | lsdseg ms | pytorch ms | lsdseg/pytorch | lsdseg GFLOP/s |

on stdout (ratio < 1: lsdseg faster; GFLOP/s: bench_nets' count of the convolutions of one
run over lsdseg's best time) and appends the best rows to bench/results.csv in its format
"bench,case,threads,impl,value,unit" (nets ... lsdseg/pytorch ms, nets-gflops ... lsdseg
GFLOP/s). Progress goes to stderr.

A module of bench/lib, not a benchmark (bench/run.sh runs only bench/*.py): run it through
`sh bench/run.sh nets-interleaved [substring]`, which `make bench` does for the network rows,
or directly:

    python3 bench/lib/nets_interleaved.py [--rounds R] [--bench-nets PATH] [--csv PATH|-]
                                          [substring-of-case-names]

Cases: `bench_nets --list [substring]` (so LSD_BENCH_QUICK=1 or LSD_BENCH_FULL=0 drop the
full-size ones). Environment: LSD_BENCH_ROUNDS (rounds, default 3), LSD_BENCH_FULL_ROUNDS
(rounds of the full-size cases, default 1: each takes minutes), LSD_BENCH_THREADS (default
"1,2"), LSD_BENCH_NETS (the bench_nets program; default the newest build/*/bench/bench_nets),
LSD_BENCH_PYTHON (the Python that runs nets_torch.py; default this one). Without PyTorch the
pytorch column is "-" (nets_torch.py says why once).
"""
import argparse
import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
NETS_TORCH = os.path.join(ROOT, "bench", "nets_torch.py")


def env_int(name, dflt):
    v = os.environ.get(name, "")
    return int(v) if v else dflt


def find_bench_nets(given):
    if given:
        return given
    if os.environ.get("LSD_BENCH_NETS"):
        return os.environ["LSD_BENCH_NETS"]
    found = [p for p in glob.glob(os.path.join(ROOT, "build", "*", "bench", "bench_nets"))
             if os.access(p, os.X_OK)]
    if not found:
        sys.exit("nets_interleaved: no build/*/bench/bench_nets; build one (make bench, or "
                 "make BUILD=... BUILD/bench/bench_nets) or give --bench-nets / LSD_BENCH_NETS")
    best = max(found, key=os.path.getmtime)
    sys.stderr.write("nets_interleaved: using %s (the newest build)\n" % os.path.relpath(best))
    return best


def run(cmd, threads):
    """Runs cmd with LSD_BENCH_THREADS=threads; returns (rc, stdout, stderr, seconds)."""
    env = dict(os.environ, LSD_BENCH_THREADS=str(threads))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0


def rows(out, case, threads):
    """{(bench, impl): value} of the CSV rows of out for case and threads."""
    got = {}
    for line in out.splitlines():
        f = line.strip().split(",")
        if len(f) == 6 and f[1] == case and f[2] == str(threads):
            try:
                got[(f[0], f[3])] = float(f[4])
            except ValueError:
                pass
    return got


def note(prog, rc, err):
    """Shows a child's stderr when it failed or gave no row (skips, errors)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if rc:
        sys.stderr.write("nets_interleaved: %s exited with %d\n" % (prog, rc))
    for ln in lines[-6:]:
        sys.stderr.write("    %s\n" % ln)


def fmt(v, spec):
    return "-" if v is None else spec % v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("substring", nargs="?", default=None)
    ap.add_argument("--rounds", type=int, default=env_int("LSD_BENCH_ROUNDS", 3))
    ap.add_argument("--full-rounds", type=int, default=env_int("LSD_BENCH_FULL_ROUNDS", 1))
    ap.add_argument("--bench-nets", default=None)
    ap.add_argument("--csv", default=os.path.join(ROOT, "bench", "results.csv"),
                    help="file the best rows are appended to ('-': none)")
    a = ap.parse_args()
    bench_nets = find_bench_nets(a.bench_nets)
    python = os.environ.get("LSD_BENCH_PYTHON") or sys.executable
    threads = [int(v) for v in os.environ.get("LSD_BENCH_THREADS", "1,2").split(",") if v]
    lst = subprocess.run([bench_nets, "--list"] + ([a.substring] if a.substring else []),
                         stdout=subprocess.PIPE, universal_newlines=True)
    cases = [c for c in lst.stdout.split() if c]
    if lst.returncode or not cases:
        sys.stderr.write("nets_interleaved: no case of %s matches %r\n"
                         % (bench_nets, a.substring or ""))
        return 1 if lst.returncode else 0

    best = {}  # (case, threads, impl) -> ms; (case, threads, "gflops") -> GFLOP/s
    torch_ok = True
    for r in range(1, a.rounds + 1):
        for case in cases:
            if case.endswith("-full") and r > a.full_rounds:
                continue
            for t in threads:
                impls = ["lsdseg", "pytorch"] if r % 2 else ["pytorch", "lsdseg"]
                said = []
                for impl in impls:
                    if impl == "lsdseg":
                        cmd = [bench_nets, case]
                    elif torch_ok:
                        cmd = [python, NETS_TORCH, case]
                    else:
                        continue
                    rc, out, err, sec = run(cmd, t)
                    got = rows(out, case, t)
                    ms = got.get(("nets", impl))
                    if ms is None:
                        if impl == "pytorch" and "not installed" in err:
                            torch_ok = False
                        note(os.path.basename(cmd[-2]), rc, err)
                        said.append("%s -" % impl)
                        continue
                    key = (case, t, impl)
                    if key not in best or ms < best[key]:
                        best[key] = ms
                        if impl == "lsdseg" and ("nets-gflops", "lsdseg") in got:
                            best[(case, t, "gflops")] = got[("nets-gflops", "lsdseg")]
                    said.append("%s %.1f ms (%.0f s)" % (impl, ms, sec))
                sys.stderr.write("nets_interleaved: round %d/%d %s %d thr: %s\n"
                                 % (r, a.rounds, case, t, ", ".join(said)))

    rounds_note = "best of %d alternating rounds" % a.rounds
    if any(c.endswith("-full") for c in cases) and a.full_rounds < a.rounds:
        rounds_note += " (full size: %d)" % max(0, a.full_rounds)
    print("networks, lsdseg and PyTorch alternately, %s; ms, lower is better; "
          "ratio < 1: lsdseg faster" % rounds_note)
    print("| case | thr | lsdseg ms | pytorch ms | lsdseg/pytorch | lsdseg GFLOP/s |")
    print("|---|---|---|---|---|---|")
    csv = []
    for case in cases:
        for t in threads:
            ls, pt = best.get((case, t, "lsdseg")), best.get((case, t, "pytorch"))
            gf = best.get((case, t, "gflops"))
            if ls is None and pt is None:
                continue
            ratio = ls / pt if ls is not None and pt else None
            print("| %s | %d | %s | %s | %s | %s |" % (case, t, fmt(ls, "%.1f"), fmt(pt, "%.1f"),
                                                      fmt(ratio, "%.2f"), fmt(gf, "%.2f")))
            if ls is not None:
                csv.append("nets,%s,%d,lsdseg,%.1f,ms" % (case, t, ls))
            if pt is not None:
                csv.append("nets,%s,%d,pytorch,%.1f,ms" % (case, t, pt))
            if gf is not None:
                csv.append("nets-gflops,%s,%d,lsdseg,%.2f,GFLOP/s" % (case, t, gf))
    sys.stdout.flush()
    if a.csv != "-" and csv:
        fresh = not os.path.exists(a.csv) or os.path.getsize(a.csv) == 0
        with open(a.csv, "a") as f:
            if fresh:
                f.write("bench,case,threads,impl,value,unit\n")
            f.write("\n".join(csv) + "\n")
        sys.stderr.write("nets_interleaved: %d rows appended to %s\n" % (len(csv), a.csv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
