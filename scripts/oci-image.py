#!/usr/bin/env python3
"""Build and check single-layer OCI image archives without a base image or registry.

  oci-image.py build OUT.tar NAME [options] SRC=DEST ...
      --user UID:GID       the image's user (default 0:0)
      --busybox PATH       add PATH as /bin/busybox with a link for each of its applets
      --strip              copy executables through `strip --strip-debug`
      --entrypoint PATH    the image's Entrypoint
  oci-image.py check OUT.tar [NAME [PATH ...]]
  oci-image.py selftest OUT.tar

`build` writes an OCI image layout archive (oci-layout, index.json, blobs/sha256/...)
that `ctr images import` reads (`io.containerd.image.name` = NAME). The layer holds
each SRC at DEST (DEST a path in the image) plus, for every ELF file, the shared
libraries `ldd` names and the program interpreter, at the paths `ldd` prints, so
dynamically linked binaries run with no base image. Reproducible: mtime 0, owner 0,
sorted entries. Layers are streamed through temporary files (debug binaries are
large).

`check` reads an archive back and fails unless: oci-layout says 1.0.0; index.json
has one manifest whose digest and size match its blob (and NAME when given); the
manifest's config and layer digests and sizes match their blobs; the config's
diff_ids equal the uncompressed layer digests; the config has a rootfs of type
layers, an os and an architecture; every blob file's name is its sha256; every PATH
is in the layer (a file, or a link to one that is).

`selftest` writes corrupted copies of a good archive (a manifest size off by one, a
flipped byte in the layer, a config whose diff_ids do not match, no oci-layout) and
fails unless `check` refuses every one.
"""
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
CHUNK = 1 << 20


def fail(msg):
    raise SystemExit(f"oci-image: {msg}")


def tinfo(path, typ=tarfile.REGTYPE, mode=0o755, size=0, link=""):
    t = tarfile.TarInfo(path.lstrip("/"))
    t.type, t.mode, t.size, t.linkname, t.mtime = typ, mode, size, link, 0
    t.uid = t.gid = 0
    t.uname = t.gname = "root"
    return t


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def shared_libraries(path):
    """Absolute paths `ldd` names for PATH (none for a static binary)."""
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    if r.returncode != 0:
        if "not a dynamic executable" in r.stdout + r.stderr or "statically linked" in r.stdout:
            return []
        fail(f"ldd {path}: {r.stderr.strip() or r.stdout.strip()}")
    libs = []
    for line in r.stdout.splitlines():
        if "not found" in line:
            fail(f"ldd {path}: {line.strip()}")
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def plan(mappings, busybox, strip):
    """{image path: (kind, value)}: files from the host, links, directories."""
    files, links = {}, {}
    for m in mappings:
        src, sep, dest = m.partition("=")
        if not sep or not dest.startswith("/"):
            fail(f"{m!r}: expected SRC=/absolute/dest")
        if not os.path.isfile(src):
            fail(f"{src}: no such file (build it first)")
        files[dest] = (src, strip and is_elf(src))
    if busybox:
        if not os.path.isfile(busybox):
            fail(f"--busybox {busybox}: no such file (Debian: apt-get install busybox-static)")
        files["/bin/busybox"] = (busybox, False)
        applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True)
        for a in applets.stdout.split():
            if "/" + a != "/bin/busybox" and "/" + a not in files:
                links["/" + a] = "/bin/busybox"
    for dest, (src, _) in list(files.items()):
        if is_elf(src):
            for lib in shared_libraries(src):
                files.setdefault(lib, (os.path.realpath(lib), False))
    return files, links


