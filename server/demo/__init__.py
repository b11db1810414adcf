"""``make demo`` (``python -m server.demo``): a card over a real PC/SC stack, then checkout
attestations end to end (``scenario``), the MC user's sign-in at the IdMS (``idms``) and
unit 1's IMS registration through Kamailio, ended by RTR at its return (``ims``);
synthetic vendor batches with known keys for the demo, tests and benchmarks
(``batchgen``).  Nothing imports it.

May import: everything.
"""
