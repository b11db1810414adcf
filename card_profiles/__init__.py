"""Card types as data: one ``<name>.yaml`` card profile per file, installed with the
package and read by ``hw.cardfile.load_profiles`` (format: ``attest.profiles``).

``examples/`` holds personalised example cards for the simulator, the tests and the demo;
it stays in the repository and is not installed.  Data only: imports nothing.
"""
