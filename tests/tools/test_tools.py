#!/usr/bin/python3
"""Tests of the model tools that need no model file or dataset: tools/compare_models.py on
synthetic eval runs, the keyed face cache of the training tools, the geometry of
tools/train_student.py's camera-frame degradation, and the full-rank update (train_student.py
--rank 0) with its export in the adapters' format."""
import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))


def run_json(accs_hrlr, rank1=0.5):
    folds = [{"fold": i + 1, "accuracy": a, "pairs": 100} for i, a in enumerate(accs_hrlr)]
    v = {"accuracy": sum(accs_hrlr) / len(accs_hrlr), "folds": folds,
         "at_product_thresholds": {"tar": 0.4, "far": 0.001, "threshold": 0.3}}
    return {"dataset": "d", "protocol": {"folds": len(folds)}, "counts": {"pairs": 100},
            "model": "m", "results": [
                {"kind": "native", "resolution": 16, "recovery": "bicubic+adapter",
                 "verification_hrlr": v, "verification": v,
                 "identification": {"rank1": rank1}}]}


class CompareModels(unittest.TestCase):
    def run_tool(self, a, b, *extra):
        with tempfile.TemporaryDirectory() as d:
            pa, pb, pj = Path(d, "a.json"), Path(d, "b.json"), Path(d, "c.json")
            pa.write_text(json.dumps(a))
            pb.write_text(json.dumps(b))
            p = subprocess.run([sys.executable, str(TOOLS / "compare_models.py"), str(pa),
                                str(pb), "--json", str(pj), *extra], capture_output=True,
                               text=True)
            return p, (json.loads(pj.read_text()) if pj.exists() else None)

    def test_paired_difference_and_its_standard_error(self):
        a = run_json([0.70, 0.72, 0.74, 0.76])
        b = run_json([0.71, 0.73, 0.75, 0.79], rank1=0.6)  # +1, +1, +1, +3 points
        p, out = self.run_tool(a, b)
        self.assertEqual(p.returncode, 0, p.stderr)
        h = out["rows"][0]["hrlr"]
        self.assertAlmostEqual(h["diff"], 1.5, places=6)
        self.assertAlmostEqual(h["se"], 0.5, places=6)  # sd 1.0 over 4 folds
        self.assertEqual(h["better"], 4)
        self.assertTrue(h["significant"])  # 1.5 > 2 x 0.5
        self.assertAlmostEqual(out["rows"][0]["rank1"]["b"], 60.0)
        self.assertIn("+1.50 +- 0.50, 4/4)*", p.stdout)

    def test_a_noisy_difference_is_not_flagged(self):
        a = run_json([0.70, 0.72, 0.74, 0.76])
        b = run_json([0.73, 0.70, 0.77, 0.74])  # +3, -2, +3, -2
        p, out = self.run_tool(a, b)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(out["rows"][0]["hrlr"]["significant"])

    def test_runs_of_different_protocols_are_refused(self):
        a = run_json([0.70, 0.72])
        b = run_json([0.70, 0.72])
        b["counts"]["pairs"] = 200
        p, out = self.run_tool(a, b)
        self.assertEqual(p.returncode, 2)
        self.assertIn("differ in 'counts'", p.stderr)
        self.assertIsNone(out)


def calib_row(kind, px, path, folds, tar=0.5):
    v = {"accuracy": sum(folds) / len(folds),
         "folds": [{"fold": i + 1, "accuracy": f} for i, f in enumerate(folds)],
         "calibration": {"threshold": 0.3, "tar": tar, "far": 0.001, "target_far": 0.001}}
    row = {"kind": kind, "resolution": px, "recovery": path, "verification_hrlr": v,
           "verification": v}
    if kind == "simulated":  # simulated 16 px gains from the adapter: the cut-off is above it
        gain = 0.02 if path == "bicubic+adapter" else 0.0
        row["paired_vs_reference_hrlr"] = {"mean": gain, "std": 0.01, "per_fold": [gain] * 10}
        if gain:
            v["accuracy"] += gain
    return row


