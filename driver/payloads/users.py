"""Synthetic users: one worker's share of a global pool, deterministic from the seed.

The global pool is indexed 0, 1, 2, ...; worker `w` of `n` owns the global indices
w, w + n, w + 2n, ... (a strided partition), so two workers never hold the same user
and ids never collide. Everything about a user is a pure function of (seed, global
index): the same user comes out whatever the number of workers, however often the
pool is built or iterated.

The id encodes the tier (the convention shared with the demo target, see
`driver.payloads.catalog`): id = TIER_BASE[tier] + global_index, so `tier_of_id(id)`
recovers the tier and ids are unique across tiers as well.

Phones are E.164 numbers in the unassigned North American area code 555
("+1555" + 7 digits; global indices past 10 million get more digits), unique per
user: the 7 digits are a seed-dependent bijection of the global index.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["SyntheticUser", "UserPool", "worker_share"]

_MASK64 = (1 << 64) - 1
_TWO64 = float(1 << 64)
_PHONE_SPACE = 10**7  # 7-digit subscriber part
_PHONE_MUL = 7_654_321  # odd and not a multiple of 5: a bijection of [0, 10**7)

# (display, latin) names per language; latin spellings build the usernames.
_NAMES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {
    "en": (
        (("James", "james"), ("Olivia", "olivia"), ("Liam", "liam"), ("Emma", "emma"),
         ("Noah", "noah"), ("Ava", "ava"), ("Ethan", "ethan"), ("Mia", "mia"),
         ("Lucas", "lucas"), ("Chloe", "chloe"), ("Owen", "owen"), ("Grace", "grace")),
        (("Smith", "smith"), ("Johnson", "johnson"), ("Brown", "brown"), ("Taylor", "taylor"),
         ("Miller", "miller"), ("Wilson", "wilson"), ("Moore", "moore"), ("Clark", "clark"),
         ("Walker", "walker"), ("Young", "young"), ("King", "king"), ("O'Neil", "oneil")),
    ),
    "es": (
        (("José", "jose"), ("María", "maria"), ("Lucía", "lucia"), ("Sofía", "sofia"),
         ("Mateo", "mateo"), ("Martín", "martin"), ("Valentina", "valentina"), ("Hugo", "hugo"),
         ("Álvaro", "alvaro"), ("Paula", "paula"), ("Diego", "diego"), ("Inés", "ines")),
        (("García", "garcia"), ("Fernández", "fernandez"), ("López", "lopez"),
         ("Martínez", "martinez"), ("Sánchez", "sanchez"), ("Pérez", "perez"),
         ("Gómez", "gomez"), ("Ruiz", "ruiz"), ("Díaz", "diaz"), ("Moreno", "moreno"),
         ("Muñoz", "munoz"), ("Romero", "romero")),
    ),
    "de": (
        (("Jürgen", "juergen"), ("Anna", "anna"), ("Lukas", "lukas"), ("Lena", "lena"),
         ("Jonas", "jonas"), ("Sophie", "sophie"), ("Felix", "felix"), ("Marie", "marie"),
         ("Maximilian", "max"), ("Jörg", "joerg"), ("Hannah", "hannah"), ("Paul", "paul")),
        (("Müller", "mueller"), ("Schmidt", "schmidt"), ("Schneider", "schneider"),
         ("Fischer", "fischer"), ("Weber", "weber"), ("Meyer", "meyer"), ("Wagner", "wagner"),
         ("Becker", "becker"), ("Schäfer", "schaefer"), ("Koch", "koch"), ("Bauer", "bauer"),
         ("Groß", "gross")),
    ),
    "pt": (
        (("João", "joao"), ("Ana", "ana"), ("Gabriel", "gabriel"), ("Beatriz", "beatriz"),
         ("Miguel", "miguel"), ("Júlia", "julia"), ("Rafael", "rafael"), ("Letícia", "leticia"),
         ("Tomás", "tomas"), ("Camila", "camila"), ("Pedro", "pedro"), ("Luísa", "luisa")),
        (("Silva", "silva"), ("Santos", "santos"), ("Oliveira", "oliveira"), ("Souza", "souza"),
         ("Pereira", "pereira"), ("Costa", "costa"), ("Rodrigues", "rodrigues"),
         ("Almeida", "almeida"), ("Conceição", "conceicao"), ("Gonçalves", "goncalves"),
         ("Araújo", "araujo"), ("Lima", "lima")),
    ),
    "ru": (
        (("Дмитрий", "dmitry"), ("Анна", "anna"), ("Алексей", "alexey"), ("Мария", "maria"),
         ("Иван", "ivan"), ("Ольга", "olga"), ("Сергей", "sergey"), ("Елена", "elena"),
         ("Никита", "nikita"), ("Татьяна", "tatiana"), ("Михаил", "mikhail"),
         ("Юлия", "yulia")),
        (("Иванов", "ivanov"), ("Смирнов", "smirnov"), ("Кузнецов", "kuznetsov"),
         ("Попов", "popov"), ("Соколов", "sokolov"), ("Лебедев", "lebedev"),
         ("Козлов", "kozlov"), ("Новиков", "novikov"), ("Морозов", "morozov"),
         ("Волков", "volkov"), ("Соловьёв", "solovyov"), ("Фёдоров", "fedorov")),
    ),
}


# Russian surnames agree with the bearer: Иванов / Иванова.
_FEMININE_RU = frozenset({"Анна", "Мария", "Ольга", "Елена", "Татьяна", "Юлия"})


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a cheap, well-spread 64-bit hash (stable across runs)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


@dataclass(slots=True)
class SyntheticUser:
    """One synthetic end user, as a bot sees it (Telegram) and as WhatsApp sees it.

    `chat_id` equals `id` (a private chat's id is the user's id); `wa_id` is the phone
    without "+". `seq` is a per-user counter for the caller's own use (`next_seq()`);
    it is state, not identity, and does not take part in equality.
    """

    id: int
    first_name: str
    last_name: str
    username: str
    language_code: str
    phone: str  # E.164: "+15551234567"
    tier: str
    index: int = 0  # global index in the pool (the partition key)
    chat_id: int = field(init=False)
    wa_id: str = field(init=False)
    seq: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        self.chat_id = self.id
        self.wa_id = self.phone.lstrip("+")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def next_seq(self) -> int:
        """Increment this user's counter and return the new value (1, 2, 3, ...)."""
        self.seq += 1
        return self.seq


