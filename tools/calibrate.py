#!/usr/bin/python3
"""Sets an embedder manifest's recovery defaults, cut-off and thresholds from a validation run.

    vlrface eval --dataset build/validation --res 112,12,16,20,24,32,40,48,64 \\
        --upscaler bicubic,dsr,bicubic+adapter,dsr+adapter --calibrate 1e-3 --json val.json
    /usr/bin/python3 tools/calibrate.py val.json models/manifests/edgeface_xxs.json

Reads the simulated and native rows of `vlrface eval --json` (run on the validation set written by
tools/make_validation_set.py: held-out celeba identities and ORL, never LFW) and writes into the
manifest:
  * "recovery": per size, the path (upscaler, adapter) with the highest HR-LR accuracy (gallery
    at full resolution, probe small: how the product is used) among those better than plain
    bicubic by more than two standard errors of the paired per-fold difference;
    "cutoff_px": the smallest size from which on no path is, so larger faces go to the base
    model as they are;
  * "thresholds": per size and path, the similarity giving the target FAR on the HR-LR impostor
    pairs, for simulated faces and (from --native rows, "faces": "native") for native ones, and
    "threshold" (full resolution) from the 112 px row;
  * "recovery.simulated": the simulated rows' choice, for simulate mode;
  * native rows, where present, choose the recovery of their sizes (they are what a camera
    gives) by the same rule, and only a path whose TAR at the target FAR is at most 2 points
    below bicubic's (the product decides at that threshold); simulated rows choose the rest and
    the cut-off;
  * with --h264 RUN (the same native rows on frames coded as a camera stream codes them, `vlrface
    eval --h264 28`): cameras send both kinds, files and USB cameras raw frames, IP cameras
    H.264, so a native path is judged on both: its per-fold difference to bicubic is the mean
    of the two runs' differences, its accuracy the mean of the two, and the TAR guard must hold
    in each. Thresholds stay those of the uncompressed run;
  * where all of it came from ("threshold_source", "recovery.source").
"""
import argparse
import json
import os
import sys
from datetime import date


# A native recovery must not lose more than this TAR (at the target FAR, HR-LR) against plain
# bicubic, whatever it gains in accuracy at the best threshold.
TAR_GUARD = 0.02


def mean_of(values) -> float:
    v = list(values)
    return sum(v) / len(v)


def fold_differences(row, ref):
    return [a["accuracy"] - b["accuracy"] for a, b in
            zip(row["verification_hrlr"]["folds"], ref["verification_hrlr"]["folds"])]


def coded_crf(path):
    return json.load(open(path))["protocol"]["native"]["h264_crf"]


