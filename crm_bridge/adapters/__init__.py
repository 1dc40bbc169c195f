"""CRM adapters by vendor name.

Every adapter is built by ``factory(config, client)``: ``config`` holds the tenant's base URL
and credentials, ``client`` an optional shared ``httpx.Client``. Adapters implement
:class:`~crm_bridge.contract.CrmSource`, plus :class:`~crm_bridge.contract.CrmSink` when the
vendor's API can record activities (``capabilities.can_push``) and
:class:`~crm_bridge.contract.WebhookDecoder` when it signs webhooks
(``capabilities.has_webhooks``).

Throttling policy, the same for every adapter: a throttled request is *not* retried inside the
adapter; it raises :class:`~crm_bridge.contract.RateLimited` carrying the vendor's wait and
whether it is a burst or a daily limit, and the caller backs off. Expired tokens, in contrast,
are refreshed and the request repeated once, invisibly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from crm_bridge.adapters import (
    csv_file,
    fxiaoke,
    hubspot,
    jiandaoyun,
    kingdee,
    qidian,
    rest,
    salesforce,
    sql,
    xiaoshouyi,
    yonbip,
    zoho,
)
from crm_bridge.contract import CrmSource

ADAPTERS: dict[str, Callable[..., CrmSource]] = {
    "salesforce": salesforce.factory,
    "hubspot": hubspot.factory,
    "zoho": zoho.factory,
    "jiandaoyun": jiandaoyun.factory,
    "fxiaoke": fxiaoke.factory,
    "xiaoshouyi": xiaoshouyi.factory,
    "kingdee": kingdee.factory,
    "yonbip": yonbip.factory,
    "qidian": qidian.factory,
    # Generic sources: an export file, a database, any paginated REST/JSON endpoint.
    "csv_file": csv_file.factory,
    "sql": sql.factory,
    "rest": rest.factory,
}


def build_adapter(vendor: str, config: Mapping[str, Any],
                  client: httpx.Client | None = None) -> CrmSource:
    """The adapter for ``vendor``; KeyError names the unknown vendor."""
    return ADAPTERS[vendor](config, client)
