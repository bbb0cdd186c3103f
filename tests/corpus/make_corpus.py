#!/usr/bin/python3
"""Writes the bad-input corpus (issue #12, item 5) that tests/corpus/cases.txt runs.

Usage: make_corpus.py OUT --cli VLRFACE [--models DIR] [--data DIR]

Everything is generated, deterministically (fixed seeds), from nothing but the vlrface binary:
  images/    unreadable or hostile images: empty, garbage, truncated, a JPEG claiming 65000 px a
             side, decompression bombs (16-bit RGBA 4096x4096 PNG in ~134 KB, 8000x8000 16-bit
             RGB), a text file named .png, a directory named .jpg, and one plain 112x112 face
  export/    a valid `gallery export` of 3 synthetic people (random unit embeddings, drawn faces;
             model edgeface_xxs) and broken variants of it (bad JSON, truncated, wrong types,
             bad base64, 64x64 faces, duplicate or invalid names, another model, version 99)
  galleries/ base.vlrg (that export imported with `vlrface gallery import`, so no model is
             needed) and damaged copies: empty, garbage, truncated, 2,000 random bytes written
             inside, schema version 99, another model's, another application's SQLite file,
             a directory
  targets/   what `gallery export` must not replace: a symlink (and its target), a FIFO, a
             directory, a file behind a missing folder
  http/      raw requests that a client library would not send: chunked bodies in any case,
             huge or duplicate Content-Length, a 64 KB header, a 100 KB URI,
             a request line of garbage, a NUL in the path
  models/    (with --models) model folders of symlinks to the real files with one thing broken:
             wrong sha256, truncated ONNX (sha256 matching), garbage ONNX, missing file, bad JSON,
             a manifest without "file"
  video/     (with --models) camera.avi: the face of images/ in a grey 640x480 frame, MJPEG
  token-ok, token-open: a valid access token file (0600) and one readable by others (0644)
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np

MODEL_ID = "edgeface_xxs/46be7cc7"  # the default embedder's id: the served gallery uses it
OTHER_MODEL_ID = "edgeface_xs/a3131437"
DIM = 512


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def drawn_face(seed, size=112):
    """A face-like drawing (not a person): enough for a valid 112x112 gallery JPEG."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 90 + int(rng.integers(0, 60)), np.uint8)
    c = size // 2
    cv2.ellipse(img, (c, c + 4), (size // 3, size // 2 - 8), 0, 0, 360,
                tuple(int(v) for v in rng.integers(120, 220, 3)), -1)
    for dx in (-size // 7, size // 7):
        cv2.circle(img, (c + dx, c - size // 10), size // 18, (30, 30, 30), -1)
    cv2.ellipse(img, (c, c + size // 5), (size // 8, size // 20), 0, 0, 180, (40, 40, 120), 2)
    return img


def jpeg(img, quality=90):
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width, height, colour_type, depth=16):
    """A PNG of zeros: tiny on disk, width*height*channels*2 bytes once decoded."""
    channels = {2: 3, 6: 4}[colour_type]
    # Every row is a 0 filter byte and zero pixels: the whole stream is zeros, fed in blocks.
    left = height * (1 + width * channels * depth // 8)
    z = zlib.compressobj(9)
    parts = []
    block = b"\0" * (1 << 22)
    while left > 0:
        parts.append(z.compress(block[:min(left, len(block))]))
        left -= len(block)
    body = b"".join(parts) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", body) +
            png_chunk(b"IEND", b""))


def jpeg_claiming(jpg, width, height):
    """The same JPEG with its frame header (SOF0) saying width x height."""
    b = bytearray(jpg)
    i = b.index(b"\xff\xc0")
    struct.pack_into(">HH", b, i + 5, height, width)
    return bytes(b)


def make_images(out):
    d = os.path.join(out, "images")
    face = drawn_face(1)
    good = jpeg(face)
    write(f"{d}/face.jpg", good)
    write(f"{d}/zero.jpg", b"")
    write(f"{d}/blank.jpg", jpeg(np.full((240, 320, 3), 128, np.uint8)))  # no face in it
    write(f"{d}/garbage.jpg", np.random.default_rng(2).bytes(4096))
    write(f"{d}/truncated.jpg", good[: len(good) // 2])
    write(f"{d}/huge-dims.jpg", jpeg_claiming(good, 65000, 65000))
    write(f"{d}/bomb-4096-rgba16.png", png_bomb(4096, 4096, 6))
    write(f"{d}/bomb-8000-rgb16.png", png_bomb(8000, 8000, 2))
    write(f"{d}/text.png", "this is not an image\n")
    ok, png = cv2.imencode(".png", face)
    png = png.tobytes()
    write(f"{d}/png-truncated.png", png[: len(png) // 3])
    os.makedirs(f"{d}/folder.jpg", exist_ok=True)


def export_doc(seed, model_id, names=("Ada Lovelace", "Bo", "Zoë"), faces=2, size=112):
    rng = np.random.default_rng(seed)
    people = []
    for k, name in enumerate(names):
        embs = []
        fs = []
        for j in range(faces):
            e = rng.standard_normal(DIM)
            e /= np.linalg.norm(e)
            embs.append(e)
            fs.append({"source": f"drawn-{k}-{j}.jpg", "embedding": [float(v) for v in e],
                       "image_jpeg_base64": base64.b64encode(
                           jpeg(drawn_face(100 * seed + 10 * k + j, size))).decode()})
        t = np.mean(embs, axis=0)
        t /= np.linalg.norm(t)
        people.append({"name": name, "template": [float(v) for v in t], "faces": fs})
    return {"format": "vlrface-gallery-export", "version": 1, "people": people,
            "model_id": model_id}


def make_exports(out):
    d = os.path.join(out, "export")
    good = export_doc(3, MODEL_ID)
    text = json.dumps(good)
    write(f"{d}/people.json", text)
    write(f"{d}/empty.json", b"")
    write(f"{d}/garbage.json", np.random.default_rng(4).bytes(2000))
    write(f"{d}/not-json.json", "{\"format\": \"vlrface-gallery-export\", people: [}")
    write(f"{d}/truncated.json", text[: len(text) // 2])
    other = export_doc(5, OTHER_MODEL_ID, names=("Other One",))
    write(f"{d}/other-model.json", json.dumps(other))
    v99 = dict(good, version=99)
    write(f"{d}/version99.json", json.dumps(v99))
    bad = json.loads(text)
    bad["people"][0]["faces"][0]["embedding"] = ["0.1"] * DIM
    write(f"{d}/string-embedding.json", json.dumps(bad))
    bad = json.loads(text)
    bad["people"][1]["faces"][0]["image_jpeg_base64"] = "!!!not base64!!!"
    write(f"{d}/bad-base64.json", json.dumps(bad))
    small = export_doc(6, MODEL_ID, names=("Small Face",), faces=1, size=64)
    write(f"{d}/small-face.json", json.dumps(small))
    bad = json.loads(text)
    bad["people"][1]["name"] = bad["people"][0]["name"]
    write(f"{d}/duplicate-name.json", json.dumps(bad))
    bad = json.loads(text)
    bad["people"][2]["name"] = "../../etc/passwd"
    write(f"{d}/traversal-name.json", json.dumps(bad))
    bad = json.loads(text)
    bad["people"][0]["faces"][0]["embedding"] = bad["people"][0]["faces"][0]["embedding"][:100]
    write(f"{d}/short-embedding.json", json.dumps(bad))
    write(f"{d}/no-people.json", json.dumps({"format": "vlrface-gallery-export", "version": 1,
                                             "model_id": MODEL_ID}))
    write(f"{d}/newcomer.json", json.dumps(export_doc(10, MODEL_ID, names=("Newcomer",))))
    write(f"{d}/deep.json", "[" * 100000 + "]" * 100000)


def run_cli(cli, *args, env=None):
    r = subprocess.run([cli, *args], capture_output=True, text=True, env=env, timeout=120)
    if r.returncode != 0:
        sys.exit(f"make_corpus: {cli} {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def make_galleries(out, cli):
    d = os.path.join(out, "galleries")
    os.makedirs(d, exist_ok=True)
    base = f"{d}/base.vlrg"
    if os.path.exists(base):
        os.remove(base)
    run_cli(cli, "-q", "--gallery", base, "gallery", "import", f"{out}/export/people.json")
    data = open(base, "rb").read()
    write(f"{d}/empty.vlrg", b"", 0o600)
    write(f"{d}/garbage.vlrg", np.random.default_rng(7).bytes(len(data)), 0o600)
    write(f"{d}/truncated.vlrg", data[: len(data) // 2], 0o600)
    # The "silent corruption": 2,000 random bytes written inside a valid gallery.
    b = bytearray(data)
    at = len(b) // 3
    b[at:at + 2000] = np.random.default_rng(8).bytes(2000)
    write(f"{d}/overwritten.vlrg", bytes(b), 0o600)

    def edited(name, sql):
        p = f"{d}/{name}"
        shutil.copyfile(base, p)
        os.chmod(p, 0o600)
        con = sqlite3.connect(p)
        con.executescript(sql)
        con.commit()
        con.close()

    edited("schema99.vlrg", "UPDATE meta SET value = '99' WHERE key = 'schema_version';")
    edited("other-model.vlrg",
           f"UPDATE meta SET value = '{OTHER_MODEL_ID}' WHERE key = 'model_id';")
    p = f"{d}/foreign.sqlite"
    if os.path.exists(p):
        os.remove(p)
    con = sqlite3.connect(p)
    con.executescript("CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT);"
                      "INSERT INTO notes(text) VALUES ('someone else''s database');")
    con.commit()
    con.close()
    os.chmod(p, 0o600)
    os.makedirs(f"{d}/folder.vlrg", exist_ok=True)


def make_targets(out):
    d = os.path.join(out, "targets")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    write(f"{d}/precious.txt", "the symlink's target: must stay as it is\n")
    os.symlink("precious.txt", f"{d}/link.json")
    os.mkfifo(f"{d}/fifo.json")
    os.makedirs(f"{d}/folder.json")
    write(f"{d}/existing-backup.vlrg", "an existing file that a backup must not replace\n")


def http_raw(out):
    d = os.path.join(out, "http")
    h = "Host: 127.0.0.1\r\n"
    jpg = open(os.path.join(out, "images", "face.jpg"), "rb").read()
    req = {
        "chunked-capital": ("POST /api/identify HTTP/1.1\r\n" + h +
                            "Content-Type: image/jpeg\r\nTransfer-Encoding: Chunked\r\n\r\n"
                            ).encode() + b"".join(b"%x\r\n" % 4096 + b"A" * 4096 + b"\r\n"
                                                  for _ in range(64)),
        "chunked-lower": ("POST /api/people HTTP/1.1\r\n" + h + "Content-Type: application/json"
                          "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n"),
        "chunked-gzip": ("POST /api/identify HTTP/1.1\r\n" + h +
                         "Content-Type: image/jpeg\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n"
                         "0\r\n\r\n"),
        "length-and-chunked": ("POST /api/identify HTTP/1.1\r\n" + h + "Content-Type: image/jpeg"
                               "\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "0\r\n\r\n"),
        "length-huge": ("POST /api/identify HTTP/1.1\r\n" + h + "Content-Type: image/jpeg\r\n"
                        "Content-Length: 99999999999\r\n\r\n").encode() + jpg,
        "length-negative": ("POST /api/identify HTTP/1.1\r\n" + h + "Content-Type: image/jpeg"
                            "\r\nContent-Length: -1\r\n\r\n").encode() + jpg,
        "length-twice": ("POST /api/identify HTTP/1.1\r\n" + h + "Content-Type: image/jpeg\r\n"
                         f"Content-Length: {len(jpg)}\r\nContent-Length: 99999999999\r\n\r\n"
                         ).encode() + jpg,
        "header-64k": ("GET /api/health HTTP/1.1\r\n" + h + "X-Big: " + "a" * 65536 +
                       "\r\n\r\n"),
        "uri-100k": "GET /api/people?q=" + "a" * 100000 + " HTTP/1.1\r\n" + h + "\r\n",
        "garbage-line": "\x16\x03\x01 hello there\r\n\r\n",
        "nul-in-path": "GET /api/people/a\0b HTTP/1.1\r\n" + h + "\r\n",
        "host-rebind-127": "GET /api/people HTTP/1.1\r\nHost: 127.evil.example\r\n\r\n",
        "host-rebind-full": "GET /api/people HTTP/1.1\r\nHost: 127.0.0.1.evil.example:8080\r\n\r\n",
        "host-rebind-localhost": "GET /api/people HTTP/1.1\r\nHost: localhost.evil.example\r\n\r\n",
        "host-rebind-delete": ("DELETE /api/people/Bo HTTP/1.1\r\nHost: 127.1.evil.example\r\n"
                               "Origin: http://127.1.evil.example\r\n\r\n"),
    }
    for name, data in req.items():
        write(f"{d}/{name}.req", data if isinstance(data, bytes) else data.encode("latin-1"))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_models(out, models):
    """Model folders: symlinks to the real files, with one thing broken in each."""
    root = os.path.join(out, "models")
    shutil.rmtree(root, ignore_errors=True)
    name = "edgeface_xxs"
    manifest = json.load(open(os.path.join(models, f"{name}.json")))
    onnx = open(os.path.join(models, manifest["file"]), "rb").read()

    def folder(variant, manifest_text=None, onnx_bytes=None, drop_onnx=False):
        d = os.path.join(root, variant)
        os.makedirs(d)
        for f in os.listdir(models):
            src = os.path.join(models, f)
            if os.path.isfile(src):
                os.symlink(os.path.abspath(src), os.path.join(d, f))
        if manifest_text is not None:
            os.remove(f"{d}/{name}.json")
            write(f"{d}/{name}.json", manifest_text)
        if drop_onnx or onnx_bytes is not None:
            os.remove(f"{d}/{manifest['file']}")
        if onnx_bytes is not None:
            write(f"{d}/{manifest['file']}", onnx_bytes)

    folder("wrong-sha", json.dumps(dict(manifest, sha256="0" * 64)))
    cut = onnx[: len(onnx) // 3]
    folder("truncated-onnx", json.dumps(dict(manifest, sha256=hashlib.sha256(cut).hexdigest())),
           cut)
    junk = np.random.default_rng(9).bytes(200000)
    folder("garbage-onnx", json.dumps(dict(manifest, sha256=hashlib.sha256(junk).hexdigest())),
           junk)
    folder("missing-onnx", drop_onnx=True)
    folder("bad-json", "{\"name\": \"edgeface_xxs\", \"kind\": ")
    folder("no-file-field", json.dumps({k: v for k, v in manifest.items() if k != "file"}))
    folder("threshold-string", json.dumps(dict(manifest, threshold="high")))


def make_video(out):
    """10 s of the drawn face in a grey 640x480 frame; the served camera."""
    d = os.path.join(out, "video")
    os.makedirs(d, exist_ok=True)
    path = f"{d}/camera.avi"
    if os.path.exists(path):
        return
    w = cv2.VideoWriter(path + ".tmp.avi", cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    face = cv2.resize(drawn_face(1), (240, 240))
    for i in range(100):
        frame = np.full((480, 640, 3), 90, np.uint8)
        x = 160 + (i % 20)
        frame[120:360, x:x + 240] = face
        w.write(frame)
    w.release()
    os.rename(path + ".tmp.avi", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--cli", required=True, help="the vlrface binary (imports the base gallery)")
    ap.add_argument("--models", help="prepared models: also write the broken model folders")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    make_images(a.out)
    make_exports(a.out)
    make_galleries(a.out, a.cli)
    make_targets(a.out)
    http_raw(a.out)
    write(os.path.join(a.out, "token-ok"), "ab" * 32 + "\n", 0o600)
    write(os.path.join(a.out, "token-open"), "cd" * 32 + "\n", 0o644)
    if a.models:
        make_models(a.out, a.models)
        make_video(a.out)


if __name__ == "__main__":
    main()
