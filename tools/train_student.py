#!/usr/bin/python3
"""Trains the low-resolution student of EdgeFace-XXS: one adapter for faces of 12..40 px.

    /usr/bin/python3 tools/train_student.py --work build/train-student        # resumable
    /usr/bin/python3 tools/train_student.py --work build/train-student --export models
    /usr/bin/python3 tools/train_student.py --device cuda --max-minutes 8 ...  # a GPU lease

The student is EdgeFace-XXS with low-rank updates (W + B A) of its 1x1 convs, trained by
distillation to the frozen teacher: 1 - cos(student(lr), teacher(hr)) (+ optional batch
similarity term, + optional feature-map term on the stages' outputs). Input: the 112-px face
degraded as a camera degrades a distant face (landmark jitter, area or bilinear shrink to a
random size, blur, sensor noise, JPEG), then bicubic back to 112; with --native-p, a share of
them made as the C++ face path meets a real face instead (native_degrade: sampled off the
crop's grid at a roll, warped back to 112 px in one bicubic warp from slightly wrong
landmarks), and with --h264-p some of those coded as an H.264 keyframe. No DSR in the loop:
that keeps training fast on two cores, and validation decides whether DSR in front of the
student helps (scripts/choose_on_validation.sh).

Data: faces-hr-train and celeba-train (after ../shared/datasets/TRAINING-EXCLUSIONS.txt); every
5th celeba identity (sorted) is held out for validation, model selection and early stopping.
LFW is never read here. The face cache is keyed by the file list and the teacher's sha256.

Resumable: a checkpoint at every validation; the batch at step k is a function of (seed, k).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dsr_model  # noqa: E402
import train_dsr as common  # noqa: E402  (data lists, EdgeFace loading, validation metric)
from convert_edgeface import sha256_of  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VAL_SIZES = (12, 16, 20, 24, 32, 40)


# --------------------------------------------------------------------------------------------
# Camera-like degradation
# --------------------------------------------------------------------------------------------

def jitter(face: np.ndarray, rng: np.random.Generator, shift: float, rot_deg: float,
           scale: float) -> np.ndarray:
    """The 112-px face as a misaligned detector would have aligned it: a random similarity
    (shift as a fraction of the face, rotation, log-scale), replicated border."""
    a = np.deg2rad(rng.normal(0, rot_deg))
    s = float(np.exp(rng.normal(0, scale)))
    tx, ty = rng.normal(0, shift * 112, 2)
    c = 55.5
    m = np.array([[s * np.cos(a), -s * np.sin(a), 0], [s * np.sin(a), s * np.cos(a), 0]])
    m[:, 2] = [c + tx - m[0, 0] * c - m[0, 1] * c, c + ty - m[1, 0] * c - m[1, 1] * c]
    return cv2.warpAffine(face, m, (112, 112), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def camera_degrade(face: np.ndarray, size: int, rng: np.random.Generator, p: float) -> np.ndarray:
    """112-px aligned face -> size x size as a cheap camera would give it -> bicubic 112."""
    if rng.random() < p:
        face = jitter(face, rng, 0.03, 4.0, 0.04)
    if rng.random() < p * 0.5:  # optics: blur before sampling
        face = cv2.GaussianBlur(face, (0, 0), rng.uniform(0.5, 1.5) * 112 / size)
    interp = cv2.INTER_AREA if rng.random() < 0.6 else cv2.INTER_LINEAR
    small = cv2.resize(face, (size, size), interpolation=interp)
    if rng.random() < p:
        noise = rng.normal(0, rng.uniform(1.0, 8.0), small.shape)
        small = np.clip(small.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < p:
        q = int(rng.integers(30, 96))
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, q])
        small = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return cv2.resize(small, (112, 112), interpolation=cv2.INTER_CUBIC)


def _affine(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def similarity(rot_deg: float, scale: float, tx: float, ty: float, c: float = 55.5) -> np.ndarray:
    """3x3 similarity about the 112-px crop's centre c, then a shift (tx, ty)."""
    a = np.deg2rad(rot_deg)
    m = np.array([[scale * np.cos(a), -scale * np.sin(a), 0.0],
                  [scale * np.sin(a), scale * np.cos(a), 0.0]])
    m[:, 2] = [c + tx - m[0, 0] * c - m[0, 1] * c, c + ty - m[1, 0] * c - m[1, 1] * c]
    return _affine(m)


