"""The ``simattest`` command: the composition root, one module per command group
(``main.COMMAND_MODULES``); commands parse, call one service function or the HTTP
client, and format.  Nothing imports it.

May import: everything (heavy stacks lazily, inside the command that needs them).
"""
