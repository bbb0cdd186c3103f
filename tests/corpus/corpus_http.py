"""HTTP for the corpus runner: a real `vlrface serve` on a free loopback port, and requests sent
over plain sockets (so that malformed ones go out exactly as written)."""
import os
import shutil
import socket
import subprocess
import time


class Reply:
    def __init__(self, status, body):
        self.status = status  # 0: the server closed the connection without an answer
        self.body = body


def read_reply(sock, timeout):
    """Reads one HTTP/1.1 response: status line, headers, Content-Length body."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/"):
            return Reply(0, data)
        status = int(head.split(b" ", 2)[1])
        length = None
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while length is not None and len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return Reply(status, body)
    except (ConnectionResetError, BrokenPipeError):
        return Reply(0, data)
    except socket.timeout:
        return Reply(-1, data)  # -1: no answer in time


def raw_request(port, data, timeout=30):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            pass  # refused part-way (e.g. 413 before the body): the answer may still be there
        r = read_reply(s, timeout)
    return {"status": r.status, "text": r.body.decode(errors="replace")}


def request(port, method, target, body=None, headers=None, timeout=30):
    h = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
    h.update(headers or {})
    if body is not None:
        h.setdefault("Content-Length", str(len(body)))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(head.encode("utf-8") + b"\r\n" + (body or b""))
        except (ConnectionResetError, BrokenPipeError):
            pass
        return read_reply(s, timeout)


def flood(port, megabytes, timeout=10):
    """A request head that never ends: header lines, as fast as the server takes them, until
    `megabytes` are sent or the server closes the connection."""
    line = b"X-Flood: " + b"v" * 100 + b"\r\n"
    block = line * 1000
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while sent < megabytes * 1024 * 1024:
                s.sendall(block)
                sent += len(block)
            s.sendall(b"\r\n")
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            pass
        r = read_reply(s, timeout)
    return {"status": r.status, "text": f"{sent / 1048576:.1f} MB of header lines sent"}


def slowloris(port, connections, seconds):
    """`connections` clients that send a header line every second and never finish their head;
    meanwhile an ordinary client asks for /api/health. The result is that request's status and
    how long it waited."""
    slow = []
    try:
        for i in range(connections):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(s)
        end = time.monotonic() + seconds
        while time.monotonic() < end:  # keep them trickling while the workers are taken
            for s in slow:
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass  # closed by the server: that is its defence
            time.sleep(1)
        t0 = time.monotonic()
        r = request(port, "GET", "/api/health", timeout=15)
        took = time.monotonic() - t0
        closed = 0
        for s in slow:
            try:
                s.sendall(b"X-Slow: 1\r\n")
                s.settimeout(0.2)
                if s.recv(1) == b"":
                    closed += 1
            except socket.timeout:
                pass
            except OSError:
                closed += 1
        return {"status": r.status, "text": f"answered in {took:.2f} s; {closed} of "
                f"{connections} slow connections closed by the server", "seconds": took}
    finally:
        for s in slow:
            s.close()


class Server:
    """A `vlrface serve` on its own copy of the corpus gallery, the corpus video as camera."""

    OPTIONS = {
        "plain": [],
        "token": ["--require-token", "--token-file", "{c}/token-ok"],
    }

    def __init__(self, runner, name):
        self.runner = runner
        self.name = name
        self.dir = os.path.join(runner.work, "servers", name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.gallery = os.path.join(self.dir, "served.vlrg")
        shutil.copyfile(os.path.join(runner.corpus, "galleries", "base.vlrg"), self.gallery)
        os.chmod(self.gallery, 0o600)
        self.proc = None
        self.port = None

    def ensure_running(self):
        if self.proc and self.proc.poll() is None:
            return
        c = self.runner.corpus
        opts = [o.replace("{c}", c) for o in self.OPTIONS[self.name]]
        self.out = open(os.path.join(self.dir, "stdout"), "wb")
        self.err_path = os.path.join(self.dir, "stderr")
        self.proc = subprocess.Popen(
            [self.runner.cli, "--gallery", self.gallery, "serve", "--camera",
             os.path.join(c, "video", "camera.avi"), "--loop", "--port", "0", *opts],
            stdout=subprocess.PIPE, stderr=open(self.err_path, "wb"), env=self.runner.env)
        line = self.proc.stdout.readline().decode()
        prefix = "vlrface serve: listening on http://127.0.0.1:"
        if not line.startswith(prefix):
            raise RuntimeError(f"serve ({self.name}) did not start: {line!r} {self.log_tail()}")
        self.port = int(line[len(prefix):].split("/")[0])
        headers = {"Authorization": "Bearer " + "ab" * 32} if self.name == "token" else {}
        deadline = time.monotonic() + 60
        while True:  # ready: frames from the camera are processed
            r = request(self.port, "GET", "/api/health", headers=headers, timeout=10)
            if r.status == 200:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve ({self.name}): /api/health {r.status} after 60 s: "
                                   f"{r.body[:300]!r}")
            time.sleep(0.2)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status_kb(self, field):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc/{self.proc.pid}/status")

    def log_tail(self):
        try:
            return open(self.err_path, errors="replace").read()[-600:]
        except OSError:
            return ""

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
