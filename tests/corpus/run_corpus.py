#!/usr/bin/python3
"""Runs the bad-input corpus (tests/corpus/cases.txt) against the real vlrface binary.

Usage: run_corpus.py --cli VLRFACE --work DIR [--needs none|models|all] [--models DIR] [-k TEXT]

make_corpus.py writes the inputs into DIR/corpus; each case then runs the CLI (or sends a request
to a real `vlrface serve` on a free loopback port) and checks what cases.txt says it must give:
the exit status or HTTP status, a message naming what is wrong, and that nothing that should not
change changed. Exit status: 0 all passed, 1 a case failed, 77 skipped (models, ffmpeg or data
missing, and VLRFACE_REQUIRE_MODELS unset).
"""
import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from corpus_http import Server, flood, raw_request, request, slowloris  # noqa: E402


class Case:
    def __init__(self, line_no, fields):
        self.line = line_no
        self.id, self.needs, self.action, self.expect, self.message, self.keep = fields
        self.needs = self.needs.split(",") if self.needs != "-" else []
        self.keep = self.keep.split() if self.keep != "-" else []


def read_cases(path):
    cases = []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.rstrip("\n").split(" | ")]
        if len(fields) != 6:
            sys.exit(f"{path}:{n}: expected 6 fields separated by ' | ', got {len(fields)}")
        cases.append(Case(n, fields))
    ids = [c.id for c in cases]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        sys.exit(f"{path}: duplicate case ids: {sorted(dup)}")
    return cases


def expand(text, ctx):
    """{c} corpus, {w} the case's work folder, {g} its gallery, {m} models; {a*N} N times 'a';
    \\xNN a byte (control characters in names)."""
    text = re.sub(r"\{(.)\*(\d+)\}", lambda m: m.group(1) * int(m.group(2)), text)
    for k, v in ctx.items():
        text = text.replace("{" + k + "}", v)
    # Bytes from 0x80 on as surrogate escapes: the OS then gets that byte, not its UTF-8 form.
    return re.sub(r"\\x([0-9a-fA-F]{2})",
                  lambda m: chr(int(m.group(1), 16) + (0xDC00 if int(m.group(1), 16) >= 0x80 else 0)),
                  text)


