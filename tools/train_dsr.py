#!/usr/bin/python3
"""Trains DSR (face super-resolution for EdgeFace) and an EdgeFace adapter for one resolution.

    /usr/bin/python3 tools/train_dsr.py --res 16            # train (resumes if interrupted)
    /usr/bin/python3 tools/train_dsr.py --res 16 --export models   # models/dsr, models/adapters

Phase 1 trains DSR through the frozen EdgeFace: L = w_pix * L1(out, hr) + w_id * (1 - cos(
E(out), E(hr))). Phase 2 freezes DSR and trains low-rank updates of EdgeFace's 1x1 convs by
distillation: 1 - cos(E_adapted(DSR(lr)), E(hr)) (no identity labels; the adapted model stays
in the base model's embedding space, so galleries enrolled at full resolution still match).

Data: high-resolution targets are the aligned faces of faces-hr-train and the hr112 faces of
celeba-train; every 5th celeba identity (sorted) is held out for validation and model selection
(LFW is never used here). Inputs: area downscale to res x res, then with probability
--degrade-p each: Gaussian blur, Gaussian noise, JPEG; then bicubic back to 112 (as in C++).

Everything is resumable: a checkpoint is written at every validation, and the batch order is a
function of (seed, res, step), so an interrupted run continues exactly where it stopped.
Needs Debian's python3-torch and python3-opencv (run with /usr/bin/python3).
"""
import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dsr_model  # noqa: E402
from convert_edgeface import sha256_of  # noqa: E402
import edgeface_arch as arch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VAL_EVERY_NTH_IDENTITY = 5


class ToolError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

def read_list(path: Path, column: str):
    import csv
    with open(path, newline="") as f:
        return [row for row in csv.DictReader(f)] if column else []


def load_faces(files):
    out = np.empty((len(files), 112, 112, 3), np.uint8)
    for i, f in enumerate(files):
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise ToolError(f"cannot read image {f}")
        if img.shape[:2] != (112, 112):
            img = cv2.resize(img, (112, 112), interpolation=cv2.INTER_AREA)
        out[i] = img
    return out


def split_files(data: Path):
    hr = data / "faces-hr-train"
    cel = data / "celeba-train"
    for p in (hr / "list.csv", cel / "list.csv"):
        if not p.exists():
            raise ToolError(f"training data not found: {p} (set --data or VLRFACE_DATA)")
    train = [hr / r["file"] for r in read_list(hr / "list.csv", "file")]
    rows = [r for r in read_list(cel / "list.csv", "file") if r["hr112"] == "1"]
    ids = sorted({r["identity"] for r in rows}, key=lambda s: int(s))
    val_ids = set(ids[::VAL_EVERY_NTH_IDENTITY])
    val = [(cel / r["file"], r["identity"]) for r in rows if r["identity"] in val_ids]
    train += [cel / r["file"] for r in rows if r["identity"] not in val_ids]
    return train, val, len(ids) - len(val_ids), len(val_ids)


def to_tensor(bgr_u8: np.ndarray) -> torch.Tensor:
    """N x 112 x 112 x 3 uint8 BGR -> N x 3 x 112 x 112 in [-1, 1] (BGR: DSR's space)."""
    t = torch.from_numpy(np.ascontiguousarray(bgr_u8)).permute(0, 3, 1, 2).float()
    return (t - 127.5) / 127.5


def to_edgeface(x_bgr: torch.Tensor) -> torch.Tensor:
    return x_bgr.flip(1)  # EdgeFace takes RGB with the same scaling


def degrade(face: np.ndarray, res: int, p: float, rng: np.random.Generator) -> np.ndarray:
    small = cv2.resize(face, (res, res), interpolation=cv2.INTER_AREA)
    if p > 0:
        if rng.random() < p:
            sigma = rng.uniform(0.3, 0.9)
            small = cv2.GaussianBlur(small, (0, 0), sigma)
        if rng.random() < p:
            noise = rng.normal(0, rng.uniform(1.0, 6.0), small.shape)
            small = np.clip(small.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        if rng.random() < p:
            q = int(rng.integers(40, 91))
            ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, q])
            small = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return cv2.resize(small, (112, 112), interpolation=cv2.INTER_CUBIC)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

