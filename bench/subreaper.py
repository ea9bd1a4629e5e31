#!/usr/bin/python3
"""Runs a command as the child of a child subreaper (PR_SET_CHILD_SUBREAPER).

A tree killed by a dump, or a restored tree once killed, leaves zombies whose
parent is gone; they are reparented to the nearest subreaper, else to PID 1,
which on this kind of VM reaps only every 1-2 s. Here they are reaped at once,
so the bench's waits for free pids (outside every timed section) stay short.
It changes nothing CRIU or the agent do.

Usage: subreaper.py COMMAND [ARGS...]; exits with COMMAND's status.
"""

import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        print(f"subreaper: prctl failed ({os.strerror(err)}); zombies go to PID 1", file=sys.stderr)
    child = os.fork()
    if child == 0:
        try:
            os.execvp(sys.argv[1], sys.argv[1:])
        finally:
            os._exit(127)
    # Ctrl-C reaches the command directly (same process group); pass on the rest.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, _f: os.kill(child, n))
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main())