def worker_share(total: int, worker_index: int, n_workers: int) -> int:
    """How many of a `total`-user global pool worker `worker_index` of `n_workers` holds."""
    _check_worker(worker_index, n_workers)
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    return len(range(worker_index, total, n_workers))


def _check_worker(worker_index: int, n_workers: int) -> None:
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    if not 0 <= worker_index < n_workers:
        raise ValueError(f"worker_index must be in [0, {n_workers}), got {worker_index}")


class UserPool:
    """The `size` users of worker `worker_index` (of `n_workers`), built once, in order.

    `pool.user(i)` / `pool[i]` is the i-th local user, `pool.users` the list,
    `len(pool)` its size. Local user i has global index worker_index + i * n_workers.
    """

    __slots__ = ("spec", "worker_index", "n_workers", "users", "_tiers", "_cum", "_seed")

    def __init__(self, spec, worker_index: int, n_workers: int, size: int):
        from driver.payloads import catalog  # the tier/id convention lives with the demo target

        _check_worker(worker_index, n_workers)
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        if size and worker_index + (size - 1) * n_workers >= catalog.TIER_SPAN:
            raise ValueError(
                f"user pool too large: global index would reach {catalog.TIER_SPAN:,} "
                f"(the id range of one tier)")
        if not spec.languages:
            raise ValueError("user pool: languages must not be empty")
        self.spec = spec
        self.worker_index = worker_index
        self.n_workers = n_workers
        self._tiers, self._cum = _tier_table(spec.tiers, catalog.TIER_BASE)
        self._seed = _mix64(spec.seed & _MASK64)
        bases = catalog.TIER_BASE
        self.users: list[SyntheticUser] = [
            self._make(worker_index + k * n_workers, bases) for k in range(size)
        ]

    def _make(self, g: int, bases: dict[str, int]) -> SyntheticUser:
        h1 = _mix64(self._seed ^ g)
        h2 = _mix64(h1)
        h3 = _mix64(h2)
        h4 = _mix64(h3)
        u = h1 / _TWO64
        tier = self._tiers[-1]
        for name, edge in zip(self._tiers, self._cum):
            if u < edge:
                tier = name
                break
        languages = self.spec.languages
        lang = languages[h2 % len(languages)]
        firsts, lasts = _NAMES.get(lang.split("-")[0], _NAMES["en"])
        first, first_latin = firsts[h3 % len(firsts)]
        last, last_latin = lasts[h4 % len(lasts)]
        if first in _FEMININE_RU:
            last, last_latin = last + "а", last_latin + "a"
        # Telegram usernames: 5-32 characters, a letter first, then a-z 0-9 _.
        username = f"{first_latin[:10]}_{last_latin[:10]}{g}"
        return SyntheticUser(
            id=bases[tier] + g,
            first_name=first,
            last_name=last,
            username=username,
            language_code=lang,
            phone=_phone(g, self._seed),
            tier=tier,
            index=g,
        )

    def user(self, i: int) -> SyntheticUser:
        return self.users[i]

    def __getitem__(self, i: int) -> SyntheticUser:
        return self.users[i]

    def __len__(self) -> int:
        return len(self.users)

    def __iter__(self):
        return iter(self.users)

    def __repr__(self) -> str:
        return (f"UserPool(worker {self.worker_index}/{self.n_workers}, "
                f"{len(self.users)} users, seed={self.spec.seed})")


def _phone(g: int, seed_hash: int) -> str:
    if g < _PHONE_SPACE:  # a seed-dependent bijection of [0, 10**7): unique, not sequential
        return f"+1555{(g * _PHONE_MUL + seed_hash) % _PHONE_SPACE:07d}"
    return f"+1555{g}"  # 8+ digits: cannot equal any 7-digit number above


def _tier_table(tiers, bases: dict[str, int]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """(names, cumulative upper edges in [0, 1]) from (name, weight) pairs."""
    if not tiers:
        raise ValueError("user pool: tiers must not be empty")
    names, weights = [], []
    for name, weight in tiers:
        if name not in bases:
            raise ValueError(f"user pool: tier {name!r} has no id range; "
                             f"expected one of {', '.join(bases)}")
        if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"user pool: tier {name!r} weight must be a number >= 0, "
                             f"got {weight!r}")
        names.append(name)
        weights.append(float(weight))
    total = sum(weights)
    if total <= 0:
        raise ValueError("user pool: tier weights must not all be 0")
    cum, acc = [], 0.0
    for w in weights:
        acc += w / total
        cum.append(acc)
    last = max(i for i, w in enumerate(weights) if w > 0)
    for i in range(last, len(cum)):  # no user falls past the edges through rounding,
        cum[i] = 1.0  # and none lands in a trailing zero-weight tier
    return tuple(names), tuple(cum)
