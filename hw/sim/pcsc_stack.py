"""A private pcscd with vpcd readers, for tests, the demo and benchmarks.

``PcscStack(readers=N)`` starts its own ``pcscd --foreground`` that never touches the
system's pcscd:

* its own ``reader.conf.d`` (``pcscd -c DIR``) with vpcd readers on free TCP ports;
* its own client socket. pcsc-lite 1.9.9's daemon has no option or variable for the
  socket path (``PCSCLITE_CSOCK_NAME`` is read only by the client library), but it
  supports systemd socket activation (``sd_listen_fds``). So the stack binds a Unix
  socket itself, hands it to pcscd as fd 3 with ``LISTEN_FDS=1`` / ``LISTEN_PID``, and
  points this process's PC/SC clients (and its children) at it through
  ``PCSCLITE_CSOCK_NAME``. A socket-activated pcscd also skips the "another pcscd is
  running" check, so several stacks and a system pcscd coexist;
* it stops pcscd by PID (SIGTERM, then SIGKILL after a bound). Every wait is bounded.

vpcd facts this relies on (vsmartcard-vpcd 3.3): one reader.conf entry gives two slots,
``"<FRIENDLYNAME> 00 00"`` on port CHANNELID and ``"... 00 01"`` on CHANNELID + 1, and
``DEVICENAME /dev/null:<port>`` makes it listen (on all interfaces) rather than dial out.
pcscd numbers every such entry "00", so further entries get their own FRIENDLYNAME
(``"Virtual PCD 2"``, …) or their reader names would collide. The driver keeps its
per-slot state in globals indexed by slot only, so two entries sharing one
``libifdvpcd.so`` trample each other (the second entry's card never shows): every
further entry loads its own copy of the library.

Side effects on the machine: pcscd still writes and, at exit, removes
``/run/pcscd/pcscd.pid`` (harmless to a running system pcscd except ``pcscd --hotplug``),
and it would also pick up real USB CCID readers through libudev — unless started with
``hide_usb_readers=True``: pcscd then runs in a user and mount namespace of its own
(``unshare``) in which its USB driver directory (``usbdropdir``, compiled in: Debian's
``/usr/lib/pcsc/drivers``) is an empty directory, so it finds no driver for any USB
reader and leaves them to the system's pcscd.  Where the kernel refuses unprivileged
user namespaces (:func:`can_hide_usb_readers` says so) that is an error.
vpcd listens on its TCP ports on every interface: the driver binds INADDR_ANY and
has no setting for the address.

libpcsclite reads ``PCSCLITE_CSOCK_NAME`` once per process, so a process can talk to one
socket path in its lifetime: the stack's socket path is fixed per process, and only one
stack runs at a time in a process.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import ClassVar, Self

from attest.errors import TransportError
from hw.sim.vpcd import DEFAULT_HOST, VirtualCard, VpcdBridge
from hw.transport.pcsc import PcscContext

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
USB_DROPDIR = Path("/usr/lib/pcsc/drivers")  # pcscd --version: usbdropdir=
# Mount an empty directory over pcscd's USB drivers, then become pcscd (same PID).
_HIDE_USB = 'mount --bind "$1" "$2" || exit 70; shift 2; exec "$@"'
_UNSHARE = ("unshare", "--user", "--map-root-user", "--mount")
FRIENDLY_NAME = "Virtual PCD"
SLOTS_PER_ENTRY = 2  # vpcd's compiled-in slot count (VPCDSLOTS)
APT_LINE = "apt-get install -y pcscd vsmartcard-vpcd"
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"
_UNREACHABLE_GRACE = 3.0  # seconds a freshly started pcscd may take to answer its socket


def _free_port_pair() -> int:
    """A port p with p and p + 1 free on all interfaces (vpcd binds INADDR_ANY)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("", 0))
            port = int(probe.getsockname()[1])
        if port >= 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("", port))
                b.bind(("", port + 1))
        except OSError:
            continue
        return port
    raise TransportError("could not find two adjacent free TCP ports for vpcd")


