"""The pool page: every handset with its card, last verdict and who has it."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue

from server.checkout.desk import POLICY_TEXT
from server.http.api.auth import service
from server.http.web import queries
from server.http.web.auth import ANY_ROLE, require_role
from server.http.web.blueprint import bp, int_arg
from server.pool.registry import VERIFICATION_STATES

STATUS_CHOICES: dict[str, queries.Status] = {
    "affirming": "affirming", "warning": "warning", "contraindicated": "contraindicated",
    "none": "none",
}


def _filter_from_args() -> queries.PoolFilter:
    checked_out = {"yes": True, "no": False}.get(request.args.get("out", ""))
    return queries.PoolFilter(
        status=STATUS_CHOICES.get(request.args.get("status", "")),
        checked_out=checked_out,
        problems_only=request.args.get("problems") == "1",
        search=request.args.get("q", "")[:100],
        device=queries.DEVICE_FILTERS.get(request.args.get("device", "")),
    )


@bp.get("/desk/pool")
@require_role(*ANY_ROLE)
def pool() -> ResponseReturnValue:
    flt = _filter_from_args()
    page = queries.pool_page(service(), flt, after=int_arg("after"), before=int_arg("before"))
    args = {k: v for k, v in request.args.items() if k not in ("after", "before") and v}
    svc = service()
    return render_template("pool.html", page=page, flt=flt, args=args,
                           statuses=STATUS_CHOICES, out=queries.checked_out_count(svc),
                           card_states=VERIFICATION_STATES,
                           checkout_policy=POLICY_TEXT[svc.config.card_verification])
