"""The database: engine and sessions (SQLite, PostgreSQL), models by aggregate, the
attestation stores (PostgreSQL on psycopg, SQLite on SQLAlchemy Core), the audit hash
chain, rate counters, service-wide values, Alembic migrations.  Statements written out
by hand (the hot path's, the audit chain's, the counters') live here; features query
through the models.

May import: attest only (no service object, no feature).
"""
