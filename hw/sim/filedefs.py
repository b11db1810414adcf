"""Files as the specifications define them: where each one lives and what a fresh card
holds in it, and which service of a service table (EF.UST, EF.IST) it belongs to.

The simulated card's tree (:mod:`hw.sim.layout`) is built from these definitions and the
card profile: a mandatory file always, a service's file when the profile switches the
service on and lists the file. :func:`check_files` is the consistency check of a profile
(3GPP TS 31.102 clause 4.2.8, TS 31.103 clause 4.2.7: a service on in the table has its
files; a file present belongs to a service that is on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hw.sim.filesystem import ARR_ALWAYS, DF, EF

if TYPE_CHECKING:
    from hw.cardfile import CardFile

# What a fresh card holds in a file: bytes (transparent EF) or records (linear fixed EF).
Content = Callable[["CardFile"], bytes | list[bytes]]


@dataclass(frozen=True)
class FileDef:
    """One EF or DF of a specification.

    ``service``: None for a mandatory file; a number, or a set of numbers of which any
    one being on makes the file present (EF.EST, TS 31.102 clause 4.2.47). A DF has
    ``children`` and no ``content``.
    """

    name: str
    fid: int
    sfi: int | None = None
    content: Content | None = None
    arr: int = ARR_ALWAYS
    service: int | frozenset[int] | None = None
    children: tuple[FileDef, ...] = ()

    def wanted_by(self, services: Iterable[int]) -> bool:
        """Whether a card with ``services`` on has this file (mandatory files always)."""
        if self.service is None:
            return True
        wanted = {self.service} if isinstance(self.service, int) else self.service
        return not wanted.isdisjoint(services)

    def build(self, card: CardFile, services: Iterable[int]) -> EF | DF:
        if self.content is None:
            node = DF(self.fid, self.name)
            services = tuple(services)
            node.add(*(c.build(card, services) for c in self.children if c.wanted_by(services)))
            return node
        value = self.content(card)
        if isinstance(value, list):
            return EF(self.fid, self.name, sfi=self.sfi, records=value, arr=self.arr)
        return EF(self.fid, self.name, sfi=self.sfi, data=value, arr=self.arr)


def service_files(catalog: Iterable[FileDef], service: int) -> Iterator[FileDef]:
    """The files of ``catalog`` that exist because ``service`` is on."""
    for f in catalog:
        if f.service is not None and f.wanted_by((service,)):
            yield f


def build_files(catalog: Iterable[FileDef], card: CardFile, services: Iterable[int],
                listed: Iterable[str]) -> list[EF | DF]:
    """The files of ``catalog`` a card has: mandatory ones, and those ``listed`` whose
    service is on (the profile's consistency was checked with :func:`check_files`)."""
    services, listed = set(services), set(listed)
    return [f.build(card, services) for f in catalog
            if f.service is None or (f.name in listed and f.wanted_by(services))]


def check_files(catalog: Iterable[FileDef], services: Iterable[int], listed: Iterable[str],
                where: str) -> str | None:
    """The first inconsistency between ``services`` and the ``listed`` files, as one line
    (``where`` names the profile key, e.g. ``usim``), or None.

    Refused: a service on whose file is not listed; a listed file whose services are all
    off; a listed file the specification does not define for this application.
    """
    catalog = tuple(catalog)
    services, listed = sorted(set(services)), set(listed)
    optional = {f.name: f for f in catalog if f.service is not None}
    for name in sorted(listed):
        if name not in optional:
            known = ", ".join(sorted(optional))
            return f"{where}.files: {name} is not an optional file of this application " \
                   f"(known: {known})"
        if not optional[name].wanted_by(services):
            wanted = optional[name].service
            numbers = [wanted] if isinstance(wanted, int) else sorted(wanted or ())
            which = " or ".join(str(n) for n in numbers)
            return f"{where}.files: {name} is listed but service {which} is off"
    for service in services:
        for f in service_files(catalog, service):
            if f.name not in listed:
                return f"{where}.services: service {service} is on but its file {f.name} " \
                       f"is missing from {where}.files"
    return None
