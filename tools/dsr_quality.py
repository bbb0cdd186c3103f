#!/usr/bin/python3
"""DSR as a picture: PSNR and SSIM against bicubic on the validation faces, and a side-by-side sheet.

    /usr/bin/python3 tools/dsr_quality.py --models build/share/vlrface/models \\
        --data ../shared/datasets --sheet docs/eval/dsr-sheet.jpg --json build/dsr-quality.json

Faces: the held-out celeba-train identities (every 5th, as in training; never LFW), shrunk to
12/16/24/32 px by area, brought back to 112 px by bicubic, by the per-size DSR recognition uses
(dsr16/24/32, the nearest for other sizes) and by the picture network dsr_view when the model
folder has it, all run through OpenCV as the product runs them. The sheet shows, per row, the
small face (nearest neighbour), each of those and the original for a few faces.
"""
import argparse
import csv
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

VAL_EVERY_NTH_IDENTITY = 5


def ssim(a, b):
    """Mean SSIM over the three channels (Gaussian window 11, sigma 1.5; Wang et al. 2004)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for ch in range(3):
        x, y = a[..., ch].astype(np.float64), b[..., ch].astype(np.float64)
        blur = lambda z: cv2.GaussianBlur(z, (11, 11), 1.5)  # noqa: E731
        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        out.append(m[5:-5, 5:-5].mean())
    return float(np.mean(out))


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255 ** 2 / max(mse, 1e-12)))


def dsr(net, face112):
    blob = cv2.dnn.blobFromImage(face112, 1 / 127.5, (112, 112), (127.5, 127.5, 127.5), swapRB=False)
    net.setInput(blob)
    out = net.forward()[0].transpose(1, 2, 0)
    return np.clip(out * 127.5 + 127.5 + 0.5, 0, 255).astype(np.uint8)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", required=True, help="prepared model folder (dsr16.onnx ...)")
    p.add_argument("--data", default=os.environ.get("VLRFACE_DATA"))
    p.add_argument("--sheet", help="write the side-by-side PNG here")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--sizes", default="12,16,24,32")
    a = p.parse_args(argv)
    data = Path(a.data)
    rows = [r for r in csv.DictReader(open(data / "celeba-train" / "list.csv")) if r["hr112"] == "1"]
    ids = sorted({r["identity"] for r in rows}, key=int)
    val = set(ids[::VAL_EVERY_NTH_IDENTITY])
    files = [data / "celeba-train" / r["file"] for r in rows if r["identity"] in val]
    faces = [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in files]
    result = {"faces": len(faces), "data": "held-out celeba-train identities (validation)"}
    sheet_rows = []
    models = Path(a.models)
    per_size = sorted(int(f.stem[3:]) for f in models.glob("dsr[0-9]*.onnx"))
    view = models / "dsr_view.onnx"
    view_net = cv2.dnn.readNetFromONNX(str(view)) if view.exists() else None
    methods = ["bicubic", "dsr"] + (["dsr_view"] if view_net is not None else [])
    for s in map(int, a.sizes.split(",")):
        # The per-size network recognition would use: this size's, else the nearest (as the
        # product's ModelStore::upscaler_for picks it).
        near = min(per_size, key=lambda r: (abs(r - s), r))
        nets = {"dsr": cv2.dnn.readNetFromONNX(str(models / f"dsr{near}.onnx")), "dsr_view": view_net}
        m = {k: {"psnr": [], "ssim": []} for k in methods}
        for i, hr in enumerate(faces):
            small = cv2.resize(hr, (s, s), interpolation=cv2.INTER_AREA)
            bic = cv2.resize(small, (112, 112), interpolation=cv2.INTER_CUBIC)
            pics = {"bicubic": bic, **{k: dsr(nets[k], bic) for k in methods if k != "bicubic"}}
            for k, img in pics.items():
                m[k]["psnr"].append(psnr(img, hr))
                m[k]["ssim"].append(ssim(img, hr))
            if i in (0, 97, 211, 402, 555):
                nn = cv2.resize(small, (112, 112), interpolation=cv2.INTER_NEAREST)
                sheet_rows.append(np.hstack([nn] + [pics[k] for k in methods] + [hr]))
        result[str(s)] = {k: {q: float(np.mean(v)) for q, v in d.items()} for k, d in m.items()}
        result[str(s)]["dsr_network"] = f"dsr{near}"
        line = f"{s} px: PSNR / SSIM"
        for k in methods:
            r = result[str(s)][k]
            line += f"; {k} {r['psnr']:.2f} dB / {r['ssim']:.4f}"
            if k != "bicubic":
                share = float(np.mean(np.array(m[k]["psnr"]) > np.array(m["bicubic"]["psnr"])))
                result[str(s)][f"{k}_better_psnr_share"] = share
                line += f" (better than bicubic on {100 * share:.1f} % of faces)"
        print(line)
    if a.sheet:
        sheet = np.vstack(sheet_rows)
        head = np.full((24, sheet.shape[1], 3), 255, np.uint8)
        titles = ["small (nearest)"] + [{"dsr": "DSR (per size)", "dsr_view": "DSR picture"}.get(k, k)
                                        for k in methods] + ["original"]
        for j, t in enumerate(titles):
            cv2.putText(head, t, (j * 112 + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cv2.imwrite(a.sheet, np.vstack([head, sheet]), [cv2.IMWRITE_JPEG_QUALITY, 92])
        print(f"sheet: {a.sheet} (rows: {a.sizes} px, 5 faces each)")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
