"""Serving the features over HTTP: the Flask app factory, the JSON API (problem+json,
OpenAPI, the device endpoints on a thin WSGI layer), the desk web pages, WSGI/gunicorn
entries, JSON logs and Prometheus metrics.  Handlers parse, call one service function
and format.

May import: the feature packages, core, store (read-only queries for pages), hw, attest.
"""
