"""Write the bundled mini sample (a docker save tarball, about 28 MB) to the given path.

    python3 sample_images/make_mini_sample.py /tmp/python-inference-mini.tar

The same bytes every time: `slimview` with no IMAGE generates this into its cache.
"""

import sys

from slimview.sample.mini import write_sample

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_mini_sample.py OUTPUT.tar")
    write_sample(sys.argv[1])