def find_edgeface(arg):
    if arg:
        return Path(arg)
    src = os.environ.get("VLRFACE_MODEL_SOURCE")
    if src:
        hits = sorted(Path(src).rglob("edgeface_xxs_q.pt"))
        if hits:
            return hits[0]
    cached = ROOT / "build" / "model-cache" / "edgeface_xxs_q.pt"
    if cached.exists():
        return cached
    raise ToolError("EdgeFace checkpoint not found: pass --edgeface or set VLRFACE_MODEL_SOURCE")


def load_edgeface(path: Path):
    spec, W = arch.read_checkpoint(str(path))
    m = arch.OpenCVEdgeFace(spec, W, 112).eval()
    for b in m.buffers():
        b.requires_grad_(False)
    return m


@torch.no_grad()
def embed(model, x_bgr: torch.Tensor, batch: int = 128, device=None) -> torch.Tensor:
    out = [F.normalize(model(to_edgeface(x_bgr[i:i + batch] if device is None
                                         else x_bgr[i:i + batch].to(device))), dim=1).cpu()
           for i in range(0, len(x_bgr), batch)]
    return torch.cat(out)


def load_cache(data: Path, root: Path, teacher, teacher_sha: str, device=torch.device("cpu")):
    """The training and validation faces with the teacher's embeddings (plain and flipped),
    computed once and shared by all runs, under root/cache-<key>: <key> hashes the file lists
    and the teacher, so other data (say, after TRAINING-EXCLUSIONS.txt) or another teacher make
    another cache and never reuse a stale one. tools/train_student.py uses the same caches."""
    train, val, ntr, nva = split_files(data)
    key = hashlib.sha256(("\n".join(map(str, train)) + "\n--\n" +
                          "\n".join(f"{f}\t{i}" for f, i in val) + "\n" + teacher_sha)
                         .encode()).hexdigest()[:16]
    cache = root / f"cache-{key}"
    names = ("train_hr", "train_t", "val_hr", "val_t", "val_id")
    files = {k: cache / f"{k}.npy" for k in names}
    if all(f.exists() for f in files.values()):
        return {k: np.load(f) for k, f in files.items()}, key
    cache.mkdir(parents=True, exist_ok=True)
    print(f"caching {len(train)} training faces and {len(val)} validation faces "
          f"({nva} held-out celeba identities; {ntr} celeba identities train)", flush=True)
    t0 = time.time()
    tr = load_faces(train)
    va = load_faces([f for f, _ in val])
    teacher = teacher.to(device)
    tt = [embed(teacher, to_tensor(tr[:, :, ::-1] if flip else tr), device=device).numpy()
          for flip in (False, True)]
    res = {"train_hr": tr, "train_t": np.stack(tt, 1), "val_hr": va,
           "val_t": embed(teacher, to_tensor(va), device=device).numpy(),
           "val_id": np.array([int(i) for _, i in val])}
    for k, f in files.items():
        np.save(f.with_suffix(".tmp.npy"), res[k])
        os.replace(f.with_suffix(".tmp.npy"), f)
    (cache / "made_from.json").write_text(json.dumps(
        {"train_files": len(train), "val_files": len(val), "val_identities": nva,
         "teacher_sha256": teacher_sha}, indent=1))
    print(f"cache ready in {time.time() - t0:.0f} s", flush=True)
    return res, key


def edgeface_and_cache(args, root: Path):
    """The frozen EdgeFace-XXS (--edgeface) and the face cache under root (load_cache)."""
    path = find_edgeface(args.edgeface)
    edgeface = load_edgeface(path)
    cache, _ = load_cache(Path(args.data), root, edgeface, sha256_of(str(path)))
    return edgeface, cache


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

def verification_accuracy(emb: np.ndarray, ids: np.ndarray) -> float:
    """Best-threshold accuracy over all pairs with balanced genuine/impostor weight."""
    s = emb @ emb.T
    iu = np.triu_indices(len(ids), 1)
    sc, same = s[iu], (ids[:, None] == ids[None, :])[iu]
    order = np.argsort(-sc)
    same = same[order]
    tp = np.cumsum(same) / max(1, same.sum())
    fp = np.cumsum(~same) / max(1, (~same).sum())
    return float(((tp + 1 - fp) / 2).max())


