"""Independent recounts over a `docker save` archive, with Python's tarfile only (no slimview
code), to check the figures findings report."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

USR_MERGE = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}


class SavedArchive:
    """Layers as {path: member} (base first), the config, and the bodies of dpkg's lists."""

    def __init__(self, path: Path):
        self.path = path
        self.layer_names: list[str] = []
        self.layers: list[dict[str, tarfile.TarInfo]] = []
        self.lists: list[dict[str, bytes]] = []
        self.dpkg_status: list[bytes | None] = []  # each layer's var/lib/dpkg/status, if it wrote one
        with tarfile.open(path) as outer:
            (manifest,) = json.load(outer.extractfile("manifest.json"))
            self.config = json.load(outer.extractfile(manifest["Config"]))
            self.layer_names = list(manifest["Layers"])
            for name in manifest["Layers"]:
                members, lists, status = {}, {}, None
                with tarfile.open(fileobj=io.BytesIO(outer.extractfile(name).read())) as layer:
                    for m in layer.getmembers():
                        path = m.name.removeprefix("./").rstrip("/")
                        members[path] = m
                        if m.isfile() and path.startswith("var/lib/dpkg/info/") and path.endswith(".list"):
                            lists[path] = layer.extractfile(m).read()
                        elif m.isfile() and path == "var/lib/dpkg/status":
                            status = layer.extractfile(m).read()
                self.layers.append(members)
                self.lists.append(lists)
                self.dpkg_status.append(status)

    def read(self, layer: int, path: str) -> bytes:
        """The body of the regular file ``path`` as ``layer`` stores it."""
        with tarfile.open(self.path) as outer, tarfile.open(fileobj=outer.extractfile(self.layer_names[layer])) as tar:
            body = tar.extractfile(self.layers[layer][path])
            assert body is not None, path
            return body.read()

    def files_under(self, layer: int, prefix: str) -> dict[str, int]:
        """Regular files of ``layer`` under ``prefix``, with their sizes."""
        return {p: m.size for p, m in self.layers[layer].items() if m.isfile() and p.startswith(prefix)}

    def whited_out(self, layer: int) -> set[str]:
        """Paths the layer's ``.wh.`` entries delete."""
        out = set()
        for path in self.layers[layer]:
            parent, _, name = path.rpartition("/")
            if name.startswith(".wh.") and name != ".wh..wh..opq":
                out.add(f"{parent}/{name[4:]}" if parent else name[4:])
        return out

    def package_bytes(self, layer: int, package: str) -> int:
        """Bytes of the regular files dpkg's list for ``package`` names, as stored in ``layer``."""
        lists = self.lists[layer]
        # Multi-arch packages name their list after the architecture too: libperl5.36:amd64.list.
        name = next(n for n in (f"var/lib/dpkg/info/{package}.list", f"var/lib/dpkg/info/{package}:amd64.list") if n in lists)
        total, seen = 0, set()
        for line in lists[name].decode().split("\n"):
            path = line.lstrip("/")
            top, _, rest = path.partition("/")
            if path not in self.layers[layer] and top in USR_MERGE:
                path = f"{USR_MERGE[top]}/{rest}"
            member = self.layers[layer].get(path)
            if member is not None and member.isfile() and path not in seen:
                seen.add(path)
                total += member.size
        return total

    def dpkg_versions(self, layer: int) -> dict[str, str]:
        """Package → version of the dpkg status file as of ``layer`` (the last one written at or below it)."""
        body = next((b for b in reversed(self.dpkg_status[: layer + 1]) if b is not None), b"")
        versions = {}
        for stanza in body.decode().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in stanza.split("\n") if ": " in line and not line.startswith(" "))
            if "Package" in fields and fields.get("Status", "").endswith(" installed"):
                versions[fields["Package"]] = fields.get("Version", "")
        return versions

    def layer_of(self, fragment: str) -> int:
        """The layer whose history line contains ``fragment`` (exactly one must)."""
        history = [h for h in self.config["history"] if not h.get("empty_layer")]
        offset = len(self.layers) - len(history)
        (k,) = [i + offset for i, h in enumerate(history) if fragment in h.get("created_by", "")]
        return k

    def visible(self) -> dict[str, tarfile.TarInfo]:
        """The final filesystem a plain overlay shows: {path: member of the layer that last wrote it}."""
        final: dict[str, tarfile.TarInfo] = {}
        for k, layer in enumerate(self.layers):
            for path in self.whited_out(k):
                for key in [key for key in final if key == path or key.startswith(path + "/")]:
                    del final[key]
            for path, member in layer.items():
                if not path.rpartition("/")[2].startswith(".wh."):
                    final[path] = member
        return final

    def stored_and_visible(self) -> tuple[int, int]:
        """(bytes of all regular files in all layers, bytes left visible by a plain overlay)."""
        stored = sum(m.size for layer in self.layers for m in layer.values() if m.isfile())
        return stored, sum(m.size for m in self.visible().values() if m.isfile())