def native_sample(face: np.ndarray, size: int, rng: np.random.Generator, p: float,
                  roll_deg: float = 8.0, jpeg: bool = True):
    """The camera half of native_degrade: the face as `size` px of a frame (roll, sub-pixel
    phase, optics, area or bilinear sampling, noise, JPEG unless `jpeg` is False because the
    caller codes it otherwise). Returns (small, to_crop): to_crop maps small-image pixels to
    the 112-px crop (3x3)."""
    phase = rng.uniform(0.0, 1.0, 2) * 112.0 / size
    rot = similarity(rng.normal(0.0, roll_deg), 1.0, phase[0], phase[1])
    hr = face
    if rng.random() < p * 0.5:  # optics: blur before sampling
        hr = cv2.GaussianBlur(hr, (0, 0), rng.uniform(0.5, 1.5) * 112 / size)
    rotated = cv2.warpAffine(hr, rot[:2], (112, 112), flags=cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if rng.random() < 0.6 else cv2.INTER_LINEAR
    small = cv2.resize(rotated, (size, size), interpolation=interp)
    k = size / 112.0  # resize maps pixel centres: y = (x + 0.5) k - 0.5
    shrink = np.array([[k, 0, 0.5 * k - 0.5], [0, k, 0.5 * k - 0.5], [0, 0, 1.0]])
    if rng.random() < p:
        noise = rng.normal(0, rng.uniform(1.0, 8.0), small.shape)
        small = np.clip(small.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if jpeg and rng.random() < p:
        q = int(rng.integers(30, 96))
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, q])
        small = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return small, np.linalg.inv(shrink @ rot)


def native_restore(small: np.ndarray, size: int, to_crop: np.ndarray,
                   rng: np.random.Generator, jitter_px: float = 0.35) -> np.ndarray:
    """The pipeline half of native_degrade: one bicubic warp to 112 px from landmarks a little
    off (a small similarity, `jitter_px` small-face pixels of shift)."""
    j = jitter_px * 112.0 / size
    err = similarity(rng.normal(0.0, 2.0), float(np.exp(rng.normal(0.0, 0.02))),
                     *rng.normal(0.0, j, 2))
    back = err @ to_crop
    return cv2.warpAffine(small, back[:2], (112, 112), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)


def native_degrade(face: np.ndarray, size: int, rng: np.random.Generator, p: float,
                   roll_deg: float = 8.0, jitter_px: float = 0.35) -> np.ndarray:
    """112-px aligned face -> the same face as the product meets it in a camera frame: the
    face sits in the frame at a roll and at a sub-pixel position of its own (not on the 112
    crop's grid), is area-sampled there at `size` px, and the pipeline warps the frame straight
    to 112 px with bicubic interpolation from landmarks that are a fraction of a pixel off
    (src/pipeline.cpp, the native path: one INTER_CUBIC warp of align_face). Camera effects
    (blur, noise, JPEG) as camera_degrade, each with probability p.

    The simulated path (clean_degrade: area shrink of the aligned crop, bicubic resize back)
    puts every small pixel exactly on a 112/size block of the crop: a student trained on it
    learns that grid, which real faces never have."""
    small, to_crop = native_sample(face, size, rng, p, roll_deg)
    return native_restore(small, size, to_crop, rng, jitter_px)


