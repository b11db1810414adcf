"""The ``IMSSubscription`` document an SAA carries in ``User-Data`` (TS 29.228 Annex E,
the Cx data type schema ``CxDataType_Rel7.xsd``).

One ``ServiceProfile`` holds IMPU2 and the alias IMPUs, so the S-CSCF registers them as
one implicit registration set (TS 23.228 clause 4.3.3.4) and lists them all in
``P-Associated-URI``.  An initial filter criterion sends REGISTER to the MCPTT
application server when one is configured (third-party registration, TS 24.229 clause
5.4.1.7).  IMPI1 goes only into the documented extension, and only when the operator
asks for it for charging (``[cx] charging_impi1``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

# TS 29.228 Annex E: SessionCase 0 = originating; DefaultHandling 0 = SESSION_CONTINUED.
_ORIGINATING = "0"
_SESSION_CONTINUED = "0"
# The element in the IMSSubscription's Extension that carries IMPI1 for charging.
CHARGING_IMPI_ELEMENT = "ChargingPrivateID"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def ims_subscription(impi: str, impus: Sequence[str], *,
                     application_server: str | None = None,
                     charging_impi: str | None = None) -> bytes:
    """The User-Data XML (UTF-8) for private identity ``impi`` and its public identities
    ``impus`` (the first is the default IMPU, the others its aliases)."""
    root = ET.Element("IMSSubscription")
    _text(root, "PrivateID", impi)
    profile = ET.SubElement(root, "ServiceProfile")
    for impu in impus:
        public = ET.SubElement(profile, "PublicIdentity")
        _text(public, "BarringIndication", "0")
        _text(public, "Identity", impu)
    if application_server is not None:
        ifc = ET.SubElement(profile, "InitialFilterCriteria")
        _text(ifc, "Priority", "0")
        trigger = ET.SubElement(ifc, "TriggerPoint")
        _text(trigger, "ConditionTypeCNF", "0")
        spt = ET.SubElement(trigger, "SPT")
        _text(spt, "ConditionNegated", "0")
        _text(spt, "Group", "0")
        _text(spt, "Method", "REGISTER")
        server = ET.SubElement(ifc, "ApplicationServer")
        _text(server, "ServerName", application_server)
        _text(server, "DefaultHandling", _SESSION_CONTINUED)
    if charging_impi is not None:
        extension = ET.SubElement(root, "Extension")
        _text(extension, CHARGING_IMPI_ELEMENT, charging_impi)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
