"""Many people typing at once: time from a keystroke to its label and to its explanation.

Starts ``python app.py`` on 127.0.0.1, then ``--typists`` simulated visitors (Gradio's REST API),
each typing a real IMDB test review at ``--rate`` keystrokes a second for ``--keystrokes``
keystrokes, continuing from its first ``--start-chars`` characters. Like the page (whose events
keep only the newest text), each typist has one label request and one explanation request in
flight at most, and sends the newest text whenever the previous answer is back. A keystroke's
time-to-label is from the keystroke until an answer for a text that includes it. Runs once with
no training and once while a training run (the quick preset) goes, and prints p50/p95 of both
delays and the error count. The load generator shares the machine with the app.

The ``rest`` phases: ``--clients`` REST clients each send ``/classify`` ``--rate`` times a second for
``--seconds`` (late answers delay the next), spread evenly over each period (``--synchronized``: all at
once, in bursts), idle (``rest``) and with ``--scorings`` ``/errors`` scorings
queued just before (``rest-errors``; an error cache of its own, so each scores): p50/p95 send-to-answer.
Run: python bench/bench_load.py [--typists 20] [--keystrokes 40] [--rate 5] [--phases idle,training,rest,rest-errors]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import ROOT, percentile
from gradio_client import Client

from sentiment_core.data import read_raw, resolve_source


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MAX_ERRORS = 20  # a typist gives up after this many failed requests


class RestClient:
    """Calls an endpoint through Gradio's REST API (``/gradio_api/call/<name>``), as ``curl`` would.

    ``gradio_client`` costs about 11 ms of CPU a call on the caller's side and, with 40 callers in
    one process, the load generator saturated a core by itself; this costs a fraction of that.
    """

    def __init__(self, url: str, direct: set[str]) -> None:
        self.http = httpx.Client(base_url=url, timeout=120)
        self.direct = direct

    def predict(self, *data: object, api_name: str) -> object:
        if api_name in self.direct:  # an endpoint outside the queue answers the POST itself
            response = self.http.post(f"/gradio_api/run{api_name}", json={"data": list(data)})
            if response.status_code != 200:
                raise RuntimeError(f"{api_name} failed: {response.text[:200]}")
            return response.json()["data"][0]
        event = self.http.post(f"/gradio_api/call{api_name}", json={"data": list(data)})
        event.raise_for_status()
        with self.http.stream("GET", f"/gradio_api/call{api_name}/{event.json()['event_id']}") as stream:
            kind = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind in ("complete", "error"):
                    payload = json.loads(line[6:])
                    if kind == "error":
                        raise RuntimeError(f"{api_name} failed: {payload}")
                    return payload[0]
        raise RuntimeError(f"{api_name} ended without a result")


@dataclass
class Typist:
    """One visitor: the text so far, when each keystroke happened, and the delays measured."""

    review: str
    start_chars: int
    typed: list[float] = field(default_factory=list)  # time of keystroke i
    delays: dict[str, list[float]] = field(default_factory=lambda: {"label": [], "explanation": []})
    requests: dict[str, int] = field(default_factory=lambda: {"label": 0, "explanation": 0})
    errors: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def text(self, keystrokes: int) -> str:
        return self.review[: self.start_chars + keystrokes]

    def type(self, keystrokes: int, rate: float) -> None:
        start = time.monotonic()
        for i in range(keystrokes):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            with self.lock:
                self.typed.append(time.monotonic())
        self.done.set()

    def send(self, client: RestClient, api_name: str, kind: str, keystrokes: int) -> None:
        """Like an always_last event: send the newest text once the previous answer is back."""
        answered = 0  # keystrokes covered by an answer so far
        while answered < keystrokes:
            with self.lock:
                newest = len(self.typed)
            if newest == answered:
                time.sleep(0.005)
                continue
            self.requests[kind] += 1
            try:
                client.predict(self.text(newest), None, api_name=api_name)  # None: the default model
            except Exception as exc:  # an error is counted; its keystrokes wait for the next answer
                self.errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:200])
                if len(self.errors) >= MAX_ERRORS:
                    return
                time.sleep(0.2)
                continue
            now = time.monotonic()
            self.delays[kind] += [now - t for t in self.typed[answered:newest]]
            answered = newest


def run_typists(url: str, reviews: list[str], args: argparse.Namespace) -> list[Typist]:
    typists = [Typist(review, args.start_chars) for review in reviews]
    # Endpoints outside Gradio's queue (queue=False) are called with one POST, as the page does.
    config = httpx.get(f"{url}config").json()
    direct = {f"/{d['api_name']}" for d in config["dependencies"] if d.get("api_name") and d.get("queue") is False}
    clients = [[RestClient(url, direct) for _ in args.apis.split(",")] for _ in typists]
    threads = []
    apis = {"label": "/classify", "explanation": "/explain"}
    for typist, typist_clients in zip(typists, clients):
        threads.append(threading.Thread(target=typist.type, args=(args.keystrokes, args.rate)))
        threads += [threading.Thread(target=typist.send, args=(client, apis[kind], kind, args.keystrokes))
                    for client, kind in zip(typist_clients, args.apis.split(","))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return typists


def run_rest_clients(url: str, direct: set[str], args: argparse.Namespace, reviews: list[str]) -> tuple[list, list]:
    """(latencies, errors) of ``args.clients`` clients each sending /classify ``args.rate`` times a second."""
    latencies, errors, lock = [], [], threading.Lock()

    def client(review: str, offset: float) -> None:
        rest = RestClient(url, direct)
        start = time.monotonic() + offset
        for i in range(int(args.seconds * args.rate)):
            time.sleep(max(0.0, start + i / args.rate - time.monotonic()))
            sent = time.monotonic()
            try:
                rest.predict(review[: 100 + i], None, api_name="/classify")
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            with lock:
                latencies.append(time.monotonic() - sent)

    # Independent clients send at their own moments: client i starts i/clients of a period late. With
    # --synchronized all send at the same instant, a burst of ``clients`` requests every period (the worst case).
    period = 1 / args.rate
    threads = [threading.Thread(target=client, args=(r, 0.0 if args.synchronized else i * period / args.clients))
               for i, r in enumerate(reviews[: args.clients])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def queue_scorings(url: str, direct: set[str], count: int) -> list[threading.Thread]:
    """Send ``count`` /errors scorings (validation and test, alternately) without waiting for them."""
    def score(i: int) -> None:
        try:
            RestClient(url, direct).predict(None, ("validation", "test")[i % 2], "any", 0, 0, i >= 2, 10,
                                            api_name="/errors")
        except Exception as exc:
            print(f"    /errors {i}: {type(exc).__name__}: {exc}"[:200], flush=True)

    threads = [threading.Thread(target=score, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def report_rest(name: str, latencies: list[float], errors: list[str], wall: float) -> None:
    p50, p95 = percentile(latencies, 50) * 1000, percentile(latencies, 95) * 1000
    print(f"{name:22s} | classify p50 {p50:6,.0f} ms, p95 {p95:6,.0f} ms ({len(latencies):,} answers in {wall:.1f} s)"
          f" | errors {len(errors)}", *sorted(set(errors))[:5], sep="\n    ", flush=True)


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of process ``pid``, or of this process."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(name: str, typists: list[Typist]) -> None:
    errors = [e for t in typists for e in t.errors]
    cells = [f"{name:22s}"]
    for kind in ("label", "explanation"):
        delays = [d for t in typists for d in t.delays[kind]]
        if not delays:
            continue
        p50, p95 = percentile(delays, 50) * 1000, percentile(delays, 95) * 1000
        sent = sum(t.requests[kind] for t in typists)
        cells.append(f"{kind} p50 {p50:6,.0f} ms, p95 {p95:6,.0f} ms ({sent:,} requests)")
    cells.append(f"errors {len(errors)}")
    print(" | ".join(cells), flush=True)
    for error in sorted(set(errors))[:5]:
        print(f"    {error}")


def wait_for_app(url: str, app: subprocess.Popen, timeout: float = 90.0) -> Client:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Client(url, verbose=False)
        except Exception:
            if app.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the app did not start (exit code {app.poll()})") from None
            time.sleep(0.5)


def start_training(client: Client) -> None:
    settings = {"cell": "gru", "bidirectional": True, "embed_dim": 64, "hidden_dim": 64, "num_layers": 1,
                "dropout": 0.3, "epochs": 30, "batch_size": 64, "lr": 0.01, "max_tokens": 200,
                "max_train_samples": 2000, "max_eval_samples": 500, "device": "cpu"}
    client.predict(preset="quick", run_name=f"load-{os.getpid()}", **settings, api_name="/start_training")
    while client.predict(api_name="/training_status")["steps_done"] < 3:
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--typists", type=int, default=20)
    parser.add_argument("--keystrokes", type=int, default=40, help="keystrokes per typist")
    parser.add_argument("--rate", type=float, default=5.0, help="keystrokes a second")
    parser.add_argument("--start-chars", type=int, default=200, help="characters already typed")
    parser.add_argument("--phases", default="idle,training", help="idle, training or both")
    parser.add_argument("--apis", default="label,explanation", help="which requests the typists send")
    parser.add_argument("--clients", type=int, default=20, help="REST clients of the rest phases")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each rest phase sends")
    parser.add_argument("--scorings", type=int, default=5, help="/errors scorings queued in rest-errors")
    parser.add_argument("--synchronized", action="store_true",
                        help="rest phases: every client sends at the same instant (bursts), not spread over the period")
    args = parser.parse_args()

    test = read_raw(resolve_source(), ("test",))["test"]
    long_enough = [t for t in test.items if len(t) > args.start_chars + args.keystrokes + 50]
    reviews = [long_enough[i * 997 % len(long_enough)] for i in range(args.typists)]
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory() as runs, tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "SENTIMENT_CACHE_DIR": cache}
        app = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--runs-dir", runs,
                                "--data", str(resolve_source())],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            control = wait_for_app(url, app)
            control.predict("warm-up text", api_name="/explain")
            print(f"{args.typists} typists x {args.keystrokes} keystrokes at {args.rate:g}/s, {os.cpu_count()} cores",
                  flush=True)
            config = httpx.get(f"{url}config").json()
            direct = {f"/{d['api_name']}" for d in config["dependencies"]
                      if d.get("api_name") and d.get("queue") is False}
            for phase in args.phases.split(","):
                if phase.startswith("rest"):
                    waiting = queue_scorings(url, direct, args.scorings) if phase == "rest-errors" else []
                    time.sleep(1.0 if waiting else 0.0)  # the scorings are in the queue, the first one running
                    began = time.monotonic()
                    latencies, errors = run_rest_clients(url, direct, args, reviews)
                    report_rest(f"{phase}:", latencies, errors, time.monotonic() - began)
                    for thread in waiting:
                        thread.join(timeout=1)
                    continue
                if phase == "training":
                    start_training(control)
                cpu = cpu_seconds(app.pid), cpu_seconds()
                began = time.monotonic()
                report(f"{phase}:", run_typists(url, reviews, args))
                wall = time.monotonic() - began
                print(f"    over {wall:.1f} s: the app used {cpu_seconds(app.pid) - cpu[0]:.1f} CPU s, the typists "
                      f"{cpu_seconds() - cpu[1]:.1f} CPU s")
                if phase == "training":
                    status = control.predict(api_name="/training_status")
                    print(f"    training during the phase: {status['status']}, step {status['steps_done']:,}"
                          f"{' ' + status['error'] if status['error'] else ''}")
                    control.predict(api_name="/stop_training")
        finally:
            app.terminate()
            app.wait(60)


if __name__ == "__main__":
    main()
