"""Every SQL statement of the PostgreSQL attestation store.

``server.store.attestations_pg`` runs them on the psycopg driver, one statement per
round trip and per transaction; ``server.store.audit_chain`` appends its entries on
PostgreSQL with ``APPEND_AUDIT``.  Values are always bound parameters (``%(name)s``);
nothing is spliced in at run time: each statement is one constant, the text psycopg
prepares (``print(attestations_pg_sql.CONSUME_CHALLENGE)`` shows it whole).  Two jobs
recur in them, so each is written once, as CTEs the statements are made of; the
attestation's own writes are written once too, each gated on a CTE ``allowed`` (one
row when the request may go ahead) that every statement defines first:

``COUNT_REQUEST`` counts one request against rate limits (``server.store.rate_counters``;
parameters from ``Claim.pg_params``):

- ``counted`` adds ``%(shares)s`` (int[]) to the counters of ``%(keys)s`` (text[], in key
  order, so that two requests lock the counter rows in the same order) in the window
  ``%(now_window)s``; a counter of an older window starts again from the share.  A
  per-IMEI key (``imei:…``, ``server.attestation.ratelimit``) is counted only if the
  statement's CTE ``proven`` has a row: the handset's device key signed the request;
- ``over`` names, in ``keys``, the keys whose count had already reached ``%(limits)s``
  (int[]) before this share;
- ``seen`` returns the new counts, in key order, in ``counts`` (NULL for a key not
  counted).

``proven`` is ``PROVEN_BY_CALLER`` where Python checked the signature before the
statement (evidence), and ``bound`` of ``PROVE_REQUEST`` for a challenge request.

A ``_COUNTED`` statement returns ``over.keys`` and ``seen.counts`` as its first two
columns and is ``allowed`` only if ``over`` is empty (``ALLOWED_IF_NONE_OVER``), so a
refused request writes nothing but the counters.  When this process's shares already
cover a request (``Shares.claim``), the statement without the suffix runs: nothing to
count, always ``allowed`` (``ALWAYS_ALLOWED``).

``APPEND_AUDIT_AFTER_DONE`` appends an audit entry (``server.store.audit_chain``,
parameters ``Entry.pg_params``) if the statement's ``done`` CTE returned a row: ``head``
updates the single ``audit_head`` row, computing the new hash as SHA-256 over the
canonical JSON — Python's parts around the previous hash and the new sequence number,
joined with ``'","seq":'`` exactly as ``Entry.digest`` does — and ``appended`` inserts
the entry from that UPDATE's RETURNING row.  The head row stays locked from that
statement to its commit, never across a round trip.
"""

PROVEN_BY_CALLER = """
proven AS (SELECT 1)"""

COUNT_REQUEST = """
counted AS (
    INSERT INTO rate_counters (key, "window", count)
    SELECT k, %(now_window)s, n
    FROM unnest(%(keys)s::text[], %(shares)s::int[]) AS r(k, n)
    -- a join, not an OR in WHERE: proven's writes then come before any counter's lock
    CROSS JOIN (SELECT EXISTS (SELECT 1 FROM proven) AS yes) p
    WHERE split_part(k, ':', 1) <> 'imei' OR p.yes
    ORDER BY k
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN rate_counters."window" = excluded."window"
                     THEN rate_counters.count + excluded.count
                     ELSE excluded.count END,
        "window" = excluded."window"
    RETURNING key, count
), over AS (
    SELECT coalesce(array_agg(c.key ORDER BY c.key), '{}') AS keys
    FROM counted c
    JOIN unnest(%(keys)s::text[], %(shares)s::int[], %(limits)s::int[]) AS l(key, n, lim)
        ON l.key = c.key
    WHERE c.count - l.n >= l.lim
), seen AS (
    SELECT coalesce(array_agg(c.count ORDER BY r.k), '{}') AS counts
    FROM unnest(%(keys)s::text[]) AS r(k)
    LEFT JOIN counted c ON c.key = r.k
)"""

ALLOWED_IF_NONE_OVER = """
allowed AS (SELECT 1 WHERE cardinality((SELECT keys FROM over)) = 0)"""

ALWAYS_ALLOWED = """
allowed AS (SELECT 1)"""

