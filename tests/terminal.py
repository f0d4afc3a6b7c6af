"""A real terminal for end-to-end tests: a tmux pane running the installed command."""

from __future__ import annotations

import shlex
import subprocess
import time
import uuid


class Terminal:
    """A tmux pane on a server of its own (other tmux users on the machine are left alone)."""

    def __init__(self, command: str, cwd: str, env: dict[str, str], size=(120, 40)):
        self.session = f"slimview-test-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.session, "-f", "/dev/null"]
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # The pane starts idle and the program is started in it once tmux has sized it: a
        # program started with the session can read the size before tmux applies -x/-y.
        # COLUMNS/LINES from the test runner's environment would override the pane's size.
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", self.session, "-x", str(size[0]), "-y", str(size[1]), "-c", cwd, "sleep 600"],
            check=True,
        )
        self.started = time.monotonic()  # the command starts now
        subprocess.run(
            [*self.tmux, "respawn-pane", "-k", "-t", self.session, "-c", cwd, f"env -u COLUMNS -u LINES {exports} {command}; echo slimview-exit=$?; sleep 60"],
            check=True,
        )

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-t", self.session, "-p"], capture_output=True, text=True, check=True).stdout

    def wait_for(self, text: str, timeout: float = 60.0, without: str | None = None) -> str:
        """The screen once ``text`` is on it (and ``without``, when given, is not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen and (without is None or without not in screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def seconds_until(self, texts: list[str], timeout: float = 60.0) -> float:
        """Seconds from the command's start until every one of ``texts`` is on the screen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(text in self.screen() for text in texts):
                return time.monotonic() - self.started
            time.sleep(0.02)
        raise AssertionError(f"{texts!r} never all appeared; the screen was:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.session, *keys], check=True)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
