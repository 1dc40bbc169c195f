"""金蝶云星空 Kingdee K3Cloud: ``LoginByAppSecret`` session cookie, ``ExecuteBillQuery`` with
``FilterString`` (``FModifyDate>='…'``, ``FCUSTID IN (…)``), ``OrderString``, ``StartRow`` /
``Limit`` ≤ 2000 and positional rows; naive Asia/Shanghai times with two fraction digits; all
failures under HTTP 200 as ``ResponseStatus`` (MsgCode 1 session lost, 14 call limit);
``QueryBusinessInfo`` field metadata.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.crm_bridge.stubs.fixture import StubCustomer
from tests.crm_bridge.stubs.framework import StubCrm, json_response

SERVICES = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def kingdee_failure(msg_code: int, message: str) -> Response:
    return json_response([[{"Result": {"ResponseStatus": {
        "IsSuccess": False, "ErrorCode": 500, "MsgCode": msg_code,
        "Errors": [{"FieldName": None, "Message": message, "DIndex": 0}]}}}]])


def local_time(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 10000:02d}"


class KingdeeStub(StubCrm):
    vendor = "kingdee"
    public = frozenset({"login"})
    acct_id, username, app_id, app_secret = "6401a", "api", "230001_abc", "kd-secret"

    def rules(self) -> list[Rule]:
        return [Rule(f"{SERVICES}.AuthService.LoginByAppSecret.common.kdsvc", methods=["POST"],
                     endpoint="login"),
                Rule(f"{SERVICES}.DynamicFormService.ExecuteBillQuery.common.kdsvc",
                     methods=["POST"], endpoint="bill_query"),
                Rule(f"{SERVICES}.DynamicFormService.QueryBusinessInfo.common.kdsvc",
                     methods=["POST"], endpoint="business_info")]

    def vendor_id(self, customer: StubCustomer) -> str:
        return str(100000 + int(customer.id))

    def token_of(self, request: Request) -> str | None:
        return request.cookies.get("kdservice-sessionid")

    def login(self, request: Request) -> Response:
        if request.get_json().get("appsecret") != self.app_secret:
            return json_response({"LoginResultType": 0, "Message": "应用程序验证失败"})
        session = self.issue_token()
        response = json_response({"LoginResultType": 1, "KDSVCSessionId": session,
                                  "Message": None})
        response.set_cookie("kdservice-sessionid", session)
        return response

    def token_refused(self, expired: bool) -> Response:
        return kingdee_failure(1, "会话信息已丢失，请重新登录")

    def throttled(self) -> Response:
        return kingdee_failure(14, "调用限制")

    def render(self, customer: StubCustomer) -> dict[str, Any]:
        return {"FCUSTID": int(self.vendor_id(customer)), "FNumber": f"CUST{customer.id}",
                "FName": customer.company, "FShortName": customer.company[:4],
                "FTEL": customer.phone, "FADDRESS": "苏州市工业园区示例路 8 号",
                "FSELLER.FName": customer.owner, "F_ABC_Tier": customer.tier,
                # BD_Customer has no email; tenants add one (F_<prefix>_<Name> custom field).
                "F_ABC_Email": customer.email,
                "FModifyDate": local_time(customer.updated_at), "FForbidStatus": "A",
                "_modified": customer.updated_at}

    def bill_query(self, request: Request) -> Response:
        query = request.get_json()["data"]
        limit, start = int(query["Limit"]), int(query["StartRow"])
        if limit > 2000:
            return kingdee_failure(8, "Limit不能大于2000")
        rows = [self.render(c) for c in self.customers.values()]
        filter_string = query.get("FilterString", "")
        if since := re.fullmatch(r"FModifyDate>='(.+)'", filter_string):
            floor = datetime.fromisoformat(since.group(1)).replace(tzinfo=SHANGHAI)
            rows = [row for row in rows if row["_modified"] >= floor]
        elif ids := re.fullmatch(r"FCUSTID IN \((.*)\)", filter_string):
            wanted = {int(v) for v in ids.group(1).split(",")}
            rows = [row for row in rows if row["FCUSTID"] in wanted]
        if query["OrderString"].startswith("FModifyDate"):
            rows.sort(key=lambda row: (row["_modified"], row["FCUSTID"]))
        else:
            rows.sort(key=lambda row: row["FCUSTID"])
        keys = query["FieldKeys"].split(",")
        return json_response([[row[key] for key in keys] for row in rows[start:start + limit]])

    def business_info(self, request: Request) -> Response:
        fields = [("FNumber", "编码", "Text"), ("FName", "客户名称", "MultiLangText"),
                  ("FTEL", "联系电话", "Text"), ("FSELLER", "销售员", "BaseData"),
                  ("F_ABC_Tier", "客户等级", "ComboField"), ("F_ABC_Email", "电子邮箱", "Text"),
                  ("FModifyDate", "修改日期", "DateTime")]
        entries = [{"Key": key, "Name": [{"Key": 2052, "Value": name}], "FieldType": kind}
                   for key, name, kind in fields]
        return json_response({"Result": {"ResponseStatus": {"IsSuccess": True},
                                         "NeedReturnData": {"Entrys": [{"Fields": entries}]}}})