def fingerprint(path):
    """What must stay as it was: the kind of thing at the path, a link's target, the bytes."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return ("missing",)
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        full = os.path.join(os.path.dirname(path), target)
        return ("link", target, fingerprint(full))
    if stat.S_ISREG(st.st_mode):
        return ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(open(path, "rb").read()).hexdigest())
    return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))


class Runner:
    def __init__(self, a):
        self.a = a
        self.cli = os.path.abspath(a.cli)
        self.work = os.path.abspath(a.work)
        self.corpus = os.path.join(self.work, "corpus")
        self.models = a.models
        self.servers = {}
        self.failures = []
        self.env = dict(os.environ)
        # Nothing of the user's: no default gallery, token or config outside the work folder.
        self.env["HOME"] = os.path.join(self.work, "home")
        self.env["XDG_CONFIG_HOME"] = os.path.join(self.work, "home", ".config")
        self.env["XDG_DATA_HOME"] = os.path.join(self.work, "home", ".local", "share")
        self.env.pop("VLRFACE_GALLERY", None)
        if self.models:
            self.env["VLRFACE_MODELS"] = self.models
        os.makedirs(self.env["HOME"], exist_ok=True)

    # --- checks ------------------------------------------------------------------------------

    def gallery_state(self, gallery):
        fp = fingerprint(gallery)
        r = subprocess.run([self.cli, "--gallery", gallery, "gallery", "list", "--json"],
                           capture_output=True, text=True, env=self.env, timeout=60)
        return fp, r.returncode, r.stdout

    def snapshot(self, case, ctx, server):
        snap = {}
        for k in case.keep:
            if k == "gallery":
                snap[k] = self.gallery_state(server.gallery if server else ctx["g"])
                if server:
                    snap["people"] = request(server.port, "GET", "/api/people?limit=1000").body
            elif k.startswith("path:"):
                snap[k] = fingerprint(expand(k[5:], ctx))
            elif k.startswith("hwm+"):
                snap[k] = server.status_kb("VmHWM")
        return snap

    def verify_after(self, case, ctx, server, before, result, fail):
        for k in case.keep:
            if k == "gallery":
                after = self.gallery_state(server.gallery if server else ctx["g"])
                if after != before[k]:
                    fail(f"the gallery changed: {before[k][0]} -> {after[0]}; list "
                         f"{before[k][2][:200]!r} -> {after[2][:200]!r}")
                if server:
                    # Changes made through the server also show in what it serves.
                    people = request(server.port, "GET", "/api/people?limit=1000").body
                    if people != before["people"]:
                        fail(f"GET /api/people changed: {before['people'][:200]!r} -> "
                             f"{people[:200]!r}")
            elif k.startswith("path:"):
                after = fingerprint(expand(k[5:], ctx))
                if after != before[k]:
                    fail(f"{k[5:]} changed: {before[k]} -> {after}")
            elif k.startswith("hwm+"):
                limit_mb = float(k[4:])
                grew = (server.status_kb("VmHWM") - before[k]) / 1024
                result.setdefault("measured", []).append(f"peak RSS +{grew:.1f} MB")
                if grew > limit_mb:
                    fail(f"the server's peak RSS grew by {grew:.1f} MB (limit {limit_mb} MB)")
            elif k.startswith("maxrss<="):
                limit_mb = float(k[8:])
                if result.get("maxrss_mb", 0) > limit_mb:
                    fail(f"peak RSS {result['maxrss_mb']:.0f} MB, limit {limit_mb} MB")
            elif k.startswith("within<="):
                if result.get("seconds", 1e9) > float(k[8:]):
                    fail(f"took {result['seconds']:.1f} s, limit {k[8:]} s")
            elif k == "health":
                r = request(server.port, "GET", "/api/health", timeout=10)
                if r.status != 200:
                    fail(f"/api/health answered {r.status} afterwards: {r.body[:200]!r}")
            elif k.startswith("served-lacks:"):
                self.check_served_lacks(server, expand(k[13:], ctx), fail)
            elif k.startswith("served-has:"):
                self.check_served_has(server, expand(k[11:], ctx), fail)
            elif k != "gallery":
                fail(f"unknown check '{k}' in cases.txt")

    def check_served_lacks(self, server, name, fail):
        """Removed by another process: the server stops listing and recognising the name."""
        deadline = time.monotonic() + 5
        while True:
            people = json.loads(request(server.port, "GET", "/api/people?limit=1000").body)
            names = [p["name"] for p in people["people"]]
            if name not in names:
                return
            if time.monotonic() > deadline:
                return fail(f"GET /api/people still lists '{name}' 5 s after its removal")
            time.sleep(0.2)

    def check_served_has(self, server, name, fail):
        deadline = time.monotonic() + 5
        while True:
            people = json.loads(request(server.port, "GET", "/api/people?limit=1000").body)
            if name in [p["name"] for p in people["people"]]:
                return
            if time.monotonic() > deadline:
                return fail(f"GET /api/people does not list '{name}' 5 s after its enrolment")
            time.sleep(0.2)

    # --- actions -----------------------------------------------------------------------------

    def server(self, name):
        if name not in self.servers:
            self.servers[name] = Server(self, name)
        s = self.servers[name]
        s.ensure_running()
        return s

    def run_cli(self, args, ctx, timeout=120):
        """Runs the CLI; its own peak RSS comes from wait4 (ru_maxrss), not the runner's."""
        t0 = time.monotonic()
        out_path, err_path = os.path.join(ctx["w"], "stdout"), os.path.join(ctx["w"], "stderr")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            p = subprocess.Popen([self.cli, *args], stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                 env=self.env, cwd=ctx["w"])
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                p.kill()
                os.wait4(p.pid, 0)
                status, usage = None, None
                break
            time.sleep(0.02)
        p.returncode = 0  # reaped above: keep Popen from waiting again
        text = (open(out_path, "rb").read() + open(err_path, "rb").read()).decode(errors="replace")
        if status is None:
            return {"code": "timeout", "text": text, "seconds": timeout}
        return {"code": os.waitstatus_to_exitcode(status), "text": text,
                "seconds": time.monotonic() - t0, "maxrss_mb": usage.ru_maxrss / 1024}

    def act(self, case, ctx):
        words = shlex.split(case.action)
        kind = words[0]
        server = None
        if "@" in kind:
            kind, sname = kind.split("@", 1)
            server = self.server(sname)
            ctx["g"] = server.gallery
        elif kind in ("http", "raw", "flood", "slowloris", "cli-served"):
            server = self.server("plain")
            ctx["g"] = server.gallery
        args = [expand(w, ctx) for w in words[1:]]  # {g}: the served gallery where one serves
        before = self.snapshot(case, ctx, server)
        if kind in ("cli", "cli-served"):
            result = self.run_cli(args, ctx)
        elif kind == "http":
            result = request_from_args(server.port, args)
        elif kind == "raw":
            data = open(args[0], "rb").read()
            result = raw_request(server.port, data)
        elif kind == "flood":
            result = flood(server.port, float(args[0]))
        elif kind == "slowloris":
            result = slowloris(server.port, int(args[0]), float(args[1]))
        else:
            sys.exit(f"cases.txt:{case.line}: unknown action '{kind}'")
        return server, before, result

    def run_case(self, case):
        w = os.path.join(self.work, "cases", case.id)
        shutil.rmtree(w, ignore_errors=True)
        os.makedirs(w)
        ctx = {"c": self.corpus, "w": w, "m": self.models or "", "g": os.path.join(w, "g.vlrg")}
        shutil.copyfile(os.path.join(self.corpus, "galleries", "base.vlrg"), ctx["g"])
        os.chmod(ctx["g"], 0o600)
        problems = []
        server, before, result = self.act(case, ctx)
        with open(os.path.join(w, "result.txt"), "w") as f:  # what came back, for a look later
            f.write(f"{result.get('code', result.get('status'))}\n{result.get('text', '')}\n")
        fail = problems.append
        kind, _, want = case.expect.partition(" ")
        got = result["code"] if kind == "exit" else result.get("status")
        if str(got) not in want.split(","):
            fail(f"{kind} {got}, expected {want}")
        if case.message != "-":
            msg = expand(case.message, ctx)
            text = result.get("text", "")
            if msg not in text:
                fail(f"message {msg!r} not in {text[-400:]!r}")
        if server and not server.alive():
            fail(f"the server died: {server.log_tail()}")
        elif server and server.name == "plain" and "health" not in case.keep:
            # Every request case: the server still answers afterwards.
            r = request(server.port, "GET", "/api/health", timeout=10)
            if r.status != 200:
                fail(f"/api/health answered {r.status} afterwards: {r.body[:200]!r}")
        self.verify_after(case, ctx, server, before, result, fail)
        return problems, result

    def main(self, cases):
        n = 0
        for case in cases:
            t0 = time.monotonic()
            try:
                problems, result = self.run_case(case)
            except Exception as e:  # a crash of the runner is a failed case, not a stop
                problems, result = [f"runner error: {type(e).__name__}: {e}"], {}
            n += 1
            took = time.monotonic() - t0
            if problems:
                self.failures.append(case.id)
                print(f"FAIL {case.id} (cases.txt:{case.line}, {took:.1f} s)")
                for p in problems:
                    print(f"     {p}")
            else:
                print(f"ok   {case.id} ({took:.1f} s): {case.expect}"
                      + (f", '{case.message}'" if case.message != "-" else "")
                      + "".join(f"; {m}" for m in result.get("measured", [])))
            sys.stdout.flush()
        for s in self.servers.values():
            s.stop()
        print(f"{n - len(self.failures)} of {n} cases passed")
        return 1 if self.failures else 0


