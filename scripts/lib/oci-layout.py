"""Builds an OCI image layout for the benchmarks, from directories on this machine.

Usage: oci-layout.py LAYOUT TAG LAYER...

Each LAYER is a directory whose tree becomes one gzip layer, in order; the word `busybox` stands
for a root of its own: Debian's static busybox with its applets linked in /bin, /etc/passwd with
root, and /tmp. The image runs /bin/sh with PATH=/bin. The layout gets TAG as its one reference
(`oci:LAYOUT:TAG` for skopeo). Prints the compressed size to standard error.
"""

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile


def busybox_root(root):
    os.makedirs(os.path.join(root, "bin"))
    os.makedirs(os.path.join(root, "etc"))
    os.makedirs(os.path.join(root, "tmp"))
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    applets = subprocess.run(["busybox", "--list"], check=True, capture_output=True, text=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", os.path.join(root, "bin", applet))
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")


def main(layout, tag, layers):
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data):
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, h), "wb") as f:
            f.write(data)
        return "sha256:" + h, len(data)

    descriptors, diff_ids = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for layer in layers:
            if layer == "busybox":
                layer = os.path.join(scratch, "busybox")
                busybox_root(layer)
            tar = subprocess.run(["tar", "-C", layer, "--numeric-owner", "-cf", "-", "."], check=True, capture_output=True).stdout
            diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
            digest, size = put(gzip.compress(tar, 6, mtime=0))
            descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cd, cs = put(json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                "layers": descriptors}
    md, ms = put(json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
             "size": ms, "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    print(f"{sum(d['size'] for d in descriptors) / 1e6:.1f} MB compressed", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: oci-layout.py LAYOUT TAG LAYER...")
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