def validation_run(native_rows, crf=None):
    base = [0.70 + 0.01 * i for i in range(10)]
    rows = [calib_row("full", 112, "base", [0.95] * 10)]
    rows += [calib_row("simulated", px, p, base) for px in (16, 24)
             for p in ("bicubic", "bicubic+adapter") if px == 16 or p == "bicubic"]
    rows += [calib_row("native", 16, p, f, t) for p, f, t in native_rows]
    return {"dataset": "/tmp/validation", "date": "2026-11-29T00:00:00Z",
            "counts": {"pairs": 18000},
            "protocol": {"native": {"canvas": [320, 240], "h264_crf": crf}}, "results": rows}


class CalibrateWithH264(unittest.TestCase):
    """tools/calibrate.py's native choice: raw frames alone, or raw and H.264 frames together."""
    BASE = [0.70 + 0.01 * i for i in range(10)]
    # bicubic + adapter: +1.2 points on average, noisy (-0.8 / +3.2 alternating): 1.8 standard
    # errors on raw frames, not taken alone; +2.3 steady on H.264 frames.
    NOISY = [b + (0.032 if i % 2 else -0.008) for i, b in enumerate(BASE)]
    STEADY = [b + 0.023 for b in BASE]

    def choose(self, raw, coded=None):
        with tempfile.TemporaryDirectory() as d:
            paths = {"raw": Path(d, "raw.json"), "h264": Path(d, "h264.json"),
                     "m": Path(d, "m.json")}
            paths["raw"].write_text(json.dumps(raw))
            paths["m"].write_text(json.dumps({"name": "edgeface_xxs"}))
            cmd = [sys.executable, str(TOOLS / "calibrate.py"), str(paths["raw"]), str(paths["m"])]
            if coded is not None:
                paths["h264"].write_text(json.dumps(coded))
                cmd += ["--h264", str(paths["h264"])]
            p = subprocess.run(cmd, capture_output=True, text=True)
            m = json.loads(paths["m"].read_text()) if p.returncode == 0 else None
            return p, m

    def test_raw_frames_alone_do_not_take_a_noisy_gain(self):
        p, m = self.choose(validation_run([("bicubic", self.BASE, 0.5),
                                           ("bicubic+adapter", self.NOISY, 0.5)]))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(m["recovery"]["sizes"]["16"]["adapter"])

    def test_a_gain_on_raw_and_h264_frames_together_is_taken(self):
        raw = validation_run([("bicubic", self.BASE, 0.5), ("bicubic+adapter", self.NOISY, 0.5)])
        coded = validation_run([("bicubic", self.BASE, 0.4), ("bicubic+adapter", self.STEADY, 0.45)],
                               crf=28)
        p, m = self.choose(raw, coded)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(m["recovery"]["sizes"]["16"]["adapter"])
        self.assertIn("H.264 (CRF 28)", m["recovery"]["source"])
        # thresholds stay the uncompressed run's
        self.assertTrue(all(t["threshold"] == 0.3 for t in m["thresholds"]))

    def test_the_tar_guard_holds_in_each_condition(self):
        raw = validation_run([("bicubic", self.BASE, 0.5), ("bicubic+adapter", self.STEADY, 0.5)])
        coded = validation_run([("bicubic", self.BASE, 0.5), ("bicubic+adapter", self.STEADY, 0.45)],
                               crf=28)  # 5 points less TAR on H.264 frames
        p, m = self.choose(raw, coded)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(m["recovery"]["sizes"]["16"]["adapter"])
        p, m = self.choose(raw)  # raw frames alone would take it
        self.assertTrue(m["recovery"]["sizes"]["16"]["adapter"])

    def test_a_run_without_h264_frames_is_refused_as_the_h264_run(self):
        raw = validation_run([("bicubic", self.BASE, 0.5)])
        p, _ = self.choose(raw, validation_run([("bicubic", self.BASE, 0.5)]))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no H.264-coded native rows", p.stderr)


