#!/usr/bin/env python3
"""Writes the seed inputs of the image fuzz targets (image_layer, image_manifest, image_users)
into fuzz/seeds/<target>/. Input formats: see the header of each fuzz/fuzz_targets/<target>.rs.

    python3 fuzz/seeds/make-image-seeds.py      (needs gzip and zstd on PATH)
"""
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile

# No padding to 10 KiB records: a tar ends with its two zero blocks.
tarfile.RECORDSIZE = 512

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = b"\xff"


def out(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tar(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (name, kind, extra) with kind in file/dir/sym/link/fifo/chr."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, extra in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.uid = ti.gid = 0
            data = None
            if kind == "file":
                data = extra.get("data", b"")
                ti.size = len(data)
                ti.mode = extra.get("mode", 0o644)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = extra.get("mode", 0o755)
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = extra["target"]
                ti.mode = 0o777
            elif kind == "link":
                ti.type = tarfile.LNKTYPE
                ti.linkname = extra["target"]
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
                ti.mode = 0o600
            elif kind == "chr":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = 1, 3
                ti.mode = 0o666
            if "pax" in extra:
                ti.pax_headers = extra["pax"]
            if "uid" in extra:
                ti.uid = ti.gid = extra["uid"]
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def pipe(cmd, data):
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout


# --- image_layer: byte 0 = options, then the layer blob -------------------------------------
basic = tar([
    ("./", "dir", {"mode": 0o755}),
    ("etc/", "dir", {}),
    ("etc/passwd", "file", {"data": b"root:x:0:0:root:/root:/bin/sh\n"}),
    ("usr/lib/", "dir", {}),
    ("lib", "sym", {"target": "usr/lib"}),
    ("lib/libc.so", "file", {"data": b"ELF", "mode": 0o755}),
    ("bin/su", "file", {"data": b"#!", "mode": 0o4755, "uid": 1000}),
    ("bin/sh", "link", {"target": "bin/su"}),
    ("var/cache/", "dir", {"pax": {"SCHILY.xattr.user.test": "1"}}),
    ("var/cache/.wh..wh..opq", "file", {}),
    ("var/.wh.old", "file", {}),
    ("dev/null", "chr", {}),
    ("run/fifo", "fifo", {}),
])
out("image_layer", "basic.tar", b"\x00" + basic)
out("image_layer", "rootless-maps.tar.gz", b"\x03" + pipe(["gzip", "-9n"], basic))

hostile = tar([
    ("../../escape", "file", {}),
    ("/abs/file", "file", {}),
    ("up", "sym", {"target": "../../.."}),
    ("up/through-up", "file", {}),
    ("root", "sym", {"target": "/"}),
    ("root/tmp/through-root", "file", {}),
    ("dangling", "sym", {"target": "/nowhere/../../outside"}),
    ("dangling/made", "dir", {}),
    ("hard", "link", {"target": "../../etc/passwd"}),
    ("root/.wh.tmp", "file", {}),
], fmt=tarfile.GNU_FORMAT)
out("image_layer", "hostile.tar", b"\x00" + hostile)

small = tar([
    ("a/", "dir", {}),
    ("a/b", "file", {"data": b"hello\n"}),
    ("a/.wh.c", "file", {}),
    ("l", "sym", {"target": "a/b"}),
])
out("image_layer", "small.tar.gz", b"\x00" + pipe(["gzip", "-9n"], small))
out("image_layer", "small.tar.zst", b"\x00" + pipe(["zstd", "-19", "-q", "-c"], small))

# --- image_manifest: header FF top-level JSON FF blob0 FF blob1 … ----------------------------
def j(v):
    """Compact JSON; a size written as the string "$Sn" becomes the bare token $Sn (a JSON
    number once the fuzz target substitutes it)."""
    return re.sub(rb'"(\$S[0-9])"', rb"\1", json.dumps(v, separators=(",", ":")).encode())


diff_id = "sha256:" + hashlib.sha256(b"layer").hexdigest()
config = j({
    "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
    "config": {
        "User": "", "Env": ["PATH=/bin", "A=b"], "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo hi"], "WorkingDir": "/srv", "Labels": {"l": "v"},
        "StopSignal": "SIGTERM", "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}},
    },
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
})
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def desc(n, mt, **kw):
    """A descriptor of blob n."""
    return dict(mediaType=mt, digest=f"$D{n}", size=f"$S{n}", **kw)


def mf(cfg, layer):
    return j({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": desc(cfg, MT_CONFIG),
              "layers": [desc(layer, MT_LAYER)]})


layer_blob = b"\x1f\x8b not really a layer"
index = j({"schemaVersion": 2, "manifests": [desc(
    0, MT_MANIFEST, annotations={"org.opencontainers.image.ref.name": "latest"},
    platform={"architecture": "amd64", "os": "linux"})]})
out("image_manifest", "oci.bin", SEP.join([
    b"latest\nlinux/amd64\nvolumes tty", index, mf(1, 2), config, layer_blob]))

# A multi-platform index: index.json -> nested index -> arm64 / amd64 manifests.
nested = j({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
    desc(1, MT_MANIFEST, platform={"architecture": "arm64", "os": "linux", "variant": "v8"}),
    desc(2, MT_MANIFEST, platform={"architecture": "amd64", "os": "linux"})]})