def load_h264_run(path, ev):
    """The native rows of the H.264 run, keyed (px, path), after checking it is the same
    validation set and protocol as the main run, only coded."""
    run = json.load(open(path))
    if "lfw" in run["dataset"].lower():
        sys.exit("calibrate: refusing an LFW run: thresholds and defaults come from validation data")
    if os.path.realpath(run["dataset"]) != os.path.realpath(ev["dataset"]) or \
            run.get("counts") != ev.get("counts"):
        sys.exit(f"calibrate: {path} is not a run of the same validation set and pairs")
    nat = run["protocol"].get("native") or {}
    if nat.get("h264_crf") is None:
        sys.exit(f"calibrate: {path} has no H.264-coded native rows (vlrface eval --h264 CRF)")
    rest = {k: v for k, v in nat.items() if k != "h264_crf"}
    main_rest = {k: v for k, v in (ev["protocol"].get("native") or {}).items() if k != "h264_crf"}
    if rest != main_rest:
        sys.exit(f"calibrate: {path}'s native frames differ from the main run's in more than "
                 "H.264 coding")
    rows = {(r["resolution"], r["recovery"]): r for r in run["results"]
            if r.get("kind") == "native"}
    if not rows:
        sys.exit(f"calibrate: {path} has no native rows")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("eval_json")
    p.add_argument("manifest")
    p.add_argument("--note", default="", help="added to the sources (what the run was)")
    p.add_argument("--h264", metavar="RUN", help="the same validation set's native rows on "
                   "H.264-coded frames (vlrface eval --h264 CRF --calibrate ... --json RUN)")
    a = p.parse_args(argv)
    ev = json.load(open(a.eval_json))
    coded = load_h264_run(a.h264, ev) if a.h264 else None
    if "lfw" in ev["dataset"].lower():
        sys.exit("calibrate: refusing an LFW run: thresholds and defaults come from validation data")
    rows = [r for r in ev["results"] if r.get("kind") in ("full", "simulated")]
    full = next(r for r in rows if r["kind"] == "full")
    if "calibration" not in full["verification"]:
        sys.exit("calibrate: the run has no --calibrate FAR")
    far = full["verification"]["calibration"]["target_far"]
    sizes = sorted({r["resolution"] for r in rows if r["kind"] == "simulated"})
    if not sizes:
        sys.exit("calibrate: the run has no simulated rows (--res 112,12,16,...): they choose the "
                 "cut-off")
    acc = {}
    thresholds = []
    for r in rows:
        if r["kind"] != "simulated":
            continue
        v = r["verification_hrlr"]
        acc[(r["resolution"], r["recovery"])] = v["accuracy"]
        thresholds.append({"px": r["resolution"], "recovery": r["recovery"],
                           "threshold": round(v["calibration"]["threshold"], 4),
                           "tar": round(v["calibration"]["tar"], 4),
                           "far": round(v["calibration"]["far"], 5)})
    # A recovery is chosen over plain bicubic + the base model only where it is better by more
    # than two standard errors of its paired per-fold HR-LR difference: 39 + 40 validation
    # people make differences of a few tenths noise, and noise must not pick a default.
    diff = {(r["resolution"], r["recovery"]): r.get("paired_vs_reference_hrlr") for r in rows
            if r["kind"] == "simulated"}
    best = {}
    for s in sizes:
        best[s] = "bicubic"
        for path in ("dsr", "bicubic+adapter", "dsr+adapter"):
            d = diff.get((s, path))
            if not d:
                continue
            n = len(d["per_fold"])
            significant = d["mean"] > 2 * d["std"] / n ** 0.5
            if significant and acc[(s, path)] > acc[(s, best[s])]:
                best[s] = path
    # Native faces (the run's --native rows): what a camera gives, so where they were measured
    # they choose the recovery, against plain bicubic (one bicubic warp from the frame to 112 px
    # and the base model) by the same rule, and they get thresholds of their own.
    native = {(r["resolution"], r["recovery"]): r for r in ev["results"] if r.get("kind") == "native"}
    nsizes = sorted({px for px, _ in native})
    nacc = {}
    for (px, path), r in sorted(native.items()):
        if path in ("base", "auto"):
            continue
        v = r["verification_hrlr"]
        nacc[(px, path)] = v["accuracy"]
        thresholds.append({"px": px, "recovery": path, "faces": "native",
                           "threshold": round(v["calibration"]["threshold"], 4),
                           "tar": round(v["calibration"]["tar"], 4),
                           "far": round(v["calibration"]["far"], 5)})
    # The conditions a native path is judged in: uncompressed frames, and H.264 ones if given.
    conditions = [native] + ([coded] if coded else [])
    judged = {}  # (px, path): accuracy, the mean over the conditions
    nbest = {}
    for px in nsizes:
        if any((px, "bicubic") not in c for c in conditions):
            continue
        judged[(px, "bicubic")] = mean_of(c[(px, "bicubic")]["verification_hrlr"]["accuracy"]
                                          for c in conditions)
        nbest[px] = "bicubic"
        for path in ("dsr", "bicubic+adapter", "dsr+adapter"):
            if any((px, path) not in c for c in conditions):
                continue
            per_cond = [fold_differences(c[(px, path)], c[(px, "bicubic")]) for c in conditions]
            d = [mean_of(v) for v in zip(*per_cond)]  # per fold, the mean over conditions
            n = len(d)
            mean = sum(d) / n
            std = (sum((x - mean) ** 2 for x in d) / (n - 1)) ** 0.5 if n > 1 else float("inf")
            judged[(px, path)] = mean_of(c[(px, path)]["verification_hrlr"]["accuracy"]
                                         for c in conditions)
            # The product decides at the calibrated threshold: a path that wins on accuracy
            # but accepts fewer genuine pairs there (TAR at the target FAR) is not taken, in
            # any condition.
            tar_ok = all(c[(px, path)]["verification_hrlr"]["calibration"]["tar"] >=
                         c[(px, "bicubic")]["verification_hrlr"]["calibration"]["tar"] - TAR_GUARD
                         for c in conditions)
            if mean > 2 * std / n ** 0.5 and judged[(px, path)] > judged[(px, nbest[px])] \
                    and tar_ok:
                nbest[px] = path
    # The cut-off: from there on, no size gains from recovery.
    cutoff = next((s for s in sizes if all(best[t] == "bicubic" for t in sizes if t >= s)),
                  sizes[-1] + 1)
    chosen = dict(best)
    chosen.update(nbest)
    # The set as the repository names it (build/validation), not this machine's absolute path.
    dataset = os.path.relpath(ev["dataset"], os.path.dirname(os.path.abspath(__file__)) + "/..")
    ev["dataset"] = dataset
    m = json.load(open(a.manifest))
    where = (f"FAR {far} on the HR-LR impostor pairs of the validation set ({ev['dataset']}: "
             f"held-out celeba-train identities + ORL, tools/make_validation_set.py), "
             f"vlrface eval --calibrate {far}, {ev['date'][:10]}; decision: same iff > threshold")
    m["threshold"] = round(full["verification"]["calibration"]["threshold"], 4)
    m["thresholds"] = [t for t in thresholds if t["px"] < cutoff]
    m["threshold_source"] = where + (f"; {a.note}" if a.note else "")
    m["recovery"] = {
        "cutoff_px": cutoff,
        "sizes": {str(s): {"upscaler": chosen[s].split("+")[0],
                           "adapter": chosen[s].endswith("+adapter")}
                  for s in sorted(chosen) if s < cutoff},
        # Simulate mode (--res N: a large face shrunk after alignment) keeps the simulated choice.
        "simulated": {str(s): {"upscaler": best[s].split("+")[0],
                               "adapter": best[s].endswith("+adapter")}
                      for s in sizes if s < cutoff},
        "source": "highest HR-LR accuracy per size on the validation set (" + ev["dataset"] +
                  "), native faces where measured (else simulated ones)" +
                  (f", native faces judged on raw and H.264 (CRF {coded_crf(a.h264)}) frames "
                   "alike" if coded else "") + ", where better than "
                  "bicubic by more than two standard errors of the paired per-fold difference; "
                  "cut-off: the smallest simulated size from which no recovery is; "
                  f"vlrface eval, {ev['date'][:10]}" + (f"; {a.note}" if a.note else ""),
    }
    tmp = a.manifest + ".tmp"
    with open(tmp, "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    os.replace(tmp, a.manifest)
    print(f"{a.manifest}: threshold {m['threshold']} (112 px), cut-off {cutoff} px")
    for s in sizes:
        line = " ".join(f"{p}={100 * acc[(s, p)]:.2f}" for p in
                        ("bicubic", "dsr", "bicubic+adapter", "dsr+adapter") if (s, p) in acc)
        print(f"  {s:3d} px simulated: best {best[s]:16s} {line}")
    for s in nsizes:
        if s not in nbest:
            continue
        line = " ".join(f"{p}={100 * nacc[(s, p)]:.2f}" for p in
                        ("bicubic", "dsr", "bicubic+adapter", "dsr+adapter") if (s, p) in nacc)
        if coded:
            line += "; with H.264, mean of both: " + " ".join(
                f"{p}={100 * judged[(s, p)]:.2f}" for p in
                ("bicubic", "dsr", "bicubic+adapter", "dsr+adapter") if (s, p) in judged)
        base = native.get((s, "base"))
        if base:
            line += f" (base {100 * base['verification_hrlr']['accuracy']:.2f})"
        print(f"  {s:3d} px native:    best {nbest[s]:16s} {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
