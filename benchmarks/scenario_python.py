"""The scenario benchmark (run_scenario.py) written as a Python scenario: the five weighted
tasks of benchmarks/scenario.yaml as `async def` methods calling `self.http.post(...)`,
each with a status check, and the same Telegram updates (driver.payloads.telegram).

    driver run -s benchmarks/scenario_python.py http://127.0.0.1:8080 -u 64 -d 10s -w 1

What a user would write: the updates come from the generator's methods per request
(`UPDATES.command(self.user, "/start")`), the texts from f-strings. `{{seq}}` of the
YAML counts the renders of each task's template in a worker; the counters below do the
same per process.

One generator per process: the benchmark runs one worker. With several workers give
each its own update ids (`TelegramUpdates(worker_index=..., n_workers=...)`, as the YAML
path does), or Telegram's ids would repeat across workers.
"""
import itertools

from driver.payloads.telegram import TelegramUpdates
from driver.scenario import User, constant, task

UPDATES = TelegramUpdates()
JSON = {"Content-Type": "application/json"}
_text_seq, _button_seq, _photo_seq = itertools.count(1), itertools.count(1), itertools.count(1)


class TelegramBotUser(User):
    wait = constant(0)

    @task(5)
    async def start(self):
        resp = await self.http.post("/bot/start", body=UPDATES.command(self.user, "/start"), headers=JSON,
                                    name="/start")
        resp.expect(status=200)

    @task(3)
    async def text(self):
        text = f"hello from {self.user.first_name}, message {next(_text_seq)}"
        resp = await self.http.post("/bot/text", body=UPDATES.text(self.user, text), headers=JSON, name="text")
        resp.expect(status=200)

    @task(2)
    async def button(self):
        data = f"item:{self.user.id}:{next(_button_seq)}"
        resp = await self.http.post("/bot/callback", body=UPDATES.callback_query(self.user, data), headers=JSON,
                                    name="button")
        resp.expect(status=200)

    @task(1)
    async def help(self):
        resp = await self.http.post("/bot/help", body=UPDATES.command(self.user, "/help"), headers=JSON,
                                    name="/help")
        resp.expect(status=200)

    @task(1)
    async def photo(self):
        caption = f"photo {next(_photo_seq)} from {self.user.username}"
        resp = await self.http.post("/bot/photo", body=UPDATES.photo(self.user, caption), headers=JSON,
                                    name="photo")
        resp.expect(status=200)
