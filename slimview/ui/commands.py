"""The command palette: the same actions the keys run, found by name."""

from __future__ import annotations

import dataclasses
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


def palette_bindings(app) -> list[Binding]:
    """The app's own bindings as commands (each has an id and a description), one per action."""
    out: dict[str, Binding] = {}
    for binding in app.BINDINGS:
        if isinstance(binding, Binding) and binding.id and binding.id.startswith("app.") and binding.description:
            out.setdefault(binding.action, binding)
    return list(out.values())


class SlimviewCommands(Provider):
    """Every app binding as a command, with its key as help."""

    def _commands(self):
        for binding in palette_bindings(self.app):
            first = dataclasses.replace(binding, key=binding.key.split(",")[0])
            key = binding.key_display or self.app.get_key_display(first)
            help_text = f"{binding.tooltip} (key: {key})" if binding.tooltip else f"key: {key}"
            yield binding.description, help_text, partial(self.app.run_action, binding.action)

    async def discover(self) -> Hits:
        for title, help_text, run in self._commands():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, run in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, text=title, help=help_text)