@torch.no_grad()
def validate(cache, res, dsr, edgeface, lora=None):
    lr = np.stack([degrade(f, res, 0.0, None) for f in cache["val_hr"]])
    x = to_tensor(lr)
    out = {"bicubic": x}
    if dsr is not None:
        out["dsr"] = torch.cat([dsr(x[i:i + 128]).clamp(-1, 1) for i in range(0, len(x), 128)])
    t = torch.from_numpy(cache["val_t"])
    ids = cache["val_id"]
    m = {}
    hr = to_tensor(cache["val_hr"])
    for k, v in out.items():  # picture quality against the original (both in [-1, 1])
        mse = ((v.clamp(-1, 1) - hr) * 127.5).pow(2).mean(dim=(1, 2, 3))
        m[f"psnr_{k}"] = float((10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-6))).mean())
    for k, v in out.items():
        e = embed(edgeface, v)
        m[f"cos_{k}"] = float((e * t).sum(1).mean())
        m[f"acc_{k}"] = verification_accuracy(e.numpy(), ids)
        if lora is not None:
            detach = lora.attach()
            try:
                e = embed(edgeface, v)
            finally:
                detach()
            m[f"cos_{k}_adapter"] = float((e * t).sum(1).mean())
            m[f"acc_{k}_adapter"] = verification_accuracy(e.numpy(), ids)
    return m


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def make_batch(cache, res, step, args):
    rng = np.random.default_rng([args.seed, res, step])
    idx = rng.integers(0, len(cache["train_hr"]), args.batch)
    flip = rng.random(args.batch) < 0.5
    hr = np.stack([cache["train_hr"][i][:, ::-1] if f else cache["train_hr"][i]
                   for i, f in zip(idx, flip)])
    if args.sizes:  # one network for a range of sizes: each face its own size
        lo, hi = args.sizes
        lr = np.stack([degrade(h, int(rng.integers(lo, hi + 1)), args.degrade_p, rng) for h in hr])
    else:
        lr = np.stack([degrade(h, res, args.degrade_p, rng) for h in hr])
    t = torch.from_numpy(cache["train_t"][idx, flip.astype(np.int64)])
    return to_tensor(lr), to_tensor(hr), t


