#!/usr/bin/python3
"""Workloads for the benchmark (bench/README.md), one process tree per start.

  workload.py sleep                       exec()s /bin/sleep: one small process
  workload.py mem   --mib N --ready F     N MiB of anonymous memory, every page
                                          touched with a repeated non-zero pattern
  workload.py tree  --procs N --ready F   a root and N-1 children that exec /bin/sleep
  workload.py files --dir D --ready F     holds every file of D open read-only

The bench starts it as a session leader (setsid) with stdio on /dev/null, as
CRIU needs; whatever else the launcher leaked is closed first (CRIU refuses
external sockets and pipes). Once ready, nothing is written to any file: the
ready file is written to a temporary name, closed and renamed.
"""

import argparse
import json
import os
import resource
import sys
import time

PATTERN = b"criu-agent-bench"  # 16 bytes, non-zero
MIB = 1024 * 1024


def write_ready(path, payload):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f)
    os.rename(tmp, path)


def idle():
    while True:
        time.sleep(3600)


def wait_exec(pid, comm, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
                if f.read().strip() == comm:
                    return
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"child {pid} did not exec {comm} within {timeout_s} s")


def main():
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["sleep", "mem", "tree", "files"])
    parser.add_argument("--ready")
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--procs", type=int, default=50)
    parser.add_argument("--dir")
    args = parser.parse_args()

    if args.mode == "sleep":
        os.execv("/bin/sleep", ["sleep", "infinity"])

    try:
        if args.mode == "mem":
            # bytearray * n copies the pattern into a fresh anonymous mapping:
            # every page is touched and none is the zero page.
            buf = bytearray(PATTERN) * (args.mib * MIB // len(PATTERN))
            payload = {"pid": os.getpid(), "pids": [os.getpid()], "bytes": len(buf)}
        elif args.mode == "tree":
            children = []
            for _ in range(args.procs - 1):
                pid = os.fork()
                if pid == 0:
                    os.execv("/bin/sleep", ["sleep", "infinity"])
                children.append(pid)
            for pid in children:
                wait_exec(pid, "sleep")
            payload = {"pid": os.getpid(), "pids": [os.getpid(), *children]}
        else:
            names = sorted(os.listdir(args.dir))
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            want = len(names) + 64
            if soft < want:
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
            held = [open(os.path.join(args.dir, n), "rb") for n in names]
            payload = {"pid": os.getpid(), "pids": [os.getpid()], "files": len(held)}
        write_ready(args.ready, payload)
    except BaseException as e:  # the bench reads this instead of a ready file
        with open(args.ready + ".error", "w", encoding="utf-8") as f:
            f.write(f"{type(e).__name__}: {e}\n")
        os._exit(1)
    idle()


if __name__ == "__main__":
    sys.exit(main())
