"""``make demo`` (``python -m server.demo``): a card over a real PC/SC stack, then checkout
attestations end to end (``scenario``); synthetic vendor batches with known keys for the
demo, tests and benchmarks (``batchgen``).  Nothing imports it.

May import: everything.
"""
