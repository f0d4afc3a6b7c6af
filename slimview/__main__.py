"""The ``slimview`` command (and ``python -m slimview``).

A report already rendered for an unchanged image file is replayed before the command
line parser and the pipeline are even imported (see slimview/report/saved.py); everything
else goes to slimview.cli.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from slimview.report.saved import replay

    try:
        replayed = replay(sys.argv[1:])
    except BrokenPipeError:  # the reader went away (`| head`): not an error
        os._exit(0)
    except OSError as exc:  # stdout failed mid-write (a full disk): one line, as anywhere
        sys.stderr.write(f"slimview: error: {exc.strerror or exc}\n")
        os._exit(2)
    if replayed:
        os._exit(0)
    from slimview.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
