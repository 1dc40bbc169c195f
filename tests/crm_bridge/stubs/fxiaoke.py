"""纷享销客 Fxiaoke v2: corpAccessToken in the JSON body, ``thirdTraceId`` required, HTTP 200
always with ``errorCode`` (20016 expired token, 30004 throttled, 10013 offset beyond 10,000),
``data/query`` with filters (``GTE``, ``GT``, ``IN``), ``_id`` order, ``limit`` ≤ 100, times in
epoch milliseconds, ``object/describe``.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.crm_bridge.stubs.fixture import StubCustomer
from tests.crm_bridge.stubs.framework import StubCrm, epoch_ms, json_response

OFFSET_CAP = 10_000


def fx_error(code: int, message: str) -> Response:
    return json_response({"errorCode": code, "errorMessage": message,
                          "traceId": "E-stub-trace"})


class FxiaokeStub(StubCrm):
    vendor = "fxiaoke"
    app_id, app_secret, permanent_code = "FSAID_1319abc", "fx-secret", "fx-permanent"

    def rules(self) -> list[Rule]:
        return [Rule("/cgi/corpAccessToken/get/V2", methods=["POST"], endpoint="token"),
                Rule("/cgi/crm/v2/data/query", methods=["POST"], endpoint="query"),
                Rule("/cgi/crm/v2/object/describe", methods=["POST"], endpoint="describe")]

    def vendor_id(self, customer: StubCustomer) -> str:
        return f"64b7f0c1a2b3c4{int(customer.id):010x}"

    def token_of(self, request: Request) -> str | None:
        body = request.get_json(silent=True) or {}
        return body.get("corpAccessToken")

    def _dispatch(self, endpoint: str, request: Request, arguments: dict[str, Any]) -> Response:
        if endpoint != "token" and not request.args.get("thirdTraceId"):
            return fx_error(10001, "thirdTraceId is required")
        return super()._dispatch(endpoint, request, arguments)

    def token(self, request: Request) -> Response:
        body = request.get_json()
        if (body.get("appSecret"), body.get("permanentCode")) != (self.app_secret,
                                                                  self.permanent_code):
            return fx_error(20001, "appId或appSecret错误")
        return json_response({"errorCode": 0, "errorMessage": "success",
                              "corpAccessToken": self.issue_token(), "corpId": "FSCID_77",
                              "expiresIn": 7200})

    def token_refused(self, expired: bool) -> Response:
        return fx_error(20016 if expired else 20005, "corpAccessToken已过期" if expired
                        else "corpAccessToken无效")

    def throttled(self) -> Response:
        return fx_error(30004, "接口调用频率超过限制")

    def render(self, customer: StubCustomer) -> dict[str, Any]:
        return {"_id": self.vendor_id(customer), "name": customer.company,
                "contact_name": customer.name, "tel": customer.phone, "email": customer.email,
                "owner": ["1001"], "owner__r": {"id": "1001", "name": customer.owner},
                "account_level": "A", "field_tier__c": customer.tier,
                "field_ltv__c": f"{customer.lifetime_value:.2f}", "life_status": "normal",
                "is_deleted": False, "create_time": epoch_ms(customer.created_at),
                "last_modified_time": epoch_ms(customer.updated_at), "version": "7"}

    def query(self, request: Request) -> Response:
        info = request.get_json()["data"]["search_query_info"]
        limit, offset = int(info.get("limit", 20)), int(info.get("offset", 0))
        if limit > 100:
            return fx_error(10002, "limit不能大于100")
        if offset > OFFSET_CAP:
            return fx_error(10013, "offset超出范围")
        rows = sorted((self.render(c) for c in self.customers.values()),
                      key=lambda row: row["_id"])
        for condition in info.get("filters", []):
            name, operator, values = (condition["field_name"], condition["operator"],
                                      condition["field_values"])
            if operator == "IN":
                rows = [row for row in rows if row[name] in values]
            elif name == "last_modified_time":
                assert operator == "GTE"
                rows = [row for row in rows if row[name] >= int(values[0])]
            else:
                assert operator == "GT"
                rows = [row for row in rows if row[name] > values[0]]
        page = rows[offset:offset + limit]
        if info.get("fieldProjection"):
            page = [{key: row[key] for key in info["fieldProjection"]} for row in page]
        return json_response({"errorCode": 0, "errorMessage": "OK", "traceId": "E-stub",
                              "data": {"dataList": page, "total": 0, "offset": offset,
                                       "limit": limit}})

    def describe(self, request: Request) -> Response:
        fields = {"name": ("客户名称", "text"), "tel": ("电话", "phone_number"),
                  "email": ("邮件", "email"), "owner": ("负责人", "employee"),
                  "field_tier__c": ("客户等级", "select_one"),
                  "field_ltv__c": ("累计成交额", "currency"),
                  "last_modified_time": ("最后修改时间", "date_time")}
        return json_response({"errorCode": 0, "errorMessage": "OK", "data": {"describe": {
            "api_name": "AccountObj",
            "fields": {name: {"label": label, "type": kind}
                       for name, (label, kind) in fields.items()}}}})