def write_layer(out, files, links, extra_files, user_dirs):
    """Writes the layer tar to OUT (a file object); returns its sha256 and size."""
    h = hashlib.sha256()

    class Hashing(io.RawIOBase):
        def __init__(self):
            self.size = 0

        def writable(self):
            return True

        def write(self, b):
            h.update(b)
            out.write(b)
            self.size += len(b)
            return len(b)

    sink = Hashing()
    dirs = {"/tmp": 0o1777, "/etc": 0o755, "/usr": 0o755, "/usr/bin": 0o755, "/bin": 0o755}
    dirs.update(user_dirs)
    for p in list(files) + list(links) + list(extra_files):
        d = os.path.dirname(p)
        while d not in ("/", ""):
            dirs.setdefault(d, 0o755)
            d = os.path.dirname(d)
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for d in sorted(dirs):
            tf.addfile(tinfo(d, tarfile.DIRTYPE, dirs[d]))
        with tempfile.TemporaryDirectory() as tmp:
            for dest in sorted(files):
                src, strip = files[dest]
                if strip:
                    copy = os.path.join(tmp, "stripped")
                    subprocess.run(["strip", "--strip-debug", "-o", copy, src], check=True)
                    src = copy
                mode = 0o755 if os.access(src, os.X_OK) else 0o644
                with open(src, "rb") as f:
                    tf.addfile(tinfo(dest, size=os.fstat(f.fileno()).st_size, mode=mode), f)
        for dest in sorted(links):
            tf.addfile(tinfo(dest, tarfile.SYMTYPE, 0o777, link=links[dest]))
        for dest in sorted(extra_files):
            b = extra_files[dest].encode()
            tf.addfile(tinfo(dest, mode=0o644, size=len(b)), io.BytesIO(b))
    return "sha256:" + h.hexdigest(), sink.size


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def write_archive(out, idx, small_blobs, layer_path, layer_digest, layer_size):
    """The OCI layout archive OUT (written to OUT.partial, then renamed)."""
    partial = out + ".partial"
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tf:
        def add(path, b):
            tf.addfile(tinfo(path, mode=0o644, size=len(b)), io.BytesIO(b))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", idx)
        tf.addfile(tinfo("blobs", tarfile.DIRTYPE))
        tf.addfile(tinfo("blobs/sha256", tarfile.DIRTYPE))
        for b in small_blobs:
            add("blobs/sha256/" + digest(b)[7:], b)
        with open(layer_path, "rb") as f:
            tf.addfile(tinfo("blobs/sha256/" + layer_digest[7:], mode=0o644, size=layer_size), f)
    os.replace(partial, out)


def build(args):
    out, name = args[0], args[1]
    opts = {"--user": "0:0", "--busybox": None, "--entrypoint": None}
    strip, mappings, i = False, [], 2
    while i < len(args):
        a = args[i]
        if a == "--strip":
            strip = True
        elif a in opts:
            if i + 1 >= len(args):
                fail(f"{a}: value missing")
            opts[a] = args[i + 1]
            i += 1
        else:
            mappings.append(a)
        i += 1
    uid, _, gid = opts["--user"].partition(":")
    if not (uid.isdigit() and gid.isdigit()):
        fail(f"--user {opts['--user']!r}: expected UID:GID")
    files, links = plan(mappings, opts["--busybox"], strip)
    passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    group = "root:x:0:\nnogroup:x:65534:\n"
    if uid not in ("0", "65534"):
        passwd += f"nonroot:x:{uid}:{gid}:nonroot:/nonexistent:/bin/false\n"
        group += f"nonroot:x:{gid}:\n"
    extra = {"/etc/passwd": passwd, "/etc/group": group}
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(out))) as tmp:
        layer_path = os.path.join(tmp, "layer")
        with open(layer_path, "wb") as f:
            layer_digest, layer_size = write_layer(f, files, links, extra, {"/root": 0o700})
        config = {
            "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {
                "User": opts["--user"],
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "WorkingDir": "/",
                "Labels": {"org.opencontainers.image.title": name},
            },
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "scripts/oci-image.py"}],
        }
        if opts["--entrypoint"]:
            config["config"]["Entrypoint"] = [opts["--entrypoint"]]
        cfg = json.dumps(config, sort_keys=True).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": digest(cfg), "size": len(cfg)},
            "layers": [{"mediaType": MT_LAYER, "digest": layer_digest, "size": layer_size}],
        }
        man = json.dumps(manifest, sort_keys=True).encode()
        tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
        index = {
            "schemaVersion": 2,
            "mediaType": MT_INDEX,
            "manifests": [{
                "mediaType": MT_MANIFEST, "digest": digest(man), "size": len(man),
                "platform": {"architecture": config["architecture"], "os": "linux"},
                "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
            }],
        }
        idx = json.dumps(index, sort_keys=True).encode()
        write_archive(out, idx, [cfg, man], layer_path, layer_digest, layer_size)
    libs = sorted(p for p in files if p not in {m.partition("=")[2] for m in mappings} and p != "/bin/busybox")
    print(f"{out}: {name} manifest {digest(man)}, layer {layer_size} bytes, "
          f"{len(files)} files ({', '.join(libs) or 'no shared libraries'}), {len(links)} links")


