"""A shop's database under load, from Python: `self.db` (driver.scenario.db).

    DRIVER_DB_DSN=postgresql://app:secret@127.0.0.1:5432/shop \\
        driver run -s examples/db_scenario.py -u 20 -d 30s http://127.0.0.1:5432

(The URL is the run's target: the run checks that its host and port accept connections
before it starts; this scenario sends no HTTP, so give it the database's.)
The schema: users(id 0..999, name, tier, email), orders(id, user_id, amount),
accounts(id 1..100, balance CHECK >= 0) — tests/pg.py makes it. `self.user.index` is
the user's place in the synthetic user pool (by default as large as the peak of virtual
users: -u 20 gives 0..19).
"""
from driver.scenario import User, task


class Shop(User):
    @task(5)
    async def user_by_id(self):
        r = await self.db.fetchrow("SELECT name, tier FROM users WHERE id = $1", self.user.index, name="user_by_id")
        if r.ok and r.row is None:  # counted as an error of the run: error:LookupError
            raise LookupError(f"user {self.user.index} is missing")

    @task(2)
    async def orders_of_user(self):  # a join
        await self.db.fetch("SELECT o.id, o.amount FROM orders o JOIN users u ON u.id = o.user_id "
                            "WHERE u.id = $1 ORDER BY o.id", self.user.index, name="orders_of_user")

    @task(1)
    async def revenue_by_tier(self):  # an aggregation
        await self.db.fetch("SELECT u.tier, count(*), sum(o.amount) FROM orders o JOIN users u ON u.id = o.user_id "
                            "GROUP BY u.tier", name="revenue_by_tier")

    @task(1)
    async def place_order(self):  # a write
        await self.db.execute("INSERT INTO orders (user_id, amount) VALUES ($1, $2)",
                              self.user.index, self.rng.randint(1, 99), name="place_order")

    @task(1)
    async def transfer(self):  # two updates in one transaction: both or neither
        a, b = self.rng.sample(range(1, 101), 2)
        async with self.db.transaction("transfer") as tx:
            await tx.execute("UPDATE accounts SET balance = balance - 1 WHERE id = $1", a, name="debit")
            await tx.execute("UPDATE accounts SET balance = balance + 1 WHERE id = $1", b, name="credit")
