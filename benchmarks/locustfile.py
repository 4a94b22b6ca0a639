"""Locust side of the driver benchmarks: one FastHttpUser that POSTs the shared JSON
body with no wait time (closed loop, like every other tool in run_http.py).

    locust -f benchmarks/locustfile.py --headless -u 64 -r 64 --run-time 10s \
        -H http://127.0.0.1:PORT --csv OUT/locust

The body file is $LOCUST_BODY_FILE, else benchmarks/body.json next to this file.
"""
import os
from pathlib import Path

from locust import FastHttpUser, constant, task

BODY = Path(os.environ.get("LOCUST_BODY_FILE") or Path(__file__).with_name("body.json")).read_bytes()
HEADERS = {"Content-Type": "application/json"}


class WebhookUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def post_update(self):
        self.client.post("/", data=BODY, headers=HEADERS)
