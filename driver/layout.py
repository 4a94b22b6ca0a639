"""The shared-memory schema: where every count of a worker lives. No I/O here.

Each worker owns one block, a flat int64 array, and is its only writer:

    [ status (STATUS_LEN) | counters (n_endpoints x N_COUNTERS) | histograms (n_endpoints x N_HISTS x COUNTS_LEN) ]

The parent only reads and sums blocks. Apart from LAT_MIN_NS / LAT_MAX_NS (merged
with min / max) and the status area (per worker), every slot only ever grows, so
the difference of two reads is the activity between them, and the merge of
workers, boxes or runs is addition.

The histogram is HdrHistogram's log-linear layout (same bucket math as the C and
Python HdrHistogram, so indexes agree bucket for bucket): 3 significant digits,
values in nanoseconds from 1 ns up to HIGHEST_NS (1 hour); larger values are
recorded in the top bucket and counted in CLAMPED.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# --- histogram geometry (HdrHistogram: lowest=1, highest=1 h, 3 significant digits)
SIGNIFICANT_DIGITS = 3
LOWEST_NS = 1
HIGHEST_NS = 3_600_000_000_000  # 1 hour in ns
UNIT_MAGNITUDE = 0  # floor(log2(LOWEST_NS))
SUB_BUCKET_COUNT_MAGNITUDE = math.ceil(math.log2(2 * 10**SIGNIFICANT_DIGITS))  # 11
SUB_BUCKET_HALF_COUNT_MAGNITUDE = SUB_BUCKET_COUNT_MAGNITUDE - 1  # 10
SUB_BUCKET_COUNT = 1 << SUB_BUCKET_COUNT_MAGNITUDE  # 2048
SUB_BUCKET_HALF_COUNT = SUB_BUCKET_COUNT // 2  # 1024
SUB_BUCKET_MASK = (SUB_BUCKET_COUNT - 1) << UNIT_MAGNITUDE
LEADING_ZERO_COUNT_BASE = 64 - UNIT_MAGNITUDE - SUB_BUCKET_HALF_COUNT_MAGNITUDE - 1  # 53


def _bucket_count(highest: int) -> int:
    smallest_untrackable = SUB_BUCKET_COUNT << UNIT_MAGNITUDE
    buckets = 1
    while smallest_untrackable <= highest:
        smallest_untrackable <<= 1
        buckets += 1
    return buckets


BUCKET_COUNT = _bucket_count(HIGHEST_NS)  # 32
COUNTS_LEN = (BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT  # 33792

# --- worker status area (one per worker block; written by that worker only)
ST_PHASE = 0  # one of PHASE_*
ST_HEARTBEAT_NS = 1  # monotonic ns of the worker's last heartbeat
ST_ACTIVE_USERS = 2  # closed loop: running virtual users
ST_IN_FLIGHT = 3  # requests sent and not yet answered
ST_CONNECTIONS = 4  # open connections
ST_LAG_MAX_NS = 5  # largest event-loop lag seen (timer fired late by), ns
ST_LAG_SUM_NS = 6  # sum of event-loop lag samples, ns
ST_LAG_SAMPLES = 7  # number of lag samples
ST_CPU_NS = 8  # process CPU time (user+sys), ns
ST_PID = 9
ST_STARTED_NS = 10  # monotonic ns the worker started its load
ST_FINISHED_NS = 11  # monotonic ns the worker finished (0 while running)
ST_FATAL = 12  # non-zero: the worker failed with an exception (code below)
ST_ITERATIONS = 13  # scenario iterations (one task, or one whole flow) finished
ST_CONNECTIONS_MAX = 14  # the most connections open at one heartbeat
ST_FD_ERRORS = 15  # connects refused by this process's open-file limit (EMFILE/ENFILE)
STATUS_LEN = 16

PHASE_INIT = 0
PHASE_READY = 1
PHASE_RUNNING = 2
PHASE_STOPPING = 3
PHASE_DONE = 4
PHASE_FAILED = 5
PHASE_NAMES = ("init", "ready", "running", "stopping", "done", "failed")

# --- counters per endpoint
C_REQUESTS = 0  # responses received complete (any status)
C_BYTES_IN = 1  # response bytes (head + body)
C_BYTES_OUT = 2  # request bytes written
C_STATUS_1XX = 3
C_STATUS_2XX = 4
C_STATUS_3XX = 5
C_STATUS_4XX = 6
C_STATUS_5XX = 7
C_ERR_CONNECT_REFUSED = 8
C_ERR_CONNECT_TIMEOUT = 9
C_ERR_REQUEST_TIMEOUT = 10
C_ERR_CONN_RESET = 11  # reset or closed by the peer before the response was complete
C_ERR_PROTOCOL = 12  # the peer sent something that is not valid HTTP
C_ERR_OTHER = 13  # any other failure to connect or send (DNS, TLS, ...)
C_LAT_SUM_NS = 14  # sum of recorded latencies, for an exact mean
C_LAT_MIN_NS = 15  # smallest recorded latency (merged with min; LAT_MIN_UNSET when none)
C_LAT_MAX_NS = 16  # largest recorded latency (merged with max), exact
C_CLAMPED = 17  # latencies above HIGHEST_NS, recorded in the top bucket
C_SENT = 18  # requests written
C_LATE = 19  # open loop: arrivals sent more than LATE_NS after their intended time
C_DROPPED = 20  # open loop: arrivals never sent (the queue behind the in-flight cap was full): an error
C_CONNECTS = 21  # connections opened
C_RECONNECTS = 22  # connections opened to replace one that was closed or failed
C_THROTTLED = 23  # responses 429, or 503 with Retry-After: rate limited, counted apart from errors
C_CHECKS = 24  # checks evaluated on responses (scenarios)
C_CHECK_FAILED = 25  # checks that failed (the reasons are in the worker's name table)
C_FLOWS = 26  # flow endpoints ("flow:NAME"): flows run to their end (their durations are the histogram)
C_UNFINISHED = 27  # sent and still unanswered when the run ended (after the grace): an error; age in the histogram
C_ERR_TLS = 28  # TLS handshake or certificate verification failed
# reply endpoints ("reply:NAME", written by the bot-side process, driver.runner.botside):
C_REPLY_MISSING = 29  # updates sent whose reply did not come within the reply timeout: an error
C_MESSAGES = 30  # reply messages received (a multi-message answer counts each)
N_COUNTERS = 32

LAT_MIN_UNSET = (1 << 63) - 1

ERROR_COUNTERS = {
    "connect_refused": C_ERR_CONNECT_REFUSED,
    "connect_timeout": C_ERR_CONNECT_TIMEOUT,
    "request_timeout": C_ERR_REQUEST_TIMEOUT,
    "connection_reset": C_ERR_CONN_RESET,
    "protocol_error": C_ERR_PROTOCOL,
    "tls": C_ERR_TLS,
    "other": C_ERR_OTHER,
    "unfinished": C_UNFINISHED,
    "dropped": C_DROPPED,
    "reply_missing": C_REPLY_MISSING,
}
# the error kinds that end a request after it was sent (the rest end it before: no C_SENT)
SENT_ERRORS = ("request_timeout", "connection_reset", "protocol_error", "unfinished", "reply_missing")
STATUS_COUNTERS = {
    "1xx": C_STATUS_1XX,
    "2xx": C_STATUS_2XX,
    "3xx": C_STATUS_3XX,
    "4xx": C_STATUS_4XX,
    "5xx": C_STATUS_5XX,
}
COUNTER_NAMES = {
    C_REQUESTS: "requests",
    C_BYTES_IN: "bytes_in",
    C_BYTES_OUT: "bytes_out",
    **{v: "status_" + k for k, v in STATUS_COUNTERS.items()},
    **{v: "error_" + k for k, v in ERROR_COUNTERS.items()
       if v not in (C_DROPPED, C_UNFINISHED, C_REPLY_MISSING)},
    C_DROPPED: "dropped",
    C_UNFINISHED: "unfinished",
    C_REPLY_MISSING: "reply_missing",
    C_MESSAGES: "messages",
    C_LAT_SUM_NS: "latency_sum_ns",
    C_LAT_MIN_NS: "latency_min_ns",
    C_LAT_MAX_NS: "latency_max_ns",
    C_CLAMPED: "clamped",
    C_SENT: "sent",
    C_LATE: "late",
    C_CONNECTS: "connects",
    C_RECONNECTS: "reconnects",
    C_THROTTLED: "throttled",
    C_CHECKS: "checks",
    C_CHECK_FAILED: "check_failed",
    C_FLOWS: "flows",
}

# --- histograms per endpoint
H_LATENCY = 0  # the reported latency: from the intended start (open loop) or the send (closed loop)
H_SERVICE = 1  # open loop only: from the actual send
N_HISTS = 2

LATE_NS = 2_000_000  # an arrival is late when sent over 2 ms (twice the timer granularity) after its intended time

# --- control block (written by the parent only, read by every worker)
CTL_START_NS = 0  # monotonic ns at which every worker starts its load (0: not yet)
CTL_STOP = 1  # STOP_* below
CTL_DEADLINE_NS = 2  # monotonic ns at which the load ends (0: until stopped)
CTL_LOAD_DONE_NS = 3  # monotonic ns at which every worker had exited (0: not yet): the bot side drains
# steering (driver.engine.steer: the parent writes the fields, then bumps the sequence;
# each worker applies every sequence number once, at its next heartbeat)
CTL_STEER_SEQ = 4  # steers written so far (0: never steered)
CTL_STEER_AT_NS = 5  # monotonic ns from which the last steer holds
CTL_STEER_LOAD = 6  # from then on: users (closed loop) or arrivals/s x STEER_RATE_SCALE (open); -1: the plan's shape
CTL_STEER_PAUSED = 7  # 1: no new arrivals or iterations (closed loop: no users) until a steer says 0
CTL_LEN = 8
STEER_RATE_SCALE = 1000  # CTL_STEER_LOAD holds milli-arrivals per second in open loop
STOP_NONE = 0
STOP_GRACEFUL = 1  # stop sending, wait briefly for in-flight responses, then exit
STOP_NOW = 2  # exit at once


@dataclass(frozen=True)
class BlockLayout:
    """Offsets into one worker block for a plan with `n_endpoints` endpoints."""

    n_endpoints: int

    @property
    def counters_offset(self) -> int:
        return STATUS_LEN

    @property
    def hists_offset(self) -> int:
        return STATUS_LEN + self.n_endpoints * N_COUNTERS

    @property
    def length(self) -> int:
        return self.hists_offset + self.n_endpoints * N_HISTS * COUNTS_LEN

    @property
    def nbytes(self) -> int:
        return self.length * 8

    def counter(self, endpoint: int, counter: int) -> int:
        return self.counters_offset + endpoint * N_COUNTERS + counter

    def hist(self, endpoint: int, hist: int) -> int:
        """Offset of the first count of one histogram."""
        return self.hists_offset + (endpoint * N_HISTS + hist) * COUNTS_LEN

    def views(self, block):
        """Split a flat int64 array into (status, counters[E, C], hists[E, H, L]) views."""
        status = block[:STATUS_LEN]
        counters = block[self.counters_offset:self.hists_offset].reshape(self.n_endpoints, N_COUNTERS)
        hists = block[self.hists_offset:self.length].reshape(self.n_endpoints, N_HISTS, COUNTS_LEN)
        return status, counters, hists

    def initialise(self, block) -> None:
        """Zero a fresh block and set the slots whose neutral value is not zero."""
        block[:] = 0
        _, counters, _ = self.views(block)
        counters[:, C_LAT_MIN_NS] = LAT_MIN_UNSET


# --- name table (a second segment per worker, written by that worker only)
# Endpoint names and check-failure reasons are strings, known fully only at run time
# (a Python scenario names its requests as it goes). Each worker writes the names of
# the endpoint slots it uses, and the reasons of the checks that failed with their
# counts; the parent merges endpoints and checks across workers *by name*.
#   [ n_endpoints_named | names: max_endpoints x NAME_WORDS
#   | n_checks | checks: MAX_CHECKS x (endpoint slot, failures, NAME_WORDS) ]
NAME_WORDS = 16  # 128 bytes of UTF-8 per name, NUL-padded; longer names are cut
MAX_CHECKS = 256  # distinct failing checks tracked per worker; more are counted, not named
CHECK_WORDS = 2 + NAME_WORDS
OTHER_ENDPOINT = "other"  # where requests go once every endpoint slot is taken
# open-loop scenarios: the arrivals (iterations) — started (C_SENT), finished (C_FLOWS),
# late, dropped — and their time from the intended start; an aggregate like "flow:NAME"
ITERATION_ENDPOINT = "iteration"


NOTE_WORDS = 32  # the table's last field: a note from the worker's watchdog (256 bytes of UTF-8)


def names_length(max_endpoints: int) -> int:
    return 1 + max_endpoints * NAME_WORDS + 1 + MAX_CHECKS * CHECK_WORDS + NOTE_WORDS


def note_offset(max_endpoints: int) -> int:
    """Where a worker's note starts in its name table (written while its loop is blocked)."""
    return names_length(max_endpoints) - NOTE_WORDS


