#!/usr/bin/python3
"""Time the per-face path the way the reference research app runs it: Python, OpenCV, PyTorch.

    /usr/bin/python3 tools/bench_reference.py --checkpoint edgeface_xxs_q.pt \
        [--image FACE.jpg] [--landmarks x1,y1,...,x5,y5] [--res 16,24,32] [--threads 1,2] \
        [--repeat N] [--warmup W] [--gallery-size 1000] [--json OUT.json]

The counterpart of `vlrface bench`, stage for stage: align (5-point similarity + cv2.warpAffine on
a 640x480 frame), degrade (cv2.resize INTER_AREA), upscale (cv2.resize INTER_CUBIC back to 112),
embed (the PyTorch float EdgeFace of tools/edgeface_reference.py, built from the official checkpoint,
torch.set_num_threads(T), no_grad) and match (numpy, cosine against a synthetic gallery of
L2-normalised 512-d templates). Each stage is timed alone with time.perf_counter over --repeat runs
after --warmup; median/p10/p90 use numpy's linear percentiles, as the C++ bench does. The frame is
built as `vlrface bench` builds it; pass the landmarks it used (its JSON config.landmark_points)
so both align the same face.

Needs Debian's python3-torch, python3-opencv and numpy: run it with /usr/bin/python3.
Exit status: 0 done, 2 bad arguments or unusable checkpoint/image.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import sys
import time

try:
    import cv2
    import numpy as np
    import torch
except ImportError as e:  # the `python3` on PATH may be an interpreter without these
    print(f"error: {e}; run this tool with /usr/bin/python3 (Debian's python3-torch, "
          "python3-opencv, python3-numpy)", file=sys.stderr)
    sys.exit(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgeface_arch as arch  # noqa: E402

# Keep in step with apps/vlrface/cmd_bench.cpp so both benches time the same inputs.
FRAME_W, FRAME_H = 640, 480
FACE_SIDE_IN_FRAME = 240
SYNTHETIC_FACE_SCALE = 2.0
ALIGNED = 112
DIM = 512
GALLERY_SEED = 20240501
TOP_K = 5
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


class ToolError(Exception):
    """Bad input the user can fix; reported without a traceback, exit status 2."""


def int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of integers")
    if not values:
        raise argparse.ArgumentTypeError("needs at least one value")
    return values


def status_kib(key):
    """A 'Key: N kB' line of /proc/self/status, in KiB; None where absent."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def memory(phase):
    return {"phase": phase, "peak_rss_kib": status_kib("VmHWM"),
            "current_rss_kib": status_kib("VmRSS"),
            # ru_maxrss is in KiB on Linux; it is the same peak as VmHWM, read another way.
            "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def stats(samples):
    a = np.asarray(samples, dtype=np.float64)
    p10, med, p90 = np.percentile(a, [10, 50, 90])
    return {"n": int(a.size), "median_ms": float(med), "p10_ms": float(p10),
            "p90_ms": float(p90), "min_ms": float(a.min()), "max_ms": float(a.max()),
            "mean_ms": float(a.mean())}


def time_ms(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def make_frame(image):
    if image is None:
        # Content does not change the cost of any timed stage; a fixed seed keeps runs identical.
        rng = np.random.default_rng(GALLERY_SEED)
        frame = rng.integers(0, 256, (FRAME_H, FRAME_W, 3), dtype=np.uint8)
        return cv2.GaussianBlur(frame, (0, 0), 3.0)
    face = cv2.imread(image, cv2.IMREAD_COLOR)
    if face is None:
        raise ToolError(f"{image}: cannot be read as an image")
    frame = np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)
    s = FACE_SIDE_IN_FRAME / max(face.shape[:2])
    face = cv2.resize(face, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
    h, w = face.shape[:2]
    y, x = (FRAME_H - h) // 2, (FRAME_W - w) // 2
    frame[y:y + h, x:x + w] = face
    return frame


def synthetic_landmarks():
    half = ALIGNED * SYNTHETIC_FACE_SCALE / 2
    return ARCFACE_TEMPLATE * SYNTHETIC_FACE_SCALE + [FRAME_W / 2 - half, FRAME_H / 2 - half]


def similarity_transform(src, dst):
    """Least-squares rotation + uniform scale + translation taking src onto dst (2x3)."""
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    norm = (s * s).sum()
    a = (s * d).sum() / norm
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / norm
    return np.array([[a, -b, md[0] - (a * ms[0] - b * ms[1])],
                     [b, a, md[1] - (b * ms[0] + a * ms[1])]])


def align(frame, landmarks):
    m = similarity_transform(landmarks, ARCFACE_TEMPLATE)
    return cv2.warpAffine(frame, m, (ALIGNED, ALIGNED), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def degrade(face, res):
    return cv2.resize(face, (res, res), interpolation=cv2.INTER_AREA)


def upscale(face):
    return cv2.resize(face, (ALIGNED, ALIGNED), interpolation=cv2.INTER_CUBIC)


def random_gallery(people, seed):
    rng = np.random.default_rng(seed)
    t = rng.standard_normal((people, DIM), dtype=np.float32)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True,
                    help="official EdgeFace checkpoint (edgeface_xxs_q.pt)")
    ap.add_argument("--image", help="face image to place in the 640x480 frame")
    ap.add_argument("--landmarks", help="10 comma-separated numbers: the 5 (x,y) landmarks in "
                    "the frame (default: the ArcFace template x2, centred)")
    ap.add_argument("--res", type=int_list, default=[16, 24, 32])
    ap.add_argument("--threads", type=int_list, default=[1, 2])
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--gallery-size", type=int, default=1000)
    ap.add_argument("--json", help="write every result to this JSON file")
    args = ap.parse_args()
    if args.repeat < 1 or args.warmup < 0 or args.gallery_size < 1:
        raise ToolError("--repeat and --gallery-size must be >= 1, --warmup >= 0")
    if any(r < 4 or r >= ALIGNED for r in args.res):
        raise ToolError("--res values must be 4..111")
    if any(t < 1 for t in args.threads):
        raise ToolError("--threads values must be >= 1 (torch has no 'all cores' value)")
    mem = [memory("start")]

    landmarks = synthetic_landmarks()
    if args.landmarks:
        try:
            landmarks = np.array([float(v) for v in args.landmarks.split(",")]).reshape(5, 2)
        except ValueError:
            raise ToolError("--landmarks needs 10 comma-separated numbers")

    t0 = time.perf_counter()
    try:
        spec, weights = arch.read_checkpoint(args.checkpoint)
    except FileNotFoundError:
        raise ToolError(f"{args.checkpoint}: no such file")
    except arch.CheckpointError as e:
        raise ToolError(f"{args.checkpoint}: {e}")
    model = arch.ReferenceEdgeFace(spec, weights).eval()
    load_ms = (time.perf_counter() - t0) * 1000.0
    del weights
    frame = make_frame(args.image)
    aligned = align(frame, landmarks)
    # One inference so the first-call allocation is counted in the memory, not in the timings.
    with torch.no_grad():
        model(torch.zeros(1, 3, ALIGNED, ALIGNED))
    mem.append(memory("model loaded"))
    gallery = random_gallery(args.gallery_size, GALLERY_SEED + args.gallery_size)
    mem.append(memory(f"gallery {args.gallery_size} built"))

    def embed(face):
        rgb = cv2.cvtColor(face, cv2.COLOR_BGR2RGB)
        x = torch.from_numpy(rgb.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0)
        with torch.no_grad():
            e = model(x)[0].numpy()
        return e / max(float(np.linalg.norm(e)), 1e-12)

    def match(probe):
        sims = gallery @ (probe / max(float(np.linalg.norm(probe)), 1e-12))
        k = min(TOP_K, sims.size)
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top])]
        return top, sims[top]

    probe = random_gallery(1, GALLERY_SEED - 1)[0]
    lowres = {r: degrade(aligned, r) for r in args.res}
    ups = {r: upscale(lowres[r]) for r in args.res}
    W, N = args.warmup, args.repeat
    runs = []
    for t in args.threads:
        torch.set_num_threads(t)
        cv2.setNumThreads(t)
        stages = []

        def add(stage, fn, res=None, people=None):
            rec = {"stage": stage, "available": True}
            if res:
                rec["res"] = res
            if people:
                rec["people"] = people
            rec.update(stats(time_ms(fn, W, N)))
            stages.append(rec)

        add("align", lambda: align(frame, landmarks))
        for r in args.res:
            add("degrade", lambda r=r: degrade(aligned, r), res=r)
        for r in args.res:
            add("upscale", lambda r=r: upscale(lowres[r]), res=r)
        add("embed", lambda: embed(ups[args.res[0]]))
        add("match", lambda: match(probe), people=args.gallery_size)
        for r in args.res:
            add("per_face",
                lambda r=r: match(embed(upscale(degrade(align(frame, landmarks), r)))),
                res=r, people=args.gallery_size)
        runs.append({"threads": t, "torch_threads": torch.get_num_threads(),
                     "process_threads": len(os.listdir("/proc/self/task")), "stages": stages})
    mem.append(memory("end"))

    result = {
        "tool": "tools/bench_reference.py",
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "opencv": cv2.__version__, "numpy": np.__version__,
                    "torch_parallel_info": [line.strip() for line in
                                            torch.__config__.parallel_info().splitlines()
                                            if line.strip()],
                    "torch_blas": next((f.split("=", 1)[1] for f in
                                        torch.__config__.show().replace(",", " ").split()
                                        if f.startswith("BLAS_INFO=")), "unknown"),
                    "torch_mkldnn": torch.backends.mkldnn.is_available(),
                    "date": datetime.datetime.now(datetime.timezone.utc)
                    .strftime("%Y-%m-%dT%H:%M:%SZ")},
        "config": {"checkpoint": args.checkpoint, "image": args.image, "repeat": N, "warmup": W,
                   "threads": args.threads, "resolutions": args.res,
                   "gallery_size": args.gallery_size, "landmarks": landmarks.tolist(),
                   "model": spec.describe()},
        "load_ms": {"edgeface_checkpoint_to_model_ms": load_ms},
        "runs": runs,
        "memory": mem,
        "peak_rss_kib": mem[-1]["ru_maxrss_kib"],
        "current_rss_kib": mem[-1]["current_rss_kib"],
    }
    for run in runs:
        print(f"threads {run['threads']} (torch {run['torch_threads']}, "
              f"process threads {run['process_threads']})")
        for s in run["stages"]:
            what = " ".join(x for x in (f"{s['res']} px" if "res" in s else "",
                                        f"{s['people']} people" if "people" in s else "") if x)
            print(f"  {s['stage']:9s} {what:22s} median {s['median_ms']:9.3f}  "
                  f"p10 {s['p10_ms']:9.3f}  p90 {s['p90_ms']:9.3f} ms")
    print(f"model load {load_ms:.1f} ms; peak RSS {result['peak_rss_kib'] / 1024:.1f} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ToolError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
