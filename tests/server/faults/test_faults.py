"""Faults under load against a real `strata serve` (BAD_INPUTS 31, 34, 35; issue 6): the
server is started here with a KV cache far too small for the load and a short queue, on
the default model; a second one, with a realistic KV cache, checks that resident memory
returns to its idle level after a burst of mixed requests. Run by scripts/test-server-faults:

    STRATA_BIN=build/strata STRATA_MODEL=model.gguf python3 -m pytest tests/server/faults
"""
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

BIN = os.environ.get("STRATA_BIN")
MODEL = os.environ.get("STRATA_MODEL")
pytestmark = pytest.mark.skipif(not (BIN and MODEL), reason="STRATA_BIN / STRATA_MODEL not set")

# 16 blocks of 16 tokens: room for about four of the six 60-token requests below.
KV_BLOCKS, BLOCK_SIZE, MAX_SEQS, MAX_QUEUED = 16, 16, 6, 6


class Server:
    def __init__(self, engine_args=None):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"strata-faults-{self.port}.log"), "w+")
        self.proc = subprocess.Popen(
            [BIN, "serve", "-m", MODEL, "--port", str(self.port), "--threads", "2",
             *(engine_args or ["--num-kv-blocks", str(KV_BLOCKS), "--block-size", str(BLOCK_SIZE),
                               "--max-num-seqs", str(MAX_SEQS), "--max-queued", str(MAX_QUEUED)])],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(400):
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.log.seek(0)
        raise RuntimeError("strata serve did not start:\n" + self.log.read())

    def request(self, method, path, body=None, timeout=300):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def get(self, path):
        return self.request("GET", path, timeout=10)

    def post(self, path, body):
        status, headers, raw = self.request("POST", path, body)
        return status, headers, json.loads(raw)

    def metrics(self):
        values = {}
        for line in self.get("/metrics")[2].decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

    def anonymous_mib(self):
        with open(f"/proc/{self.proc.pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Anonymous:"):
                    return int(line.split()[1]) / 1024

    def wait_idle(self, timeout=30):
        """Until nothing runs or waits and no KV block is held by a request."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.metrics()
            if (m["strata_num_requests_running"] == 0 and m["strata_num_requests_waiting"] == 0
                    and m["strata_kv_cache_blocks_used"] == 0):
                return m
            time.sleep(0.05)
        raise AssertionError(f"not idle after {timeout} s: {self.metrics()}")

    def stop(self):
        self.proc.terminate()
        try:
            assert self.proc.wait(timeout=30) == 0, "strata serve did not exit 0 on SIGTERM"
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()


@pytest.fixture(scope="module")
def server():
    s = Server()
    # Warm-up, so that the idle memory level includes the lazily mapped KV pages and
    # the thread pools.
    s.post("/v1/completions", {"prompt": "warm up", "max_tokens": 8})
    s.wait_idle()
    s.idle_rss = s.rss_mib()
    yield s
    s.stop()


def completion(prompt, max_tokens, **extra):
    return {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True, **extra}


def test_disconnect_mid_stream_frees_kv_blocks(server):
    before = server.metrics()
    sock = socket.create_connection(("127.0.0.1", server.port))
    body = json.dumps(completion("Tell me a long story about a dragon.", 200, stream=True)).encode()
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    received = sock.recv(65536)
    assert received.startswith(b"HTTP/1.1 200"), received
    while received.count(b"data: {") < 3:  # a few tokens in: the request holds KV blocks
        chunk = sock.recv(65536)
        assert chunk, "stream closed early"
        received += chunk
    during = server.metrics()
    assert during["strata_kv_cache_blocks_used"] > 0
    assert during["strata_num_requests_running"] == 1
    sock.close()
    after = server.wait_idle(timeout=10)
    assert after["strata_aborted_requests_total"] == before["strata_aborted_requests_total"] + 1
    assert after["strata_kv_cache_blocks_used"] == 0


def test_kv_exhaustion_preempts_and_every_request_completes(server):
    prompts = [f"Request {i}: write a poem about the number {i} and the colour blue." for i in range(MAX_SEQS)]
    max_tokens = 40
    # Each request needs ceil((~20 + 40) / 16) = 4 blocks; six of them need 24 > 16.
    alone = server.post("/v1/completions", completion(prompts[0], max_tokens))[2]
    before = server.metrics()
    results = [None] * len(prompts)

    def run(i):
        results[i] = server.post("/v1/completions", completion(prompts[i], max_tokens))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = server.wait_idle()
    for status, _, body in results:
        assert status == 200, body
        assert body["usage"]["completion_tokens"] == max_tokens
        assert body["choices"][0]["finish_reason"] == "length"
    assert after["strata_num_preemptions_total"] > before["strata_num_preemptions_total"], \
        "the load did not exhaust the KV cache; the test needs a smaller cache"
    # A preempted greedy request is recomputed, not garbled: same text as served alone.
    assert results[0][2]["choices"][0]["text"] == alone["choices"][0]["text"]


def test_full_queue_answers_429_then_recovers(server):
    statuses, retry_after = [], []
    lock = threading.Lock()

    def run(i):
        status, headers, body = server.post("/v1/completions", completion(f"queue {i}", 4))
        with lock:
            statuses.append(status)
            if status != 200:
                retry_after.append(headers.get("Retry-After"))
                assert body["error"]["type"] == "rate_limit_error" or status == 503, body

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3 * (MAX_SEQS + MAX_QUEUED))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rejected = [s for s in statuses if s != 200]
    assert rejected, "the queue never filled"
    assert set(rejected) <= {429, 503}, statuses
    assert all(r is not None for r in retry_after)
    assert statuses.count(200) >= MAX_SEQS
    server.wait_idle()
    assert server.post("/v1/completions", completion("after the burst", 4))[0] == 200


def test_server_is_healthy_and_back_to_idle_memory(server):
    m = server.wait_idle()
    assert server.get("/health")[0] == 200
    assert m["strata_kv_cache_blocks_used"] == 0
    rss = server.rss_mib()
    assert rss < server.idle_rss + 32, f"resident memory {rss:.1f} MiB vs idle {server.idle_rss:.1f} MiB"


# A realistic KV cache (64 MiB, 182 blocks here) for the memory test: with KV pages mapped
# as used and freed heap kept by malloc, a burst left resident memory ~100 MiB above idle;
# with the model's step buffers grown by the burst's largest batch, 11-17 MiB above; with
# the CPU products' prepared activations grown by the longest step, 9-22 MiB above (CI
# failed once at +22.4), reserved at start too: 1-7 MiB above, the rest freed memory at
# the top of a thread's heap, which glibc keeps; with `strata serve` setting malloc's
# thresholds (return_freed_memory_promptly): 1.2-2.8 MiB above (tools/burst_rss.py).
BURST_KV = "64M"
RSS_MARGIN_MIB = 16


@pytest.fixture(scope="module")
def roomy_server():
    s = Server(["--kv-cache-memory", BURST_KV, "--max-num-seqs", "16"])
    s.post("/v1/completions", {"prompt": "warm up", "max_tokens": 8})
    s.wait_idle()
    time.sleep(2)  # the server returns freed heap memory once idle for 1 s
    s.idle_rss = s.rss_mib()
    yield s
    s.stop()


def mixed_request(server, i):
    """One of: a stream read to the end, a stream dropped after its first token, a
    non-streamed chat or completion, an invalid request. Returns the status (0: dropped)."""
    kind = i % 5
    topic = ["the sea", "bread", "a city at night", "rain", "trains", "the moon"][i % 6]
    if kind == 4:
        return server.request("POST", "/v1/completions", {"prompt": "x", "max_tokens": -1})[0]
    if kind in (0, 1):
        body = json.dumps({"messages": [{"role": "user", "content": f"Write about {topic}."}],
                           "max_tokens": 24, "temperature": 0.8, "seed": i, "stream": True}).encode()
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=300)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        received = b""
        while True:
            chunk = sock.recv(65536)
            received += chunk
            if not chunk or b"data: [DONE]" in received or (kind == 1 and b'"content"' in received):
                break
        sock.close()
        return 0 if kind == 1 else int(received.split(b" ", 2)[1])
    if kind == 2:
        return server.post("/v1/chat/completions", {"messages": [{"role": "user", "content": f"About {topic}?"}],
                                                    "max_tokens": 24, "temperature": 0.8, "seed": i})[0]
    # One long prompt (~1,000 tokens, one step): the largest step of the burst.
    prompt = f"A story about {topic}:" + (" and then the road went on" * 160 if i == 3 else "")
    return server.post("/v1/completions", {"prompt": prompt, "max_tokens": 24, "temperature": 0.8, "seed": i})[0]


def test_resident_memory_returns_to_idle_after_a_mixed_burst(roomy_server):
    """Issue 6: no leak. The KV cache and the step buffers for the largest step are made
    resident at start (part of the idle level), and freed heap memory goes back to the OS
    once the server is idle."""
    server = roomy_server
    anonymous = server.anonymous_mib()
    assert anonymous >= 64, f"the {BURST_KV} KV cache is not resident at idle: {anonymous:.1f} MiB anonymous memory"
    statuses = []
    lock = threading.Lock()

    def client(c):
        for i in range(c, 60, 12):
            status = mixed_request(server, i)
            with lock:
                statuses.append((i % 5, status))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(status == (400 if kind == 4 else 0 if kind == 1 else 200) for kind, status in statuses), statuses
    server.wait_idle()
    time.sleep(2)
    rss = server.rss_mib()
    assert rss <= server.idle_rss + RSS_MARGIN_MIB, \
        f"resident memory {rss:.1f} MiB after the burst vs {server.idle_rss:.1f} MiB idle (margin {RSS_MARGIN_MIB})"
