#!/usr/bin/python3
"""Convert an official EdgeFace checkpoint to an ONNX file that OpenCV 4.6 DNN runs, and prove it.

    /usr/bin/python3 tools/convert_edgeface.py CHECKPOINT -o OUT.onnx \
        [--verify-data DIR] [--verify-out DIR] [--num-verify N]

The ONNX file takes `input` 1x3x112x112 (RGB, (pixel/255 - 0.5)/0.5, i.e.
cv2.dnn.blobFromImage(img, 1/127.5, (112,112), (127.5,)*3, swapRB=True) on an aligned BGR face)
and gives `embedding` 1x512, not normalised.

Needs Debian's python3-torch, python3-onnx, python3-opencv and numpy (run with /usr/bin/python3).
Exit status: 0 converted and verified, 1 verification failed (the file is kept as
OUT.rejected.onnx for inspection), 2 bad arguments or unusable checkpoint / data.
"""

import argparse
import csv
import hashlib
import json
import os
import sys
import tempfile
import time

try:
    import numpy as np
    import cv2
    import onnx
    import torch
except ImportError as e:  # the `python3` on PATH may be an interpreter without these
    print(f"error: {e}; run this tool with /usr/bin/python3 (Debian's python3-torch, "
          "python3-onnx, python3-opencv)", file=sys.stderr)
    sys.exit(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgeface_arch as arch  # noqa: E402
import dsr_model  # noqa: E402

INPUT_SIZE = 112
OPSET = 13  # OpenCV 4.6 parses opset <= 16; 13 is what was proven to work
MIN_COSINE = 0.9999
NUM_RANDOM = 3
SEED = 0

# Standard ArcFace 5-point template for 112x112 (image-left eye, image-right eye, nose tip,
# image-left mouth corner, image-right mouth corner).
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


class ToolError(Exception):
    """Bad input the user can fix; reported without a traceback, exit status 2."""


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------

def export_onnx(model: torch.nn.Module, path: str, metadata: dict) -> None:
    dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        with torch.no_grad():
            torch.onnx.export(model, dummy, raw, opset_version=OPSET, input_names=["input"],
                              output_names=["embedding"], do_constant_folding=True,
                              export_params=True)
        m = onnx.load(raw)
    fix_identity_initializers(m.graph)
    drop_unused_initializers(m.graph)
    for k, v in sorted(metadata.items()):
        p = m.metadata_props.add()
        p.key, p.value = k, str(v)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def fix_identity_initializers(graph) -> int:
    """torch 1.13 de-duplicates equal constants into Identity nodes reading an initializer,
    which OpenCV 4.6 cannot import; give each such output its own initializer instead."""
    inits = {t.name: t for t in graph.initializer}
    keep, fixed = [], 0
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[node.input[0]])
            t.name = node.output[0]
            graph.initializer.append(t)
            inits[t.name] = t
            fixed += 1
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    return fixed


def drop_unused_initializers(graph) -> None:
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


# --------------------------------------------------------------------------------------------
# Verification data
# --------------------------------------------------------------------------------------------

