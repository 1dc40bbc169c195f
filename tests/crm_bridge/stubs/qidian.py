"""腾讯企点 Qidian: ``getSelfBuildToken``, ``access_token`` query parameter, ``getCustList``
(100 ids per page, ``next_custid`` cursor) and ``getSingCustBaseInfo`` per customer,
``{errcode, errmsg}`` under HTTP 200 (42001 expired token, 45011 minute limit, 40003 no such
customer).
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.crm_bridge.stubs.fixture import StubCustomer
from tests.crm_bridge.stubs.framework import StubCrm, json_response

PAGE = 100


class QidianStub(StubCrm):
    vendor = "qidian"
    sid, appid, secret = "2852199999", "qd-appid", "qd-secret"

    def rules(self) -> list[Rule]:
        return [Rule("/cgi-bin/token/getSelfBuildToken", methods=["GET"], endpoint="token"),
                Rule("/cgi-bin/cust/cust_info/getCustList", methods=["GET"], endpoint="cust_list"),
                Rule("/cgi-bin/cust/cust_info/getSingCustBaseInfo", methods=["POST"],
                     endpoint="base_info")]

    def vendor_id(self, customer: StubCustomer) -> str:
        return f"c_8f1e{int(customer.id):08d}"

    def token_of(self, request: Request) -> str | None:
        return request.args.get("access_token")

    def token(self, request: Request) -> Response:
        if request.args.get("secret") != self.secret:
            return json_response({"errcode": 40001, "errmsg": "invalid credential"})
        return json_response({"access_token": self.issue_token(), "expires_in": 7200})

    def token_refused(self, expired: bool) -> Response:
        return json_response({"errcode": 42001 if expired else 40014,
                              "errmsg": "access_token expired" if expired
                              else "invalid access_token"})

    def throttled(self) -> Response:
        return json_response({"errcode": 45011, "errmsg": "api minute-quota reach limit"})

    def cust_list(self, request: Request) -> Response:
        ids = sorted(self.vendor_id(c) for c in self.customers.values())
        cursor = request.args.get("next_custid", "")
        remaining = [cust_id for cust_id in ids if cust_id > cursor]
        page = remaining[:PAGE]
        return json_response({"errcode": 0, "errmsg": "ok", "total": len(ids),
                              "count": len(page), "data": page,
                              "next_custid": page[-1] if len(remaining) > PAGE else ""})

    def base_info(self, request: Request) -> Response:
        customer = self.by_vendor_id(request.get_json()["cust_id"])
        if customer is None:
            return json_response({"errcode": 40003, "errmsg": "invalid cust_id"})
        data: dict[str, Any] = {
            "identity": {"name": customer.name, "gender": 1},
            "contact": {"mobile": [customer.phone], "email": [customer.email]},
            "socialAccount": {}, "controlInfo": {"owner": customer.owner},
            "udfInfo": {"tier": customer.tier, "company": customer.company}}
        return json_response({"errcode": 0, "errmsg": "ok", "data": data})