def check(args):
    path = args[0]
    want_name = args[1] if len(args) > 1 else None
    want_paths = args[2:]
    blobs = {}
    with tarfile.open(path) as tf:
        members = {m.name.lstrip("./"): m for m in tf.getmembers()}

        def read(name):
            m = members.get(name)
            if m is None or not m.isfile():
                fail(f"{path}: {name} missing")
            return tf.extractfile(m)

        layout = json.load(read("oci-layout"))
        if layout.get("imageLayoutVersion") != "1.0.0":
            fail(f"{path}: oci-layout: imageLayoutVersion {layout.get('imageLayoutVersion')!r}")
        index = json.load(read("index.json"))
        for name, m in members.items():
            if name.startswith("blobs/sha256/") and m.isfile():
                h, n, f = hashlib.sha256(), 0, tf.extractfile(m)
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                    n += len(chunk)
                if h.hexdigest() != name.rsplit("/", 1)[1]:
                    fail(f"{path}: {name}: content hashes to sha256:{h.hexdigest()}")
                blobs["sha256:" + h.hexdigest()] = n

        def blob_json(desc, what):
            d = desc.get("digest", "")
            if d not in blobs:
                fail(f"{path}: {what} {d}: no such blob")
            if blobs[d] != desc.get("size"):
                fail(f"{path}: {what} {d}: size {desc.get('size')}, blob has {blobs[d]}")
            return d

        if index.get("schemaVersion") != 2 or len(index.get("manifests", [])) != 1:
            fail(f"{path}: index.json: expected schemaVersion 2 and one manifest")
        mdesc = index["manifests"][0]
        if mdesc.get("mediaType") != MT_MANIFEST:
            fail(f"{path}: index.json: manifest mediaType {mdesc.get('mediaType')!r}")
        got_name = mdesc.get("annotations", {}).get("io.containerd.image.name")
        if want_name and got_name != want_name:
            fail(f"{path}: image name {got_name!r}, expected {want_name!r}")
        manifest = json.load(read("blobs/sha256/" + blob_json(mdesc, "manifest")[7:]))
        if manifest.get("schemaVersion") != 2 or manifest.get("config", {}).get("mediaType") != MT_CONFIG:
            fail(f"{path}: manifest: schemaVersion or config mediaType wrong")
        config = json.load(read("blobs/sha256/" + blob_json(manifest["config"], "config")[7:]))
        diff_ids = []
        for i, layer in enumerate(manifest.get("layers", [])):
            d = blob_json(layer, f"layer {i}")
            if layer.get("mediaType") != MT_LAYER:
                fail(f"{path}: layer {i}: mediaType {layer.get('mediaType')!r} (only uncompressed layers are built)")
            diff_ids.append(d)
        if not diff_ids:
            fail(f"{path}: manifest has no layers")
        rootfs = config.get("rootfs", {})
        if rootfs.get("type") != "layers" or rootfs.get("diff_ids") != diff_ids:
            fail(f"{path}: config rootfs {rootfs} does not match the layers {diff_ids}")
        if config.get("os") != "linux" or not config.get("architecture"):
            fail(f"{path}: config: os/architecture missing")
        if want_paths:
            with tarfile.open(fileobj=read("blobs/sha256/" + diff_ids[0][7:]), mode="r|") as layer:
                entries = {"/" + m.name.lstrip("./"): m for m in layer}
            for p in want_paths:
                m = entries.get(p)
                if m is not None and m.issym():
                    m = entries.get(m.linkname if m.linkname.startswith("/") else
                                    os.path.join(os.path.dirname(p), m.linkname))
                if m is None or not m.isfile():
                    fail(f"{path}: {p} is not in the image")
    print(f"{path}: ok ({got_name}, {len(blobs)} blobs, layer {', '.join(diff_ids)}"
          f"{', has ' + ' '.join(want_paths) if want_paths else ''})")


