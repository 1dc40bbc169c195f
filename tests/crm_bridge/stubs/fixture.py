"""Customer data every vendor stub serves, in its own record shape.

Thirty customers with Chinese and English names; ten of them (ids 1011-1020) share one
modification instant, the way a bulk import stamps them, so adapters must page through a run
of equal timestamps without losing or looping. Times are whole seconds plus milliseconds for
the others, so second-precision vendors and millisecond vendors both have something to get
wrong.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

FIXTURE_START = datetime(2025, 5, 6, 7, 0, 0, tzinfo=UTC)
BURST_IDS = {str(number) for number in range(1011, 1021)}

_NAMES = ["陈美", "张伟", "王华", "李娜", "刘洋", "赵敏", "孙磊", "周婷", "吴刚", "郑爽",
          "Mei Chen", "Wei Zhang", "Hua Wang", "Lena Fischer", "Tom Baker"]
_COMPANIES = ["上海示例科技有限公司", "深圳示例电子有限公司", "Example Trading Co.",
              "北京示例软件有限公司", "Example Robotics"]
_TIERS = ["VIP", "A类客户", "B类客户", "Standard"]
_OWNERS = ["赵六", "Li Lei", "陈七", "周九"]


@dataclass
class StubCustomer:
    """A vendor-neutral customer; each stub renders it in its vendor's shape."""

    id: str  # numeric string; stubs derive their vendor ids from it
    name: str
    email: str
    phone: str
    company: str
    tier: str
    owner: str
    lifetime_value: float
    tags: list[str] = field(default_factory=list)
    updated_at: datetime = FIXTURE_START
    created_at: datetime = FIXTURE_START - timedelta(days=90)

    @property
    def family_name(self) -> str:
        return self.name.split()[-1] if " " in self.name else self.name[:1]

    @property
    def given_name(self) -> str:
        return self.name.split()[0] if " " in self.name else self.name[1:]


def customer(number: int, updated_at: datetime) -> StubCustomer:
    name = _NAMES[number % len(_NAMES)]
    return StubCustomer(
        id=str(1000 + number), name=name, email=f"customer{number}@example.cn",
        phone=f"+86 138 0000 {number:04d}", company=_COMPANIES[number % len(_COMPANIES)],
        tier=_TIERS[number % len(_TIERS)], owner=_OWNERS[number % len(_OWNERS)],
        lifetime_value=1000.0 * number + 0.5, tags=["重点客户", "华东"][: number % 3],
        updated_at=updated_at)


def fixture_customers() -> list[StubCustomer]:
    """The shared fixture: 30 customers, a burst of ten sharing one instant."""
    customers = []
    for number in range(1, 31):
        if str(1000 + number) in BURST_IDS:
            updated = FIXTURE_START + timedelta(minutes=30)
        else:
            updated = FIXTURE_START + timedelta(seconds=97 * number, milliseconds=number * 7)
        customers.append(customer(number, updated))
    return customers


def generated_customers(count: int) -> list[StubCustomer]:
    """``count`` customers one second apart (crash-resume tests, benchmarks)."""
    return [customer(number, FIXTURE_START + timedelta(seconds=number))
            for number in range(1, count + 1)]


def copies(customers: list[StubCustomer]) -> list[StubCustomer]:
    return copy.deepcopy(customers)
