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
# server.ims.cx: python-diameter calls handle_request and serialises the attributes set on
# its message classes from their AVP definitions.
used.handle_request
used.send_answer
used.is_error
used.vendor_specific_application_id
used.auth_session_state
used.failed_avp
used.destination_realm
used.deregistration_reason
used.product_name
used.validate_received_request_avps
used.peer_route_select_func
used.wakeup_interval
used.auth_application_id
used.host_ip_address
used.supported_vendor_id
used.hop_by_hop_identifier
used.end_to_end_identifier
used.application_id
used.user_data_already_available
used.visited_network_identifier

# Tests: pytest's own hooks, http.server's handler methods, and attributes of a log
# record that the JSON formatter reads through the record's __dict__.
used.pytest_plugins
used.pytest_configure
used.do_POST
used.log_message
used.big
used.name_bytes
