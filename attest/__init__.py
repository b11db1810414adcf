"""The pure domain: AKA algorithms, card profiles and classification, the evidence
model, appraisal policy and EAR result tokens, Android key attestation (``android``).
Bytes in, bytes out; no I/O.

May import: the standard library and pure libraries (cryptography, PyJWT, orjson, PyYAML
for texts it is handed, asn1crypto for ASN.1).  Never hw, server or an I/O library
(import-linter).
"""
