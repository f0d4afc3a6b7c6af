"""Walks over the dependency graph of the installed packages: what the runtime still needs
once some packages go, which packages are build-only, what a set of packages pulls in and
weighs, and which shared libraries a program built against ``-dev`` packages needs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from slimview.packages.classify import BuildRole, build_role, is_shared_library, may_be_loaded_at_runtime
from slimview.packages.model import Package, package_name


def providers(packages: dict[str, Package]) -> dict[str, list[str]]:
    """Name (real or virtual) → installed packages that satisfy it."""
    out: dict[str, list[str]] = {}
    for name, pkg in packages.items():
        out.setdefault(name.split(":", 1)[0], []).append(name)
        for virtual in pkg.provides:
            out.setdefault(virtual, []).append(name)
    return out


def needed_by_runtime(
    packages: dict[str, Package], removed: Collection[str], also_roots: Callable[[str], bool] = lambda name: False
) -> set[str]:
    """Packages still needed once ``removed`` are gone: what apt's autoremove would keep.

    Roots are the packages installed on purpose (not marked automatic), the base system
    and those ``also_roots`` names; everything they depend on or recommend stays (apt keeps
    recommended packages by default). Without apt's marks every package counts as
    installed on purpose.
    """
    by_name = providers(packages)
    keep: set[str] = set()
    stack = [n for n, p in packages.items() if n not in removed and (not p.auto or p.required or also_roots(n))]
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        keep.add(name)
        pkg = packages[name]
        for group in pkg.depends + pkg.recommends:
            for dep in group:
                for target in by_name.get(dep, ()):
                    if target not in keep and target not in removed:
                        stack.append(target)
    return keep


def build_roles(packages: dict[str, Package], manager: str) -> dict[str, BuildRole]:
    """The build-only packages with their role: those whose name gives one, and, as
    DEPENDENCY, those nothing but them needs (what ``apt-get purge --auto-remove`` of the
    build tools would take along). Shared libraries stay: something may load them."""
    roles = {name: role for name in packages if (role := build_role(name, manager)) is not None}
    if not roles:
        return roles
    keep = needed_by_runtime(packages, roles.keys(), also_roots=may_be_loaded_at_runtime)
    for name in packages:
        if name not in keep and name not in roles:
            roles[name] = BuildRole.DEPENDENCY
    return roles


def pulled_in(packages: dict[str, Package], names: Iterable[str], within: Collection[str]) -> list[str]:
    """The packages of ``within`` that ``names`` depend on, directly or through others of ``within``."""
    by_name = providers(packages)
    found: set[str] = set()
    stack = [t for n in names for t in by_name.get(n, ())]
    while stack:
        name = stack.pop()
        if name in found or name not in within:
            continue
        found.add(name)
        stack += [t for group in packages[name].depends for dep in group for t in by_name.get(dep, ())]
    return sorted(found)


def _installed_choice(group: list[str], installed: dict[str, Package], by_name: dict[str, list[str]]) -> str | None:
    """The installed package that satisfies a group of alternatives: the first alternative
    installed under its own name or provided by one, as a package manager would pick."""
    for alt in group:
        if alt in installed:
            return alt
        if by_name.get(alt):
            return by_name[alt][0]
    return None


def closure_names(names: Iterable[str], installed: dict[str, Package], already: Collection[str] = frozenset()) -> set[str]:
    """``names`` (maybe pinned) and every installed package they depend on, except those in ``already``."""
    by_name = providers(installed)
    seen: set[str] = set()
    stack = [package_name(n) for n in names]
    while stack:
        name = _installed_choice([stack.pop()], installed, by_name)
        if name is None or name in seen or name in already:
            continue
        seen.add(name)
        stack += [c for group in installed[name].depends if (c := _installed_choice(group, installed, by_name))]
    return seen


def closure_bytes(names: Iterable[str], installed: dict[str, Package], already: Collection[str]) -> int:
    """Installed bytes of ``names`` and what they depend on, except what ``already`` has
    (the packages of the base the rewrite runs on)."""
    return sum(installed[name].installed_bytes for name in closure_names(names, installed, already))


def shared_libraries(
    dev_packages: Iterable[str], installed: dict[str, Package], already: Collection[str]
) -> dict[str, list[str]]:
    """The shared-library packages each ``-dev`` package depends on (libpq-dev → libpq5):
    what a program built against the headers needs at run time. Libraries in ``already``
    (the base's packages) and Python's own are left out."""
    by_name = providers(installed)
    out: dict[str, list[str]] = {}
    for dev in dev_packages:
        pkg = installed.get(package_name(dev))
        if pkg is None or not pkg.name.endswith("-dev"):
            continue
        chosen = (_installed_choice(group, installed, by_name) for group in pkg.depends)
        libraries = [
            name for name in dict.fromkeys(c for c in chosen if c is not None)
            if is_shared_library(name, installed[name].provides) and name not in already and not name.startswith("libpython")
        ]
        if libraries:
            out[dev] = libraries
    return out
