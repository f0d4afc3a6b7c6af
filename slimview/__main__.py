"""``python -m slimview``: the same as the ``slimview`` command."""

from slimview.launch import main

if __name__ == "__main__":
    main()