top = j({"schemaVersion": 2, "manifests": [
    desc(0, MT_INDEX, annotations={"io.containerd.image.name": "docker.io/library/x:1"})]})
out("image_manifest", "multi-platform.bin", SEP.join([
    b"docker.io/library/x:1\nlinux/arm64/v8\nrootless args", top, nested, mf(3, 4), mf(3, 4),
    config, layer_blob]))

docker = j([{"Config": "blobs/sha256/$H0", "RepoTags": ["busybox:latest"],
             "Layers": ["blobs/sha256/$H1"]}])
out("image_manifest", "docker.bin", SEP.join([b"busybox\n\n", docker, config, layer_blob]))

# A real oci-archive (no 0xFF anywhere: taken as the archive file itself).
cfg_hex = hashlib.sha256(config).hexdigest()
lay_hex = hashlib.sha256(layer_blob).hexdigest()
man = j({"schemaVersion": 2, "mediaType": MT_MANIFEST,
         "config": {"mediaType": MT_CONFIG, "digest": "sha256:" + cfg_hex, "size": len(config)},
         "layers": [{"mediaType": MT_LAYER, "digest": "sha256:" + lay_hex,
                     "size": len(layer_blob)}]})
man_hex = hashlib.sha256(man).hexdigest()
idx = j({"schemaVersion": 2, "manifests": [{"mediaType": MT_MANIFEST,
         "digest": "sha256:" + man_hex, "size": len(man)}]})
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
    for name, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", idx),
                       ("blobs/sha256/" + man_hex, man), ("blobs/sha256/" + cfg_hex, config),
                       ("blobs/sha256/" + lay_hex, layer_blob)]:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
assert SEP not in buf.getvalue()
out("image_manifest", "oci-archive.tar", buf.getvalue())

# --- image_users: spec FF /etc/passwd FF /etc/group ------------------------------------------
passwd = (b"root:x:0:0:root:/root:/bin/sh\nweb:x:33:33:web:/var/www:/bin/false\n"
          b"bad line\nnobody:x:65534:65534::/:/bin/false\n")
group = b"root:x:0:\nweb:x:33:\nstaff:x:50:web,other\nwheel:x:10:web\nwww:x:80:\n"
out("image_users", "name.bin", SEP.join([b"web", passwd, group]))
out("image_users", "name-group.bin", SEP.join([b"web:staff", passwd, group]))
out("image_users", "uid-only.bin", SEP.join([b"33", passwd]))
out("image_users", "numeric.bin", b"1000:1000")
out("image_users", "uid-groupname.bin", SEP.join([b"4242:www", passwd, group]))
