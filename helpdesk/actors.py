"""Who performs an operation. Operations take an actor explicitly and never read the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ActorKind = Literal["agent", "customer", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: int | None
    name: str

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"


SYSTEM = Actor(kind="system", id=None, name="System")