def h264_round_trip(images, crf: int, rng: np.random.Generator):
    """Small images coded together as one H.264 keyframe, as a camera stream codes a frame
    (libx264 through Debian's ffmpeg, yuv420p, preset veryfast, tune zerolatency: what `vlrface
    eval --h264` does in eval/h264.cpp). Each image sits at a random offset in its cell of a
    mid-grey mosaic, so faces fall anywhere on the 16x16 macroblock grid; returns the decoded
    images, same sizes."""
    cell = max(i.shape[0] for i in images) + 8
    cols = int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / cols))
    w, h = -(-cols * cell // 16) * 16, -(-rows * cell // 16) * 16
    frame = np.full((h, w, 3), 128, np.uint8)
    at = []
    for n, img in enumerate(images):
        y = (n // cols) * cell + int(rng.integers(0, cell - img.shape[0] + 1))
        x = (n % cols) * cell + int(rng.integers(0, cell - img.shape[1] + 1))
        frame[y:y + img.shape[0], x:x + img.shape[1]] = img
        at.append((y, x))
    enc = ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{w}x{h}", "-i", "-", "-frames:v", "1", "-c:v", "libx264", "-preset",
           "veryfast", "-tune", "zerolatency", "-crf", str(crf), "-pix_fmt", "yuv420p",
           "-x264-params", "log=0", "-f", "h264", "-"]
    dec = ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "h264", "-i", "-",
           "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
    try:
        coded = subprocess.run(enc, input=frame.tobytes(), capture_output=True, check=True).stdout
        raw = subprocess.run(dec, input=coded, capture_output=True, check=True).stdout
    except FileNotFoundError:
        raise common.ToolError("--h264-p needs ffmpeg (Debian package ffmpeg)")
    except subprocess.CalledProcessError as e:
        raise common.ToolError(f"ffmpeg H.264 round trip failed: {e.stderr.decode()[-300:]}")
    if len(raw) != frame.size:
        raise common.ToolError(f"ffmpeg H.264 round trip gave {len(raw)} bytes, not {frame.size}")
    out = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
    return [out[y:y + i.shape[0], x:x + i.shape[1]].copy() for (y, x), i in zip(at, images)]


def clean_degrade(face: np.ndarray, size: int) -> np.ndarray:
    """Validation's simulated face: area shrink, bicubic back (the eval's --res path)."""
    small = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (112, 112), interpolation=cv2.INTER_CUBIC)