class FaceCache(unittest.TestCase):
    """tools/train_dsr.py's face cache is keyed by the data it was made from: removing faces
    (TRAINING-EXCLUSIONS.txt did) must make a new cache, never reuse the stale one."""

    def make_data(self, root: Path, hr_faces: int, identities):
        import cv2
        rng = np.random.default_rng(0)
        for sub in ("faces-hr-train/images", "celeba-train/images"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        rows = ["file"]
        for n in range(hr_faces):
            cv2.imwrite(str(root / f"faces-hr-train/images/{n}.jpg"),
                        rng.integers(0, 255, (112, 112, 3), dtype=np.uint8))
            rows.append(f"images/{n}.jpg")
        (root / "faces-hr-train/list.csv").write_text("\n".join(rows) + "\n")
        rows = ["file,identity,hr112"]
        for i in identities:
            for k in range(2):
                (root / f"celeba-train/images/{i}").mkdir(exist_ok=True)
                cv2.imwrite(str(root / f"celeba-train/images/{i}/{k}.jpg"),
                            rng.integers(0, 255, (112, 112, 3), dtype=np.uint8))
                rows.append(f"images/{i}/{k}.jpg,{i},1")
        (root / "celeba-train/list.csv").write_text("\n".join(rows) + "\n")

    def test_other_data_makes_another_cache(self):
        import torch
        import train_dsr as td

        class Teacher(torch.nn.Module):  # any fixed map to 512-d does for the cache
            def forward(self, x):
                return x.mean(dim=(2, 3)).repeat(1, 171)[:, :512] + 1.0

        with tempfile.TemporaryDirectory() as d:
            data, root = Path(d, "data"), Path(d, "cache")
            self.make_data(data, 3, range(100, 110))
            first, k1 = td.load_cache(data, root, Teacher(), "sha-a")
            self.assertEqual(first["train_hr"].shape, (3 + 16, 112, 112, 3))  # 8 of 10 ids train
            self.assertEqual(first["train_t"].shape, (19, 2, 512))
            self.assertEqual(sorted(set(first["val_id"])), [100, 105])  # every 5th identity
            again, k2 = td.load_cache(data, root, Teacher(), "sha-a")
            self.assertEqual(k1, k2)
            np.testing.assert_array_equal(again["train_t"], first["train_t"])
            self.assertNotEqual(td.load_cache(data, root, Teacher(), "sha-b")[1], k1)
            self.make_data(data, 2, range(100, 110))  # a training face removed
            fewer, k3 = td.load_cache(data, root, Teacher(), "sha-a")
            self.assertNotEqual(k3, k1)
            self.assertEqual(len(fewer["train_hr"]), 18)
            self.assertEqual(len(list(root.glob("cache-*"))), 3)


class SplitShift(unittest.TestCase):
    def test_removed_identities_move_the_split(self):
        """Validation is every 5th identity: removing one early identity shifts all later
        picks, so a model trained before the removal has seen most of today's validation."""
        import make_validation_set as mv
        with tempfile.TemporaryDirectory() as d:
            root = Path(d, "celeba-train")
            root.mkdir()
            rows = ["file,identity,hr112"] + [f"images/{i}/0.jpg,{i},1" for i in range(100, 120)
                                              if i != 101] + ["images/101/0.jpg,101,0"]
            (root / "list.csv").write_text("\n".join(rows) + "\n")
            now, before, seen, faces = mv.split_shift(Path(d), ["101"])
            self.assertEqual(sorted(now, key=int), ["100", "106", "111", "116"])
            self.assertEqual(sorted(before, key=int), ["100", "105", "110", "115"])
            self.assertEqual(sorted(seen, key=int), ["106", "111", "116"])
            self.assertEqual(faces, 3)
            self.assertEqual(mv.split_shift(Path(d), [])[2], set())  # nothing removed: no shift


class NativeDegrade(unittest.TestCase):
    def test_the_face_comes_back_where_it_was(self):
        """The frame-like face must be aligned like the original: the warp back inverts the
        frame's roll, phase and shrink, so no shift is left on average (a sign error in the
        pixel-centre convention would leave half a small pixel, 3.5 px at 16 px)."""
        import cv2
        import train_student as ts
        rng = np.random.default_rng(3)
        yy, xx = np.mgrid[0:112, 0:112].astype(np.float32)
        face = np.zeros((112, 112, 3), np.uint8)
        shifts = []
        for _ in range(20):
            cx, cy = rng.uniform(40, 72, 2)  # a blob somewhere in the face
            blob = 255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 9.0 ** 2))
            face[:] = blob[..., None].astype(np.uint8)
            out = ts.native_degrade(face, 24, rng, 0.0, roll_deg=8.0, jitter_px=0.0)
            g = out[..., 0].astype(np.float64)
            m = g.sum()
            shifts.append(((g * xx).sum() / m - cx, (g * yy).sum() / m - cy))
        mean = np.abs(np.mean(shifts, axis=0))
        worst = np.abs(shifts).max()
        self.assertLess(mean.max(), 0.3, f"mean shift {mean}")
        # One face moves a little by aliasing (the bilinear shrink does not low-pass): well
        # under half a small pixel (112 / 24 / 2 = 2.3 px).
        self.assertLess(worst, 2.0, f"worst shift {worst} px")

    def test_h264_codes_each_face_in_place(self):
        """Faces come back from the H.264 mosaic where they were put, less exact the higher the
        CRF (a face taken from the wrong cell would read about 10 dB)."""
        import cv2
        import train_student as ts
        rng = np.random.default_rng(5)
        yy, xx = np.mgrid[0:20, 0:20]
        faces = [np.dstack([(127 + 100 * np.sin(xx / (2 + n) + yy / 3))] * 3).astype(np.uint8)
                 for n in range(9)]
        fine = ts.h264_round_trip(faces, 10, rng)
        coarse = ts.h264_round_trip(faces, 45, rng)
        for f, a, b in zip(faces, fine, coarse):
            self.assertEqual(a.shape, f.shape)
            self.assertGreater(cv2.PSNR(a, f), 30)
            self.assertLess(cv2.PSNR(b, f), cv2.PSNR(a, f))

    def test_sizes_and_types(self):
        import train_student as ts
        rng = np.random.default_rng(0)
        face = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
        for size in (12, 16, 40):
            out = ts.native_degrade(face, size, rng, 1.0)
            self.assertEqual(out.shape, (112, 112, 3))
            self.assertEqual(out.dtype, np.uint8)