def read_note(table, max_endpoints: int) -> str:
    base = note_offset(max_endpoints)
    return decode_name(table[base: base + NOTE_WORDS])


def encode_name(name: str, words: int = NAME_WORDS) -> bytes:
    """The fixed-size bytes of a name (cut at a character boundary)."""
    raw = name.encode("utf-8")[: words * 8]
    raw = raw.decode("utf-8", "ignore").encode("utf-8")
    return raw.ljust(words * 8, b"\0")


def decode_name(words) -> str:
    return bytes(words.tobytes()).rstrip(b"\0").decode("utf-8", "replace")


def read_names(table, max_endpoints: int) -> tuple[list[str], list[tuple[int, str, int]]]:
    """(endpoint names by slot, [(endpoint slot, reason, failures)]) from one worker's table."""
    n = int(table[0])
    names = [decode_name(table[1 + i * NAME_WORDS: 1 + (i + 1) * NAME_WORDS]) for i in range(min(n, max_endpoints))]
    base = 1 + max_endpoints * NAME_WORDS
    n_checks = min(int(table[base]), MAX_CHECKS)
    checks = []
    for i in range(n_checks):
        row = table[base + 1 + i * CHECK_WORDS: base + 1 + (i + 1) * CHECK_WORDS]
        checks.append((int(row[0]), decode_name(row[2:]), int(row[1])))
    return names, checks
