"""HubSpot CRM v3: OAuth refresh, contact search (GTE filter, ascending sort, 200 per page,
``after`` offsets with a hard result cap answered by 400), the archived list, batch read,
properties, notes with a searchable ``helpdesk_event_id``. All property values are strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.crm_bridge.stubs.fixture import StubCustomer
from tests.crm_bridge.stubs.framework import StubCrm, iso_z, json_response

CONTACTS = "/crm/v3/objects/contacts"


def hubspot_error(status: int, category: str, message: str, **extra: Any) -> Response:
    return json_response({"status": "error", "message": message, "category": category,
                          "correlationId": "0d8f6a1e-stub", **extra}, status)


class HubSpotStub(StubCrm):
    vendor = "hubspot"
    client_id, client_secret, refresh_token = "hs-client", "hs-app-secret", "hs-refresh"

    def __init__(self, *args: Any, result_cap: int = 10_000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.result_cap = result_cap
        self.archived_at: dict[str, datetime] = {}

    def rules(self) -> list[Rule]:
        return [
            Rule("/oauth/v1/token", methods=["POST"], endpoint="token"),
            Rule(f"{CONTACTS}/search", methods=["POST"], endpoint="search"),
            Rule(CONTACTS, methods=["GET"], endpoint="list_contacts"),
            Rule(f"{CONTACTS}/batch/read", methods=["POST"], endpoint="batch_read"),
            Rule("/crm/v3/properties/contacts", methods=["GET"], endpoint="properties"),
            Rule("/crm/v3/objects/notes/search", methods=["POST"], endpoint="search_notes"),
            Rule("/crm/v3/objects/notes", methods=["POST"], endpoint="create_note"),
        ]

    def vendor_id(self, customer: StubCustomer) -> str:
        return "5" + customer.id

    def token(self, request: Request) -> Response:
        if (request.form.get("client_secret"), request.form.get("refresh_token")) != (
                self.client_secret, self.refresh_token):
            return hubspot_error(400, "BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        return json_response({"access_token": self.issue_token(), "expires_in": 1800,
                              "refresh_token": self.refresh_token, "token_type": "bearer"})

    def token_refused(self, expired: bool) -> Response:
        if expired:
            return hubspot_error(401, "EXPIRED_AUTHENTICATION",
                                 "The OAuth token used to make this call expired 1 second(s) ago.")
        return hubspot_error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")

    def throttled(self) -> Response:
        return hubspot_error(429, "RATE_LIMITS",
                             "You have reached your ten_secondly_rolling limit.",
                             errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING")

    def render(self, customer: StubCustomer) -> dict[str, Any]:
        modified = iso_z(customer.updated_at)
        return {"id": self.vendor_id(customer), "properties": {
            "firstname": customer.given_name, "lastname": customer.family_name,
            "email": customer.email, "phone": customer.phone, "company": customer.company,
            "hubspot_owner_id": "8812345", "customer_tier": customer.tier,
            "lifetime_value": str(customer.lifetime_value), "tags": ";".join(customer.tags),
            "lastmodifieddate": modified, "hs_object_id": self.vendor_id(customer)},
            "createdAt": iso_z(customer.created_at), "updatedAt": modified,
            "archived": False}

    def search(self, request: Request) -> Response:
        query = request.get_json()
        limit, offset = int(query.get("limit", 10)), int(query.get("after", 0))
        if limit > 200:
            return hubspot_error(400, "VALIDATION_ERROR", "limit must be at most 200")
        if offset + limit > self.result_cap:
            return hubspot_error(400, "VALIDATION_ERROR",
                                 f"search results are limited to {self.result_cap}")
        customers = self.live()
        for group in query.get("filterGroups", []):
            for condition in group["filters"]:
                assert (condition["propertyName"], condition["operator"]) == (
                    "lastmodifieddate", "GTE")
                since = parse_value(condition["value"])
                customers = [c for c in customers if c.updated_at >= since]
        page = customers[offset:offset + limit]
        body: dict[str, Any] = {"total": len(customers), "results": [self.render(c) for c in page]}
        if offset + limit < len(customers):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return json_response(body)

    def list_contacts(self, request: Request) -> Response:
        limit, offset = min(int(request.args.get("limit", 10)), 100), int(
            request.args.get("after", 0))
        if request.args.get("archived") == "true":
            records = [{"id": "5" + cid, "properties": {}, "archived": True,
                        "archivedAt": iso_z(at)} for cid, at in self.deleted.items()]
        else:
            records = [self.render(c) for c in sorted(self.customers.values(),
                                                       key=lambda c: int(c.id))]
        body: dict[str, Any] = {"results": records[offset:offset + limit]}
        if offset + limit < len(records):
            body["paging"] = {"next": {"after": str(offset + limit),
                                       "link": f"{self.url}{CONTACTS}?after={offset + limit}"}}
        return json_response(body)

    def batch_read(self, request: Request) -> Response:
        wanted = [item["id"] for item in request.get_json()["inputs"]]
        found = [self.render(c) for c in (self.by_vendor_id(w) for w in wanted) if c]
        missing = [w for w in wanted if self.by_vendor_id(w) is None]
        body: dict[str, Any] = {"status": "COMPLETE", "results": found}
        if missing:
            body["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                               "message": "Could not get some CONTACT objects",
                               "context": {"ids": missing}}]
        return json_response(body, 207 if missing else 200)

    def properties(self, request: Request) -> Response:
        names = [("email", "Email", "string"), ("firstname", "First Name", "string"),
                 ("lastname", "Last Name", "string"), ("phone", "Phone Number", "string"),
                 ("company", "Company Name", "string"),
                 ("customer_tier", "Customer tier", "enumeration"),
                 ("lifetime_value", "Lifetime value", "number"),
                 ("lastmodifieddate", "Last Modified Date", "datetime")]
        return json_response({"results": [{"name": n, "label": label, "type": kind}
                                          for n, label, kind in names]})

    def search_notes(self, request: Request) -> Response:
        condition = request.get_json()["filterGroups"][0]["filters"][0]
        key = condition["value"]
        hits = [note for note in self.activities.values()
                if note["properties"]["helpdesk_event_id"] == key]
        return json_response({"total": len(hits), "results": hits[:1]})

    def create_note(self, request: Request) -> Response:
        body = request.get_json()
        note = {"id": str(900000 + len(self.activities)), "properties": body["properties"],
                "associations": body["associations"]}
        self.activities[note["id"]] = note
        return json_response(note, 201)


def parse_value(value: str) -> datetime:
    """Search accepts epoch milliseconds or ISO 8601 for datetime properties."""
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    return datetime.fromisoformat(value).astimezone(UTC)
