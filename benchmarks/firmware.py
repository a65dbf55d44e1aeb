#!/usr/bin/env python3
"""Makes a firmware-like image for benchmarks/macro.sh: an ext4 file system image (no journal, 4 KiB blocks, fixed
UUID, hash seed and times) of real shared libraries from this machine's /usr/lib/x86_64-linux-gnu, about 200 MB.

Usage: firmware.py VERSION OUT   (VERSION 1 or 2)

Version 1 holds the libraries of up to 16 MiB in name order until 190 MiB. Version 2 is version 1 with the changes of an update,
chosen by a fixed seed: one file in 20 removed, libraries from past version 1's end added (1 % of its bytes per
file count), and one file in 8 patched: 8 runs of 64 bytes overwritten at random places and 4 KiB of new bytes
inserted at a random place (everything after it moves, as a rebuilt library's code moves). No library is really
rebuilt, so references into moved code are not rewritten; the image is real binaries laid out by a real file
system, with the edits of a small update. The bytes depend on this machine's libraries: compare tools within one run.
"""
import os, random, shutil, subprocess, sys, tempfile

SOURCE = "/usr/lib/x86_64-linux-gnu"
VERSION1_BYTES = 190 << 20
MAX_FILE_BYTES = 16 << 20  # no LLVM: a device's image holds smaller libraries
IMAGE = "240M"

def libraries():
    names = sorted(n for n in os.listdir(SOURCE) if ".so" in n and os.path.isfile(os.path.join(SOURCE, n)) and not os.path.islink(os.path.join(SOURCE, n)))
    return [(n, os.path.getsize(os.path.join(SOURCE, n))) for n in names]

def main(version, out):
    every = libraries()
    chosen, total = [], 0
    for name, size in every:
        if size > MAX_FILE_BYTES: continue
        if total + size > VERSION1_BYTES: break
        chosen.append(name); total += size
    rest = [n for n, size in every[every.index((chosen[-1], os.path.getsize(os.path.join(SOURCE, chosen[-1])))) + 1:] if size <= MAX_FILE_BYTES]
    contents = {n: open(os.path.join(SOURCE, n), "rb").read() for n in chosen}
    if version == 2:
        rng = random.Random(23)
        for i, name in enumerate(chosen):
            if i % 20 == 7: del contents[name]
            elif i % 8 == 3:
                data = bytearray(contents[name])
                for _ in range(8):
                    at = rng.randrange(max(1, len(data) - 64)); data[at:at + 64] = rng.randbytes(64)
                at = rng.randrange(len(data)); data[at:at] = rng.randbytes(4096)
                contents[name] = bytes(data)
        for name in rest[:len(chosen) // 100 + 1]:
            contents[name] = open(os.path.join(SOURCE, name), "rb").read()
    root = tempfile.mkdtemp()
    try:
        lib = os.path.join(root, "lib"); os.makedirs(lib)
        for name in sorted(contents):
            path = os.path.join(lib, name)
            with open(path, "wb") as f: f.write(contents[name])
            os.chmod(path, 0o755); os.utime(path, (0, 0))
        os.utime(lib, (0, 0)); os.utime(root, (0, 0))
        if os.path.exists(out): os.remove(out)
        env = dict(os.environ, E2FSPROGS_FAKE_TIME="1", SOURCE_DATE_EPOCH="0")
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-O", "^has_journal", "-U", "6f0a7a54-2c1e-4d0b-9a51-000000000023",
                        "-E", "hash_seed=6f0a7a54-2c1e-4d0b-9a51-000000000023,root_owner=0:0", "-L", "rootfs", "-d", root, out, IMAGE], check=True, env=env)
    finally:
        shutil.rmtree(root)

if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