def corrupt(src, out, mutate):
    """Copies archive SRC to OUT, each regular file's bytes through MUTATE(name, data)
    (None drops the file)."""
    with tarfile.open(src) as a, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as b:
        for m in a.getmembers():
            if not m.isfile():
                b.addfile(m)
                continue
            data = mutate(m.name.lstrip("./"), a.extractfile(m).read())
            if data is not None:
                m.size = len(data)
                b.addfile(m, io.BytesIO(data))


def selftest(path):
    with tarfile.open(path) as tf:
        index = json.load(tf.extractfile("index.json"))
        mdigest = index["manifests"][0]["digest"]
        manifest = json.load(tf.extractfile("blobs/sha256/" + mdigest[7:]))
    layer = "blobs/sha256/" + manifest["layers"][0]["digest"][7:]
    config = "blobs/sha256/" + manifest["config"]["digest"][7:]

    def index_size(name, data):
        if name != "index.json":
            return data
        j = json.loads(data)
        j["manifests"][0]["size"] += 1
        return json.dumps(j).encode()

    def layer_byte(name, data):
        return data[:-1] + bytes([data[-1] ^ 1]) if name == layer else data

    cases = {
        "manifest size off by one": index_size,
        "a flipped byte in the layer": layer_byte,
        "no oci-layout": lambda name, data: None if name == "oci-layout" else data,
    }
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(path))) as tmp:
        # diff_ids: rewrite config, manifest and index consistently.
        with tarfile.open(path) as tf:
            cfg = json.load(tf.extractfile(config))
        cfg["rootfs"]["diff_ids"] = ["sha256:" + "0" * 64]
        cfg_b = json.dumps(cfg, sort_keys=True).encode()
        manifest["config"] = {**manifest["config"], "digest": digest(cfg_b), "size": len(cfg_b)}
        man_b = json.dumps(manifest, sort_keys=True).encode()
        index["manifests"][0] = {**index["manifests"][0], "digest": digest(man_b), "size": len(man_b)}
        idx_b = json.dumps(index, sort_keys=True).encode()

        def relink(name, data):
            if name == "index.json":
                return idx_b
            if name == config:
                return None
            if name == "blobs/sha256/" + mdigest[7:]:
                return None
            return data
        rewritten = os.path.join(tmp, "relinked.tar")
        corrupt(path, rewritten, relink)
        with tarfile.open(rewritten, "a") as tf:
            for b in (cfg_b, man_b):
                tf.addfile(tinfo("blobs/sha256/" + digest(b)[7:], mode=0o644, size=len(b)), io.BytesIO(b))
        cases_files = {"diff_ids that do not match the layer": rewritten}
        for what, mutate in cases.items():
            out = os.path.join(tmp, what.replace(" ", "-") + ".tar")
            corrupt(path, out, mutate)
            cases_files[what] = out
        for what, out in cases_files.items():
            try:
                check([out])
            except SystemExit as e:
                print(f"selftest: refused ({what}): {e}")
                continue
            fail(f"selftest: check accepted an archive with {what}")
    print(f"{path}: selftest ok: check refused {len(cases_files)} corrupted copies")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "build":
        build(sys.argv[2:])
    elif len(sys.argv) >= 3 and sys.argv[1] == "check":
        check(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "selftest":
        selftest(sys.argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
