#!/usr/bin/env python3
"""Write the guest's initramfs (an uncompressed newc cpio) for integration/guest/run.sh.

    mkinitramfs.py OUT INIT BUSYBOX MODDIR MODULE...

Contents: /init (INIT), /.hako/busybox (static), /.hako/modules/NN-name.ko for MODULE...
plus everything they depend on, in load order (deps first; the order is the NN prefix),
and /bin /sbin /lib /lib64 -> usr/... symlinks, as on Debian bookworm (usr-merged): the
host's /usr is mounted over 9p and host binaries then resolve exactly as on the host.

Python rather than depmod/cpio: neither kmod nor GNU cpio is on the CI image, and the
kernel package ships no modules.dep (depmod runs at install time, which we skip).
Dependencies come from each module's .modinfo ELF section ("depends=a,b").
"""
import lzma
import os
import struct
import sys


def modinfo(data):
    """key -> [values] from the .modinfo section of an ELF64 little-endian module."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not an ELF64 LE object")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def sh(i):
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)

    stroff, strsize = sh(shstrndx)[4:6]
    info = {}
    for i in range(shnum):
        name_off, _, _, _, off, size = sh(i)
        end = data.index(b"\0", stroff + name_off)
        if data[stroff + name_off:end] != b".modinfo":
            continue
        for entry in data[off:off + size].split(b"\0"):
            if b"=" in entry:
                k, v = entry.decode(errors="replace").split("=", 1)
                info.setdefault(k, []).append(v)
    return info


def norm(name):
    return name.replace("-", "_")


def index_modules(moddir):
    """module name -> path of its .ko / .ko.xz under moddir."""
    idx = {}
    for root, _, files in os.walk(moddir):
        for f in files:
            for ext in (".ko", ".ko.xz"):
                if f.endswith(ext):
                    idx[norm(f[: -len(ext)])] = os.path.join(root, f)
    return idx


def builtins(moddir):
    out = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            for line in f:
                out.add(norm(os.path.basename(line.strip()).split(".ko")[0]))
    except FileNotFoundError:
        pass
    return out


SIG_MAGIC = b"~Module signature appended~\n"


def read_ko(path):
    with open(path, "rb") as f:
        data = f.read()
    data = lzma.decompress(data) if path.endswith(".xz") else data
    # Drop the appended signature: checking RSA signatures costs ~0.1 s per module under
    # TCG, and the kernel (no module.sig_enforce) loads unsigned modules anyway.
    if data.endswith(SIG_MAGIC):
        # struct module_signature (12 bytes, sig_len big-endian last) precedes the magic.
        sig_len, = struct.unpack_from(">I", data, len(data) - len(SIG_MAGIC) - 4)
        data = data[: len(data) - len(SIG_MAGIC) - 12 - sig_len]
    return data


def resolve(moddir, wanted):
    """[(name, bytes)] in load order: every module after all of its dependencies."""
    idx, builtin = index_modules(moddir), builtins(moddir)
    order, seen = [], set()

    def visit(name, chain):
        name = norm(name)
        if name in seen or name in builtin:
            return
        if name in chain:
            raise SystemExit(f"mkinitramfs: dependency cycle at {name}")
        if name not in idx:
            raise SystemExit(f"mkinitramfs: module {name} not found under {moddir}")
        data = read_ko(idx[name])
        for deps in modinfo(data).get("depends", []):
            for d in filter(None, deps.split(",")):
                visit(d, chain | {name})
        seen.add(name)
        order.append((name, data))

    for w in wanted:
        visit(w, frozenset())
    return order


class Cpio:
    """Minimal newc writer (what the kernel's initramfs unpacker reads)."""

    def __init__(self, f):
        self.f, self.ino = f, 1

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        self.ino += 1
        name_b = name.encode() + b"\0"
        # ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0)
        hdr = "070701" + "".join("%08X" % v for v in fields)
        self.f.write(hdr.encode() + name_b)
        self.f.write(b"\0" * (-(110 + len(name_b)) % 4))
        self.f.write(data)
        self.f.write(b"\0" * (-len(data) % 4))

    def dir(self, name, perm=0o755):
        self._entry(name, 0o040000 | perm)

    def file(self, name, data, perm=0o644):
        self._entry(name, 0o100000 | perm, data)

    def chardev(self, name, major, minor, perm=0o600):
        self._entry(name, 0o020000 | perm, rdev=(major, minor))

    def symlink(self, name, target):
        self._entry(name, 0o120777, target.encode())

    def close(self):
        self._entry("TRAILER!!!", 0)


def main():
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    out, init, busybox, moddir, wanted = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
    mods = resolve(moddir, wanted)
    tmp = f"{out}.{os.getpid()}.tmp"  # concurrent run.sh may build the same image
    with open(tmp, "wb") as f:
        c = Cpio(f)
        for d in (".hako", ".hako/modules", "usr", "dev", "proc", "sys", "newroot"):
            c.dir(d)
        # The kernel opens /dev/console for init's stdin/stdout/stderr before devtmpfs exists.
        c.chardev("dev/console", 5, 1)
        # Debian bookworm is usr-merged; these resolve into the 9p-mounted host /usr.
        for link in ("bin", "sbin", "lib", "lib64"):
            c.symlink(link, "usr/" + link)
        with open(init, "rb") as i:
            c.file("init", i.read(), 0o755)
        with open(busybox, "rb") as b:
            c.file(".hako/busybox", b.read(), 0o755)
        for n, (name, data) in enumerate(mods):
            c.file(f".hako/modules/{n:02d}-{name}.ko", data)
        c.close()
    os.replace(tmp, out)
    print("mkinitramfs: modules " + " ".join(name for name, _ in mods), file=sys.stderr)


if __name__ == "__main__":
    main()
