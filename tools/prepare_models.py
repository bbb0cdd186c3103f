#!/usr/bin/python3
"""Prepares the model directory that vlrface reads: fetch, check, convert, write manifests.

For each manifest template in models/manifests/ the upstream file is taken from
$VLRFACE_MODEL_SOURCE (searched recursively by file name) when set, else downloaded from its
official URL into a cache; its sha256 must match the pinned one. EdgeFace checkpoints are
converted to OpenCV-4.6-ready ONNX (tools/convert_edgeface.py) and checked against PyTorch;
other models are copied. The prepared manifest adds the sha256 of the file actually written.

A stamp per model records the inputs (upstream sha256, template, converter sources): a second
run with the same inputs does no work.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "models" / "manifests"
CONVERTER_SOURCES = [ROOT / "tools" / f for f in (
    "convert_edgeface.py", "edgeface_arch.py", "edgeface_checkpoint.py", "edgeface_reference.py",
    "edgeface_opencv.py", "dsr_model.py")]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fail(msg: str) -> None:
    print(f"prepare_models: {msg}", file=sys.stderr)
    sys.exit(1)


def project_file(entry: dict) -> Path:
    """A file the project trained and committed (models/...), checked against its sha256."""
    path = ROOT / entry["file"]
    if not path.exists():
        fail(f"{path} is missing from this checkout (a project model; git status?)")
    got = sha256(path)
    if got != entry["sha256"]:
        fail(f"{path}: sha256 {got} differs from the manifest's {entry['sha256']}")
    return path


def obtain(upstream: dict, cache: Path) -> Path:
    """The verified upstream file, from $VLRFACE_MODEL_SOURCE or its official URL."""
    if upstream["convert"] == "project":
        return project_file(upstream)
    name, want = upstream["file"], upstream["sha256"]
    source = os.environ.get("VLRFACE_MODEL_SOURCE")
    if source:
        hits = sorted(Path(source).rglob(name))
        if not hits:
            fail(f"{name} not found under VLRFACE_MODEL_SOURCE={source}")
        path = hits[0]
    else:
        path = cache / name
        if not path.exists() or sha256(path) != want:
            cache.mkdir(parents=True, exist_ok=True)
            print(f"  downloading {upstream['url']}")
            tmp = path.with_suffix(path.suffix + ".part")
            try:
                with urllib.request.urlopen(upstream["url"], timeout=60) as r, open(tmp, "wb") as f:
                    shutil.copyfileobj(r, f)
            except OSError as e:
                fail(f"cannot download {upstream['url']} ({e}); put {name} in a folder and set "
                     "VLRFACE_MODEL_SOURCE to it")
            tmp.replace(path)
    got = sha256(path)
    if got != want:
        fail(f"{path}: sha256 {got} differs from the pinned {want}: refusing an unverified model")
    return path


def stamp_of(template: Path, upstream_sha: str, convert: str) -> str:
    h = hashlib.sha256()
    h.update(template.read_bytes())  # holds the adapter's sha256, when there is one
    h.update(upstream_sha.encode())
    if convert == "edgeface":
        for src in CONVERTER_SOURCES:
            h.update(src.read_bytes())
        h.update(os.environ.get("VLRFACE_DATA", "").encode())
    return h.hexdigest()


def prepare(template: Path, out_dir: Path, cache: Path) -> None:
    meta = json.loads(template.read_text())
    name, upstream = meta["name"], meta["upstream"]
    target = out_dir / meta["file"]
    manifest = out_dir / f"{name}.json"
    stamp_file = out_dir / f".{name}.stamp"
    stamp = stamp_of(template, upstream["sha256"], upstream["convert"])
    if (stamp_file.exists() and stamp_file.read_text() == stamp and target.exists()
            and manifest.exists() and json.loads(manifest.read_text())["sha256"] == sha256(target)):
        print(f"  {name}: up to date")
        return
    src = obtain(upstream, cache)
    if upstream["convert"] in ("copy", "project"):
        shutil.copyfile(src, target)
    elif upstream["convert"] == "edgeface":
        cmd = [sys.executable, str(ROOT / "tools" / "convert_edgeface.py"), str(src), "-o", str(target)]
        if "adapter" in meta:
            cmd += ["--adapter", str(project_file(meta["adapter"]))]
        data = os.environ.get("VLRFACE_DATA")
        if data and (Path(data) / "orl" / "landmarks.csv").exists():
            verify = out_dir / "verify" / name
            shutil.rmtree(verify, ignore_errors=True)
            cmd += ["--verify-data", str(Path(data) / "orl"), "--verify-out", str(verify)]
        print(f"  {name}: converting {src.name}")
        if subprocess.run(cmd).returncode != 0:
            target.unlink(missing_ok=True)
            fail(f"conversion of {src} failed (see above)")
    else:
        fail(f"{template}: unknown convert step {upstream['convert']!r}")
    meta["sha256"] = sha256(target)
    meta["upstream_sha256"] = upstream["sha256"]
    with tempfile.NamedTemporaryFile("w", dir=out_dir, delete=False, suffix=".tmp") as f:
        json.dump(meta, f, indent=2)
    os.replace(f.name, manifest)
    stamp_file.write_text(stamp)
    print(f"  {name}: ready ({target.name}, sha256 {meta['sha256'][:16]}...)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "share" / "vlrface" / "models",
                    help="model directory to write (default: %(default)s)")
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "model-cache",
                    help="where downloads are kept (default: %(default)s)")
    ap.add_argument("--only", nargs="*", help="model names to prepare (default: all)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    templates = sorted(TEMPLATES.glob("*.json"))
    if args.only:
        templates = [t for t in templates if t.stem in args.only]
    print(f"preparing models in {args.out}")
    for t in templates:
        prepare(t, args.out, args.cache)


if __name__ == "__main__":
    main()
