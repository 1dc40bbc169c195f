"""简道云 Jiandaoyun v5: Bearer API key (never expires), ``data/list`` sorted by ``_id`` with
``data_id`` keyset and ``limit`` ≤ 100, ``filter`` conditions (``updateTime`` range, ``_id``
in, field eq), ``widget/list``, ``data/create`` into a follow-up form, HTTP 400 ``{code: 8303}``
when throttled. Customer fields are tenant aliases; the phone widget is ``{phone, verified}``.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.crm_bridge.stubs.fixture import StubCustomer
from tests.crm_bridge.stubs.framework import StubCrm, iso_z, json_response

APP_ID, CUSTOMER_FORM, FOLLOWUP_FORM = "6607ac2c0d1f1a7ae4807f44", "6607ad0f0d1f1a7ae4807f55", \
    "6607ad0f0d1f1a7ae4807f66"


class JiandaoyunStub(StubCrm):
    vendor = "jiandaoyun"
    public = frozenset()
    api_key = "jdy-api-key"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens[self.api_key] = 10**9  # API keys do not expire
        self._followup_ids = itertools.count(1)

    def rules(self) -> list[Rule]:
        return [Rule("/api/v5/app/entry/data/list", methods=["POST"], endpoint="data_list"),
                Rule("/api/v5/app/entry/widget/list", methods=["POST"], endpoint="widgets"),
                Rule("/api/v5/app/entry/data/create", methods=["POST"], endpoint="create")]

    def vendor_id(self, customer: StubCustomer) -> str:
        return f"665f1c2e9a1b2c{int(customer.id):010x}"

    def token_refused(self, expired: bool) -> Response:
        return json_response({"code": 8301, "msg": "Invalid api key"}, 401)

    def throttled(self) -> Response:
        return json_response({"code": 8303, "msg": "The request rate exceeds the limit"}, 400)

    def render(self, customer: StubCustomer) -> dict[str, Any]:
        return {"_id": self.vendor_id(customer), "appId": APP_ID, "entryId": CUSTOMER_FORM,
                "creator": {"name": "王五", "username": "wangwu", "status": 1, "type": 0},
                "createTime": iso_z(customer.created_at), "updateTime": iso_z(customer.updated_at),
                "_widget_1700000000001": customer.company, "name": customer.name,
                "contact_phone": {"phone": customer.phone, "verified": False},
                "email": customer.email, "owner": {"name": customer.owner, "username": "zhaoliu"},
                "tier": customer.tier, "ltv": customer.lifetime_value, "tags": customer.tags}

    def data_list(self, request: Request) -> Response:
        query = request.get_json()
        limit = int(query.get("limit", 10))
        if not 1 <= limit <= 100:
            return json_response({"code": 4000, "msg": "limit must be between 1 and 100"}, 400)
        if query["entry_id"] == FOLLOWUP_FORM:
            rows = list(self.activities.values())
        else:
            rows = [self.render(c) for c in self.customers.values()]
        for condition in query.get("filter", {}).get("cond", []):
            rows = [row for row in rows if matches(row, condition)]
        rows.sort(key=lambda row: row["_id"])
        if query.get("data_id"):
            rows = [row for row in rows if row["_id"] > query["data_id"]]
        if query.get("fields"):
            rows = [{key: row[key] for key in ("_id", *query["fields"])} for row in rows]
        return json_response({"data": rows[:limit]})

    def widgets(self, request: Request) -> Response:
        names = [("_widget_1700000000001", "客户名称", "text"), ("name", "联系人", "text"),
                 ("contact_phone", "手机", "phone"), ("email", "邮箱", "text"),
                 ("owner", "负责人", "user"), ("tier", "客户等级", "combo"),
                 ("ltv", "累计成交额", "number"), ("tags", "标签", "checkboxgroup")]
        return json_response({"widgets": [{"name": n, "label": label, "type": t}
                                          for n, label, t in names]})

    def create(self, request: Request) -> Response:
        body = request.get_json()
        row = {"_id": f"7700000000000{next(self._followup_ids):011d}",
               **{key: value["value"] for key, value in body["data"].items()}}
        self.activities[row["_id"]] = row
        return json_response({"data": row})


def matches(row: dict[str, Any], condition: dict[str, Any]) -> bool:
    value, method, wanted = row.get(condition["field"]), condition["method"], condition["value"]
    if method == "range":
        low, high = (datetime.fromisoformat(v) if v else None for v in wanted)
        moment = datetime.fromisoformat(value)
        return (low is None or moment >= low) and (high is None or moment <= high)
    if method == "in":
        return value in wanted
    if method == "eq":
        return value == wanted[0]
    raise ValueError(method)
