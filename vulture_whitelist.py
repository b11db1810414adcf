"""Names vulture (``[tool.vulture]`` in pyproject.toml) reports as unused that are used.

Each line is a bare use of the name, which is all vulture reads; the comment says who
uses it. Flask routes, hooks and pytest fixtures need no line here: their decorators are
in ``ignore_decorators``. Only add a name once you have checked that nothing could call
it instead of deleting it.
"""

from vulture.whitelist_utils import Whitelist

used = Whitelist()

# attest.appraisal.PooledCard: compared whole (``paired == evidence_card`` in
# server.attestation.evidence), so the field takes part in the dataclass's equality.
used.paired_imei
# Enum machinery: hw.sw's members set their value in __new__.
used._value_

# Named by string: server.cli.sim's sub-command list, gunicorn's logger_class option.
used.register_sim_modem
used.register_sim_vpcd
used.GunicornLogger
# Overrides called by the library: rich's Console, gunicorn's BaseApplication, Flask's
# SecureCookieSessionInterface, SQLAlchemy's TypeDecorator.
used.on_broken_pipe
used.load_config
used.get_cookie_secure
used.process_bind_param
used.process_formdata  # WTForms' Field (server.http.web.forms.IdField)
used.process_result_value
# Attributes a library reads: SQLAlchemy (TypeDecorator, DeclarativeBase), Flask (app,
# JSON provider, session), sqlite3's connection, the logging module's switches.
used.impl
used.cache_ok
used.type_annotation_map
used.secret_key
used.model_config  # pydantic (server.http.api.request_models)
used.sort_keys
used.session_interface
used.permanent
used.isolation_level
used._srcfile
# pytest reads a test module's marks from this name.
used.pytestmark
used.logThreads
used.logProcesses
used.logMultiprocessing
# Alembic reads each revision module's identifiers and calls downgrade().
used.revision
used.down_revision
used.branch_labels
used.depends_on
used.downgrade
# Fields only the Jinja templates read (server/http/web/templates).
used.checked_out_at
used.registered_iccid
# A card column that import writes and KEK rotation re-encrypts, both by name.
used.puk1_enc
# server.idms: a mapping's column the audit and the desk read; the handset's registrar,
# which the OpenID Connect provider's identities endpoint hands out (idms-oidc).
used.allocated_by
used.registrar_address
# authlib calls these by name on the IdMS's models, grants, endpoints and token
# generator (server.http.idms), and requests reads a session's trust_env.
used.get_default_redirect_uri
used.get_allowed_scope
used.check_redirect_uri
used.check_client_secret
used.client_secret
used.check_endpoint_auth_method
used.check_response_type
used.check_grant_type
used.code_challenge_method
used.get_redirect_uri
used.get_scope
used.get_nonce
used.get_auth_time
used.get_acr
used.get_amr
used.check_client
used.DEFAULT_CODE_CHALLENGE_METHOD
used.SUPPORTED_CODE_CHALLENGE_METHOD
used.TOKEN_ENDPOINT_AUTH_METHODS
used.generate_authorization_code
used.save_authorization_code
used.query_authorization_code
used.delete_authorization_code
used.authenticate_user
used.exists_nonce
used.resolve_client_private_key
used.get_client_algorithm
used.get_encode_header
used.get_client_claims
used.generate_user_info
used.INCLUDE_NEW_REFRESH_TOKEN
used.authenticate_refresh_token
used.revoke_old_credential
used.access_token_generator
used.CLIENT_AUTH_METHODS
used.SUPPORTED_TOKEN_TYPES
used.query_token
used.token_type_hint
used.check_permission
used.create_introspection_payload
used.get_user_id
used.trust_env
# Flask's g: set by the IdMS's handlers, read back by name (g.pop) when the response is
# audited (server.http.idms._audit_refusal).
used.idms_refusal
used.idms_audited

# Tests: pytest's own hooks, http.server's handler methods, and attributes of a log
# record that the JSON formatter reads through the record's __dict__.
used.pytest_plugins
used.pytest_configure
used.do_POST
used.log_message
used.big
used.name_bytes