def can_hide_usb_readers() -> bool:
    """Whether this machine lets ``PcscStack(hide_usb_readers=True)`` start: unshare is
    installed and the kernel gives this user a user and mount namespace (some
    distributions refuse unprivileged user namespaces)."""
    if shutil.which(_UNSHARE[0]) is None:
        return False
    with tempfile.TemporaryDirectory(prefix="simattest-probe-") as scratch:
        try:
            probe = subprocess.run([*_UNSHARE, "/bin/sh", "-c", _HIDE_USB, "sh", scratch,
                                    scratch, "true"], capture_output=True, timeout=10,
                                   check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return probe.returncode == 0


def process_socket_path() -> Path:
    """This process's pcscd socket path (fixed: libpcsclite caches the first one it sees)."""
    return Path(tempfile.gettempdir()) / f"simattest-pcscd-{os.getuid()}-{os.getpid()}.comm"


class PcscStack:
    """pcscd + ``readers`` vpcd reader slots (rounded up to vpcd's two per entry; 0 gives
    a pcscd without readers).

    ``attach(slot, card)`` inserts a simulated card into reader ``slot`` (an index into
    :attr:`reader_names`) and waits until pcscd sees it; ``detach(slot)`` takes it out.
    """

    _running: ClassVar[PcscStack | None] = None

    def __init__(
        self,
        readers: int = 2,
        *,
        start_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        pcscd: str = "pcscd",
        debug: bool = False,
        name: str = FRIENDLY_NAME,
        hide_usb_readers: bool = False,
    ) -> None:
        """``name``: the readers' FRIENDLYNAME (pcscd appends `` 00 00``, `` 00 01``), e.g.
        a real reader's name, brackets and all.  ``hide_usb_readers``: see the module
        docstring."""
        if readers < 0:
            raise ValueError("a PcscStack cannot have a negative number of readers")
        self.entries = -(-readers // SLOTS_PER_ENTRY)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.pcscd = pcscd
        self.debug = debug
        self.name = name
        self.hide_usb_readers = hide_usb_readers
        self.socket_path = process_socket_path()
        self.reader_names: list[str] = []
        self.ports: list[int] = []
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._bridges: dict[int, VpcdBridge] = {}
        self._saved_env: str | None = None
        self._env_set = False
        self._pcscd_path = ""  # resolved on start

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def log_path(self) -> Path | None:
        return self.workdir / "pcscd.log" if self.workdir is not None else None

    def start(self) -> None:
        """Write the reader config, start pcscd, wait for every reader (bounded)."""
        pcscd = shutil.which(self.pcscd)
        if pcscd is None:
            raise TransportError(f"{self.pcscd} is not installed; install it with: {APT_LINE}")
        if not VPCD_DRIVER.exists():
            raise TransportError(f"the vpcd driver {VPCD_DRIVER} is missing; {APT_LINE}")
        if PcscStack._running is not None:
            raise TransportError("a PcscStack is already running in this process")
        PcscStack._running = self
        try:
            self.workdir = Path(tempfile.mkdtemp(prefix="simattest-pcscd-"))
            self._write_config()
            self._pcscd_path = pcscd
            self._saved_env = os.environ.get(SOCKET_ENV)
            os.environ[SOCKET_ENV] = str(self.socket_path)
            self._env_set = True
            self._launch()
            self._wait_for_readers()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Take every card out, stop pcscd by PID (TERM, then KILL), clean up."""
        if PcscStack._running is not self:
            return  # never started, or stopped already: the socket path is not ours
        try:
            for slot in list(self._bridges):
                self._bridges.pop(slot).stop()
        finally:
            self._stop_pcscd()
            if self._env_set:
                self._env_set = False
                if self._saved_env is None:
                    os.environ.pop(SOCKET_ENV, None)
                else:
                    os.environ[SOCKET_ENV] = self._saved_env
            self.socket_path.unlink(missing_ok=True)
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None
            PcscStack._running = None

    def restart_pcscd(self, *, timeout: float = 10.0) -> None:
        """Stop pcscd and start it again on the same readers and socket, as a system
        update or crash would; inserted cards reconnect and are seen again (bounded)."""
        self._stop_pcscd()
        self._launch()
        self._wait_for_readers()
        for slot in self._bridges:
            self.wait_for_card(slot, present=True, timeout=timeout)

    # --- cards -----------------------------------------------------------------------------
    def uri(self, slot: int) -> str:
        """The reader URI of ``slot`` (its exact name, which has no glob characters)."""
        return f"pcsc:{self.reader_names[slot]}"

    def attach(self, slot: int, card: VirtualCard, *, timeout: float = 10.0) -> VpcdBridge:
        """Insert ``card`` into reader ``slot``; returns once pcscd reports it present."""
        if slot in self._bridges:
            raise TransportError(f"reader {self.reader_names[slot]!r} already holds a card")
        bridge = VpcdBridge(card, self.ports[slot], DEFAULT_HOST)
        bridge.start()
        self._bridges[slot] = bridge
        self.wait_for_card(slot, present=True, timeout=timeout)
        return bridge

    def detach(self, slot: int, *, timeout: float = 10.0) -> None:
        """Take the card out of reader ``slot``; returns once pcscd reports it empty."""
        bridge = self._bridges.pop(slot, None)
        if bridge is not None:
            bridge.stop()
        self.wait_for_card(slot, present=False, timeout=timeout)

    def occupied(self, slot: int) -> bool:
        return slot in self._bridges

    # --- internals -------------------------------------------------------------------------
    def _write_config(self) -> None:
        assert self.workdir is not None
        conf = self.workdir / "reader.conf.d"
        conf.mkdir()
        entries = []
        for k in range(self.entries):
            port = _free_port_pair()
            driver = VPCD_DRIVER
            # A private copy: vpcd's slot state is global per loaded library; and with
            # the USB readers hidden, the system's copy is hidden too.
            if k > 0 or self.hide_usb_readers:
                driver = self.workdir / f"libifdvpcd-{k}.so"
                shutil.copyfile(VPCD_DRIVER, driver)
            # pcscd numbers every vpcd entry "00", so further entries need their own name.
            name = self.name if k == 0 else f"{self.name} {k + 1}"
            entries.append(
                f'FRIENDLYNAME "{name}"\n'
                f"DEVICENAME   /dev/null:{port}\n"
                f"LIBPATH      {driver}\n"
                f"CHANNELID    {port}\n"
            )
            self.ports += [port + s for s in range(SLOTS_PER_ENTRY)]
            self.reader_names += [f"{name} 00 {s:02X}" for s in range(SLOTS_PER_ENTRY)]
        (conf / "vpcd").write_text("\n".join(entries))

    def _launch(self) -> None:
        assert self.workdir is not None and self.log_path is not None
        self.socket_path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.socket_path))
            listener.listen(64)
            args = [self._pcscd_path, "--foreground", "-c", str(self.workdir / "reader.conf.d")]
            if self.debug:
                args += ["--debug", "--apdu"]
            if self.hide_usb_readers:
                empty = self.workdir / "no-usb-drivers"
                empty.mkdir(exist_ok=True)
                args = [*_UNSHARE, "/bin/sh", "-c", _HIDE_USB, "sh", str(empty),
                        str(USB_DROPDIR), *args]
            # The socket arrives as stdin; sh moves it to fd 3 and sets LISTEN_PID to its
            # own PID, which exec hands on to pcscd: what sd_listen_fds() checks.
            script = 'exec 3<&0 </dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"'
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    ["/bin/sh", "-c", script, "sh", *args],
                    stdin=listener.fileno(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C in the terminal is ours to handle
                )
        finally:
            listener.close()  # pcscd holds its own copy

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return f"; pcscd said: {' | '.join(lines[-3:])}" if lines else ""

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise TransportError(
                f"pcscd exited with status {self.process.returncode} while starting"
                + self._log_tail()
            )

    def _wait_for_readers(self) -> None:
        started = time.monotonic()
        seen: list[str] = []
        while True:
            self._check_alive()
            try:
                with PcscContext() as ctx:
                    seen = ctx.reader_names()
            except TransportError as exc:
                # Our socket listens from before pcscd starts, so "cannot reach" here
                # means this process's client library is bound to another socket already.
                if time.monotonic() - started > _UNREACHABLE_GRACE:
                    raise TransportError(
                        f"{exc}: this process already used PC/SC with another socket "
                        f"({SOCKET_ENV} is read once per process); start the PcscStack "
                        "before any other PC/SC call"
                    ) from None
                seen = []
            if set(self.reader_names) <= set(seen):
                return
            if time.monotonic() - started > self.start_timeout:
                raise TransportError(
                    f"pcscd did not show the vpcd readers within {self.start_timeout} s "
                    f"(expected {', '.join(self.reader_names)}; saw {', '.join(seen) or 'none'})"
                    + self._log_tail()
                )
            time.sleep(0.05)

    def wait_for_card(self, slot: int, *, present: bool, timeout: float = 10.0) -> None:
        """Wait (bounded) until pcscd reports reader ``slot`` holding a card, or empty."""
        name = self.reader_names[slot]
        deadline = time.monotonic() + timeout
        with PcscContext() as ctx:
            while ctx.card_state(name)[0] != present:
                if time.monotonic() > deadline:
                    state = "insertion" if present else "removal"
                    raise TransportError(
                        f"pcscd did not see the card {state} in {name!r} within {timeout} s"
                    )
                time.sleep(0.02)

    def _stop_pcscd(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(self.stop_timeout)
