#!/usr/bin/python3
"""Compares two `vlrface eval --json` runs of one command on two model folders, row by row.

    vlrface --models build/share/vlrface/models eval --dataset build/validation ... --json a.json
    vlrface --models build/cand-models eval --dataset build/validation ... --json b.json
    /usr/bin/python3 tools/compare_models.py a.json b.json

For every row both runs have (kind, size, recovery): HR-LR and LR-LR accuracy of each, the paired
per-fold difference B - A (mean +- one standard error over the folds, and how many folds are
better), rank-1, and TAR with the FAR at the product's thresholds. The folds are the same pairs
in both runs, so the paired difference is far tighter than the two accuracies' spreads. A row
is flagged '*' when B differs from A by more than two standard errors (the rule that chooses
recovery paths, tools/calibrate.py).

The runs must share the dataset, the protocol (pairs, folds, native-frame settings) and the
binary's options; a mismatch is an error, since a difference would then mean nothing.
"""
import argparse
import json
import math
import sys


class CompareError(Exception):
    pass


def load(path):
    try:
        with open(path) as f:
            run = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise CompareError(f"{path}: not a readable eval JSON ({e})")
    if "results" not in run or "protocol" not in run:
        raise CompareError(f"{path}: not a `vlrface eval --json` file (no results / protocol)")
    return run


def check_same_protocol(a, b, pa, pb):
    for key in ("dataset", "protocol", "counts"):
        if a.get(key) != b.get(key):
            raise CompareError(f"{pa} and {pb} differ in '{key}': not one command on two model "
                               "folders")


def paired(fa, fb):
    """B - A per fold, in points: (mean, standard error, folds better, folds)."""
    if len(fa) != len(fb) or not fa:
        raise CompareError("the runs have different folds")
    d = [100 * (y["accuracy"] - x["accuracy"]) for x, y in zip(fa, fb)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / (n - 1)) if n > 1 else 0.0
    return mean, sd / math.sqrt(n), sum(v > 0 for v in d), n


def rows(run):
    return {(r["kind"], r["resolution"], r["recovery"]): r for r in run["results"]}


def compare(a, b):
    ra, rb = rows(a), rows(b)
    out = []
    for key in [k for k in ra if k in rb]:
        x, y = ra[key], rb[key]
        line = {"kind": key[0], "px": key[1], "recovery": key[2]}
        for name, field in (("hrlr", "verification_hrlr"), ("lrlr", "verification")):
            if x.get(field) and y.get(field):
                m, se, better, n = paired(x[field]["folds"], y[field]["folds"])
                line[name] = {"a": 100 * x[field]["accuracy"], "b": 100 * y[field]["accuracy"],
                              "diff": m, "se": se, "better": better, "folds": n,
                              "significant": abs(m) > 2 * se}
        if x.get("identification") and y.get("identification"):
            line["rank1"] = {"a": 100 * x["identification"]["rank1"],
                             "b": 100 * y["identification"]["rank1"]}
        tx = (x.get("verification_hrlr") or {}).get("at_product_thresholds")
        ty = (y.get("verification_hrlr") or {}).get("at_product_thresholds")
        if tx and ty:
            line["tar"] = {"a": 100 * tx["tar"], "b": 100 * ty["tar"], "far_a": tx["far"],
                           "far_b": ty["far"]}
        out.append(line)
    return out


def fmt(line):
    parts = [f"{line['kind']:9} {line['px']:>3} {line['recovery']:17}"]
    for name in ("hrlr", "lrlr"):
        v = line.get(name)
        if v:
            flag = "*" if v["significant"] else " "
            parts.append(f"{name.upper()} {v['a']:6.2f} -> {v['b']:6.2f} ({v['diff']:+.2f} +- "
                         f"{v['se']:.2f}, {v['better']}/{v['folds']}){flag}")
    if "rank1" in line:
        parts.append(f"rank-1 {line['rank1']['a']:.2f} -> {line['rank1']['b']:.2f}")
    if "tar" in line:
        t = line["tar"]
        parts.append(f"TAR {t['a']:.2f} (FAR {t['far_a']:.5f}) -> {t['b']:.2f} "
                     f"(FAR {t['far_b']:.5f})")
    return "  ".join(parts)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", help="eval JSON of the reference models (A)")
    p.add_argument("b", help="eval JSON of the candidate models (B)")
    p.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")
    args = p.parse_args(argv)
    try:
        a, b = load(args.a), load(args.b)
        check_same_protocol(a, b, args.a, args.b)
        lines = compare(a, b)
        if not lines:
            raise CompareError("the runs have no row in common")
    except CompareError as e:
        print(f"compare_models: {e}", file=sys.stderr)
        return 2
    print(f"A: {a.get('model')} ({args.a})\nB: {b.get('model')} ({args.b})\n"
          "accuracy %, B - A paired per fold (+- one standard error, folds better); "
          "* = beyond two standard errors")
    for line in lines:
        print(fmt(line))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"a": args.a, "b": args.b, "rows": lines}, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
