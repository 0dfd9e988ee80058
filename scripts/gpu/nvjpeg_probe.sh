#!/usr/bin/env bash
# nvJPEG on the GPU machine against the CPU decode (libjpeg-turbo through Pillow), on the sample
# photos; one device call (~1 min): run(command="bash scripts/gpu/nvjpeg_probe.sh", carry=[".device"]).
# Builds scripts/gpu/nvjpeg_probe.cu there (nvjpeg.h is not on the development VM).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ONLY_ENV=1 . "$ROOT/scripts/gpu/run_gpu.sh" > /dev/null 2>&1
{
  nvidia-smi -L
  /usr/local/cuda/bin/nvcc -O2 -std=c++17 -arch=sm_90 -o /tmp/nvjpeg_probe "$ROOT/scripts/gpu/nvjpeg_probe.cu" \
    -L/usr/local/cuda/lib64 -lnvjpeg && /tmp/nvjpeg_probe "$DEV/samples" "${ROUNDS:-20}"
  echo "## CPU: libjpeg-turbo through Pillow (full size, and the DCT scale 1/2 facekit's detector decode uses here)"
  python3 - "$DEV/samples" <<'PY'
import glob, io, os, sys, time, concurrent.futures as cf
import PIL, PIL.features
from PIL import Image
files = sorted(glob.glob(os.path.join(sys.argv[1], "*.jpg")))
data = [open(f, "rb").read() for f in files]
print("Pillow", PIL.__version__, "libjpeg-turbo", PIL.features.version("libjpeg_turbo"))
def dec(b, half):
    im = Image.open(io.BytesIO(b))
    if half:
        im.draft("RGB", (im.width // 2, im.height // 2))
    return im.convert("RGB").tobytes()
for half in (False, True):
    for threads in (1, 8, 16):
        n = 20 * len(data) if threads == 1 else 60 * len(data)
        jobs = [data[i % len(data)] for i in range(n)]
        w0, c0 = time.perf_counter(), time.process_time()
        if threads == 1:
            for b in jobs: dec(b, half)
        else:
            with cf.ThreadPoolExecutor(threads) as ex: list(ex.map(lambda b: dec(b, half), jobs))
        w, c = (time.perf_counter() - w0) * 1e3, (time.process_time() - c0) * 1e3
        print("%-44s photos %4d  wall %7.3f ms/photo  cpu %7.3f ms/photo  %8.1f photos/s" % (
            "Pillow %s, %d thread(s)" % ("1/2 scale" if half else "full size", threads), n, w / n, c / n, n * 1e3 / w))
PY
} 2>&1 | tee "$OUT/nvjpeg_probe.log"
