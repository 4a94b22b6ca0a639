"""Mock platform APIs (beside the run path, like the demo targets): servers that bot
frameworks call instead of the real platform, with a call log and programmable faults.

`driver.mock.telegram`: the Telegram Bot API. The CLI's `driver mock telegram` runs it.
"""
from driver.mock.faults import OUTAGES, Faults

__all__ = ["Faults", "OUTAGES"]
