"""Locust side of the scenario benchmark (run_scenario.py): the equivalent of
benchmarks/scenario.yaml as a FastHttpUser.

Five @task methods with the YAML's weights (5, 3, 2, 1, 1), each POSTing a Telegram
Update to its own path, built per request as driver's generator builds it: a fresh,
increasing update_id (per process), an increasing message_id per chat, the user's
`from` and `chat` objects, the current date, and the same templated text, callback
data and caption. Every answer is checked for status 200 (catch_response, and
response.failure otherwise). No wait time: a closed loop like every tool in the
benchmarks.

    locust -f benchmarks/locustfile_scenario.py --headless -u 64 -r 64 --run-time 10s \
        -H http://127.0.0.1:PORT --only-summary --json-file OUT/locust
"""
import itertools
import json
import time

from locust import FastHttpUser, constant, task

_NAMES = (("Owen", "Young", "owen", "young"), ("Emma", "Smith", "emma", "smith"),
          ("Lukas", "Weber", "lukas", "weber"), ("Ana", "Silva", "ana", "silva"))
_user_index = itertools.count()
_update_id = itertools.count(100_000_001)  # increasing over the whole process, as in driver's worker
# {{seq}} in driver counts the renders of one template (over all users of a worker): one counter per task here
_seq = {"text": itertools.count(1), "button": itertools.count(1), "photo": itertools.count(1)}
HEADERS = {"Content-Type": "application/json"}
BOT = {"id": 7_000_000_001, "is_bot": True, "first_name": "Driver Demo", "username": "driver_demo_bot"}
# (width, height, bytes) of the sizes Telegram keeps of a 1280x960 photo
PHOTO_SIZES = ((90, 67, 1_423), (320, 240, 17_086), (800, 600, 74_561), (1280, 960, 158_327))


class TelegramBotUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        g = next(_user_index)
        first, last, first_l, last_l = _NAMES[g % len(_NAMES)]
        self.user_id = 1_000_000_000 + g
        self.username = f"{first_l}_{last_l}{g}"
        self.sender = {"id": self.user_id, "is_bot": False, "first_name": first, "last_name": last,
                       "username": self.username, "language_code": "en"}
        self.chat = {"id": self.user_id, "first_name": first, "last_name": last,
                     "username": self.username, "type": "private"}
        self.chat_instance = str(-((self.user_id * 0x9E3779B97F4A7C15) % 10**19))
        self.message_id = 99 + (self.user_id * 0x9E3779B1) % 1000
        self.first_name = first

    # --- building the updates ----------------------------------------------------

    def _message(self, content):
        self.message_id += 1
        message = {"message_id": self.message_id, "from": self.sender, "chat": self.chat,
                   "date": int(time.time())}
        message.update(content)
        return {"update_id": next(_update_id), "message": message}

    def _command(self, command):
        return self._message({"text": command,
                              "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}]})

    def _post(self, path, update):
        # compact JSON, as driver sends it (orjson): the same bytes on the wire
        body = json.dumps(update, separators=(",", ":"), ensure_ascii=False).encode()
        with self.client.post(path, data=body, headers=HEADERS, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}, expected 200")

    # --- the five tasks ------------------------------------------------------------

    @task(5)
    def start_command(self):
        self._post("/bot/start", self._command("/start"))

    @task(3)
    def text_message(self):
        n = next(_seq["text"])
        self._post("/bot/text", self._message({"text": f"hello from {self.first_name}, message {n}"}))

    @task(2)
    def button_press(self):
        n = next(_seq["button"])
        data = f"item:{self.user_id}:{n}"
        update_id = next(_update_id)
        self.message_id += 1
        keyboard = {"inline_keyboard": [[{"text": data, "callback_data": data}]]}
        message = {"message_id": self.message_id, "from": BOT, "chat": self.chat,
                   "date": int(time.time()) - 2, "text": "Choose an option:", "reply_markup": keyboard}
        query = {"id": f"{self.user_id}{update_id}", "from": self.sender, "message": message,
                 "chat_instance": self.chat_instance, "data": data}
        self._post("/bot/callback", {"update_id": update_id, "callback_query": query})

    @task(1)
    def help_command(self):
        self._post("/bot/help", self._command("/help"))

    @task(1)
    def photo_message(self):
        n = next(_seq["photo"])
        update_id = next(_update_id)
        file_id, unique = f"AgACAgIAAxkBAAI{self.user_id:010X}{update_id:016X}", f"AQAD{update_id:012x}"
        sizes = [{"file_id": f"{file_id}{tag}", "file_unique_id": f"{unique}{tag}",
                  "file_size": size, "width": w, "height": h}
                 for tag, (w, h, size) in zip("smxy", PHOTO_SIZES)]
        self.message_id += 1
        message = {"message_id": self.message_id, "from": self.sender, "chat": self.chat,
                   "date": int(time.time()), "photo": sizes, "caption": f"photo {n} from {self.username}"}
        self._post("/bot/photo", {"update_id": update_id, "message": message})
