"""Salesforce REST: OAuth client credentials, SOQL query/queryAll with nextRecordsUrl locators,
describe, Task upsert by External Id. Errors are JSON arrays; every answer carries
``Sforce-Limit-Info``.

The SOQL understood is what adapters send: a field list, ``FROM``, ``WHERE`` terms joined by
``AND`` (``SystemModstamp >= <datetime>``, ``IsDeleted = true``, ``Id IN (...)``), and
``ORDER BY``. Datetime literals are second precision, like SOQL's.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.crm_bridge.stubs.fixture import StubCustomer
from tests.crm_bridge.stubs.framework import StubCrm, json_response

API = "/services/data/v62.0"


class SalesforceStub(StubCrm):
    vendor = "salesforce"
    client_id, client_secret = "sf-client", "sf-secret"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.locators: dict[str, list[dict[str, Any]]] = {}
        self._locator_numbers = itertools.count(1)
        self.api_calls = 0

    def rules(self) -> list[Rule]:
        return [
            Rule("/services/oauth2/token", methods=["POST"], endpoint="token"),
            Rule(f"{API}/query/", methods=["GET"], endpoint="query"),
            Rule(f"{API}/queryAll/", methods=["GET"], endpoint="query_all"),
            Rule(f"{API}/query/<locator>", methods=["GET"], endpoint="more"),
            Rule(f"{API}/sobjects/Contact/describe/", methods=["GET"], endpoint="describe"),
            Rule(f"{API}/sobjects/Task/Helpdesk_Event_Id__c/<path:key>", methods=["PATCH"],
                 endpoint="upsert_task"),
        ]

    def vendor_id(self, customer: StubCustomer) -> str:
        return "003AA" + customer.id.zfill(13)

    def token(self, request: Request) -> Response:
        form = request.form
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id,
                                                                   self.client_secret):
            return json_response({"error": "invalid_client",
                                  "error_description": "invalid client credentials"}, 400)
        return json_response({"access_token": self.issue_token(), "instance_url": self.url,
                              "token_type": "Bearer", "issued_at": "1746515289000"})

    def token_refused(self, expired: bool) -> Response:
        return json_response([{"message": "Session expired or invalid",
                               "errorCode": "INVALID_SESSION_ID"}], 401)

    def throttled(self) -> Response:
        return json_response([{"message": "TotalRequests Limit exceeded.",
                               "errorCode": "REQUEST_LIMIT_EXCEEDED"}], 403)

    def _dispatch(self, endpoint: str, request: Request, arguments: dict[str, Any]) -> Response:
        response = super()._dispatch(endpoint, request, arguments)
        self.api_calls += 1
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_calls}/15000"
        return response

    def render(self, customer: StubCustomer) -> dict[str, Any]:
        vendor_id = self.vendor_id(customer)
        return {
            "attributes": {"type": "Contact", "url": f"{API}/sobjects/Contact/{vendor_id}"},
            "Id": vendor_id, "FirstName": customer.given_name, "LastName": customer.family_name,
            "Name": customer.name, "Email": customer.email, "Phone": customer.phone,
            "MobilePhone": None,
            "Account": {"attributes": {"type": "Account"}, "Name": customer.company},
            "OwnerId": "005AA000000AbCdAAA",
            "Owner": {"attributes": {"type": "User"}, "Name": customer.owner},
            "Customer_Tier__c": customer.tier, "Lifetime_Value__c": customer.lifetime_value,
            "Tags__c": ";".join(customer.tags) or None,
            "SystemModstamp": sf_datetime(customer.updated_at), "IsDeleted": False,
        }

    def query(self, request: Request) -> Response:
        return self._soql(request, include_deleted=False)

    def query_all(self, request: Request) -> Response:
        return self._soql(request, include_deleted=True)

    def _soql(self, request: Request, include_deleted: bool) -> Response:
        soql = request.args.get("q", "")
        match = re.fullmatch(r"SELECT (.+?) FROM Contact(?: WHERE (.+?))?(?: ORDER BY (.+))?", soql)
        if match is None:
            return json_response([{"message": f"unexpected SOQL {soql}",
                                   "errorCode": "MALFORMED_QUERY"}], 400)
        fields, where, _ = match.groups()
        rows = [(c.updated_at, self.vendor_id(c), self.render(c)) for c in self.customers.values()]
        if include_deleted:
            rows += [(at, "003AA" + cid.zfill(13), {
                "attributes": {"type": "Contact"}, "Id": "003AA" + cid.zfill(13),
                "SystemModstamp": sf_datetime(at), "IsDeleted": True})
                for cid, at in self.deleted.items()]
        for term in (where or "").split(" AND ") if where else []:
            rows = self._filter(rows, term)
        rows.sort(key=lambda row: (row[0].replace(microsecond=0), row[1]))
        selected = [self._select(record, fields) for _, _, record in rows]
        batch = int(re.sub(r"\D", "", request.headers.get("Sforce-Query-Options", "")) or 2000)
        return json_response(self._batch(selected, max(200, min(batch, 2000))))

    def _filter(self, rows: list[Any], term: str) -> list[Any]:
        if term == "IsDeleted = true":
            return [row for row in rows if row[2].get("IsDeleted")]
        if term.startswith("SystemModstamp >= "):
            since = datetime.strptime(term.split(">= ")[1],
                                      "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            return [row for row in rows if row[0].replace(microsecond=0) >= since]
        if term.startswith("Id IN ("):
            wanted = set(re.findall(r"'([^']*)'", term))
            return [row for row in rows if row[1] in wanted]
        raise ValueError(term)

    @staticmethod
    def _select(record: dict[str, Any], fields: str) -> dict[str, Any]:
        names = {name.strip().split(".")[0] for name in fields.split(",")}
        return {key: value for key, value in record.items()
                if key in names or key in ("attributes", "IsDeleted")}

    def _batch(self, records: list[dict[str, Any]], size: int) -> dict[str, Any]:
        body: dict[str, Any] = {"totalSize": len(records), "done": len(records) <= size,
                                "records": records[:size]}
        if not body["done"]:
            locator = f"01gAA{next(self._locator_numbers):010d}-{size}"
            self.locators[locator] = records[size:]
            body["nextRecordsUrl"] = f"{API}/query/{locator}"
        return body

    def more(self, request: Request, locator: str) -> Response:
        records = self.locators.pop(locator, None)
        if records is None:
            return json_response([{"message": "invalid query locator",
                                   "errorCode": "INVALID_QUERY_LOCATOR"}], 400)
        return json_response(self._batch(records, int(locator.rsplit("-", 1)[1])))

    def describe(self, request: Request) -> Response:
        fields = [("Id", "Contact ID", "id"), ("FirstName", "First Name", "string"),
                  ("LastName", "Last Name", "string"), ("Email", "Email", "email"),
                  ("Phone", "Business Phone", "phone"), ("AccountId", "Account ID", "reference"),
                  ("Customer_Tier__c", "Customer Tier", "picklist"),
                  ("Lifetime_Value__c", "Lifetime Value", "currency"),
                  ("SystemModstamp", "System Modstamp", "datetime")]
        return json_response({"name": "Contact", "fields": [
            {"name": name, "label": label, "type": kind} for name, label, kind in fields]})

    def upsert_task(self, request: Request, key: str) -> Response:
        body = request.get_json()
        existing = self.activities.get(key)
        task_id = existing["Id"] if existing else f"00TAA{len(self.activities) + 1:013d}"
        self.activities[key] = {**body, "Id": task_id, "Helpdesk_Event_Id__c": key}
        return json_response({"id": task_id, "success": True, "errors": [],
                              "created": existing is None}, 200 if existing else 201)


def sf_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
