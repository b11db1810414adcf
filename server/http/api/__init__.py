"""The JSON API: one blueprint per resource, bearer-token auth and roles, strict body
reading, RFC 9457 problems, the OpenAPI document; ``device`` serves the two device-facing
routes in front of Flask.

May import: as server.http.
"""
