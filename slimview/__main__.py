"""``python -m slimview``: the same as the ``slimview`` command."""

from slimview.cli import main

if __name__ == "__main__":
    main()