class _Pointwise(__import__("torch").nn.Module):
    """The shape of the OpenCV-ready EdgeFace's 1x1 conv that the adapters update."""

    def __init__(self, out_c, in_c, seed):
        import torch
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.n = 1
        self.register_buffer("w0", torch.randn(out_c, in_c, 1, 1, generator=g))
        self.register_buffer("b0", torch.randn(out_c, generator=g))

    def forward(self, x):
        import torch.nn.functional as F
        return F.conv2d(x, self.w0, self.b0)


class FullUpdate(unittest.TestCase):
    """A full fine-tune of the pointwise layers (train_student.py --rank 0) exports in the
    adapters' format, and folding that export gives the network it trained."""

    def test_export_folds_to_the_trained_network(self):
        import torch
        import dsr_model
        net = torch.nn.Sequential(_Pointwise(6, 4, 0), torch.nn.PReLU(), _Pointwise(3, 6, 1))
        up = dsr_model.make_update(net, 0)
        self.assertIsInstance(up, dsr_model.FullUpdate)
        self.assertEqual(sum(p.numel() for p in up.parameters()), 6 * 4 + 3 * 6)
        x = torch.randn(2, 4, 5, 5)
        before = net(x)
        detach = up.attach()
        self.assertTrue(torch.allclose(net(x), before))  # D starts at zero: the teacher
        with torch.no_grad():
            for p in up.parameters():
                p.normal_()
        trained = net(x)
        detach()
        self.assertFalse(torch.allclose(trained, before, atol=1e-3))
        self.assertTrue(torch.allclose(net(x), before))  # detached: the frozen network again
        arrays = dsr_model.adapter_arrays(up)
        deltas = {n: torch.from_numpy(arrays[f"{n}:B"]) @ torch.from_numpy(arrays[f"{n}:A"])
                  for n in up.names}
        self.assertEqual(dsr_model.apply_adapter(net, deltas), 2)
        self.assertTrue(torch.allclose(net(x), trained, atol=1e-5))

    def test_a_rank_gives_a_low_rank_adapter(self):
        import torch
        import dsr_model
        net = torch.nn.Sequential(_Pointwise(6, 4, 0))
        up = dsr_model.make_update(net, 2)
        self.assertIsInstance(up, dsr_model.LoRA)
        self.assertEqual(sum(p.numel() for p in up.parameters()), 2 * 4 + 6 * 2)


