"""Modem discovery on recorded udev property sets (``udevadm info --query=property``).

There is no modem hardware here, so the udev side is the recorded property sets in
tests/data/udev/; probing runs against the simulated modem on a real pty.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from attest.errors import InputError
from hw.discovery import (
    ModemPort,
    ProbeResult,
    hotplug_event,
    list_modems,
    parse_udevadm_properties,
    port_from_properties,
    watch,
)
from server.cli.main import main

DATA = Path(__file__).parent / "data" / "udev"


def recorded(name: str) -> dict[str, str]:
    return parse_udevadm_properties((DATA / name).read_text())


def test_primary_at_port_of_a_known_modem_with_rules_installed() -> None:
    assert port_from_properties(recorded("quectel-eg25-if02.txt")) == ModemPort(
        device="/dev/ttyUSB2",
        model="Quectel EC25/EG25",
        vendor_id="2c7c",
        product_id="0125",
        serial="a3f1c2d0",
        interface="02",
        link="/dev/simattest/quectel-a3f1c2d0-at",
        expected_link="/dev/simattest/quectel-a3f1c2d0-at",
    )


def test_other_interfaces_of_a_known_modem_are_not_at_ports() -> None:
    assert port_from_properties(recorded("quectel-eg25-if03.txt")) is None


def test_newer_systemd_id_usb_names_are_read() -> None:
    port = port_from_properties(recorded("sierra-em7455-if03.txt"))
    assert port is not None
    assert (port.model, port.vendor_id, port.product_id, port.serial, port.interface) == (
        "Sierra Wireless EM7455", "1199", "9079", "LF71234567010205", "03"
    )
    assert port.link == "/dev/simattest/sierra-LF71234567010205-at"


def test_without_rules_the_expected_link_is_still_known() -> None:
    port = port_from_properties(recorded("telit-ln920-if04.txt"))
    assert port is not None and port.model == "Telit LN920"
    assert port.link is None
    assert port.expected_link == "/dev/simattest/telit-0123456789-at"


def test_uppercase_usb_ids_match() -> None:
    port = port_from_properties(recorded("simcom-sim7600-if02.txt"))
    assert port is not None and (port.vendor_id, port.model) == ("1e0e", "SIMCom SIM7600")


def test_unknown_modem_on_a_modem_driver_is_a_candidate() -> None:
    port = port_from_properties(recorded("ublox-cdc-acm.txt"))
    assert port is not None
    assert (port.device, port.model, port.vendor_id, port.product_id) == (
        "/dev/ttyACM0", None, "1546", "1141"
    )
    assert port.expected_link is None and port.link is None


@pytest.mark.parametrize("name", ["ftdi-ttyusb0.txt", "ttyS0.txt"])
def test_serial_adapters_and_uarts_are_not_modems(name: str) -> None:
    assert port_from_properties(recorded(name)) is None


def test_json_keys() -> None:
    port = port_from_properties(recorded("quectel-eg25-if02.txt"))
    assert port is not None
    assert set(port.to_json()) == {
        "device", "model", "vendor_id", "product_id", "serial", "interface", "link",
        "expected_link",
    }


def test_malformed_property_dump_names_the_line() -> None:
    with pytest.raises(InputError, match=r"line 2 is not KEY=value: 'garbage'"):
        parse_udevadm_properties("SUBSYSTEM=tty\ngarbage\n")


def test_hotplug_add_probes_the_new_port_and_remove_does_not() -> None:
    probed: list[str] = []

    def prober(device: str) -> ProbeResult:
        probed.append(device)
        return ProbeResult(True, "answers AT")

    props = recorded("quectel-eg25-if02.txt")
    added = hotplug_event("add", props, prober)
    assert added is not None and added.action == "add"
    assert added.probe == ProbeResult(True, "answers AT")
    removed = hotplug_event("remove", props, prober)
    assert removed is not None and removed.probe is None
    assert probed == ["/dev/ttyUSB2"]
    assert hotplug_event("add", recorded("quectel-eg25-if03.txt"), prober) is None
    assert hotplug_event("change", props, prober) is None


def test_modems_command_lists_this_hosts_ports_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Real pyudev enumeration of this host (a container without modems: an empty list).
    assert main(["modems", "--json"]) == 0
    ports = json.loads(capsys.readouterr().out)
    assert ports == [p.to_json() for p in list_modems()]



def test_watch_follows_the_real_udev_monitor_until_stopped() -> None:
    # pyudev's netlink monitor on this host; no modem is plugged in, so no events come,
    # and the generator must end once asked (what Ctrl-C does in `modems --watch`).
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    try:
        assert list(watch(stop)) == []
    finally:
        timer.cancel()
