"""Resident memory of `strata serve` after bursts of mixed requests (issue 6's leak check,
measured rather than asserted): starts a server as tests/server/faults does for its memory
test (64 MiB KV cache, 16 sequences), warms it up, then runs BURSTS bursts of the test's 60
mixed requests from 12 clients and prints resident memory 2 s after each burst against the
idle level, and the mappings that grew most.

    STRATA_BIN=build/strata STRATA_MODEL=model.gguf python3 tools/burst_rss.py [SERVERS] [BURSTS]
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "server", "faults"))
import test_faults as tf  # noqa: E402  (the test's server and request mix)


def rss_by_mapping(pid):
    out, current = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if not parts[0].endswith(":"):
                current = (parts[0], parts[5] if len(parts) > 5 else "[anon]")
            elif parts[0] == "Rss:":
                out[current] = int(parts[1])
    return out


def burst(server):
    def client(c):
        for i in range(c, 60, 12):
            tf.mixed_request(server, i)
    threads = [threading.Thread(target=client, args=(c,)) for c in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.wait_idle()
    time.sleep(2)


def main():
    servers = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    bursts = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for n in range(servers):
        server = tf.Server(["--kv-cache-memory", tf.BURST_KV, "--max-num-seqs", "16"])
        server.post("/v1/completions", {"prompt": "warm up", "max_tokens": 8})
        server.wait_idle()
        time.sleep(2)
        idle, before = server.rss_mib(), rss_by_mapping(server.proc.pid)
        for b in range(bursts):
            burst(server)
            rss = server.rss_mib()
            print(f"server {n} burst {b}: idle {idle:.1f} MiB, after {rss:.1f} MiB ({rss - idle:+.1f})", flush=True)
        after = rss_by_mapping(server.proc.pid)
        grown = sorted(((after.get(k, 0) - before.get(k, 0), k) for k in set(before) | set(after)), reverse=True)
        for kib, (addresses, name) in grown[:3]:
            if kib > 0:
                print(f"    {kib} KiB more in {addresses} {name}")
        server.stop()


if __name__ == "__main__":
    main()
