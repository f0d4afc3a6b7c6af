"""A real image, built by the engine FROM busybox, whose waste is known by construction.

Every RUN makes one layer; every size is exact (``head -c``/``dd`` from /dev/zero):

  1  creates (48,500 bytes of regular files):
       w/gone.bin 7000, w/tree/a.bin 3000, w/tree/sub/b.bin 5000, w/over.bin 11000,
       w/chmod.bin 2000, w/opq/old1.bin 4000, w/opq/old2.bin 6000, w/big.bin 9000
       (+ hard link w/big.link, symlink w/big.sym -> big.bin), w/owned.bin 1500
  2  rm w/gone.bin                    -> 7000 hidden (deleted)
  3  rm -rf w/tree                    -> 8000 hidden (deleted), 4 paths gone
  4  overwrite w/over.bin with 12000 'x' bytes -> 11000 hidden (overwritten)
  5  chmod 600 w/chmod.bin            -> copied up: 2000 stored again, 2000 hidden
  6  rm -rf w/opq && mkdir w/opq && echo x > w/opq/new -> opaque whiteout, 10000 hidden
  7  chown 1000:1000 w/owned.bin      -> copied up: 1500 stored again, 1500 hidden
  8  rm w/big.bin                     -> nothing hidden: w/big.link still holds the 9000 bytes

A trailing LABEL (no layer) makes each user's image distinct while the layers come from
the build cache.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from engine import build_image, save_image

DOCKERFILE = """\
FROM busybox:latest
RUN mkdir -p /w/tree/sub /w/opq \\
 && head -c 7000 /dev/zero > /w/gone.bin \\
 && head -c 3000 /dev/zero > /w/tree/a.bin \\
 && head -c 5000 /dev/zero > /w/tree/sub/b.bin \\
 && head -c 11000 /dev/zero > /w/over.bin \\
 && head -c 2000 /dev/zero > /w/chmod.bin \\
 && head -c 4000 /dev/zero > /w/opq/old1.bin \\
 && head -c 6000 /dev/zero > /w/opq/old2.bin \\
 && dd if=/dev/zero of=/w/big.bin bs=1000 count=9 2>/dev/null \\
 && ln /w/big.bin /w/big.link \\
 && ln -s big.bin /w/big.sym \\
 && head -c 1500 /dev/zero > /w/owned.bin
RUN rm /w/gone.bin
RUN rm -rf /w/tree
RUN head -c 12000 /dev/zero | tr '\\0' x > /w/over.bin
RUN chmod 600 /w/chmod.bin
RUN rm -rf /w/opq && mkdir /w/opq && echo x > /w/opq/new
RUN chown 1000:1000 /w/owned.bin
RUN rm /w/big.bin
LABEL org.slimview.test={label}
"""

# Regular-file bytes stored by layers 1..8 (layer 0 is busybox, counted independently).
USER_LAYER_SIZES = [48_500, 0, 0, 12_000, 2_000, 2, 1_500, 0]

# (stored_in, hidden_by) -> bytes
HIDDEN_BY_PAIR = {(1, 2): 7_000, (1, 3): 8_000, (1, 4): 11_000, (1, 5): 2_000, (1, 6): 10_000, (1, 7): 1_500}
HIDDEN_BYTES = 39_500

HIDDEN = {
    ("w/gone.bin", 7_000, 1, 2, "deleted"),
    ("w/tree/a.bin", 3_000, 1, 3, "deleted"),
    ("w/tree/sub/b.bin", 5_000, 1, 3, "deleted"),
    ("w/over.bin", 11_000, 1, 4, "overwritten"),
    ("w/chmod.bin", 2_000, 1, 5, "overwritten"),
    ("w/opq/old1.bin", 4_000, 1, 6, "deleted"),
    ("w/opq/old2.bin", 6_000, 1, 6, "deleted"),
    ("w/owned.bin", 1_500, 1, 7, "overwritten"),
}

DELETED_PATHS = {
    2: {"w/gone.bin"},
    3: {"w/tree", "w/tree/a.bin", "w/tree/sub", "w/tree/sub/b.bin"},
    6: {"w/opq/old1.bin", "w/opq/old2.bin"},
    8: {"w/big.bin"},
}

# dive 0.13.1 counts a path stored twice (a whiteout counts as one more time, with 0 bytes):
# over.bin 11000+12000, big.bin 9000+0, gone.bin 7000+0, chmod.bin 2000+2000, owned.bin 1500+1500.
# It never sees w/tree (a directory with children is not a leaf) or the opaque directory.
DIVE_INEFFICIENT_BYTES = 46_000


def build_and_save(engine, workdir: Path, *, buildkit: bool) -> tuple[str, Path]:
    """Build the image with one builder; returns (tag, path of its `docker save`)."""
    label = uuid.uuid4().hex[:12]
    tag = f"slimview-test-waste-{label}:latest"
    build_image(engine, {}, DOCKERFILE.format(label=label), tag, buildkit=buildkit)
    archive = save_image(engine, tag, workdir / f"waste-{'buildkit' if buildkit else 'legacy'}.tar")
    return tag, archive
