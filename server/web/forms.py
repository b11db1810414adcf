"""WTForms classes for every desk form; each carries the CSRF token (Flask-WTF)."""

from __future__ import annotations

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
from wtforms.validators import DataRequired, Length, Optional, Regexp

_HEX_KEY = Regexp(r"^\s*[0-9A-Fa-f]{32}\s*$", message="16 bytes as 32 hex digits.")


class SignInForm(FlaskForm):
    token = PasswordField(
        "Operator token",
        validators=[DataRequired(message="Enter your operator token."), Length(max=512)],
    )


class SignOutForm(FlaskForm):
    """No fields: the CSRF token alone (sign-out must not be forgeable either)."""


class CheckoutForm(FlaskForm):
    attestation_id = HiddenField(validators=[DataRequired()])
    user = StringField(
        "User identity",
        description="Name, badge or staff number of the person taking the handset.",
        validators=[DataRequired(message="Enter who is taking the handset."), Length(max=200)],
    )


class ReturnForm(FlaskForm):
    checkout_id = IntegerField(validators=[DataRequired()])


class ImportForm(FlaskForm):
    batch = FileField("Vendor batch file", validators=[FileRequired("Choose the vendor file.")])
    transport_key = StringField(
        "Transport key (optional)",
        description="Only if the vendor encrypted Ki/OPc: 32 hex digits.",
        validators=[Optional(), _HEX_KEY],
    )
    partial = BooleanField("Import the good rows even if some rows are rejected")


class HandsetForm(FlaskForm):
    imei = StringField(
        "IMEI", validators=[DataRequired(), Regexp(r"^\d{15}$", message="15 digits.")]
    )
    imeisv = StringField(
        "IMEISV (optional)",
        validators=[Optional(), Regexp(r"^\d{16}$", message="16 digits.")],
    )
    label = StringField("Label", description="What is written on the handset, e.g. “Unit 12”.",
                        validators=[Length(max=200)])
    public_key = TextAreaField(
        "Device public key (PEM)",
        description="Ed25519 or EC P-256, as printed by “simattest device keygen”.",
        validators=[DataRequired(), Length(max=4096)],
    )


class PairForm(FlaskForm):
    imei = StringField(
        "Handset IMEI", validators=[DataRequired(), Regexp(r"^\d{15}$", message="15 digits.")]
    )
    iccid = StringField(
        "Card ICCID",
        validators=[DataRequired(), Regexp(r"^\d{18,20}$", message="18 to 20 digits.")],
    )


class UnpairForm(FlaskForm):
    imei = HiddenField(validators=[DataRequired()])
