"""用友 YonBIP: HMAC-SHA256 signed token request (code "00000"), ``access_token`` query
parameter, ``merchant/newlist`` with ``pubts`` ≥ (naive Asia/Shanghai seconds) and
``pageIndex``/``pageSize`` ≤ 5000 in id order, ``merchant/detail``, ``{code: "200", data}``
envelopes under HTTP 200 (token expiry and throttling as gateway codes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.crm_bridge.stubs.fixture import StubCustomer
from tests.crm_bridge.stubs.framework import StubCrm, json_response

SHANGHAI = ZoneInfo("Asia/Shanghai")


def yon_error(code: str, message: str) -> Response:
    return json_response({"code": code, "message": message})


def local_seconds(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


class YonBipStub(StubCrm):
    vendor = "yonbip"
    app_key, app_secret = "yon-app-key", "yon-app-secret"

    def rules(self) -> list[Rule]:
        return [Rule("/open-auth/selfAppAuth/getAccessToken", methods=["GET"], endpoint="token"),
                Rule("/yonbip/digitalModel/merchant/newlist", methods=["POST"],
                     endpoint="newlist"),
                Rule("/yonbip/digitalModel/merchant/detail", methods=["GET"], endpoint="detail")]

    def vendor_id(self, customer: StubCustomer) -> str:
        return str(1700194312096055000 + int(customer.id))

    def token_of(self, request: Request) -> str | None:
        return request.args.get("access_token")

    def token(self, request: Request) -> Response:
        message = f"appKey{request.args['appKey']}timestamp{request.args['timestamp']}"
        expected = base64.b64encode(hmac.new(self.app_secret.encode(), message.encode(),
                                             hashlib.sha256).digest()).decode()
        if request.args.get("signature") != expected:
            return yon_error("1090003500001", "签名校验失败")
        return json_response({"code": "00000", "message": "成功！",
                              "data": {"access_token": self.issue_token(), "expire": 7200}})

    def token_refused(self, expired: bool) -> Response:
        return yon_error("1090003500065", "access_token已过期")

    def throttled(self) -> Response:
        return yon_error("1090003500429", "请求过于频繁")

    def render(self, customer: StubCustomer) -> dict[str, Any]:
        return {"id": int(self.vendor_id(customer)), "code": f"C{customer.id}",
                "name": {"simplifiedName": customer.company, "englishName": None},
                "contactName": customer.name, "contactTel": customer.phone,
                "email": customer.email, "customerClassCode": customer.tier,
                "stopStatus": False, "createTime": local_seconds(customer.created_at),
                "pubts": local_seconds(customer.updated_at)}

    def newlist(self, request: Request) -> Response:
        query = request.get_json()
        size, index = int(query.get("pageSize", 500)), int(query.get("pageIndex", 1))
        if size > 5000:
            return yon_error("999", "pageSize不能大于5000")
        customers = sorted(self.customers.values(), key=lambda c: int(c.id))
        if query.get("pubts"):
            floor = datetime.strptime(query["pubts"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
            customers = [c for c in customers if c.updated_at.replace(microsecond=0) >= floor]
        page = customers[(index - 1) * size: index * size]
        return json_response({"code": "200", "message": "操作成功", "data": {
            "pageIndex": index, "pageSize": size, "recordCount": len(customers),
            "pageCount": max(1, -(-len(customers) // size)),
            "recordList": [self.render(c) for c in page]}})

    def detail(self, request: Request) -> Response:
        customer = self.by_vendor_id(request.args.get("id", ""))
        if customer is None:
            return yon_error("1090003500404", "客户档案不存在")
        return json_response({"code": "200", "message": "操作成功", "data": self.render(customer)})
