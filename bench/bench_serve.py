"""Load run and bad-input table against `fmnist serve` on 127.0.0.1 (never another address).

    .venv/bin/python bench/bench_serve.py [--requests 2000] [--clients 8] [--weights weights/default.pt]
                                          [--threads 2] [--workers 1] [--photos /work/shared/realworld-dev] [--json]

1. Starts `python -m fmnist_desktop.cli serve --host 127.0.0.1 --port <free> --weights …` as a
   child process and waits for /health.
2. Bad input: posts every case of the table (not an image, truncated, decompression bomb, over
   the upload limit, too many files, wrong content type, …) and prints status and message.
3. Load: `--requests` POST /predict requests, one image each, from `--clients` concurrent
   clients (threads, each with its own keep-alive httpx.Client), cycling through the real phone
   photos (`--photos`, */*.jpg) and the bundled Fashion-MNIST samples alternately.
4. Prints requests/s, client-side latency p50/p90/p99/max, errors (any non-200), the server's
   RSS (psutil) after start-up, after the bad-input cases and after the load, and whether the
   server is still up and its stderr free of tracebacks. Then SIGTERM, and its exit status.

`--hostile` (issue 17) replaces 2-3 with a hostile mix: `--requests` ordinary requests from
`--clients` clients while two clients send near-limit images (one 6300×6300 PNG, two in one
request, 32 in one request, a 1×40,000,000 PNG) and two slow clients trickle a body 1 kB every
0.25 s. It prints the ordinary requests' p50/p99, what the hostile requests got, and the server's
RSS before the mix, its peak (sampled every 0.2 s) and 3 s after the mix. Every loop is bounded
in count and in time (`--hostile-seconds`, default 150).

`--hostile --attack formats` (issue 27) sends, instead of near-limit images: an 87-byte
PostScript `{ } loop` named loop.jpg, a FITS file named sky.jpg, a 13000×13000 progressive JPEG
(flat colour, small) and a 7000×7000 progressive JPEG, each alone in a request. It also reports
any `gs` process seen under the server, and how long the server took to exit after SIGTERM.
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bomb_png(side: int = 40_000) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def bad_cases(photo: bytes, sample: bytes, max_files: int) -> list[tuple[str, dict]]:
    files = lambda *items: [("files", item) for item in items]  # noqa: E731
    return [
        ("not an image (text file)", dict(files=files(("notes.txt", b"hello, not an image", "text/plain")))),
        ("truncated JPEG (first 2 kB of a photo)", dict(files=files(("cut.jpg", photo[:2048], "image/jpeg")))),
        ("decompression bomb (PNG header 40000×40000)", dict(files=files(("bomb.png", bomb_png(), "image/png")))),
        ("upload over the limit (21 MB)", dict(content=b"\xff" * (21 * 1000 * 1000), headers={"content-type": "image/jpeg"})),
        (f"too many files ({max_files + 1})", dict(files=files(*[(f"{i}.png", sample, "image/png") for i in range(max_files + 1)]))),
        ("wrong content type (JSON)", dict(content=b'{"image": "x"}', headers={"content-type": "application/json"})),
        ("no content type", dict(content=photo)),
        ("empty file", dict(files=files(("empty.png", b"", "image/png")))),
        ("empty raw body", dict(content=b"", headers={"content-type": "image/png"})),
        ("form field not named 'files'", dict(files=[("image", ("a.png", sample, "image/png"))])),
        ("top_k=0", dict(params={"top_k": 0}, content=sample, headers={"content-type": "image/png"})),
        ("GET /predict", dict(method="GET")),
        ("GET /nothing", dict(method="GET", path="/nothing")),
    ]


def big_rgb_png(width: int, height: int) -> bytes:
    """A valid all-black RGB PNG of any size, compressed row by row (never held as pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = b"\0" * (3 * width + 1)
    body = b"".join([packer.compress(row) for _ in range(height)] + [packer.flush()])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def tall_png(height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    body = b"".join([packer.compress(b"\0\0" * 1_000_000) for _ in range(height // 1_000_000)] + [packer.flush()])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def near_limit_attacks() -> list:
    near = big_rgb_png(6300, 6300)  # 39.7 megapixels, just under the 40-megapixel limit for a PNG
    tall = tall_png(40_000_000)
    return [
        ("one near-limit PNG", [("files", ("near.png", near, "image/png"))]),
        ("two near-limit PNGs", [("files", (f"near{i}.png", near, "image/png")) for i in range(2)]),
        ("32 near-limit PNGs", [("files", (f"near{i}.png", near, "image/png")) for i in range(32)]),
        ("a 1×40,000,000 PNG", [("files", ("tall.png", tall, "image/png"))]),
    ]


def progressive_jpeg(side: int) -> bytes:
    """A flat-colour progressive JPEG of side × side (a few hundred kB even at 13000)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (side, side), 140).save(buf, "JPEG", progressive=True, quality=60)
    return buf.getvalue()


def fits_jpg(side: int = 1000) -> bytes:
    cards = ["SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    2",
             f"NAXIS1  = {side:>20}", f"NAXIS2  = {side:>20}", "END"]
    header = b"".join(card.ljust(80).encode() for card in cards).ljust(2880, b" ")
    data = bytes(side * side)
    return header + data + b"\0" * (-len(data) % 2880)


def format_attacks() -> list:
    loop = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{ } loop\n"
    return [
        ("PostScript loop.jpg", [("files", ("loop.jpg", loop, "image/jpeg"))]),
        ("FITS sky.jpg", [("files", ("sky.jpg", fits_jpg(), "image/jpeg"))]),
        ("13000² progressive JPEG", [("files", ("prog13000.jpg", progressive_jpeg(13000), "image/jpeg"))]),
        ("7000² progressive JPEG", [("files", ("prog7000.jpg", progressive_jpeg(7000), "image/jpeg"))]),
    ]


def hostile_mix(url: str, port: int, pid: int, bodies, requests: int, clients: int, seconds: float,
                attackers: int = 2, slow_clients: int = 2, attack: str = "near-limit") -> dict:
    """Ordinary requests among near-limit images (or files of other formats and progressive
    JPEGs) and two slow clients (see the module doc)."""
    import httpx
    import psutil

    heavy_kinds = format_attacks() if attack == "formats" else near_limit_attacks()
    deadline = time.monotonic() + seconds
    done = threading.Event()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    heavy: dict[str, dict[int, int]] = {}
    slow: list[str] = []
    proc = psutil.Process(pid)
    rss_before = proc.memory_info().rss / MB
    peak = [rss_before]
    children_seen: set[str] = set()
    counter = iter(range(requests))

    def ordinary(k: int) -> None:
        with httpx.Client(timeout=120) as c:
            for i in counter:
                if time.monotonic() > deadline:
                    break
                name, data, ctype = bodies[(i * 7 + k) % len(bodies)]
                t = time.perf_counter()
                try:
                    r = c.post(f"{url}/predict", files={"files": (name, data, ctype)})
                    problem = None if r.status_code == 200 else f"{r.status_code} {r.text[:100]}"
                except Exception as exc:  # noqa: BLE001 — counted, reported
                    problem = f"{type(exc).__name__}: {exc}"
                with lock:
                    latencies.append(time.perf_counter() - t)
                    if problem:
                        errors.append(problem)

    def hostile(k: int) -> None:
        with httpx.Client(timeout=120) as c:
            for n in range(40):  # bounded: 40 requests each at most
                if done.is_set() or time.monotonic() > deadline:
                    break
                kind, files = heavy_kinds[(n + k) % len(heavy_kinds)]
                try:
                    status = c.post(f"{url}/predict", files=files).status_code
                except Exception:  # noqa: BLE001
                    status = -1
                with lock:
                    heavy.setdefault(kind, {}).setdefault(status, 0)
                    heavy[kind][status] += 1

    def slow_client(k: int) -> None:
        body = bodies[k % len(bodies)][1]
        head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: image/jpeg\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(head)
                for start in range(0, len(body), 1024):
                    if done.is_set() or time.monotonic() > deadline:
                        break
                    s.sendall(body[start:start + 1024])
                    time.sleep(0.25)
                slow.append("sent whole body" if not done.is_set() else "stopped when the mix ended")
        except OSError as exc:
            slow.append(f"{type(exc).__name__}: {exc}")

    def sample() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], proc.memory_info().rss / MB)
                children_seen.update(child.name() for child in proc.children(recursive=True))
            except psutil.Error:
                return
            time.sleep(0.2)

    side = [threading.Thread(target=hostile, args=(k,)) for k in range(attackers)]
    side += [threading.Thread(target=slow_client, args=(k,)) for k in range(slow_clients)]
    side.append(threading.Thread(target=sample))
    main = [threading.Thread(target=ordinary, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in side + main:
        t.start()
    for t in main:
        t.join()
    wall = time.perf_counter() - t0
    done.set()
    for t in side:
        t.join(130)
    time.sleep(3)  # let the last decode finish and its memory go back
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    return {
        "attackers": attackers, "slow_clients_n": slow_clients,
        "ordinary_requests": len(latencies), "ordinary_wall_s": round(wall, 1),
        "ordinary_latency_ms": {"p50": round(q[49] * 1000, 1), "p99": round(q[98] * 1000, 1),
                                "max": round(max(latencies, default=0) * 1000, 1)},
        "ordinary_errors": len(errors), "ordinary_error_examples": errors[:5],
        "hostile_answers": {kind: {str(k): v for k, v in statuses.items()} for kind, statuses in heavy.items()},
        "slow_clients": slow,
        "rss_before_mb": round(rss_before, 1), "rss_peak_mb": round(peak[0], 1),
        "rss_after_mb": round(proc.memory_info().rss / MB, 1),
        "child_processes_seen": sorted(children_seen),
    }


def _finish(report: dict, server, stderr_path: Path, args) -> int:
    """The hostile mix's ending: SIGTERM, the server's log checked, the figures printed."""
    t_term = time.perf_counter()
    server.send_signal(signal.SIGTERM)
    try:
        report["exit_status"] = server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        report["exit_status"] = "killed after 60 s"
    report["sigterm_to_exit_s"] = round(time.perf_counter() - t_term, 2)
    stderr = stderr_path.read_text(errors="replace")
    report["tracebacks_in_server_log"] = stderr.count("Traceback")
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    h = report["hostile"]
    print(f"server: {report['command']} (ready in {report['startup_s']} s)")
    what = "other formats and progressive JPEGs" if args.attack == "formats" else "near-limit images"
    print(f"hostile mix: {h['ordinary_requests']} ordinary requests from {args.clients} clients in {h['ordinary_wall_s']} s, "
          f"beside {args.attackers} clients sending {what} and {args.slow_clients} slow clients")
    print(f"  ordinary latency p50 {h['ordinary_latency_ms']['p50']} ms, p99 {h['ordinary_latency_ms']['p99']} ms, "
          f"max {h['ordinary_latency_ms']['max']} ms; errors {h['ordinary_errors']} {h['ordinary_error_examples'] or ''}")
    for kind, statuses in h["hostile_answers"].items():
        print(f"  {kind:<22} answered {statuses}")
    print(f"  slow clients: {h['slow_clients']}")
    print(f"  server RSS: {h['rss_before_mb']} MB before the mix, peak {h['rss_peak_mb']} MB, {h['rss_after_mb']} MB 3 s after")
    print(f"  /health after: {report['health_after']}")
    print(f"  child processes of the server seen: {h['child_processes_seen'] or 'none'}")
    print(f"  SIGTERM → exit status {report['exit_status']} after {report['sigterm_to_exit_s']} s; "
          f"tracebacks in the server's log: {report['tracebacks_in_server_log']}")
    return 0 if h["ordinary_errors"] == 0 and report["exit_status"] == 0 else 1


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / MB


def main(argv: list[str] | None = None) -> int:
    import httpx

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--weights", default=str(REPO / "weights" / "default.pt"),
                   help="the model file to serve; '' serves the active models (photos meet the photo model)")
    p.add_argument("--threads", type=int, default=2, help="the server's inference threads")
    p.add_argument("--workers", type=int, default=1, help="the server's processes (fmnist serve --workers N)")
    p.add_argument("--photos", default="/work/shared/realworld-dev")
    p.add_argument("--kinds", default="photos,samples",
                   help="which images the load run sends: photos, samples or both, alternating (default: both)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--hostile", action="store_true", help="the hostile mix instead of the bad-input table and plain load")
    p.add_argument("--hostile-seconds", type=float, default=150, help="time limit of the hostile mix (default: 150)")
    p.add_argument("--attackers", type=int, default=2, help="hostile mix: clients sending near-limit images (default: 2; 0 for a baseline)")
    p.add_argument("--slow-clients", type=int, default=2, help="hostile mix: clients trickling a body (default: 2)")
    p.add_argument("--attack", choices=("near-limit", "formats"), default="near-limit",
                   help="hostile mix: near-limit images (issue 17), or PostScript/FITS named .jpg and progressive "
                   "JPEGs (issue 27)")
    args = p.parse_args(argv)

    photos = [Path(f).read_bytes() for f in sorted(glob.glob(os.path.join(args.photos, "*", "*.jpg")))]
    samples = [f.read_bytes() for f in sorted((REPO / "resources" / "samples").glob("fashion-mnist_*.png"))]
    if not photos:
        print(f"no photos under {args.photos}; using the bundled photo_*.jpg", file=sys.stderr)
        photos = [f.read_bytes() for f in sorted((REPO / "resources" / "samples").glob("photo_*.jpg"))]
    kinds = {k.strip() for k in args.kinds.split(",") if k.strip()}
    if not kinds or not kinds <= {"photos", "samples"}:
        raise SystemExit("--kinds takes photos, samples or photos,samples")
    bodies = []
    for i in range(max(len(photos), len(samples))):
        if "photos" in kinds:
            bodies.append(("photo.jpg", photos[i % len(photos)], "image/jpeg"))
        if "samples" in kinds:
            bodies.append(("sample.png", samples[i % len(samples)], "image/png"))

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "fmnist_desktop.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           *(["--weights", args.weights] if args.weights else []),  # "": the active photo model and 28×28 network
           "--threads", str(args.threads), "--workers", str(args.workers)]
    stderr_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_serve_{port}.err"
    t_launch = time.perf_counter()
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(stderr_path, "w"), env=env)
    report: dict = {"command": " ".join(cmd[1:]), "requests": args.requests, "clients": args.clients, "kinds": sorted(kinds),
                    "photos": len(photos), "samples": len(samples)}
    try:
        with httpx.Client(timeout=60) as c:
            while True:
                try:
                    if c.get(f"{url}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.perf_counter() - t_launch > 120:
                    raise SystemExit(f"the server did not come up; see {stderr_path}")
                time.sleep(0.1)
            report["startup_s"] = round(time.perf_counter() - t_launch, 2)
            report["rss_start_mb"] = round(rss_mb(server.pid), 1)
            if args.hostile:
                for name, data, ctype in bodies[:8]:  # warm-up (not timed)
                    c.post(f"{url}/predict", files={"files": (name, data, ctype)})
        if args.hostile:
            report["hostile"] = hostile_mix(url, port, server.pid, bodies, args.requests, args.clients,
                                            args.hostile_seconds, args.attackers, args.slow_clients, args.attack)
            with httpx.Client(timeout=10) as c:
                report["health_after"] = c.get(f"{url}/health").json()
            return _finish(report, server, stderr_path, args)
        with httpx.Client(timeout=60) as c:
            max_files = 32
            table = []
            for case, kw in bad_cases(photos[0], samples[0], max_files):
                method = kw.pop("method", "POST")
                path = kw.pop("path", "/predict")
                r = c.request(method, f"{url}{path}", **kw)
                try:
                    message = r.json().get("error", r.text)
                except ValueError:
                    message = r.text
                table.append({"case": case, "status": r.status_code, "error": message})
            report["bad_input"] = table
            report["rss_after_bad_input_mb"] = round(rss_mb(server.pid), 1)
            # Warm-up (not timed): a few requests of each kind.
            for name, data, ctype in bodies[:8]:
                c.post(f"{url}/predict", files={"files": (name, data, ctype)})

        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        counter = iter(range(args.requests))

        def client(k: int) -> None:
            with httpx.Client(timeout=120) as c:
                for i in counter:
                    name, data, ctype = bodies[(i * 7 + k) % len(bodies)]
                    t = time.perf_counter()
                    try:
                        r = c.post(f"{url}/predict", files={"files": (name, data, ctype)})
                        ok = r.status_code == 200 and r.json()[0].get("label")
                        problem = None if ok else f"{r.status_code} {r.text[:100]}"
                    except Exception as exc:  # noqa: BLE001 — counted, reported
                        problem = f"{type(exc).__name__}: {exc}"
                    dt = time.perf_counter() - t
                    with lock:
                        latencies.append(dt)
                        if problem:
                            errors.append(problem)

        t0 = time.perf_counter()
        workers = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - t0
        q = statistics.quantiles(latencies, n=100)
        report.update(
            wall_s=round(wall, 2),
            requests_per_s=round(len(latencies) / wall, 1),
            latency_ms={"p50": round(q[49] * 1000, 1), "p90": round(q[89] * 1000, 1), "p99": round(q[98] * 1000, 1),
                        "max": round(max(latencies) * 1000, 1)},
            errors=len(errors),
            error_examples=errors[:5],
            rss_end_mb=round(rss_mb(server.pid), 1),
        )
        with httpx.Client(timeout=10) as c:
            health = c.get(f"{url}/health").json()
        report["health_after"] = health
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                report["exit_status"] = server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                report["exit_status"] = "killed after 60 s"
        stderr = stderr_path.read_text(errors="replace")
        report["tracebacks_in_server_log"] = stderr.count("Traceback")
        report["server_500s"] = stderr.count(" 500 ")

    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(f"server: {report['command']} (ready in {report['startup_s']} s)")
    print("\nbad input:")
    for row in report["bad_input"]:
        print(f"  {row['status']}  {row['case']:<45} {row['error']}")
    print(f"\nload: {args.requests} requests from {args.clients} clients, one image each "
          f"({' and '.join(sorted(kinds))}; {len(photos)} phone photos, {len(samples)} samples)")
    print(f"  {report['requests_per_s']} requests/s over {report['wall_s']} s; latency p50 {report['latency_ms']['p50']} ms, "
          f"p90 {report['latency_ms']['p90']} ms, p99 {report['latency_ms']['p99']} ms, max {report['latency_ms']['max']} ms")
    print(f"  errors: {report['errors']} {report['error_examples'] or ''}")
    print(f"  server RSS: {report['rss_start_mb']} MB after start-up, {report['rss_after_bad_input_mb']} MB after the "
          f"bad input, {report['rss_end_mb']} MB after the load")
    print(f"  /health after: {report['health_after']}")
    print(f"  SIGTERM → exit status {report['exit_status']}; tracebacks in the server's log: {report['tracebacks_in_server_log']}")
    return 0 if report["errors"] == 0 and report["exit_status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
