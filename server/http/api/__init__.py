"""The JSON API: one blueprint per resource, bearer-token auth and roles, RFC 9457
problems, the OpenAPI document; ``device`` serves the two device-facing routes in front
of Flask.

Every input is validated once, here at the edge, by a typed model, and the OpenAPI
document is generated from the same models — so a request the document allows is never
refused for a rule it does not state.  A new endpoint follows this pattern:

1. Its request models go in ``request_models``: a ``RequestModel`` subclass for the
   JSON body (strict: no "5" for 5, no 5.0 for 5, no unknown members), a
   ``ParameterModel`` subclass for its path parameters and one for its query
   parameters (integers as ``ParamInt`` with ``Field(ge=..., le=...)`` bounded to the
   column).  Text that is stored or logged is ``printable(max_length)`` with the
   column's length; identifiers use ``Imei``, ``Iccid``, ``AttestationId``.  A rule
   JSON Schema cannot state is a named format (``FORMATS``, with its meaning) and gets
   a generation strategy in ``tests/schemathesis_hooks.py``.
2. The view reads them through ``body``: ``json_body(Model)`` (415, 400, 422 naming
   the field; duplicate keys refused), ``query(Model)`` (a parameter given twice is
   refused), ``@path(Model)`` under the route and ``require_role`` (the view then gets
   the typed values).  Nothing reads ``request.args``, ``request.get_json`` or view
   arguments directly.
3. Its module's ``OPENAPI`` names the same models: ``json_request(Model)`` and
   ``parameters(path=..., query=...)``; answers are ``json_response`` (with ``links``
   to the operations a client may call next) and ``problem_response`` for every status
   the handler or the service function can raise.  ``openapi`` adds the statuses every
   operation of a kind can answer (400/413/415/422 for a body, 422 for parameters,
   401/403 for a token, 503 for the database).
4. ``tests/test_openapi.py`` fails on an undocumented route; ``tests/test_api_contract.py``
   (schemathesis, all checks and phases) and ``tests/test_api_fuzz.py`` (hypothesis)
   run against the live service and fail on any finding, a 5xx or a 4xx that is not
   problem+json; ``tests/test_bad_input.py`` has one test per class of bad input.

May import: as server.http.
"""
