"""udev rules as data: ``60-simattest.rules`` for CCID readers and modems' AT ports,
installed with the package and copied into place by ``simattest udev install``
(``hw.discovery``).  Data only: imports nothing.
"""
