"""Each vendor's stub, the adapter config that points at it, and what the contract tests
expect of it (the wait its throttling answer asks for, whether its tokens expire)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from crm_bridge.adapters import kingdee
from tests.crm_bridge.stubs.framework import StubCrm
from tests.crm_bridge.stubs.fxiaoke import FxiaokeStub
from tests.crm_bridge.stubs.hubspot import HubSpotStub
from tests.crm_bridge.stubs.jiandaoyun import APP_ID, CUSTOMER_FORM, FOLLOWUP_FORM, JiandaoyunStub
from tests.crm_bridge.stubs.kingdee import KingdeeStub
from tests.crm_bridge.stubs.qidian import QidianStub
from tests.crm_bridge.stubs.salesforce import SalesforceStub
from tests.crm_bridge.stubs.xiaoshouyi import XiaoshouyiStub
from tests.crm_bridge.stubs.yonbip import YonBipStub
from tests.crm_bridge.stubs.zoho import ZohoStub


@dataclass(frozen=True)
class VendorCase:
    vendor: str
    stub: type[StubCrm]
    config: Callable[[Any], dict[str, Any]]
    throttle_wait: float
    throttle_scope: Literal["burst", "daily"] = "burst"
    token_expires: bool = True  # False: static API keys (Jiandaoyun), nothing to refresh

    def __str__(self) -> str:
        return self.vendor


CASES = [
    VendorCase("salesforce", SalesforceStub, lambda stub: {
        "login_url": stub.url, "client_id": stub.client_id, "client_secret": stub.client_secret},
        throttle_wait=3600, throttle_scope="daily"),
    VendorCase("hubspot", HubSpotStub, lambda stub: {
        "base_url": stub.url, "client_id": stub.client_id, "client_secret": stub.client_secret,
        "refresh_token": stub.refresh_token, "webhook_url": "https://helpdesk.test/crm/hook"},
        throttle_wait=10),
    VendorCase("zoho", ZohoStub, lambda stub: {
        "accounts_url": stub.url, "client_id": stub.client_id,
        "client_secret": stub.client_secret, "refresh_token": stub.refresh_token},
        throttle_wait=60),
    VendorCase("jiandaoyun", JiandaoyunStub, lambda stub: {
        "base_url": stub.url, "api_key": stub.api_key, "app_id": APP_ID,
        "entry_id": CUSTOMER_FORM, "followup": {"entry_id": FOLLOWUP_FORM},
        "webhook_secret": "jdy-webhook-secret"},
        throttle_wait=1, token_expires=False),
    VendorCase("fxiaoke", FxiaokeStub, lambda stub: {
        "base_url": stub.url, "app_id": stub.app_id, "app_secret": stub.app_secret,
        "permanent_code": stub.permanent_code, "open_user_id": "FSUID_ADMIN"},
        throttle_wait=20),
    VendorCase("xiaoshouyi", XiaoshouyiStub, lambda stub: {
        "login_url": stub.url, "api_url": stub.url, "client_id": stub.client_id,
        "client_secret": stub.client_secret, "username": stub.username,
        "password": stub.password, "security_token": "TOKEN"},
        throttle_wait=60),
    VendorCase("kingdee", KingdeeStub, lambda stub: {
        "base_url": stub.url, "acct_id": stub.acct_id, "username": stub.username,
        "app_id": stub.app_id, "app_secret": stub.app_secret,
        # BD_Customer has no email field: the tenant's custom one is read as well.
        "fields": [*kingdee.DEFAULT_FIELDS, "F_ABC_Email"]},
        throttle_wait=60),
    VendorCase("yonbip", YonBipStub, lambda stub: {
        "base_url": stub.url, "app_key": stub.app_key, "app_secret": stub.app_secret},
        throttle_wait=60),
    VendorCase("qidian", QidianStub, lambda stub: {
        "base_url": stub.url, "sid": stub.sid, "appid": stub.appid, "secret": stub.secret},
        throttle_wait=60),
]
