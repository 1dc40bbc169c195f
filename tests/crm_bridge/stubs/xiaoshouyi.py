"""销售易 Xiaoshouyi: password-grant token, XOQL query (``updatedAt >=``, ``id >``, ``id in``,
``order by id limit offset,size`` with size ≤ 100), ``{code, msg, result}`` envelope, HTTP 401
for an expired token, ``code`` 1020025 under HTTP 200 when throttled, epoch-millisecond times.
"""

from __future__ import annotations

import re
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.crm_bridge.stubs.fixture import StubCustomer
from tests.crm_bridge.stubs.framework import StubCrm, epoch_ms, json_response


class XiaoshouyiStub(StubCrm):
    vendor = "xiaoshouyi"
    client_id, client_secret, username, password = "xsy-client", "xsy-secret", "api@x.cn", "pw"

    def rules(self) -> list[Rule]:
        return [Rule("/auc/oauth2/token", methods=["POST"], endpoint="token"),
                Rule("/rest/data/v2/query", methods=["GET"], endpoint="query"),
                Rule("/rest/data/v2.0/xobjects/account/description", methods=["GET"],
                     endpoint="description")]

    def vendor_id(self, customer: StubCustomer) -> str:
        return str(2048000 + int(customer.id))

    def token(self, request: Request) -> Response:
        if request.form.get("password") != self.password + "TOKEN":
            return json_response({"error": "invalid_grant",
                                  "error_description": "用户名或密码错误"}, 400)
        return json_response({"access_token": self.issue_token(), "refresh_token": "r",
                              "expires_in": 7200, "issued_at": "1746515289000"})

    def token_refused(self, expired: bool) -> Response:
        return json_response({"code": 401, "msg": "Invalid access token"}, 401)

    def throttled(self) -> Response:
        return json_response({"code": 1020025, "msg": "请求过于频繁，请稍后再试"})

    def render(self, customer: StubCustomer) -> dict[str, Any]:
        return {"id": int(self.vendor_id(customer)), "accountName": customer.company,
                "phone": customer.phone, "email": customer.email, "ownerId": 3301,
                "level": 2, "customItem158__c": customer.tier,
                "customItem160__c": customer.lifetime_value,
                "createdAt": epoch_ms(customer.created_at),
                "updatedAt": epoch_ms(customer.updated_at)}

    def query(self, request: Request) -> Response:
        match = re.fullmatch(r"select (\S+) from account(?: where (.+?))? order by id "
                             r"limit (\d+),(\d+)", request.args.get("q", ""))
        if match is None:
            return json_response({"code": 1020004, "msg": "XOQL语法错误"})
        fields, where, offset, size = match.groups()
        if int(size) > 100:
            return json_response({"code": 1020005, "msg": "limit不能超过100"})
        rows = sorted((self.render(c) for c in self.customers.values()), key=lambda r: r["id"])
        for term in where.split(" and ") if where else []:
            name, operator, value = term.split(" ", 2)
            if operator == "in":
                wanted = {int(v) for v in value.strip("()").split(",")}
                rows = [row for row in rows if row[name] in wanted]
            elif operator == ">=":
                rows = [row for row in rows if row[name] >= int(value)]
            else:
                rows = [row for row in rows if row[name] > int(value)]
        page = rows[int(offset):int(offset) + int(size)]
        page = [{key: row[key] for key in fields.split(",")} for row in page]
        return json_response({"code": 200, "msg": "OK", "result": {
            "totalSize": len(rows), "count": len(page), "records": page}})

    def description(self, request: Request) -> Response:
        fields = [("accountName", "客户名称", "text"), ("phone", "电话", "phone"),
                  ("ownerId", "所有人", "lookup"), ("level", "客户级别", "picklist"),
                  ("customItem158__c", "客户等级", "picklist"),
                  ("updatedAt", "修改时间", "datetime")]
        return json_response({"code": 200, "msg": "OK", "result": {"fields": [
            {"apiKey": key, "label": label, "type": kind} for key, label, kind in fields]}})