# Must: find the handset with %(imei)s and the card it is paired with now (hc); bind
# the request to it (bound, proven) only if the request was signed by the key
# %(signed_by)s the handset has, and — when %(signed_at)s is given (a handset's
# request; a resynchronisation's fresh challenge has none) — that time is later than
# any request of the handset bound before: fresh moves the handset's last time, kept in
# rate_counters under 'signed:<IMEI>' (its "window" column), forward, and a replayed
# or older request leaves it and is not bound.
PROVE_REQUEST = """
hc AS (
    SELECT h.id AS handset_id, h.public_key_pem, c.id AS card_id, c.iccid, c.imsi,
           c.profile, c.algorithm, c.k_enc, c.opc_enc
    FROM handsets h
    LEFT JOIN pairings p ON p.handset_id = h.id AND p.ended_at IS NULL
    LEFT JOIN cards c ON c.id = p.card_id
    WHERE h.imei = %(imei)s
), fresh AS (
    INSERT INTO rate_counters (key, "window", count)
    SELECT 'signed:' || %(imei)s, %(signed_at)s::bigint, 0
    FROM hc
    WHERE hc.public_key_pem = %(signed_by)s::text AND %(signed_at)s::bigint IS NOT NULL
    ON CONFLICT (key) DO UPDATE SET "window" = excluded."window"
    WHERE rate_counters."window" < excluded."window"
    RETURNING 1
), bound AS (
    SELECT hc.* FROM hc
    WHERE hc.public_key_pem = %(signed_by)s::text
      AND (%(signed_at)s::bigint IS NULL OR EXISTS (SELECT 1 FROM fresh))
), proven AS (SELECT 1 FROM bound)"""

# Must: if allowed, add one to the SQN sequence number (cards.sqn_seq) of the card
# paired with the bound handset, returning the new value (sqn), and store the challenge
# as 'pending' for that handset and card — a decoy, with no handset or card, when the
# request is not bound (the IMEI is not registered, or the request not proven).
RESERVE_SQN_AND_STORE = """
sqn AS (
    UPDATE cards SET sqn_seq = cards.sqn_seq + 1
    FROM bound
    WHERE cards.id = bound.card_id AND EXISTS (SELECT 1 FROM allowed)
    RETURNING cards.sqn_seq
), ins AS (
    INSERT INTO attestations (id, imei, handset_id, card_id, app, rand, nonce, client,
                              created_at, expires_at, state)
    SELECT %(id)s, %(imei)s, bound.handset_id, bound.card_id, %(app)s, %(rand)s, %(nonce)s,
           %(client)s, %(created_at)s, %(expires_at)s, 'pending'
    FROM allowed
    LEFT JOIN bound ON true
)"""

# Must: if allowed, consume challenge %(att_id)s — only if it is still 'pending' and
# unexpired at %(at)s, so that of two submissions exactly one does — writing its
# verdict, EAR and evidence (done: its id, or no row).
CONSUME_IF_PENDING = """
done AS (
    UPDATE attestations SET
        state = 'consumed', appraised_at = %(at)s, status = %(status)s,
        reasons = %(reasons)s::json, ear = %(ear)s, resync_id = %(resync_id)s,
        iccid = %(iccid)s, imsi = %(imsi)s, evidence = %(evidence)s::json,
        device_certificate = %(device_certificate)s
    WHERE id = %(att_id)s AND state = 'pending' AND expires_at > %(at)s
      AND EXISTS (SELECT 1 FROM allowed)
    RETURNING id
)"""

APPEND_AUDIT_AFTER_DONE = """
head AS (
    UPDATE audit_head SET
        seq = seq + 1,
        prev_hash = hash,
        hash = sha256(convert_to(%(audit_head)s || encode(hash, 'hex') || '","seq":'
                                 || (seq + 1)::text || %(audit_tail)s, 'UTF8'))
    WHERE id = 1 AND EXISTS (SELECT 1 FROM done)
    RETURNING seq, prev_hash, hash
), appended AS (
    INSERT INTO audit_entries (seq, at, actor, action, subject, details, prev_hash, hash)
    SELECT seq, %(audit_at)s, %(audit_actor)s, %(audit_action)s, %(audit_subject)s,
           %(audit_details)s::json, prev_hash, hash
    FROM head
    RETURNING seq
)"""

