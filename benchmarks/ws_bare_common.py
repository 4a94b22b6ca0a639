"""The command line the bare WebSocket clients share (ws_bare_*.py)."""
from __future__ import annotations

import argparse


def parse_args(doc: str, argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("-c", "--connections", type=int, default=64)
    ap.add_argument("-d", "--duration", type=float, default=10.0, help="seconds")
    ap.add_argument("--body", default="hello", help="the text message sent on every round trip")
    return ap.parse_args(argv)
