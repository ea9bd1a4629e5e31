"""A CUDA workload for test:gpu: holds tensors on the GPU(s) and answers,
through files, with the SHA-256 of their bytes.

  target.py --dir DIR --mib N [--devices K]

Writes DIR/ready.json ({pid, sha256}) once the tensors are on the GPU.
Then, every 50 ms: if DIR/query exists, it deletes it and writes
DIR/answer.json ({pid, sha256, device, counter}) with the hash computed
afresh from GPU memory (copied to the host). Between queries it keeps
using the GPU (a small kernel), so the process is a live CUDA process
when it is locked. stdio must be /dev/null or files (CRIU restores them).
"""
import argparse
import hashlib
import json
import os
import time

import torch


def digest(tensors):
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.cpu().numpy().tobytes())
    return h.hexdigest()


def write(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--devices", type=int, default=1)
    a = ap.parse_args()
    gen = torch.Generator().manual_seed(1234)
    tensors = []
    per_device = a.mib * 1024 * 1024 // 4 // a.devices
    for d in range(a.devices):
        t = torch.randint(-(2**31), 2**31 - 1, (per_device,), dtype=torch.int32, generator=gen)
        tensors.append(t.to(f"cuda:{d}"))
    torch.cuda.synchronize()
    write(os.path.join(a.dir, "ready.json"), {"pid": os.getpid(), "sha256": digest(tensors)})
    scratch = torch.zeros(1024, device="cuda:0")
    counter = 0
    query = os.path.join(a.dir, "query")
    while True:
        scratch += 1  # keeps a CUDA call going now and then
        counter += 1
        if os.path.exists(query):
            os.unlink(query)
            write(os.path.join(a.dir, "answer.json"), {"pid": os.getpid(), "sha256": digest(tensors), "counter": counter})
        time.sleep(0.05)


if __name__ == "__main__":
    main()
