"""Modems' AT ports found with udev (pyudev), the known-modem table, and the udev rules.

:data:`KNOWN_MODEMS` is the one table of models simattest knows: USB VID:PID and the USB
interface number of the primary AT port (from ModemManager's per-vendor port-type
rules). ``udev/60-simattest.rules`` (the ``udev`` data package, installed with simattest
and read with ``importlib.resources``) matches the same udev properties
(``ID_VENDOR_ID``, ``ID_MODEL_ID``, ``ID_USB_INTERFACE_NUM``, set by systemd's usb_id
builtin), and a test holds the two together.

Discovery works on udev property sets (``Mapping[str, str]``), so it is the same code
for ``pyudev.Device.properties`` on a host and for recorded property sets in tests.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from attest.errors import InputError, TransportError

log = logging.getLogger(__name__)

RULES_FILE = resources.files("udev") / "60-simattest.rules"
RULES_TARGET = Path("/etc/udev/rules.d")
LINK_DIR = "/dev/simattest"
# USB serial drivers that carry modems' AT ports; other USB ttys (FTDI...) are not modems.
MODEM_DRIVERS = frozenset({"option", "qcserial", "sierra", "cdc_acm"})


@dataclass(frozen=True)
class KnownModem:
    """A modem model: USB ids (lowercase hex, as udev prints them) and its AT interface."""

    vendor: str  # the name used in the stable link /dev/simattest/<vendor>-<serial>-at
    vendor_id: str
    product_id: str
    model: str
    at_interface: str  # bInterfaceNumber of the primary AT port, two hex digits


KNOWN_MODEMS: tuple[KnownModem, ...] = (
    KnownModem("quectel", "2c7c", "0125", "Quectel EC25/EG25", "02"),
    KnownModem("quectel", "2c7c", "0296", "Quectel BG96", "02"),
    KnownModem("quectel", "2c7c", "0800", "Quectel RM500Q", "02"),
    KnownModem("quectel", "2c7c", "0801", "Quectel RM520N", "02"),
    KnownModem("sierra", "1199", "9079", "Sierra Wireless EM7455", "03"),
    KnownModem("sierra", "1199", "9091", "Sierra Wireless EM7565", "03"),
    KnownModem("telit", "1bc7", "1031", "Telit LE910C1", "01"),
    KnownModem("telit", "1bc7", "1060", "Telit LN920", "04"),
    KnownModem("simcom", "1e0e", "9001", "SIMCom SIM7600", "02"),
)
_BY_ID = {(m.vendor_id, m.product_id): m for m in KNOWN_MODEMS}


@dataclass(frozen=True)
class ModemPort:
    """A candidate AT port: a USB serial port of a known model's AT interface, or of an
    unknown device driven by a modem driver (``model`` None)."""

    device: str
    model: str | None
    vendor_id: str
    product_id: str
    serial: str | None
    interface: str | None
    link: str | None  # /dev/simattest/... when the rules are installed
    expected_link: str | None  # the link the rules give it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _prop(props: Mapping[str, str], *names: str) -> str | None:
    """The first non-empty property (newer systemd spells some ``ID_USB_*``)."""
    for name in names:
        value = props.get(name)
        if value:
            return value
    return None


def port_from_properties(props: Mapping[str, str]) -> ModemPort | None:
    """The candidate AT port a udev ``tty`` device is, or None when it is not one.

    A known model's port counts only on its primary AT interface (the others carry
    diagnostics, NMEA or PPP); an unknown USB serial port counts when a modem driver
    (``option``, ``qcserial``, ``sierra``, ``cdc_acm``) drives it.
    """
    if props.get("SUBSYSTEM") != "tty" or _prop(props, "ID_BUS") != "usb":
        return None
    device = props.get("DEVNAME")
    vid = (_prop(props, "ID_USB_VENDOR_ID", "ID_VENDOR_ID") or "").lower()
    pid = (_prop(props, "ID_USB_MODEL_ID", "ID_MODEL_ID") or "").lower()
    if not device or not vid or not pid:
        return None
    interface = _prop(props, "ID_USB_INTERFACE_NUM")
    serial = _prop(props, "ID_USB_SERIAL_SHORT", "ID_SERIAL_SHORT")
    known = _BY_ID.get((vid, pid))
    if known is not None:
        if interface != known.at_interface:
            return None
        expected: str | None = f"{LINK_DIR}/{known.vendor}-{serial or ''}-at"
    elif _prop(props, "ID_USB_DRIVER") in MODEM_DRIVERS:
        expected = None
    else:
        return None
    links = (props.get("DEVLINKS") or "").split()
    link = next((x for x in links if x.startswith(LINK_DIR + "/")), None)
    return ModemPort(
        device=device,
        model=known.model if known else None,
        vendor_id=vid,
        product_id=pid,
        serial=serial,
        interface=interface,
        link=link,
        expected_link=expected,
    )


def parse_udevadm_properties(text: str) -> dict[str, str]:
    """``udevadm info --query=property`` output (``KEY=value`` lines) → a dict."""
    props: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise InputError(f"udev property line {number} is not KEY=value: {line!r}")
        props[key] = value
    return props


def list_modems() -> list[ModemPort]:
    """Every candidate AT port on this host, sorted by device name."""
    import pyudev

    context = pyudev.Context()
    ports = []
    for dev in context.list_devices(subsystem="tty"):
        port = port_from_properties(dict(dev.properties))
        if port is not None:
            ports.append(port)
    return sorted(ports, key=lambda p: p.device)


# --- probing and hot-plug -----------------------------------------------------------------
@dataclass(frozen=True)
class ProbeResult:
    """Whether a port answered ``AT`` (and why not)."""

    answers: bool
    detail: str


def probe(device: str, *, timeout: float = 3.0, attempt_wait: float = 0.5) -> ProbeResult:
    """Send ``AT`` (repeated every ``attempt_wait`` s, up to ``timeout``) and wait for OK.

    Modem firmware often answers a moment after its tty appears, hence the retries.
    """
    from hw.transport.at import AtPort

    try:
        port = AtPort(device)
    except TransportError as exc:
        return ProbeResult(False, str(exc))
    try:
        port.resync(timeout=timeout, attempt_wait=attempt_wait)
        return ProbeResult(True, "answers AT")
    except TransportError as exc:
        return ProbeResult(False, str(exc))
    finally:
        port.close()


@dataclass(frozen=True)
class HotplugEvent:
    """A candidate AT port that appeared (with its probe result) or went away."""

    action: str  # "add" | "remove"
    port: ModemPort
    probe: ProbeResult | None


Prober = Callable[[str], ProbeResult]


def hotplug_event(action: str, props: Mapping[str, str], prober: Prober) -> HotplugEvent | None:
    """What a udev event means for the modem list; new ports are probed with ``prober``."""
    port = port_from_properties(props)
    if port is None or action not in ("add", "remove"):
        return None
    return HotplugEvent(action, port, prober(port.device) if action == "add" else None)


def watch(stop: threading.Event, prober: Prober = probe) -> Iterator[HotplugEvent]:
    """Follow udev ``tty`` add/remove events until ``stop`` is set (pyudev netlink monitor)."""
    import pyudev

    monitor = pyudev.Monitor.from_netlink(pyudev.Context())
    monitor.filter_by("tty")
    monitor.start()
    while not stop.is_set():
        device = monitor.poll(timeout=0.5)
        if device is None:
            continue
        event = hotplug_event(device.action or "", dict(device.properties), prober)
        if event is not None:
            yield event


# --- installing the rules -------------------------------------------------------------------
RELOAD_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("udevadm", "control", "--reload"),
    ("udevadm", "trigger", "--subsystem-match=usb", "--subsystem-match=tty"),
)


@dataclass(frozen=True)
class InstallPlan:
    """What ``simattest udev install`` does: copy the rules file, then reload udev."""

    source: Traversable
    destination: Path
    commands: tuple[tuple[str, ...], ...]


def install_plan(target_dir: Path = RULES_TARGET, *, reload: bool = True) -> InstallPlan:
    """What installing into ``target_dir`` does; checked here so a dry run finds the same
    problems (missing rules file, missing directory) as the real install."""
    if not RULES_FILE.is_file():
        raise InputError(f"udev rules file {RULES_FILE} is missing from this installation")
    if not target_dir.is_dir():
        raise InputError(f"udev rules directory {target_dir} does not exist")
    return InstallPlan(RULES_FILE, target_dir / RULES_FILE.name, RELOAD_COMMANDS if reload else ())


def install_rules(plan: InstallPlan) -> None:
    """Carry out ``plan``: an atomic copy (temp file + rename), then the udevadm commands."""
    target_dir = plan.destination.parent
    if not target_dir.is_dir():
        raise InputError(f"udev rules directory {target_dir} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".simattest-", dir=target_dir)
    try:
        with os.fdopen(fd, "wb") as out, plan.source.open("rb") as src:
            shutil.copyfileobj(src, out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, plan.destination)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {plan.destination}: {exc.strerror}") from None
    for command in plan.commands:
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise TransportError(f"{command[0]} not found; is udev installed?") from None
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip().splitlines()
            raise TransportError(
                f"{' '.join(command)} failed (exit {done.returncode}): "
                f"{reason[-1] if reason else 'no message'}"
            )