# Statement 1 of an attestation, when this process needs a new share of a rate limit.
# Must: PROVE_REQUEST, count the request and RESERVE_SQN_AND_STORE if no key is over its
# limit.  It always returns one row: the keys over, the counts, then the handset and
# card found (NULLs when unknown; found whether bound or not), the reserved sqn_seq
# (NULL when nothing was reserved) and whether the request was bound.  The
# transaction commits without waiting for the WAL flush (set_config(..., true) is local
# to it): a crash can lose the challenge, whose evidence then finds nothing, and its
# SQN, re-issued later and re-synchronised by the card's AUTS (TS 33.102 clause 6.3.5).
RESERVE_SQN_AND_ISSUE_COUNTED = ("WITH" + PROVE_REQUEST + "," + COUNT_REQUEST + ","
                                 + ALLOWED_IF_NONE_OVER + "," + RESERVE_SQN_AND_STORE + """
SELECT (SELECT keys FROM over), (SELECT counts FROM seen), hc.*, sqn.sqn_seq,
       EXISTS (SELECT 1 FROM bound)
FROM (SELECT set_config('synchronous_commit', 'off', true)) one
LEFT JOIN hc ON true
LEFT JOIN sqn ON true
""")

# Statement 1 when the shares this process holds already cover the request:
# PROVE_REQUEST and RESERVE_SQN_AND_STORE, always; its row starts with the handset's
# columns.
RESERVE_SQN_AND_ISSUE = ("WITH" + PROVE_REQUEST + "," + ALWAYS_ALLOWED + ","
                         + RESERVE_SQN_AND_STORE + """
SELECT hc.*, sqn.sqn_seq, EXISTS (SELECT 1 FROM bound)
FROM (SELECT set_config('synchronous_commit', 'off', true)) one
LEFT JOIN hc ON true
LEFT JOIN sqn ON true
""")

# The key registered for handset %(imei)s (no row: none), for
# server.attestation.handset_keys.
HANDSET_KEY = "SELECT public_key_pem FROM handsets WHERE imei = %(imei)s"

# A request counted on its own (evidence refused before anything else was done).
COUNT_ONLY = ("WITH" + PROVEN_BY_CALLER + "," + COUNT_REQUEST + """
SELECT (SELECT keys FROM over), (SELECT counts FROM seen)
""")

# Statement 2 of an attestation, when the evidence reaches a process without a copy of
# the challenge.  Must: count the request (it reads, so a refusal writes nothing else
# anyway), and return one row: the keys over, the counts, then challenge %(att_id)s
# (NULLs if there is none) with whether it is unexpired at %(now)s, its handset's
# public key and its card (iccid, imsi, profile, algorithm, encrypted keys), then the
# pool's record of the card %(iccid)s the evidence names: its ICCID, IMSI and the IMEI
# it is paired with now — in the column order of StoredChallenge.from_row.
LOAD_CHALLENGE_COUNTED = "WITH" + PROVEN_BY_CALLER + "," + COUNT_REQUEST + """
SELECT (SELECT keys FROM over), (SELECT counts FROM seen),
       a.id, a.imei, a.rand, a.nonce, a.state, a.expires_at > %(now)s,
       h.public_key_pem, c.iccid, c.imsi, c.profile, c.algorithm, c.k_enc, c.opc_enc,
       e.iccid, e.imsi, eh.imei
FROM (SELECT 1) one
LEFT JOIN attestations a ON a.id = %(att_id)s
LEFT JOIN handsets h ON h.id = a.handset_id
LEFT JOIN cards c ON c.id = a.card_id
LEFT JOIN cards e ON e.iccid = %(iccid)s AND a.id IS NOT NULL
LEFT JOIN pairings ep ON ep.card_id = e.id AND ep.ended_at IS NULL
LEFT JOIN handsets eh ON eh.id = ep.handset_id
"""

