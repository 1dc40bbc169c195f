"""Zoho CRM v8: refresh-token endpoint returning ``api_domain``, ``Zoho-oauthtoken`` header,
``If-Modified-Since`` (after that instant, whole seconds; 204 when nothing changed), page
numbers refused past 2,000 records (``page_token`` beyond), ``/deleted``, ``/settings/fields``
and Task upsert with ``duplicate_check_fields``. Times carry the tenant's +08:00 offset.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.crm_bridge.stubs.fixture import StubCustomer
from tests.crm_bridge.stubs.framework import StubCrm, json_response

TENANT_ZONE = timezone(timedelta(hours=8))
MODULE = "/crm/v8/Contacts"


def zoho_error(status: int, code: str, message: str) -> Response:
    return json_response({"code": code, "details": {}, "message": message, "status": "error"},
                         status)


def zoho_time(moment: datetime) -> str:
    return moment.astimezone(TENANT_ZONE).replace(microsecond=0).isoformat()


class ZohoStub(StubCrm):
    vendor = "zoho"
    client_id, client_secret, refresh_token = "1000.ZOHO", "zoho-secret", "1000.refresh"

    def __init__(self, *args: Any, page_number_limit: int = 2000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.page_number_limit = page_number_limit
        self.page_tokens: dict[str, list[dict[str, Any]]] = {}

    def rules(self) -> list[Rule]:
        return [
            Rule("/oauth/v2/token", methods=["POST"], endpoint="token"),
            Rule(MODULE, methods=["GET"], endpoint="records"),
            Rule(f"{MODULE}/deleted", methods=["GET"], endpoint="deleted_records"),
            Rule("/crm/v8/settings/fields", methods=["GET"], endpoint="fields"),
            Rule("/crm/v8/Tasks/upsert", methods=["POST"], endpoint="upsert_task"),
        ]

    def vendor_id(self, customer: StubCustomer) -> str:
        return "5725767" + customer.id.zfill(12)

    def token_of(self, request: Request) -> str | None:
        return request.headers.get("Authorization", "").removeprefix("Zoho-oauthtoken ") or None

    def token(self, request: Request) -> Response:
        if (request.args.get("client_secret"), request.args.get("refresh_token")) != (
                self.client_secret, self.refresh_token):
            return json_response({"error": "invalid_code"})
        return json_response({"access_token": self.issue_token(), "api_domain": self.url,
                              "token_type": "Bearer", "expires_in": 3600})

    def token_refused(self, expired: bool) -> Response:
        return zoho_error(401, "INVALID_TOKEN", "invalid oauth token")

    def throttled(self) -> Response:
        return zoho_error(429, "TOO_MANY_REQUESTS",
                          "The number of concurrent requests has exceeded the limit.")

    def render(self, customer: StubCustomer) -> dict[str, Any]:
        return {"id": self.vendor_id(customer), "First_Name": customer.given_name,
                "Last_Name": customer.family_name, "Full_Name": customer.name,
                "Email": customer.email, "Phone": customer.phone, "Mobile": None,
                "Account_Name": {"name": customer.company, "id": "5725767000000987654"},
                "Owner": {"name": customer.owner, "id": "5725767000000011111"},
                "Tag": [{"name": tag, "id": f"57257670000002{i}"}
                        for i, tag in enumerate(customer.tags)],
                "Customer_Tier": customer.tier, "Lifetime_Value": customer.lifetime_value,
                "Modified_Time": zoho_time(customer.updated_at),
                "Created_Time": zoho_time(customer.created_at)}

    @staticmethod
    def _modified_after(request: Request) -> datetime | None:
        header = request.headers.get("If-Modified-Since")
        return datetime.fromisoformat(header) if header else None

    def records(self, request: Request) -> Response:
        per_page = min(int(request.args.get("per_page", 200)), 200)
        token = request.args.get("page_token")
        if token:
            rows = self.page_tokens.pop(token, None)
            if rows is None:
                return zoho_error(400, "INVALID_DATA", "invalid page_token")
            return self._page(rows, per_page, None)
        page = int(request.args.get("page", 1))
        if page * per_page > self.page_number_limit:
            return zoho_error(400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                              "use page_token to fetch more than "
                              f"{self.page_number_limit} records")
        customers = self.live()
        if request.args.get("ids"):
            wanted = set(request.args["ids"].split(","))
            customers = [c for c in customers if self.vendor_id(c) in wanted]
        if (after := self._modified_after(request)) is not None:
            customers = [c for c in customers if c.updated_at.replace(microsecond=0) > after]
        if request.args.get("sort_by") != "Modified_Time":
            customers.sort(key=lambda c: int(c.id))
        if not customers:
            return Response(status=204)
        rows = [self.render(c) for c in customers][(page - 1) * per_page:]
        return self._page(rows, per_page, page)

    def _page(self, rows: list[dict[str, Any]], per_page: int, page: int | None) -> Response:
        more = len(rows) > per_page
        info: dict[str, Any] = {"per_page": per_page, "count": min(per_page, len(rows)),
                                "page": page or 0, "more_records": more,
                                "next_page_token": None, "page_token_expiry": None}
        if more:
            token = f"tok{len(self.page_tokens) + self.tokens_issued}x{len(rows)}"
            self.page_tokens[token] = rows[per_page:]
            info["next_page_token"] = token
        return json_response({"data": rows[:per_page], "info": info})

    def deleted_records(self, request: Request) -> Response:
        after = self._modified_after(request)
        rows = [{"id": "5725767" + cid.zfill(12), "display_name": "", "type": "recycle",
                 "deleted_time": zoho_time(at),
                 "deleted_by": {"name": "Zhao Min", "id": "5725767000000011111"}}
                for cid, at in sorted(self.deleted.items(), key=lambda item: item[1])
                if after is None or at.replace(microsecond=0) > after]
        if not rows:
            return Response(status=204)
        per_page, page = int(request.args.get("per_page", 200)), int(request.args.get("page", 1))
        chunk = rows[(page - 1) * per_page: page * per_page]
        return json_response({"data": chunk, "info": {
            "per_page": per_page, "count": len(chunk), "page": page,
            "more_records": page * per_page < len(rows)}})

    def fields(self, request: Request) -> Response:
        catalogue = [("First_Name", "First Name", "text"), ("Last_Name", "Last Name", "text"),
                     ("Email", "Email", "email"), ("Phone", "Phone", "phone"),
                     ("Account_Name", "Account Name", "lookup"),
                     ("Customer_Tier", "Customer Tier", "picklist"),
                     ("Modified_Time", "Modified Time", "datetime")]
        return json_response({"fields": [{"api_name": n, "field_label": label, "data_type": t}
                                         for n, label, t in catalogue]})

    def upsert_task(self, request: Request) -> Response:
        body = request.get_json()
        key_field = body["duplicate_check_fields"][0]
        record = body["data"][0]
        key = record[key_field]
        existing = self.activities.get(key)
        task_id = existing["id"] if existing else f"57257670000033{len(self.activities):05d}"
        self.activities[key] = {**record, "id": task_id}
        return json_response({"data": [{
            "code": "SUCCESS", "duplicate_field": key_field if existing else None,
            "action": "update" if existing else "insert",
            "details": {"id": task_id, "Modified_Time": zoho_time(self.now)},
            "message": "record updated" if existing else "record added",
            "status": "success"}]}, 200 if existing else 201)
