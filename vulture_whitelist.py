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

# Named by string: server.cli.sim's sub-command list, gunicorn's logger_class and
# worker_class options.
used.register_sim_modem
used.register_sim_vpcd
used.GunicornLogger
used.ProblemWorker
# gunicorn.util's function its workers call for their own refusals (ProblemWorker).
used.write_error
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
# server.ims.cx: python-diameter calls receive_request and serialises the attributes set
# on its message classes from their AVP definitions.
used.receive_request
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

# server.core.configfile.AndroidSection: read by getattr over the severity names.
used.contraindicated
# attest.android.keydescription: the KeyMint enumerations' members are made from decoded
# numbers (``KeyPurpose(2)``), and AuthorizationList's fields are set and read by name
# from the schema table (``AuthorizationList(**values)``, ``getattr``).
used.SELF_SIGNED
used.ENCRYPT
used.DECRYPT
used.DERIVE_KEY
used.WRAP_KEY
used.AGREE_KEY
used.RSA
used.ML_DSA
used.TRIPLE_DES
used.HMAC
used.CBC
used.CTR
used.ML_DSA_65
used.MD5
used.SHA_2_224
used.SHA_2_384
used.RSA_OAEP
used.RSA_PSS
used.RSA_PKCS1_1_5_ENCRYPT
used.RSA_PKCS1_1_5_SIGN
used.PKCS7
used.P_224
used.P_384
used.P_521
used.CURVE_25519
used.DERIVED
used.IMPORTED
used.RESERVED
used.SECURELY_IMPORTED
used.block_mode
used.ec_curve
used.ml_dsa_variant
used.rsa_public_exponent
used.mgf_digest
used.rollback_resistance
used.early_boot_only
used.active_datetime
used.origination_expire_datetime
used.usage_expire_datetime
used.usage_count_limit
used.no_auth_required
used.user_auth_type
used.auth_timeout
used.allow_while_on_body
used.trusted_user_presence_required
used.trusted_confirmation_required
used.unlocked_device_required
used.all_applications
used.application_id
used.rollback_resistant
used.attestation_id_brand
used.attestation_id_device
used.attestation_id_product
used.attestation_id_serial
used.attestation_id_imei
used.attestation_id_meid
used.attestation_id_manufacturer
used.attestation_id_model
used.device_unique_attestation
used.attestation_id_second_imei
# python-diameter reads Node.tcp_port in Node.start (server/ims/cx.py CxNode.start).
used.tcp_port
# python-diameter calls PeerConnection.add_out_msg for every message sent and its node
# loop sends _write_buffer (server/ims/cx.py _write_now).
used.add_out_msg
used._write_buffer
