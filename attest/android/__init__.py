"""Android key attestation (AOSP "Key and ID attestation"; KeyMint ``KeyDescription``).

A handset's Android Keystore (KeyMint, formerly Keymaster, in the TEE or a StrongBox
secure element) certifies a key it generated with an X.509 chain that ends at the
manufacturer's or Google's attestation root; the leaf carries the KeyDescription
extension (OID 1.3.6.1.4.1.11129.2.1.17) that says where the key lives, the attestation
challenge, the device's verified-boot state, bootloader lock, patch levels and —
with ID attestation — its IMEI(s).

- ``keydescription`` — the ASN.1 schema and its typed, frozen decoding (and encoding,
  for the test authority);
- ``chain`` — parsing a chain (PEM or DER) and verifying it to a trusted root at an
  instant, with a status (revocation) list;
- ``status`` — Google's attestation status list;
- ``roots`` — Google's published attestation roots (package data) and operator roots;
- ``testauthority`` — a TEST-ONLY authority issuing chains with chosen properties;
- ``errors`` — ``AttestationInvalid``, the one error all of them raise.

Pure like the rest of ``attest``: bytes and instants in, typed values out; no file or
network access (roots and status lists are handed in as bytes).
"""