def draw_size(rng: np.random.Generator, lo: int, hi: int) -> int:
    """Sizes uniform in log scale: as many 12-20 px faces as 20-33 px ones."""
    return int(round(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


# --------------------------------------------------------------------------------------------
# Data cache, keyed by what it was made from
# --------------------------------------------------------------------------------------------

def load_cache(data: Path, work: Path, teacher, teacher_sha: str, device):
    """The keyed face cache of tools/train_dsr.py (one cache for both tools)."""
    return common.load_cache(data, work, teacher, teacher_sha, device)


@torch.no_grad()
def embed(model, x_bgr: torch.Tensor, device, batch: int = 256) -> torch.Tensor:
    out = [F.normalize(model(common.to_edgeface(x_bgr[i:i + batch].to(device))), dim=1).cpu()
           for i in range(0, len(x_bgr), batch)]
    return torch.cat(out)


# --------------------------------------------------------------------------------------------
# Validation: held-out identities, every size, teacher at 112 px as the ceiling
# --------------------------------------------------------------------------------------------

def validation_inputs(cache, sizes, native_sizes=()):
    """Simulated faces (keys: sizes) and, for a native-trained student, frame-like ones (keys
    'n<size>': native_degrade without camera effects, one fixed draw per size and face)."""
    out = {s: common.to_tensor(np.stack([clean_degrade(f, s) for f in cache["val_hr"]]))
           for s in sizes}
    for s in native_sizes:
        rng = np.random.default_rng([12345, s])
        out[f"n{s}"] = common.to_tensor(np.stack([native_degrade(f, s, rng, 0.0)
                                                  for f in cache["val_hr"]]))
    return out


@torch.no_grad()
def validate(model, lora, inputs, cache, device, ceiling=None):
    t = torch.from_numpy(cache["val_t"])
    ids = cache["val_id"]
    m = {}
    detach = lora.attach() if lora is not None else None
    try:
        for s, x in inputs.items():
            e = embed(model, x, device)
            m[f"cos_{s}"] = float((e * t).sum(1).mean())
            m[f"acc_{s}"] = common.verification_accuracy(e.numpy(), ids)
    finally:
        if detach:
            detach()
    if ceiling is not None:
        m["acc_112"] = ceiling
    return m


def gap_shares(m, base):
    """Share of the 112-px accuracy lost at each size that the student wins back."""
    out = {}
    for k in m:
        if k.startswith("acc_") and k != "acc_112" and k in base:
            gap = base["acc_112"] - base[k]
            out[f"gap_{k[4:]}"] = (m[k] - base[k]) / gap if gap > 1e-9 else 0.0
    return out


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def make_batch(cache, step, args, want_hr=False):
    rng = np.random.default_rng([args.seed, step])
    subset = cache.get("subset")  # --train-fraction: faces drawn from a fixed share only
    idx = (rng.integers(0, len(cache["train_hr"]), args.batch) if subset is None
           else subset[rng.integers(0, len(subset), args.batch)])
    flip = rng.random(args.batch) < 0.5
    hr = [cache["train_hr"][i][:, ::-1] if f else cache["train_hr"][i] for i, f in zip(idx, flip)]
    # Drawn only when asked for, so that the batches of earlier recipes stay as they were.
    native = (rng.random(args.batch) < args.native_p if args.native_p > 0
              else np.zeros(args.batch, bool))
    h264 = (native & (rng.random(args.batch) < args.h264_p) if args.h264_p > 0
            else np.zeros(args.batch, bool))
    crf = int(rng.integers(18, 36)) if h264.any() else 0
    lr, coded = [None] * args.batch, []
    for i, (h, n) in enumerate(zip(hr, native)):
        size = draw_size(rng, args.min_size, args.max_size)
        if h264[i]:  # coded with the batch's other such faces below, instead of JPEG
            coded.append((i, size) + native_sample(h, size, rng, args.degrade_p, jpeg=False))
        else:
            lr[i] = (native_degrade if n else camera_degrade)(h, size, rng, args.degrade_p)
    if coded:
        smalls = h264_round_trip([c[2] for c in coded], crf, rng)
        for (i, size, _, to_crop), small in zip(coded, smalls):
            lr[i] = native_restore(small, size, to_crop, rng)
    lr = np.stack(lr)
    t = torch.from_numpy(cache["train_t"][idx, flip.astype(np.int64)])
    if want_hr:
        return common.to_tensor(lr), t, common.to_tensor(np.stack(hr))
    return common.to_tensor(lr), t


class StageTaps:
    """Forward hooks on the last block of chosen EdgeFace stages: what each stage hands on."""

    def __init__(self, model, stages):
        self.out = {}
        self.handles = []
        for si in stages:
            if not 0 <= si < len(model.stages):
                raise common.ToolError(f"--feat-stages: stage {si} does not exist "
                                       f"(EdgeFace has {len(model.stages)})")
            blk = model.stages[si]["blocks"][-1]
            self.handles.append(blk.register_forward_hook(
                lambda _m, _i, o, si=si: self.out.__setitem__(si, o)))

    def take(self):
        out, self.out = self.out, {}
        return out

    def close(self):
        for h in self.handles:
            h.remove()


def feature_loss(student, teacher, kind):
    """Mean over stages of how far the student's feature maps (low-resolution face) are from
    the teacher's (112-px face). 'cos': 1 - cosine over channels at each position (a hint
    loss: the whole map, not only its pooled sum); 'at': attention transfer (Zagoruyko &
    Komodakis 2017): L2 distance of the normalised channel-mean of squared activations, which
    says only where the network looks."""
    terms = []
    for si, fs in student.items():
        ft = teacher[si]
        if kind == "cos":
            terms.append((1 - F.cosine_similarity(fs, ft, dim=1)).mean())
        else:
            a_s = F.normalize(fs.pow(2).mean(1).flatten(1), dim=1)
            a_t = F.normalize(ft.pow(2).mean(1).flatten(1), dim=1)
            terms.append((a_s - a_t).norm(dim=1).mean())
    return torch.stack(terms).mean()


def training_subset(n: int, fraction: float, seed: int) -> np.ndarray:
    """A fixed share of the training faces (sorted indices), the same for a seed: how much
    held-out accuracy depends on the amount of data, at a fixed number of steps."""
    if not 0 < fraction <= 1:
        raise common.ToolError(f"--train-fraction {fraction}: must be in (0, 1]")
    keep = max(1, int(round(n * fraction)))
    return np.sort(np.random.default_rng([seed, 7]).permutation(n)[:keep])


def lr_at(step, total, base, warm=200):
    if step < warm:
        return base * (step + 1) / warm
    return 0.5 * base * (1 + np.cos(np.pi * min(1.0, (step - warm) / max(1, total - warm))))


def pick_device(name):
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise common.ToolError("--device cuda: torch sees no GPU")
    return torch.device(name)


def selection_score(m, sizes=(16, 20, 24, 32), native=False):
    """What model selection maximises: the mean validation cosine to the teacher over the
    sizes the model serves (smoother than pair accuracy over 39 identities); a native-trained
    student is chosen on the frame-like faces, the kind it is for."""
    return float(np.mean([m[f"cos_n{s}" if native else f"cos_{s}"] for s in sizes]))


def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ck_path = common.find_edgeface(args.edgeface)
    teacher_sha = sha256_of(str(ck_path))
    model = common.load_edgeface(ck_path).to(device)
    cache, key = load_cache(Path(args.data), Path(args.cache or work), model, teacher_sha, device)
    if args.prepare_cache:
        print(f"face cache {key}: {len(cache['train_hr'])} training, {len(cache['val_hr'])} "
              "validation faces", flush=True)
        return
    if args.train_fraction < 1:
        cache = dict(cache, subset=training_subset(len(cache["train_hr"]), args.train_fraction,
                                                   args.seed))
        print(f"training on {len(cache['subset'])} of {len(cache['train_hr'])} faces", flush=True)
    inputs = validation_inputs(cache, VAL_SIZES, args.select_sizes if args.native_p > 0 else ())
    lora = dsr_model.make_update(model, args.rank, args.seed).to(device)
    opt = torch.optim.AdamW(lora.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    state = {"step": 0, "best": -1.0, "args": vars(args), "cache": key, "wall_s": 0.0}
    last = work / "last.pt"
    log_path = work / "log.jsonl"
    if last.exists():
        ck = torch.load(last, map_location=device)
        lora.load_state_dict(ck["lora"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        if state.get("cache") != key:
            raise common.ToolError(f"{last} was trained on other data (cache {state.get('cache')}"
                                   f", now {key}): use another --work")
        print(f"resuming {work} at step {state['step']}", flush=True)
    log = open(log_path, "a")
    if state["step"] == 0:
        base = validate(model, None, inputs, cache, device)
        base["acc_112"] = common.verification_accuracy(cache["val_t"], cache["val_id"])
        state["baseline"] = base
        log.write(json.dumps({"step": 0, "phase": "baseline (teacher on bicubic)", **base}) + "\n")
        log.flush()
        print("baseline", json.dumps({k: round(v, 4) for k, v in base.items()}), flush=True)
    deadline = time.time() + args.max_minutes * 60 if args.max_minutes else None
    taps = StageTaps(model, args.feat_stages) if args.w_feat > 0 else None
    t0, seen, losses = time.time(), 0, []
    while state["step"] < args.steps:
        step = state["step"]
        if taps:
            x, t, hr = make_batch(cache, step, args, want_hr=True)
            with torch.no_grad():  # the frozen teacher's maps of the 112-px faces
                model(common.to_edgeface(hr.to(device)))
                f_t = {k: v.detach() for k, v in taps.take().items()}
        else:
            x, t = make_batch(cache, step, args)
        x, t = x.to(device), t.to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr)
        detach = lora.attach()
        try:
            e = F.normalize(model(common.to_edgeface(x)), dim=1)
        finally:
            detach()
        l_id = (1 - (e * t).sum(1)).mean()
        loss = l_id
        l_feat = torch.zeros((), device=device)
        if taps:
            l_feat = feature_loss(taps.take(), f_t, args.feat_loss)
            loss = loss + args.w_feat * l_feat
        l_pair = torch.zeros((), device=device)
        if args.w_pair > 0:
            # The batch's similarity structure as the teacher sees it (impostors stay apart).
            l_pair = ((e @ e.T - t @ t.T) ** 2).mean()
            loss = loss + args.w_pair * l_pair
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["step"] += 1
        seen += len(x)
        losses.append((float(l_id), float(l_pair), float(l_feat)))
        done = state["step"] == args.steps
        out_of_time = deadline is not None and time.time() > deadline
        if state["step"] % args.val_every == 0 or done or out_of_time:
            m = validate(model, lora, inputs, cache, device)
            m.update(gap_shares(m, state["baseline"]))
            score = selection_score(m, args.select_sizes, args.native_p > 0)
            elapsed = time.time() - t0
            state["wall_s"] += elapsed
            rec = {"step": state["step"], "loss_id": float(np.mean([a[0] for a in losses])),
                   "loss_pair": float(np.mean([a[1] for a in losses])),
                   "loss_feat": float(np.mean([a[2] for a in losses])),
                   "lr": opt.param_groups[0]["lr"], "samples_per_s": seen / elapsed,
                   "wall_s": state["wall_s"], "score": score, **m}
            if score > state["best"]:
                state["best"] = score
                common.save_atomic({"lora": lora.state_dict(), "rank": args.rank,
                                    "step": state["step"], "val": m, "args": vars(args),
                                    "cache": key, "teacher_sha256": teacher_sha,
                                    "wall_s": state["wall_s"], "device": str(device)},
                                   work / "best.pt")
                rec["best"] = True
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                              for k, v in rec.items()}), flush=True)
            common.save_atomic({"lora": lora.state_dict(), "opt": opt.state_dict(),
                                "state": state}, last)
            t0, seen, losses = time.time(), 0, []
            if out_of_time and not done:
                print(f"stopped at step {state['step']}: --max-minutes reached", flush=True)
                return
    print(f"done: {work}", flush=True)


def export(args):
    work = Path(args.work)
    best = torch.load(work / "best.pt", map_location="cpu")
    model = common.load_edgeface(common.find_edgeface(args.edgeface))
    lora = dsr_model.make_update(model, best["rank"])
    lora.load_state_dict(best["lora"])
    arrays = dsr_model.adapter_arrays(lora)
    out = Path(args.export) / "adapters"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.name}.adapter.npz"
    np.savez(path, **arrays)
    prov = {"step": best["step"], "rank": best["rank"], "seed": best["args"]["seed"],
            "sizes": [best["args"]["min_size"], best["args"]["max_size"]],
            "batch": best["args"]["batch"], "lr": best["args"]["lr"],
            "w_pair": best["args"]["w_pair"], "degrade_p": best["args"]["degrade_p"],
            "w_feat": best["args"].get("w_feat", 0.0),
            "feat_loss": best["args"].get("feat_loss", "cos"),
            "native_p": best["args"].get("native_p", 0.0),
            "h264_p": best["args"].get("h264_p", 0.0),
            "data_cache": best["cache"], "teacher_sha256": best["teacher_sha256"],
            "parent": "edgeface_xxs", "device": best.get("device"),
            "wall_s": round(best.get("wall_s", 0)), "validation": best["val"],
            "sha256": sha256_of(str(path))}
    (out / f"{args.name}.provenance.json").write_text(json.dumps(prov, indent=1) + "\n")
    if args.manifest:
        update_manifest(Path(args.manifest), path, prov)
    print(f"{path}: rank {best['rank']}, {sum(a.size for a in arrays.values())} parameters, "
          f"step {best['step']}, sha256 {prov['sha256']}")