# Statement 3 of an attestation, when this process needs a new share of a rate limit
# (statement 2 was skipped: this process kept a copy of the challenge).  Must: count the
# request, CONSUME_IF_PENDING if no key is over its limit, and append the audit entry
# when it did; it always returns one row: the keys over, the counts, and the audit
# entry's seq (NULL when the challenge was not consumed: nothing written).
CONSUME_CHALLENGE_COUNTED = ("WITH" + PROVEN_BY_CALLER + "," + COUNT_REQUEST + ","
                             + ALLOWED_IF_NONE_OVER + "," + CONSUME_IF_PENDING + ","
                             + APPEND_AUDIT_AFTER_DONE + """
SELECT (SELECT keys FROM over), (SELECT counts FROM seen), (SELECT seq FROM appended)
""")

# Statement 3 when this process's shares cover the request: CONSUME_IF_PENDING and the
# audit entry; returns the entry's seq, or no row (nothing written) when the challenge
# was not consumed.
CONSUME_CHALLENGE = ("WITH" + ALWAYS_ALLOWED + "," + CONSUME_IF_PENDING + ","
                     + APPEND_AUDIT_AFTER_DONE + """
SELECT seq FROM appended
""")

# Evidence that came back after its challenge expired.  Must: mark challenge
# %(att_id)s 'expired' with its verdict and EAR — only if it is still 'pending' — and
# append the audit entry; return the entry's seq, or no row (nothing written) when the
# challenge was not pending any more.
EXPIRE_CHALLENGE = """
WITH done AS (
    UPDATE attestations SET
        state = 'expired', appraised_at = %(at)s, status = %(status)s,
        reasons = %(reasons)s::json, ear = %(ear)s
    WHERE id = %(att_id)s AND state = 'pending'
    RETURNING id
),""" + APPEND_AUDIT_AFTER_DONE + """
SELECT seq FROM appended
"""

# An audit entry on its own.  Must: append it after the chain's head — its prev_hash is
# the head's hash, its seq the head's plus one — move the head to it, and return its seq.
APPEND_AUDIT = "WITH done AS (SELECT 1)," + APPEND_AUDIT_AFTER_DONE + """
SELECT seq FROM appended
"""

# Several audit entries in one statement (a group of requests answered in one
# transaction, ``audit_chain.append_entries``).  Must: chain them after the head in the
# order given — each entry's prev_hash the hash before it, hashes computed as
# APPEND_AUDIT_AFTER_DONE computes one — move the head to the last, and return the last
# seq.  The head row is locked by the statement's first read (FOR UPDATE, which waits for
# a concurrent append and then reads its committed head) and stays locked to the commit.
# Parameter: ``%(entries)s``, a JSON array of the entries in order, each an object of
# ``Entry.pg_params`` without the ``audit_`` prefix (one text parameter: cheaper to pass
# than an array per field).
APPEND_AUDIT_ENTRIES = """
WITH RECURSIVE entry AS (
    SELECT * FROM ROWS FROM (json_to_recordset(%(entries)s::json) AS (
        head text, tail text, at timestamptz, actor text, action text, subject text,
        details text)) WITH ORDINALITY AS e(head, tail, at, actor, action, subject, details, n)
), start AS MATERIALIZED (
    SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE
), chain (n, seq, prev_hash, hash) AS (
    SELECT 0::bigint, seq, NULL::bytea, hash FROM start
    UNION ALL
    SELECT e.n, c.seq + 1, c.hash,
           sha256(convert_to(e.head || encode(c.hash, 'hex') || '","seq":'
                             || (c.seq + 1)::text || e.tail, 'UTF8'))
    FROM chain c JOIN entry e ON e.n = c.n + 1
), last AS (
    SELECT seq, prev_hash, hash FROM chain WHERE n > 0 ORDER BY n DESC LIMIT 1
), head AS (
    UPDATE audit_head h SET seq = last.seq, prev_hash = last.prev_hash, hash = last.hash
    FROM last WHERE h.id = 1
    RETURNING h.seq
), appended AS (
    INSERT INTO audit_entries (seq, at, actor, action, subject, details, prev_hash, hash)
    SELECT c.seq, e.at, e.actor, e.action, e.subject, e.details::json, c.prev_hash, c.hash
    FROM chain c JOIN entry e ON e.n = c.n
    RETURNING seq
)
SELECT seq FROM head
"""