def umeyama_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src to dst, 2x3.

    Closed form instead of a robust estimator: deterministic, and with 5 clean landmarks
    there are no outliers to reject.
    """
    n = src.shape[0]
    ms, md = src.mean(0), dst.mean(0)
    s0, d0 = src - ms, dst - md
    cov = d0.T @ s0 / n
    u, sv, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (sv * d).sum() / ((s0 ** 2).sum() / n)
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = md - scale * rot @ ms
    return m


def align_face(img: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    m = umeyama_similarity(landmarks, ARCFACE_TEMPLATE)
    return cv2.warpAffine(img, m, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _image_order(path: str):
    stem = os.path.splitext(os.path.basename(path))[0]
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)


def load_verification_faces(data_dir: str, count: int):
    """First image of each identity (sorted), then second images, ... until `count` faces.

    Returns [(dataset-relative path, aligned 112x112 BGR uint8)].
    """
    csv_path = os.path.join(data_dir, "landmarks.csv")
    if not os.path.isfile(csv_path):
        raise ToolError(f"--verify-data: no {csv_path} (expected DIR/landmarks.csv with columns "
                        "file,identity,x1,y1,...,x5,y5 and images under DIR/images/)")
    by_id = {}
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        need = ["file", "identity"] + [f"{a}{i}" for i in range(1, 6) for a in "xy"]
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise ToolError(f"{csv_path}: missing columns {missing}")
        for row in reader:
            pts = np.array([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(1, 6)])
            by_id.setdefault(row["identity"], []).append((row["file"], pts))
    if not by_id:
        raise ToolError(f"{csv_path} lists no faces")
    for rows in by_id.values():
        rows.sort(key=lambda r: _image_order(r[0]))
    ids = sorted(by_id)
    picked = []
    depth = 0
    while len(picked) < count and any(depth < len(by_id[i]) for i in ids):
        for i in ids:
            if depth < len(by_id[i]) and len(picked) < count:
                picked.append(by_id[i][depth])
        depth += 1
    faces = []
    for rel, pts in picked:
        img = cv2.imread(os.path.join(data_dir, rel), cv2.IMREAD_COLOR)
        if img is None:
            raise ToolError(f"cannot read image {os.path.join(data_dir, rel)}")
        faces.append((rel, align_face(img, pts)))
    return faces


def torch_input(face_bgr: np.ndarray) -> torch.Tensor:
    """The preprocessing contract, written independently of cv2.dnn.blobFromImage."""
    rgb = face_bgr[:, :, ::-1].astype(np.float32)
    x = (rgb / 255.0 - 0.5) / 0.5
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))


def opencv_blob(face_bgr: np.ndarray) -> np.ndarray:
    return cv2.dnn.blobFromImage(face_bgr, 1.0 / 127.5, (INPUT_SIZE, INPUT_SIZE),
                                 (127.5, 127.5, 127.5), swapRB=True, crop=False)


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------

def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def run_opencv(net, blobs) -> np.ndarray:
    outs = []
    for blob in blobs:
        net.setInput(blob)
        outs.append(net.forward().reshape(-1).copy())
    return np.stack(outs)


def time_opencv(net, blob, runs: int = 20) -> float:
    net.setInput(blob)
    for _ in range(3):
        net.forward()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        net.setInput(blob)
        net.forward()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts) * 1000.0)


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_verification_set(out_dir: str, model_name: str, checkpoint: str, ckpt_sha: str, faces,
                           ref_emb) -> None:
    os.makedirs(out_dir, exist_ok=True)
    entries = []
    for k, ((rel, face), emb) in enumerate(zip(faces, ref_emb)):
        name = f"{k}.png"
        if not cv2.imwrite(os.path.join(out_dir, name), face, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise ToolError(f"cannot write {os.path.join(out_dir, name)}")
        # 9 significant digits round-trip a float32 exactly.
        entries.append({"file": name, "source": rel,
                        "embedding": [float(f"{v:.9g}") for v in emb.astype(np.float32)]})
    doc = {"model": model_name, "checkpoint": checkpoint, "checkpoint_sha256": ckpt_sha,
           "preprocess": "aligned BGR 112x112 -> RGB, (pixel/255 - 0.5)/0.5, NCHW",
           "faces": entries}
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def load_adapter(path: str):
    """{layer: delta} from an adapter file holding '<layer>:A' and '<layer>:B' arrays."""
    try:
        z = np.load(path)
    except (OSError, ValueError) as e:
        raise ToolError(f"{path}: not an adapter file ({e})")
    out = {}
    for key in z.files:
        layer, _, part = key.rpartition(":")
        if part not in ("A", "B") or not layer:
            raise ToolError(f"{path}: unexpected array '{key}' (want '<layer>:A' and '<layer>:B')")
        if part == "A":
            if f"{layer}:B" not in z.files:
                raise ToolError(f"{path}: '{layer}:B' missing")
            a = torch.from_numpy(z[key]).double()
            b = torch.from_numpy(z[f"{layer}:B"]).double()
            out[layer] = b @ a
    if not out:
        raise ToolError(f"{path}: holds no adapter layers")
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Convert an EdgeFace checkpoint (.pt state dict: float, qint8 dynamically "
                    "quantized, or low-rank) to ONNX for OpenCV 4.6 DNN and verify it.")
    p.add_argument("checkpoint", help="EdgeFace .pt state dict, e.g. edgeface_xxs_q.pt")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.add_argument("--verify-data", metavar="DIR",
                   help="dataset with DIR/landmarks.csv and DIR/images/<id>/<n>.jpg; its faces are "
                        "aligned and used to compare OpenCV with the PyTorch float model")
    p.add_argument("--verify-out", metavar="DIR",
                   help="write the aligned faces (<k>.png) and reference.json with PyTorch "
                        "embeddings for the C++ test (needs --verify-data)")
    p.add_argument("--num-verify", type=int, default=40, metavar="N",
                   help="number of real faces to verify (default 40)")
    p.add_argument("--adapter", metavar="NPZ",
                   help="fold a low-rank adapter (tools/train_dsr.py --export) into the model")
    a = p.parse_args(argv)
    if a.verify_out and not a.verify_data:
        p.error("--verify-out needs --verify-data")
    if a.num_verify < 1:
        p.error("--num-verify must be at least 1")
    return a


def convert(args) -> int:
    t_start = time.perf_counter()
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    if not os.path.isfile(args.checkpoint):
        raise ToolError(f"checkpoint not found: {args.checkpoint}")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)
    model_name = os.path.splitext(os.path.basename(args.checkpoint))[0]
    ckpt_sha = sha256_of(args.checkpoint)

    faces = []
    if args.verify_data:
        if not os.path.isdir(args.verify_data):
            raise ToolError(f"--verify-data: not a directory: {args.verify_data}")
        faces = load_verification_faces(args.verify_data, args.num_verify)
        if len(faces) < args.num_verify:
            print(f"note: only {len(faces)} faces available in {args.verify_data}")

    try:
        spec, weights = arch.read_checkpoint(args.checkpoint)
    except arch.CheckpointError as e:
        raise ToolError(f"{args.checkpoint}: not a supported EdgeFace checkpoint: {e}")
    print(f"{model_name}: {spec.describe()}")
    reference = arch.ReferenceEdgeFace(spec, weights).eval()
    rewritten = arch.OpenCVEdgeFace(spec, weights, INPUT_SIZE).eval()

    gen = torch.Generator().manual_seed(SEED)
    random_inputs = [torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE, generator=gen) * 2 - 1
                     for _ in range(NUM_RANDOM)]
    face_inputs = [torch_input(f) for _, f in faces]

    with torch.no_grad():
        ref_rand = np.concatenate([reference(x).numpy() for x in random_inputs])
        rw_rand = np.concatenate([rewritten(x).numpy() for x in random_inputs])
        ref_face = (np.concatenate([reference(x).numpy() for x in face_inputs])
                    if faces else np.zeros((0, spec.embedding_size), np.float32))
        rw_face = (np.concatenate([rewritten(x).numpy() for x in face_inputs])
                   if faces else np.zeros((0, spec.embedding_size), np.float32))
    rw_ref = np.concatenate([rw_rand, rw_face])
    ref_all = np.concatenate([ref_rand, ref_face])
    torch_cos = cosines(rw_ref, ref_all)
    torch_diff = float(np.abs(rw_ref - ref_all).max())
    print(f"rewritten vs reference PyTorch: min cos {torch_cos.min():.9f}, "
          f"max |diff| {torch_diff:.2e} ({len(ref_all)} inputs)")

    adapter_meta = {}
    if args.adapter:
        # The base rewrite was checked against the reference above; from here on the adapted
        # PyTorch model is the reference that OpenCV must reproduce.
        layers = load_adapter(args.adapter)
        with torch.no_grad():
            n = dsr_model.apply_adapter(rewritten, layers)
            ref_rand = np.concatenate([rewritten(x).numpy() for x in random_inputs])
            ref_face = (np.concatenate([rewritten(x).numpy() for x in face_inputs])
                        if faces else np.zeros((0, spec.embedding_size), np.float32))
        adapter_meta = {"adapter": os.path.basename(args.adapter),
                        "adapter_sha256": sha256_of(args.adapter)}
        print(f"adapter {args.adapter}: {n} layers updated")

    metadata = {"source_checkpoint": os.path.basename(args.checkpoint),
                "source_sha256": ckpt_sha,
                "input": "input 1x3x112x112 RGB (pixel/255-0.5)/0.5, ArcFace-aligned",
                "output": "embedding 1x512, not normalised; compare by cosine", **adapter_meta}
    tmp_onnx = args.output + ".tmp"
    export_onnx(rewritten, tmp_onnx, metadata)
    size = os.path.getsize(tmp_onnx)

    net = cv2.dnn.readNetFromONNX(tmp_onnx)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    cv2.setNumThreads(1)
    cv_rand = run_opencv(net, [x.numpy() for x in random_inputs])
    blobs = [opencv_blob(f) for _, f in faces]
    cv_face = (run_opencv(net, blobs) if faces
               else np.zeros((0, spec.embedding_size), np.float32))
    ms = time_opencv(net, blobs[0] if blobs else random_inputs[0].numpy())

    rand_cos = cosines(cv_rand, ref_rand)
    failures = []
    if torch_cos.min() < MIN_COSINE:
        failures.append(f"rewritten PyTorch model differs from the reference "
                        f"(min cos {torch_cos.min():.7f})")
    if rand_cos.min() < MIN_COSINE:
        failures.append(f"OpenCV differs from PyTorch on random inputs (min cos {rand_cos.min():.7f})")
    if faces:
        face_cos = cosines(cv_face, ref_face)
        face_diff = float(np.abs(cv_face - ref_face).max())
        if face_cos.min() < MIN_COSINE:
            worst = int(face_cos.argmin())
            failures.append(f"OpenCV differs from PyTorch on real faces (min cos "
                            f"{face_cos.min():.7f} at {faces[worst][0]})")
        cos_all, diff_all, what = face_cos, face_diff, f"{len(faces)} real faces"
    else:
        cos_all, diff_all = rand_cos, float(np.abs(cv_rand - ref_rand).max())
        what = f"{NUM_RANDOM} random inputs"

    if failures:
        rejected = args.output + ".rejected.onnx"
        os.replace(tmp_onnx, rejected)
        for f in failures:
            print(f"FAILED: {f}", file=sys.stderr)
        print(f"the unverified file was kept as {rejected}", file=sys.stderr)
        return 1
    os.replace(tmp_onnx, args.output)

    if args.verify_out:
        # Named after the ONNX file (as the model manifests are), not the checkpoint.
        write_verification_set(args.verify_out,
                               os.path.splitext(os.path.basename(args.output))[0],
                               os.path.basename(args.checkpoint), ckpt_sha, faces, ref_face)

    elapsed = time.perf_counter() - t_start
    print(f"OK {model_name} -> {args.output}: OpenCV vs PyTorch float on {what}: "
          f"min cos {cos_all.min():.9f} (1-cos {1 - cos_all.min():.1e}), mean cos {cos_all.mean():.9f}, "
          f"max |diff| {diff_all:.2e}; "
          f"{size / 1e6:.2f} MB; {ms:.2f} ms/face (OpenCV, 1 thread); converted in {elapsed:.1f} s")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return convert(args)
    except (ToolError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