class FeatureTerm(unittest.TestCase):
    """The feature-map term of train_student.py --w-feat: taps on the stages' last blocks and
    the two distances between the student's maps and the teacher's."""

    def test_taps_take_each_stage_once(self):
        import torch
        import train_student as ts
        net = torch.nn.Module()
        net.stages = torch.nn.ModuleList(
            [torch.nn.ModuleDict({"blocks": torch.nn.ModuleList([torch.nn.Identity(),
                                                                 torch.nn.Tanh()])})
             for _ in range(3)])
        taps = ts.StageTaps(net, (0, 2))
        x = torch.randn(2, 4, 3, 3)
        for mods in net.stages:
            y = x
            for b in mods["blocks"]:
                y = b(y)
        got = taps.take()
        self.assertEqual(sorted(got), [0, 2])
        self.assertTrue(torch.equal(got[0], torch.tanh(x)))
        self.assertEqual(taps.take(), {})  # taken: the next pass starts empty
        taps.close()
        net.stages[0]["blocks"][-1](x)
        self.assertEqual(taps.take(), {})  # closed: no hook left behind
        with self.assertRaises(ts.common.ToolError):
            ts.StageTaps(net, (3,))

    def test_distances(self):
        import torch
        import train_student as ts
        g = torch.Generator().manual_seed(0)
        t = {0: torch.rand(4, 8, 5, 5, generator=g), 1: torch.rand(4, 6, 3, 3, generator=g)}
        for kind in ("cos", "at"):
            same = ts.feature_loss({k: 2 * v for k, v in t.items()}, t, kind)
            self.assertLess(float(same), 1e-6, kind)  # scale-free: only the pattern counts
            other = ts.feature_loss({k: torch.rand(v.shape, generator=g) for k, v in t.items()},
                                    t, kind)
            self.assertGreater(float(other), 1e-3, kind)
        # Attention transfer sees where, not what: a channel shuffle changes nothing for it.
        shuffled = {k: v[:, torch.randperm(v.shape[1], generator=g)] for k, v in t.items()}
        self.assertLess(float(ts.feature_loss(shuffled, t, "at")), 1e-6)
        self.assertGreater(float(ts.feature_loss(shuffled, t, "cos")), 1e-3)


class TrainingSubset(unittest.TestCase):
    def test_a_fixed_share_per_seed(self):
        import train_student as ts
        a = ts.training_subset(1000, 0.5, 0)
        self.assertEqual(len(a), 500)
        self.assertEqual(len(set(a.tolist())), 500)
        self.assertTrue((a[1:] > a[:-1]).all() and a[0] >= 0 and a[-1] < 1000)
        self.assertTrue((ts.training_subset(1000, 0.5, 0) == a).all())  # resumable: same share
        self.assertFalse((ts.training_subset(1000, 0.5, 1) == a).all())
        self.assertEqual(len(ts.training_subset(1000, 1.0, 0)), 1000)
        for bad in (0.0, -0.5, 1.5):
            with self.assertRaises(ts.common.ToolError):
                ts.training_subset(1000, bad, 0)


if __name__ == "__main__":
    unittest.main()
