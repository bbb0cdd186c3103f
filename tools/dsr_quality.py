#!/usr/bin/python3
"""DSR as a picture: PSNR and SSIM against bicubic on the validation faces, and a side-by-side sheet.

    /usr/bin/python3 tools/dsr_quality.py --models build/share/vlrface/models \\
        --data ../shared/datasets --sheet docs/eval/dsr-sheet.jpg --json build/dsr-quality.json

Faces: the held-out celeba-train identities (every 5th, as in training; never LFW), shrunk to
16/24/32 px by area, brought back to 112 px by bicubic and by the DSR of that size, both run
through OpenCV as the product runs them. The sheet shows, per row, the small face (nearest
neighbour), bicubic, DSR and the original for a few faces.
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
    p.add_argument("--sizes", default="16,24,32")
    a = p.parse_args(argv)
    data = Path(a.data)
    rows = [r for r in csv.DictReader(open(data / "celeba-train" / "list.csv")) if r["hr112"] == "1"]
    ids = sorted({r["identity"] for r in rows}, key=int)
    val = set(ids[::VAL_EVERY_NTH_IDENTITY])
    files = [data / "celeba-train" / r["file"] for r in rows if r["identity"] in val]
    faces = [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in files]
    result = {"faces": len(faces), "data": "held-out celeba-train identities (validation)"}
    sheet_rows = []
    for s in map(int, a.sizes.split(",")):
        net = cv2.dnn.readNetFromONNX(str(Path(a.models) / f"dsr{s}.onnx"))
        m = {"bicubic": {"psnr": [], "ssim": []}, "dsr": {"psnr": [], "ssim": []}}
        for i, hr in enumerate(faces):
            small = cv2.resize(hr, (s, s), interpolation=cv2.INTER_AREA)
            bic = cv2.resize(small, (112, 112), interpolation=cv2.INTER_CUBIC)
            sr = dsr(net, bic)
            for k, img in (("bicubic", bic), ("dsr", sr)):
                m[k]["psnr"].append(psnr(img, hr))
                m[k]["ssim"].append(ssim(img, hr))
            if i in (0, 97, 211, 402, 555):
                nn = cv2.resize(small, (112, 112), interpolation=cv2.INTER_NEAREST)
                sheet_rows.append(np.hstack([nn, bic, sr, hr]))
        result[str(s)] = {k: {q: float(np.mean(v)) for q, v in d.items()} for k, d in m.items()}
        result[str(s)]["dsr_better_psnr_share"] = float(np.mean(
            np.array(m["dsr"]["psnr"]) > np.array(m["bicubic"]["psnr"])))
        r = result[str(s)]
        print(f"{s} px: PSNR bicubic {r['bicubic']['psnr']:.2f} dB, DSR {r['dsr']['psnr']:.2f} dB; "
              f"SSIM bicubic {r['bicubic']['ssim']:.4f}, DSR {r['dsr']['ssim']:.4f}; DSR better "
              f"PSNR on {100 * r['dsr_better_psnr_share']:.1f} % of faces")
    if a.sheet:
        sheet = np.vstack(sheet_rows)
        head = np.full((24, sheet.shape[1], 3), 255, np.uint8)
        for j, t in enumerate(("small (nearest)", "bicubic", "DSR", "original")):
            cv2.putText(head, t, (j * 112 + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cv2.imwrite(a.sheet, np.vstack([head, sheet]))
        print(f"sheet: {a.sheet} (rows: {a.sizes} px, 5 faces each)")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