def update_manifest(manifest: Path, adapter: Path, prov: dict) -> None:
    """Points a committed manifest template at the exported adapter (train_dsr's
    point_manifest_at_adapter), with this tool's provenance."""
    common.point_manifest_at_adapter(manifest, adapter, {
        **{k: prov[k] for k in ("step", "rank", "seed", "sizes", "batch", "lr", "w_pair",
                                "degrade_p", "native_p", "h264_p", "w_feat", "feat_loss",
                                "data_cache", "parent", "device", "wall_s")},
        "trainer": "tools/train_student.py"})


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("VLRFACE_DATA"),
                   help="datasets folder (default: $VLRFACE_DATA)")
    p.add_argument("--edgeface", help="EdgeFace-XXS checkpoint (default: found under "
                   "$VLRFACE_MODEL_SOURCE or build/model-cache)")
    p.add_argument("--work", default=str(ROOT / "build" / "train-student"))
    p.add_argument("--cache", help="folder of the face caches (default: --work); caches are "
                   "keyed by the data and teacher they were made from, so runs can share it")
    p.add_argument("--export", metavar="DIR", help="export the best adapter to DIR/adapters")
    p.add_argument("--name", default="edgeface_xxs_lr", help="exported adapter name")
    p.add_argument("--manifest", metavar="JSON", help="with --export: the manifest template to "
                   "point at the new adapter (sha256, id, provenance)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--prepare-cache", action="store_true",
                   help="only build (or check) the face cache, so that trainings started side by "
                   "side share it")
    p.add_argument("--steps", type=int, default=20000, help="length of the lr schedule")
    p.add_argument("--max-minutes", type=float, default=0,
                   help="stop (checkpointed, resumable) after this much wall time")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--rank", type=int, default=16,
                   help="adapter rank; 0: full-rank updates of the pointwise layers (a full "
                   "fine-tune)")
    p.add_argument("--w-pair", type=float, default=0.0)
    p.add_argument("--w-feat", type=float, default=0.0,
                   help="weight of a feature-map term: the student's stage outputs on the small "
                   "face against the teacher's on the 112-px one (costs a teacher pass per batch)")
    p.add_argument("--feat-loss", choices=["cos", "at"], default="cos",
                   help="cos: per-position cosine of the maps; at: attention transfer")
    p.add_argument("--feat-stages", type=lambda v: tuple(int(x) for x in v.split(",")),
                   default=(2, 3), help="EdgeFace stages (0-3) whose outputs the term compares")
    p.add_argument("--train-fraction", type=float, default=1.0,
                   help="train on this share of the training faces only (a fixed subset per "
                   "seed): measures how much held-out accuracy depends on the amount of data")
    p.add_argument("--min-size", type=int, default=12)
    p.add_argument("--max-size", type=int, default=40)
    p.add_argument("--degrade-p", type=float, default=0.5)
    p.add_argument("--native-p", type=float, default=0.0,
                   help="share of training faces made as in a camera frame (native_degrade: "
                   "off-grid sampling, roll, bicubic warp from slightly wrong landmarks) rather "
                   "than shrunk on the aligned crop's grid; > 0 also selects on such faces")
    p.add_argument("--h264-p", type=float, default=0.0,
                   help="share of those frame-like faces coded as H.264 (libx264 keyframe, CRF "
                   "18-35, the batch's faces in one frame) instead of JPEG; needs ffmpeg")
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--select-sizes", type=lambda v: tuple(int(x) for x in v.split(",")),
                   default=(16, 20, 24, 32), help="validation sizes whose mean cosine selects "
                   "the best checkpoint (a per-size adapter: its own sizes), from "
                   + ",".join(map(str, VAL_SIZES)))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if not a.data and not a.export:
        p.error("--data is required (or set VLRFACE_DATA)")
    if any(s not in VAL_SIZES for s in a.select_sizes):
        p.error(f"--select-sizes: each size must be one of {VAL_SIZES}")
    return a


def main(argv=None):
    args = parse_args(argv)
    try:
        export(args) if args.export else train(args)
    except common.ToolError as e:
        print(f"train_student: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
