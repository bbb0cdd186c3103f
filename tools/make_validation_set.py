#!/usr/bin/python3
"""Writes the validation dataset: every choice (defaults, cut-off, thresholds) is made on it.

    /usr/bin/python3 tools/make_validation_set.py --data ../shared/datasets --out build/validation

It holds the celeba-train identities that training leaves out (every 5th identity, sorted: the
same split as tools/train_student.py and tools/train_dsr.py) and the 40 ORL people, in the layout
`vlrface eval` reads: images/<id>/<n>.jpg (symbolic links), landmarks.csv (celeba faces are
already aligned, so their landmarks are the template's), pairs.txt (10 identity-disjoint folds of
300 genuine and 1,500 impostor pairs: five times as many impostors as genuine pairs, so that the
threshold for a FAR of 1e-3 rests on 15 impostor pairs, not 3; the eval's accuracy is then
class-balanced; impostor pairs only between people of the same source, so the grey ORL faces
never make an easy impostor for a colour celeba face) and gallery.txt/probe.txt (first 3 images of each person).
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


def split_shift(data: Path, removed):
    """Identities removed from celeba-train move the every-5th split: returns (today's
    validation identities, the ones the split with `removed` put back would have held out,
    today's validation identities that split trained on, and their face count). A model
    trained before the removal has seen the faces of those last identities."""
    rows = [r for r in csv.DictReader(open(data / "celeba-train" / "list.csv")) if r["hr112"] == "1"]
    ids = sorted({r["identity"] for r in rows}, key=int)
    before = sorted(set(ids) | set(removed), key=int)
    val_now = set(ids[::VAL_EVERY_NTH_IDENTITY])
    val_before = set(before[::VAL_EVERY_NTH_IDENTITY])
    seen = val_now - val_before
    return val_now, val_before, seen, sum(1 for r in rows if r["identity"] in seen)


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
    p.add_argument("--out", help="folder to write (required unless --leak-check)")
    p.add_argument("--leak-check", metavar="IDS",
                   help="comma-separated celeba identities removed from training (as in "
                        "TRAINING-EXCLUSIONS.txt): print how many of today's validation faces a "
                        "model trained before their removal had trained on, and write nothing")
    p.add_argument("--pairs-per-fold", type=int, default=300, help="genuine pairs per fold")
    p.add_argument("--impostors-per-fold", type=int, default=1500,
                   help="impostor pairs per fold: 15,000 in all, so that the threshold for FAR "
                        "1e-3 rests on 15 impostor pairs, not 3 (accuracy is class-balanced)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if not a.data:
        p.error("--data is required (or set VLRFACE_DATA)")
    data = Path(a.data)
    if a.leak_check:
        removed = [i.strip() for i in a.leak_check.split(",") if i.strip()]
        now, before, seen, faces = split_shift(data, removed)
        print(f"validation identities today: {len(now)}; with {len(removed)} identities put "
              f"back: {len(before)}; today's validation identities that split trained on: "
              f"{len(seen)} ({faces} faces)")
        return 0
    if not a.out:
        p.error("--out is required")
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
    # Identity-disjoint folds, each with people of both sources. People go, most images first, to
    # the fold with the fewest images of their source so far: celeba people have 2 to 30 images,
    # and folds of even size all hold enough impostor pairs.
    folds = [[] for _ in range(FOLDS)]
    for people in sources.values():
        names = sorted(people)
        rng.shuffle(names)
        names.sort(key=lambda n: -count[n])  # stable: equal counts keep the shuffled order
        images = [0] * FOLDS
        for n in names:
            k = min(range(FOLDS), key=lambda f: (images[f], len(folds[f]), f))
            folds[k].append(n)
            images[k] += count[n]
    lines = [f"{FOLDS}\t{a.pairs_per_fold}\t{a.impostors_per_fold}"]
    for k, members in enumerate(folds):
        by_source = {s: [n for n in members if n.startswith(s + "_")] for s in sources}
        genuine, impostor = [], []
        for s, names in by_source.items():
            want = a.pairs_per_fold // len(sources)
            cand = [(n, i, j) for n in names for i in range(1, count[n] + 1)
                    for j in range(i + 1, count[n] + 1)]
            rng.shuffle(cand)
            genuine += cand[:want]
            # Every impostor pair of the fold between people of this source is a candidate.
            impostor += [(x, i, y, j) for xi, x in enumerate(names) for y in names[xi + 1:]
                         for i in range(1, count[x] + 1) for j in range(1, count[y] + 1)]
        genuine = (genuine * 2)[:a.pairs_per_fold]  # a small fold repeats pairs rather than shrink
        if len(impostor) < a.impostors_per_fold:
            sys.exit(f"fold {k + 1}: only {len(impostor)} impostor pairs, "
                     f"--impostors-per-fold {a.impostors_per_fold} asked for")
        rng.shuffle(impostor)
        lines += ["\t".join(map(str, g)) for g in genuine]
        lines += ["\t".join(map(str, i)) for i in sorted(impostor[:a.impostors_per_fold])]
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
          f"{len(landmarks)} images, {FOLDS} folds x {a.pairs_per_fold} genuine + "
          f"{a.impostors_per_fold} impostor pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