def lr_at(step, total, base):
    """Cosine decay with a short warm-up."""
    warm = min(100, total // 20)
    if step < warm:
        return base * (step + 1) / warm
    return 0.5 * base * (1 + np.cos(np.pi * (step - warm) / max(1, total - warm)))


def save_atomic(obj, path: Path):
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    work = Path(args.work)
    run = work / f"dsr{args.res}"
    run.mkdir(parents=True, exist_ok=True)
    edgeface, cache = edgeface_and_cache(args, work / "cache")
    dsr = dsr_model.DSR(args.channels, args.layers)
    lora = dsr_model.LoRA(edgeface, args.rank, args.seed)
    opt_d = torch.optim.Adam(dsr.parameters(), lr=args.lr)
    opt_a = torch.optim.Adam(lora.parameters(), lr=args.lr_adapter)
    state = {"step": 0, "best": {"dsr": -1.0, "adapter": -1.0}, "args": vars(args)}
    last = run / "last.pt"
    if last.exists():
        ck = torch.load(last)
        dsr.load_state_dict(ck["dsr"])
        lora.load_state_dict(ck["lora"])
        opt_d.load_state_dict(ck["opt_d"])
        opt_a.load_state_dict(ck["opt_a"])
        state = ck["state"]
        print(f"resuming {run} at step {state['step']}", flush=True)
    elif args.init_from:
        # A new schedule from trained weights (continued training); the checkpoint's adapter
        # is not taken: it was fitted to the old DSR's outputs.
        init = torch.load(args.init_from)
        dsr.load_state_dict(init["dsr"])
        print(f"DSR initialised from {args.init_from} (its step {init.get('step')})", flush=True)
    total = args.steps_dsr + args.steps_adapter
    log = open(run / "log.jsonl", "a")
    if state["step"] == 0:
        m = validate(cache, args.res, None, edgeface)
        log.write(json.dumps({"step": 0, "phase": "baseline", **m}) + "\n")
        log.flush()
        print(f"baseline {m}", flush=True)
    t0, seen, run_loss = time.time(), 0, []
    while state["step"] < total:
        step = state["step"]
        phase = "dsr" if step < args.steps_dsr else "adapter"
        x, hr, t = make_batch(cache, args.res, step, args)
        if phase == "dsr":
            opt = opt_d
            for g in opt.param_groups:
                g["lr"] = lr_at(step, args.dsr_schedule_steps or args.steps_dsr, args.lr)
            out = dsr(x)
            if args.w_id > 0:
                e = F.normalize(edgeface(to_edgeface(out)), dim=1)
                l_id = (1 - (e * t).sum(1)).mean()
            else:  # a picture network: no pass through EdgeFace (6x faster on the CPU)
                l_id = torch.zeros(())
            # The top rows (hair, background) are left out of the pixel loss: the face matters.
            l_pix = (out - hr)[:, :, args.skip_rows:].abs().mean()
            loss = args.w_id * l_id + args.w_pix * l_pix
        else:
            opt = opt_a
            for g in opt.param_groups:
                g["lr"] = lr_at(step - args.steps_dsr, args.steps_adapter, args.lr_adapter)
            with torch.no_grad():
                out = dsr(x).clamp(-1, 1)
            detach = lora.attach()
            try:
                e = F.normalize(edgeface(to_edgeface(out)), dim=1)
            finally:
                detach()
            l_id = (1 - (e * t).sum(1)).mean()
            l_pix = torch.zeros(())
            loss = l_id
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["step"] += 1
        seen += len(x)
        run_loss.append((float(l_id), float(l_pix)))
        end_of_phase = state["step"] in (args.steps_dsr, total)
        if state["step"] % args.val_every == 0 or end_of_phase:
            m = validate(cache, args.res, dsr, edgeface, lora if phase == "adapter" else None)
            key = ("psnr_dsr" if args.select == "psnr" else "cos_dsr") if phase == "dsr" \
                else "cos_dsr_adapter"
            rec = {"step": state["step"], "phase": phase, "loss_id": np.mean([a for a, _ in run_loss]),
                   "loss_pix": np.mean([b for _, b in run_loss]),
                   "samples_per_s": seen / (time.time() - t0), **m}
            if m[key] > state["best"][phase]:
                state["best"][phase] = m[key]
                save_atomic({"dsr": dsr.state_dict(), "lora": lora.state_dict(),
                             "config": dsr.config(), "rank": args.rank, "step": state["step"],
                             "val": m, "args": state["args"]}, run / f"best_{phase}.pt")
                rec["best"] = True
            log.write(json.dumps({k: (float(v) if isinstance(v, np.floating) else v)
                                  for k, v in rec.items()}) + "\n")
            log.flush()
            print(json.dumps({k: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v)
                              for k, v in rec.items()}), flush=True)
            save_atomic({"dsr": dsr.state_dict(), "lora": lora.state_dict(),
                         "opt_d": opt_d.state_dict(), "opt_a": opt_a.state_dict(),
                         "state": state}, last)
            t0, seen, run_loss = time.time(), 0, []
            if phase == "dsr" and state["step"] == args.steps_dsr:
                # Phase 2 starts from the best DSR, not the last one.
                best = torch.load(run / "best_dsr.pt")
                dsr.load_state_dict(best["dsr"])
    print(f"done: {run}", flush=True)


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------

