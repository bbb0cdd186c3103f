#!/usr/bin/python3
"""Writes the validation dataset: every choice (defaults, cut-off, thresholds) is made on it.

    /usr/bin/python3 tools/make_validation_set.py --data ../shared/datasets --out build/validation

It holds the celeba-train identities that training leaves out (every 5th identity, sorted: the
same split as tools/train_student.py and tools/train_dsr.py) and the 40 ORL people, in the layout
`vlrface eval` reads: images/<id>/<n>.jpg (symbolic links), landmarks.csv (celeba faces are
already aligned, so their landmarks are the template's), pairs.txt (10 identity-disjoint folds;
impostor pairs only between people of the same source, so the grey ORL faces never make an easy
impostor for a colour celeba face) and gallery.txt/probe.txt (first 3 images of each person).
LFW is never read. Deterministic: the same data gives the same files.
"""
import argparse
import csv
import os
import random
import sys
from pathlib import Path

TEMPLATE = [(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655),
            (70.7299, 92.2041)]
VAL_EVERY_NTH_IDENTITY = 5
FOLDS = 10


def celeba_people(data: Path):
    rows = [r for r in csv.DictReader(open(data / "celeba-train" / "list.csv")) if r["hr112"] == "1"]
    ids = sorted({r["identity"] for r in rows}, key=int)
    val = set(ids[::VAL_EVERY_NTH_IDENTITY])
    people = {}
    for r in rows:
        if r["identity"] in val:
            people.setdefault("celeba_" + r["identity"], []).append(
                (data / "celeba-train" / r["file"], None))
    return people


def orl_people(data: Path):
    root = data / "orl"
    lms = {}
    for r in csv.DictReader(open(root / "landmarks.csv")):
        lms[r["file"]] = [(float(r[f"x{i}"]), float(r[f"y{i}"])) for i in range(1, 6)]
    people = {}
    for f in sorted(lms, key=lambda s: (s.split("/")[1], int(Path(s).stem))):
        people.setdefault("orl_" + f.split("/")[1], []).append((root / f, lms[f]))
    return people


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("VLRFACE_DATA"), help="datasets folder")
    p.add_argument("--out", required=True)
    p.add_argument("--pairs-per-fold", type=int, default=300,
                   help="genuine pairs per fold (as many impostor pairs)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if not a.data:
        p.error("--data is required (or set VLRFACE_DATA)")
    data = Path(a.data)
    sources = {"celeba": celeba_people(data), "orl": orl_people(data)}
    out = Path(a.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(a.seed)
    landmarks, gallery, probe = [], [], []
    count = {}
    for people in sources.values():
        for name, faces in people.items():
            d = out / "images" / name
            d.mkdir(exist_ok=True)
            for i, (src, lm) in enumerate(faces, 1):
                link = d / f"{i}.jpg"
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to(src.resolve())
                rel = f"images/{name}/{i}.jpg"
                pts = lm or TEMPLATE
                landmarks.append([rel, name] + [f"{v:.2f}" for pt in pts for v in pt])
                (gallery if i <= 3 else probe).append(f"{rel} {name}")
            count[name] = len(faces)
    # Identity-disjoint folds, each with people of both sources.
    folds = [[] for _ in range(FOLDS)]
    for people in sources.values():
        names = sorted(people)
        rng.shuffle(names)
        for i, n in enumerate(names):
            folds[i % FOLDS].append(n)
    lines = [f"{FOLDS}\t{a.pairs_per_fold}"]
    for members in folds:
        by_source = {s: [n for n in members if n.startswith(s + "_")] for s in sources}
        genuine, impostor = [], []
        for s, names in by_source.items():
            want = a.pairs_per_fold // len(sources)
            cand = [(n, i, j) for n in names for i in range(1, count[n] + 1)
                    for j in range(i + 1, count[n] + 1)]
            rng.shuffle(cand)
            genuine += cand[:want]
            imp = set()
            while len(imp) < want and len(names) > 1:
                x, y = rng.sample(names, 2)
                imp.add((x, rng.randint(1, count[x]), y, rng.randint(1, count[y])))
            impostor += sorted(imp)
        genuine = (genuine * 2)[:a.pairs_per_fold]  # a small fold repeats pairs rather than shrink
        impostor = (impostor * 2)[:a.pairs_per_fold]
        lines += ["\t".join(map(str, g)) for g in genuine]
        lines += ["\t".join(map(str, i)) for i in impostor]
    (out / "pairs.txt").write_text("\n".join(lines) + "\n")
    with open(out / "landmarks.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "identity"] + [f"{c}{k}" for k in range(1, 6) for c in "xy"])
        w.writerows(landmarks)
    (out / "gallery.txt").write_text("\n".join(gallery) + "\n")
    (out / "probe.txt").write_text("\n".join(probe) + "\n")
    (out / "README.md").write_text(
        "Validation set written by tools/make_validation_set.py: held-out celeba-train "
        "identities and ORL. Every default, cut-off and threshold is chosen on it; LFW never.\n")
    print(f"{out}: {len(count)} people ({', '.join(f'{len(v)} {k}' for k, v in sources.items())}), "
          f"{len(landmarks)} images, {FOLDS} folds x {a.pairs_per_fold} + {a.pairs_per_fold} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
