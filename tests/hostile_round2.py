# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generators for issue 16's second round (half A): archives planting secrets, hostile names and
malformed metadata into a real fixture archive, and the checks every hostile test makes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import json
import os
import random
import string
import tarfile

import hostile_archives as hostile


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def token(size, alphabet=string.ascii_letters + string.digits, seed=None):
    """A random secret of ``size`` characters (random per run unless ``seed``: no test can pass by
    knowing the value)."""
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    return "".join(rng.choice(alphabet) for _index in range(size))


def pieces(secret, size=16):
    """Every ``size``-character piece of ``secret``: none may show in any output."""
    return [secret[i:i + size] for i in range(0, len(secret) - size + 1)]


def leaked(secret, text, size=16):
    return [piece for piece in pieces(secret, size) if piece in text]


def with_rootfs(members, files):
    """``members`` with ``files`` ({name: bytes}) added to rootfs-diff.tar (created if absent)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        try:
            inner = hostile.content(members, "rootfs-diff.tar")
        except KeyError:
            inner = None
        if inner:
            with tarfile.open(fileobj=io.BytesIO(inner)) as old:
                for info in old:
                    tar.addfile(info, old.extractfile(info) if info.isfile() else None)
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    if inner is None:
        return members + [hostile.entry("rootfs-diff.tar", raw.getvalue())]
    return hostile.replace(members, "rootfs-diff.tar", raw.getvalue())


def with_deleted(members, names):
    data = json.dumps(names).encode("utf-8", "surrogateescape")
    try:
        return hostile.replace(members, "deleted.files", data)
    except KeyError:
        return members + [hostile.entry("deleted.files", data)]


def with_json(members, name, document):
    """``members`` with the metadata file ``name`` replaced by ``document`` (raw bytes or JSON)."""
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    return hostile.replace(members, name, data)


def build(base, dest, transform, compression=None):
    return hostile.write_tar(dest, transform(hostile.load_members(base)), compression)


def one_line(result, path):
    """A failed module result: one line naming ``path``, no traceback."""
    msg = result.get("msg", "")
    return result.get("failed") and "\n" not in msg and path in msg and "Traceback" not in json.dumps(result)


def files_below(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _dirs, names in os.walk(root) for f in names)


_MEASURE = r"""
import json, sys, time
import module_outputs
args = json.loads(sys.argv[2])
start = time.time()
result = module_outputs.run_module(sys.argv[1], args)
seconds = time.time() - start
with open("/proc/self/status") as status:
    peak = [int(line.split()[1]) for line in status if line.startswith("VmHWM:")][0] // 1024
print(json.dumps({"result": result, "peak_mb": peak, "seconds": seconds}))
"""


def measure(module, args, timeout=300):
    """Run ``module`` in a child process: (result, peak RSS in MB, seconds of the module run)."""
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", _MEASURE, module, json.dumps(args)], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["result"], out["peak_mb"], out["seconds"]
