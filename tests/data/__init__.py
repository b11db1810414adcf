"""Test data: udev samples, 3GPP vectors, release fixtures."""