def export(args):
    import onnx
    from convert_edgeface import fix_identity_initializers, drop_unused_initializers, OPSET
    torch.set_num_threads(args.threads)
    run = Path(args.work) / f"dsr{args.res}"
    out = Path(args.export) / "dsr"
    out.mkdir(parents=True, exist_ok=True)
    best = torch.load(run / "best_dsr.pt")
    dsr = dsr_model.DSR(**best["config"]).eval()
    dsr.load_state_dict(best["dsr"])
    name = args.name or f"dsr{args.res}"
    path = out / f"{name}.onnx"
    tmp = out / f".{name}.raw.onnx"
    with torch.no_grad():
        torch.onnx.export(dsr, torch.zeros(1, 3, 112, 112), str(tmp), opset_version=OPSET,
                          input_names=["input"], output_names=["output"],
                          do_constant_folding=True)
    m = onnx.load(str(tmp))
    tmp.unlink()
    fix_identity_initializers(m.graph)
    drop_unused_initializers(m.graph)
    for k, v in {"resolution": args.res, "step": best["step"], "config": json.dumps(best["config"]),
                 "input": "bicubic 112x112 BGR, (pixel-127.5)/127.5",
                 "output": "112x112 BGR, same scaling"}.items():
        p = m.metadata_props.add()
        p.key, p.value = k, str(v)
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    # Parity: OpenCV DNN against PyTorch on real validation faces.
    edgeface, cache = edgeface_and_cache(args, Path(args.work) / "cache")
    faces = np.stack([degrade(f, args.res, 0.0, None) for f in cache["val_hr"][:32]])
    net = cv2.dnn.readNetFromONNX(str(path))
    worst = 0.0
    for f in faces:
        blob = cv2.dnn.blobFromImage(f, 1 / 127.5, (112, 112), (127.5, 127.5, 127.5), swapRB=False)
        net.setInput(blob)
        got = net.forward()
        with torch.no_grad():
            want = dsr(torch.from_numpy(blob)).numpy()
        worst = max(worst, float(np.abs(got - want).max()))
    print(f"{path}: {dsr_model.count_params(dsr)} parameters, "
          f"{dsr_model.dsr_macs(**best['config']) / 1e6:.1f} M multiply-adds, "
          f"OpenCV vs PyTorch max |diff| {worst:.2e} on 32 faces")
    if worst > 1e-4:
        raise ToolError(f"{path}: OpenCV differs from PyTorch by {worst:.2e} > 1e-4")
    if (run / "best_adapter.pt").exists():
        ad = torch.load(run / "best_adapter.pt")
        lora = dsr_model.LoRA(edgeface, ad["rank"])
        lora.load_state_dict(ad["lora"])
        arrays = dsr_model.adapter_arrays(lora)
        (Path(args.export) / "adapters").mkdir(parents=True, exist_ok=True)
        apath = Path(args.export) / "adapters" / f"edgeface_xxs_r{args.res}.adapter.npz"
        np.savez(apath, **arrays)
        print(f"{apath}: rank {ad['rank']}, {sum(a.size for a in arrays.values())} parameters, "
              f"validation {ad['val']}")
        if args.adapter_manifest:
            write_adapter_manifest(Path(args.adapter_manifest), apath, ad, ad.get("args") or {})
    print(f"validation at export: {best['val']}")
    if args.manifest:
        if "args" not in best and (run / "last.pt").exists():  # checkpoints before "args" was kept
            best["args"] = torch.load(run / "last.pt")["state"]["args"]
        write_manifest(Path(args.manifest), path, name, best)


def write_manifest(manifest: Path, onnx_path: Path, name: str, best: dict) -> None:
    """The committed manifest of an exported DSR network: its file and sha256, the model id and
    where it came from (the run's arguments). Created when absent; written atomically."""
    digest = sha256_of(str(onnx_path))
    meta = json.loads(manifest.read_text()) if manifest.exists() else {
        "name": name, "kind": "upscaler", "file": f"{name}.onnx",
        "input": {"width": 112, "height": 112},
        "normalisation": {"scale": 1 / 127.5, "mean": [127.5, 127.5, 127.5], "swap_rb": False},
        "precision": "fp32"}
    rel = onnx_path.resolve().relative_to(ROOT) if ROOT in onnx_path.resolve().parents else onnx_path
    meta["upstream"] = {"file": str(rel), "sha256": digest, "convert": "project"}
    meta["id"] = f"{name}/{digest[:8]}"
    run = best.get("args") or {}
    if run.get("sizes"):  # one network for a range of sizes (ModelStore reads "sizes")
        meta["sizes"] = list(run["sizes"])
    meta["provenance"] = {
        "trainer": "tools/train_dsr.py", "step": best["step"], "config": best["config"],
        "data": TRAINING_DATA,
        **{k: run[k] for k in ("sizes", "res", "w_id", "w_pix", "select", "batch", "lr",
                               "degrade_p", "seed", "steps_dsr", "init_from") if run.get(k) is not None}}
    tmp = manifest.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, manifest)
    print(f"{manifest}: sha256 {digest[:16]}..., id {meta['id']}")


TRAINING_DATA = ("faces-hr-train + celeba-train after TRAINING-EXCLUSIONS.txt, every 5th celeba "
                 "identity held out for validation")