def request_from_args(port, args):
    """http METHOD TARGET [-H 'Name: value']... [-d TEXT | --data-file FILE | -F name=value |
    -F field=@file]..."""
    method, target = args[0], args[1]
    headers = {}
    body = None
    fields = []
    i = 2
    while i < len(args):
        opt, val = args[i], args[i + 1]
        if opt == "-H":
            k, v = val.split(":", 1)
            headers[k.strip()] = v.strip()
        elif opt == "-d":
            body = val.encode()
        elif opt == "--data-file":
            body = open(val, "rb").read()
        elif opt == "-F":
            fields.append(val)
        else:
            raise ValueError(f"unknown http option {opt}")
        i += 2
    if fields:
        boundary = "corpusboundary7f3a"
        parts = []
        for f in fields:
            name, value = f.split("=", 1)
            if value.startswith("@"):
                fname = value[1:]
                data = open(fname, "rb").read() if os.path.isfile(fname) else b""
                parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                              f'filename="{os.path.basename(fname)}"\r\nContent-Type: '
                              f'application/octet-stream\r\n\r\n').encode() + data + b"\r\n")
            else:
                parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                              f'\r\n\r\n{value}\r\n').encode("utf-8", "surrogateescape"))
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers.setdefault("Content-Type", f"multipart/form-data; boundary={boundary}")
    r = request(port, method, target, body=body, headers=headers)
    return {"status": r.status, "text": r.body.decode(errors="replace") if isinstance(r.body, bytes)
            else r.body}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cases", default=os.path.join(HERE, "cases.txt"))
    ap.add_argument("--needs", choices=["none", "models", "all"], default="all",
                    help="none: only the cases that need no model; models: only those that do")
    ap.add_argument("--models", default=os.environ.get("VLRFACE_MODELS") or
                    os.environ.get("VLRFACE_BUILD_MODELS"))
    ap.add_argument("-k", help="only the cases whose id contains this")
    a = ap.parse_args()
    required = os.environ.get("VLRFACE_REQUIRE_MODELS", "0") not in ("", "0")
    cases = read_cases(a.cases)
    if a.needs == "none":
        cases = [c for c in cases if not c.needs]
    elif a.needs == "models":
        cases = [c for c in cases if c.needs]
    if a.k:
        cases = [c for c in cases if a.k in c.id]
    if any(c.needs for c in cases):
        missing = None
        if not a.models or not os.path.isfile(os.path.join(a.models, "edgeface_xxs.json")):
            missing = f"models not prepared in {a.models} (scripts/setup.sh or VLRFACE_MODELS)"
        elif shutil.which("ffmpeg") is None:
            missing = "ffmpeg not installed (the served camera is a video file)"
        if missing:
            print(f"SKIP: {missing}")
            if required:
                print("FAIL: VLRFACE_REQUIRE_MODELS is set")
                return 1
            return 77
    else:
        a.models = None
    os.makedirs(a.work, exist_ok=True)
    gen = [sys.executable, os.path.join(HERE, "make_corpus.py"), os.path.join(a.work, "corpus"),
           "--cli", a.cli] + (["--models", a.models] if a.models else [])
    t0 = time.monotonic()
    subprocess.run(gen, check=True)
    print(f"corpus written in {time.monotonic() - t0:.1f} s; {len(cases)} cases")
    return Runner(a).main(cases)


if __name__ == "__main__":
    sys.exit(main())
