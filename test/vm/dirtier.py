#!/usr/bin/python3
"""PreDump target for the VM suite: a big buffer whose pages partly change.

A single process (a session leader, stdio on /dev/null: see
test/helpers/target.ts for why) holding `--mib` MiB of anonymous memory, every
page touched. A thread dirties a random `--fraction` of the pages every
`--interval-ms` ms, which is what makes pre-dumps worth it: each round of a
PreDump chain only has to copy what changed since the previous one. Pages are
dirtied in runs of `--cluster` contiguous pages, as programs write memory
with some locality (thousands of isolated dirty pages cost CRIU more per page
than the same number in runs: one pagemap entry and parent lookup per run).

Every page carries, in its first and last 8 bytes, its index and a version
number; `versions` (a separate, small array) says which version each page
must have. A restore that mixed up the layers of a pre-dump chain (a page
taken from a parent although it changed since) shows up as a page whose
version is not the expected one. The rest of each page is a fixed
pseudo-random pattern.

It listens on 127.0.0.1:<ephemeral port>. Each connection sends one command
line and gets one JSON line back, then the connection is closed (so that no
connection is in flight when CRIU dumps):
  state   pid, rounds done, pages dirtied so far, paused
  pause   stops dirtying (after the round in progress) and answers `verify`
  resume  dirties again, answers `state`
  verify  `state` plus the consistency check (bad_pages) and the sha256 of
          the whole buffer; taken under the lock, so never mid-round

Usage: dirtier.py --ready-file PATH [--mib 256] [--fraction 0.005]
                  [--cluster 16] [--interval-ms 200] [--seed 1]
"""

import argparse
import hashlib
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import traceback
from array import array

PAGE = 4096
HEAD = struct.Struct("<QQ")  # page index, version
TAIL = struct.Struct("<Q")  # version, again, at the end of the page


class Memory:
    def __init__(self, mib, fraction, cluster, interval_s, seed):
        self.npages = mib * 256
        self.cluster = max(1, min(cluster, self.npages))
        self.nclusters = self.npages // self.cluster
        self.clusters_per_round = max(1, round(self.npages * fraction / self.cluster))
        self.per_round = self.clusters_per_round * self.cluster
        self.interval_s = interval_s
        self.rng = random.Random(seed)
        pattern = bytes(random.Random(seed ^ 0x5EED).getrandbits(8) for _ in range(PAGE))
        # Touches every page (a repeated pattern is cheap to make).
        self.buf = bytearray(pattern) * self.npages
        self.versions = array("Q", [0]) * self.npages
        for i in range(self.npages):
            HEAD.pack_into(self.buf, i * PAGE, i, 0)
            TAIL.pack_into(self.buf, i * PAGE + PAGE - 8, 0)
        self.lock = threading.Lock()
        self.rounds = 0
        self.dirtied = 0
        self.paused = False

    def dirty_round(self):
        with self.lock:
            if self.paused:
                return
            for c in self.rng.sample(range(self.nclusters), self.clusters_per_round):
                for i in range(c * self.cluster, (c + 1) * self.cluster):
                    v = self.versions[i] + 1
                    off = i * PAGE
                    HEAD.pack_into(self.buf, off, i, v)
                    TAIL.pack_into(self.buf, off + PAGE - 8, v)
                    self.versions[i] = v
            self.rounds += 1
            self.dirtied += self.per_round

    def state(self):
        return {
            "pid": os.getpid(),
            "pages": self.npages,
            "per_round": self.per_round,
            "cluster": self.cluster,
            "rounds": self.rounds,
            "dirtied": self.dirtied,
            "paused": self.paused,
        }

    def verify_locked(self):
        bad = 0
        buf, versions = self.buf, self.versions
        for i in range(self.npages):
            off = i * PAGE
            idx, v = HEAD.unpack_from(buf, off)
            (tail,) = TAIL.unpack_from(buf, off + PAGE - 8)
            if idx != i or v != versions[i] or tail != v:
                bad += 1
        out = self.state()
        out["bad_pages"] = bad
        out["mem_sha256"] = hashlib.sha256(buf).hexdigest()
        return out

    def command(self, cmd):
        if cmd == "state":
            with self.lock:
                return self.state()
        if cmd == "verify":
            with self.lock:
                return self.verify_locked()
        if cmd == "pause":
            with self.lock:
                self.paused = True
                return self.verify_locked()
        if cmd == "resume":
            with self.lock:
                self.paused = False
                return self.state()
        return {"error": f"unknown command {cmd!r}"}


def dirty_forever(mem):
    while True:
        time.sleep(mem.interval_s)
        mem.dirty_round()


def read_line(conn, limit=256):
    data = b""
    while b"\n" not in data and len(data) < limit:
        chunk = conn.recv(limit)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode("ascii", "replace").strip()


def serve_forever(listener, mem):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            continue
        try:
            with conn:
                conn.settimeout(10)
                answer = mem.command(read_line(conn))
                conn.sendall((json.dumps(answer) + "\n").encode())
        except OSError:
            pass


def write_ready_file(path, payload):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f)
    os.rename(tmp, path)


def main():
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--fraction", type=float, default=0.005)
    parser.add_argument("--cluster", type=int, default=16)
    parser.add_argument("--interval-ms", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    try:
        mem = Memory(args.mib, args.fraction, args.cluster, args.interval_ms / 1000.0, args.seed)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Restore re-binds the port while closed connections sit in TIME_WAIT.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        threading.Thread(target=dirty_forever, args=(mem,), name="dirtier", daemon=True).start()
        threading.Thread(target=serve_forever, args=(listener, mem), name="server", daemon=True).start()
        write_ready_file(args.ready_file, {"pid": os.getpid(), "port": listener.getsockname()[1]})
    except BaseException:
        try:
            with open(args.ready_file + ".error", "w", encoding="utf-8") as f:
                f.write(traceback.format_exc())
        finally:
            os._exit(1)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