def point_manifest_at_adapter(manifest: Path, adapter: Path, provenance: dict) -> dict:
    """Points a committed adapted-embedder manifest (models/manifests/edgeface_xxs_rN.json) at
    an exported adapter: file, sha256, the model id (which names the embeddings it makes) and
    `provenance` (plus the training data). Written atomically; returns the manifest."""
    meta = json.loads(manifest.read_text())
    if "adapter" not in meta:
        raise ToolError(f"{manifest}: not an adapted embedder (no \"adapter\" entry)")
    digest = sha256_of(str(adapter))
    rel = adapter.resolve().relative_to(ROOT) if ROOT in adapter.resolve().parents else adapter
    meta["adapter"] = {"file": str(rel), "sha256": digest}
    meta["id"] = f"{meta['name']}/{digest[:8]}"
    meta["provenance"] = {**provenance, "data": TRAINING_DATA}
    # The template's source names the trainer of the shipped adapters; say which one made this.
    meta["source"] = meta.get("source", "").replace("tools/train_dsr.py", provenance["trainer"])
    tmp = manifest.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, manifest)
    print(f"{manifest}: adapter sha256 {digest[:16]}..., id {meta['id']}")
    return meta


def write_adapter_manifest(manifest: Path, adapter: Path, ad: dict, run: dict) -> None:
    """The manifest of a phase-2 adapter of this tool (point_manifest_at_adapter)."""
    point_manifest_at_adapter(manifest, adapter, {
        "trainer": "tools/train_dsr.py", "step": ad.get("step"), "rank": ad["rank"],
        "behind": "the exported DSR of the same run (phase 2)",
        **{k: run[k] for k in ("res", "batch", "lr_adapter", "degrade_p", "seed", "steps_adapter")
           if k in run}})


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--res", type=int, required=True, choices=[16, 24, 32])
    p.add_argument("--name", help="exported network name (default dsr<res>)")
    p.add_argument("--data", default=os.environ.get("VLRFACE_DATA"),
                   help="datasets folder (default: $VLRFACE_DATA)")
    p.add_argument("--edgeface", help="EdgeFace-XXS checkpoint (default: found under "
                   "$VLRFACE_MODEL_SOURCE or build/model-cache)")
    p.add_argument("--work", default=str(ROOT / "build" / "train"), help="checkpoints, logs, cache")
    p.add_argument("--export", metavar="DIR", help="export the best models to DIR and exit")
    p.add_argument("--manifest", metavar="JSON", help="with --export: write the DSR network's "
                   "manifest template here (file, sha256, id, provenance)")
    p.add_argument("--adapter-manifest", metavar="JSON", help="with --export: point this adapted "
                   "embedder's manifest template at the exported adapter (sha256, id, provenance)")
    p.add_argument("--steps-dsr", type=int, default=3000)
    p.add_argument("--steps-adapter", type=int, default=2000)
    p.add_argument("--dsr-schedule-steps", type=int, default=0,
                   help="length of the DSR learning-rate schedule if not --steps-dsr (a run "
                        "stopped early on a longer schedule)")
    p.add_argument("--init-from", metavar="CKPT",
                   help="start DSR from this checkpoint's weights (e.g. build/train/dsr24/best_dsr.pt)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-adapter", type=float, default=5e-4)
    p.add_argument("--w-id", type=float, default=1.0)
    p.add_argument("--w-pix", type=float, default=0.1)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--channels", type=int, default=40)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--degrade-p", type=float, default=0.25)
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sizes", help="LO:HI: train on faces of random sizes in this range "
                   "(--res then only names the run and its validation size)")
    p.add_argument("--select", choices=["cos", "psnr"], default="cos",
                   help="DSR model selection on validation: identity cosine or picture PSNR")
    p.add_argument("--skip-rows", type=int, default=0,
                   help="top rows of the 112 px face left out of the pixel loss")
    a = p.parse_args(argv)
    if a.sizes:
        lo, hi = (int(v) for v in a.sizes.split(":"))
        if not 4 <= lo <= hi < 112:
            p.error("--sizes must be LO:HI with 4 <= LO <= HI < 112")
        a.sizes = (lo, hi)
    if not a.data:  # --export too: it checks OpenCV on validation faces from the keyed cache
        p.error("--data is required (or set VLRFACE_DATA)")
    return a


def main(argv=None):
    args = parse_args(argv)
    try:
        export(args) if args.export else train(args)
    except ToolError as e:
        print(f"train_dsr: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
