"""WTForms classes for every desk form; each carries the CSRF token (Flask-WTF).

The forms only check presence and length.  What a value must look like (IMEI Luhn,
ICCID length, key type, user identity) is decided once, by the service function the
form calls; its refusal names the field (``ServiceError.field``) and
:func:`show_refusal` puts the message next to that field.
"""

from __future__ import annotations

from flask import flash
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from server.core.errors import ServiceError
from server.http.api.request_models import INT32_MAX, ascii_int


def show_refusal(form: FlaskForm, what: str, exc: ServiceError) -> None:
    """Flash "<what>: <detail>" and mark the field the service named, if the form has it."""
    flash(f"{what}: {exc.detail}", "error")
    field = form._fields.get(exc.field or "")
    if field is not None and not isinstance(field, HiddenField):
        field.errors = [*field.errors, exc.detail]


class SignInForm(FlaskForm):
    token = PasswordField(
        "Operator token",
        validators=[DataRequired(message="Enter your operator token."), Length(max=512)],
    )


class SignOutForm(FlaskForm):
    """No fields: the CSRF token alone (sign-out must not be forgeable either)."""


class CheckoutForm(FlaskForm):
    attestation_id = HiddenField(validators=[DataRequired()])
    confirmed = HiddenField()  # "yes" on the confirmation step
    user = StringField(
        "User identity",
        description="Name, badge or staff number of the person taking the handset.",
        validators=[DataRequired(message="Enter who is taking the handset."), Length(max=200)],
    )


class IdField(IntegerField):
    """A row id: ASCII digits only, within an INTEGER column (WTForms' IntegerField takes
    whatever ``int()`` does: "３５６", " 5", "5_0", any size)."""

    def process_formdata(self, valuelist: list[str]) -> None:
        if valuelist:
            self.data = ascii_int(valuelist[0], INT32_MAX)
            if self.data is None:
                raise ValueError("expected an id (ASCII digits)")


class ReturnForm(FlaskForm):
    checkout_id = IdField(validators=[DataRequired()])


class AcknowledgeForm(FlaskForm):
    note = StringField(
        "Note",
        description="Why this alert needs nothing more, e.g. “typo on the bench, "
                    "handset re-checked”.",
        validators=[DataRequired(message="Say why the alert needs nothing more."),
                    Length(max=500)])


class ImportForm(FlaskForm):
    batch = FileField("Vendor batch file", validators=[FileRequired("Choose the vendor file.")])
    # A PasswordField: the key is never written back into the page (a refused import
    # shows the form again; the key must not travel back in clear text).
    transport_key = PasswordField(
        "Transport key (optional)",
        description="Only if the vendor encrypted Ki/OPc: 32 hex digits.",
        validators=[Optional(), Length(max=64)],
    )
    partial = BooleanField("Import the good rows even if some rows are rejected")


class HandsetForm(FlaskForm):
    imei = StringField("IMEI", validators=[DataRequired(), Length(max=15)])
    imeisv = StringField("IMEISV (optional)", validators=[Optional(), Length(max=16)])
    label = StringField("Label", description="What is written on the handset, e.g. “Unit 12”.",
                        validators=[Length(max=200)])
    public_key = TextAreaField(
        "Device public key (PEM)",
        description="Ed25519 or EC P-256, as printed by “simattest device keygen”.",
        validators=[DataRequired(), Length(max=4096)],
    )


class PairForm(FlaskForm):
    imei = StringField("Handset IMEI", validators=[DataRequired(), Length(max=15)])
    iccid = StringField("Card ICCID", validators=[DataRequired(), Length(max=20)])


class UnpairForm(FlaskForm):
    imei = HiddenField(validators=[DataRequired()])


class McUserForm(FlaskForm):
    """A new MC user (identity management); the service checks each value."""

    mc_id = StringField("MC ID", description="What the user signs in with, e.g. "
                        "alice@police.", validators=[DataRequired(), Length(max=255)])
    mcptt_id = StringField("MCPTT ID", description="A SIP URI, e.g. "
                           "sip:alice@mcptt.example.org.",
                           validators=[DataRequired(), Length(max=255)])
    display_name = StringField("Display name", validators=[DataRequired(), Length(max=200)])
    agency = StringField("Agency", validators=[Optional(), Length(max=200)])
    password = PasswordField("Initial password", description="12 to 256 characters; tell "
                             "it to the user by a separate channel.",
                             validators=[DataRequired(), Length(max=256)])


class McUserActionForm(FlaskForm):
    """Disable, enable or set a new password (the password only for the last)."""

    password = PasswordField("New password", validators=[Optional(), Length(max=256)])


class LostForm(FlaskForm):
    note = StringField("Note", description="What is known: where, when, who reported it.",
                       validators=[Optional(), Length(max=500)])
