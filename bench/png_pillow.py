"""png_pillow.py - Pillow timings (its own PNG reader over zlib) for the files that
bench_png writes ($LSD_TMP/bench_png, default build/tmp/bench_png): rows
"bench,case,threads,impl,value,unit", best of 7 runs, milliseconds. Prints nothing when
Pillow or the files are missing."""
import os
import sys
import time

try:
    from PIL import Image
except ImportError:
    sys.exit(0)

d = os.path.join(os.environ.get("LSD_TMP") or "build/tmp", "bench_png")
cases = [("decode-2048x1024-rgb-to-rgb", "rgb_2048x1024.png", "RGB"),
         ("decode-1914x1052-palette-to-rgb", "palette_1914x1052.png", "RGB"),
         ("decode-1914x1052-palette-indices", "palette_1914x1052.png", None)]
for case, name, mode in cases:
    path = os.path.join(d, name)
    if not os.path.exists(path):
        continue
    data = open(path, "rb").read()
    best = 1e30
    for _ in range(7):
        import io
        t0 = time.perf_counter()
        im = Image.open(io.BytesIO(data))
        im.load()
        if mode:
            im = im.convert(mode)
        best = min(best, time.perf_counter() - t0)
    print("png,%s,1,pillow,%.2f,ms" % (case, best * 1e3))
