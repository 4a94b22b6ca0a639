"""Mock platform APIs (beside the run path, like the demo targets): servers that bot
frameworks call instead of the real platform, with a call log and programmable faults.

`driver.mock.telegram`: the Telegram Bot API; `driver.mock.whatsapp`: the WhatsApp Cloud
API (Graph API). The CLI's `driver mock telegram` and `driver mock whatsapp` run them;
`driver.mock.server` holds what they share.
"""
from driver.mock.faults import OUTAGES, Faults

__all__ = ["Faults", "OUTAGES"]
