"""The portal's limits and policies, with their defaults in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

from esecure.server.portal.codes import DEFAULT_COST, ScryptCost
from esecure.server.portal.sessions import SessionPolicy

__all__ = ["PortalSettings"]


@dataclass(frozen=True)
class PortalSettings:
    """What a bank may tune; tests shorten the times."""

    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    # The secret code's check is abandoned after this long: the page then says so (ES402,
    # seed row E7) instead of an endless hourglass.
    answer_seconds: float = 10.0
    # After this long without an answer, the keypad page's script shows the same message.
    slow_notice_seconds: float = 15.0
    # A form of the portal is a few hundred bytes; anything over this is refused (413).
    max_form_bytes: int = 8 * 1024
    max_form_fields: int = 16
    cost: ScryptCost = DEFAULT_COST
    mail_code_days: int = 30
