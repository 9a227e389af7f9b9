#!/usr/bin/python3
"""examples/python/checkout.py: a small checkout service on the inventory
extension, in Python with psycopg 3 (Debian: python3-psycopg).

Each of WORKERS threads plays buyers until DURATION seconds have passed:
a buyer reserves a cart of one to three lines with an idempotency key,
"pays" (success, failure, walking away, or a payment that comes back after
the hold expired), then commits or releases.
The service branches on SQLSTATE, never on an error's text:

  IV001          sold out: the buyer is told so
  40001, 40P01   serialization failure or deadlock: the same call again,
                 with the same idempotency key (a retry can never hold twice)
  IV004          the hold expired before the payment came back: the buyer
                 is told so and the payment is refunded

It runs through a connection pooler in transaction pooling mode (pgbouncer
pool_mode = transaction) as well as straight to the server: every call is
one autocommit statement, and no prepared statement outlives its
transaction (prepare_threshold=None: psycopg would otherwise prepare a
statement on a server connection the pooler then gives to someone else).

At the end it prints one JSON object: what happened, and the ids of the
holds whose buyers were told "paid".

  DSN='host=/tmp port=6432 dbname=shop' WORKERS=32 DURATION=10 \\
    SKUS=PY-1,PY-2,PY-3 ./checkout.py
"""
import json
import os
import random
import sys
import threading
import time
import uuid

import psycopg
from psycopg.types.json import Jsonb

DSN = os.environ.get("DSN", "")
WORKERS = int(os.environ.get("WORKERS", "32"))
DURATION = float(os.environ.get("DURATION", "10"))
SKUS = os.environ.get("SKUS", "PY-1,PY-2,PY-3").split(",")
TTL = os.environ.get("TTL", "2 seconds")
SLOW = float(os.environ.get("SLOW", "2.5"))   # seconds: longer than TTL
RETRY = {"40001", "40P01"}
# psycopg's own prepared statements: off (see above); PREPARE_THRESHOLD=5,
# psycopg's default, shows what happens behind a transaction pooler
PREPARE_THRESHOLD = int(os.environ["PREPARE_THRESHOLD"]) if os.environ.get("PREPARE_THRESHOLD") else None


class Outcome:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.paid = []
        self.errors = []

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n


def call(conn, out, sql, params):
    """Run one autocommit statement; retry on 40001/40P01 with the same
    arguments (the same idempotency key)."""
    for attempt in range(20):
        try:
            return conn.execute(sql, params).fetchone()
        except psycopg.Error as e:
            if e.sqlstate in RETRY:
                out.count("retries")
                time.sleep(0.01 * (attempt + 1))
                continue
            raise
    raise RuntimeError("no luck after 20 retries")


def buyer(conn, out, rng, slow=False):
    lines = rng.sample(SKUS, rng.randint(1, min(3, len(SKUS))))
    cart = [{"sku": s, "qty": rng.randint(1, 2)} for s in lines]
    key = str(uuid.uuid4())
    try:
        (hold,) = call(conn, out,
                       "SELECT inv_reserve_cart(%s, %s::interval, idempotency_key => %s)",
                       (Jsonb(cart), TTL, key))
    except psycopg.Error as e:
        if e.sqlstate == "IV001":
            out.count("sold_out")
            return False
        raise
    out.count("reserved")
    return hold_then_pay(conn, out, rng, cart, key, hold, slow)


def hold_then_pay(conn, out, rng, cart, key, hold, slow):
    # the idempotency key again, as a client that lost the answer would: the same hold
    (again,) = call(conn, out,
                    "SELECT inv_reserve_cart(%s, %s::interval, idempotency_key => %s)",
                    (Jsonb(cart), TTL, key))
    if again != hold:
        out.errors.append(f"key {key}: hold {hold}, then {again}")
    payment = rng.random()
    if payment < 0.1 and not slow:
        out.count("walked_away")          # the hold expires on its own
        return True
    if slow:                              # a payment that outlives the hold
        time.sleep(SLOW)
        payment = 1.0
    time.sleep(rng.uniform(0, 0.05))      # the payment provider
    if payment < 0.3:
        call(conn, out, "SELECT inv_release(%s, 'payment declined')", (hold,))
        out.count("released")
        return True
    try:
        call(conn, out, "SELECT inv_commit(%s, 'payment ok')", (hold,))
    except psycopg.Error as e:
        if e.sqlstate == "IV004":
            out.count("expired_before_payment")   # refund the buyer
            return True
        raise
    out.count("paid")
    with out.lock:
        out.paid.append(str(hold))
    return True


def worker(n, deadline, out):
    rng = random.Random(n)
    # every fourth worker's first buyer with a hold pays too late
    slow = n % 4 == 0
    try:
        with psycopg.connect(DSN, autocommit=True, prepare_threshold=PREPARE_THRESHOLD) as conn:
            while time.monotonic() < deadline:
                if buyer(conn, out, rng, slow):
                    slow = False
    except Exception as e:                # reported, and the run fails
        with out.lock:
            out.errors.append(f"worker {n}: {type(e).__name__}: "
                              f"{getattr(e, 'sqlstate', '')} {e}")


def main():
    out = Outcome()
    deadline = time.monotonic() + DURATION
    threads = [threading.Thread(target=worker, args=(n, deadline, out)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump({"counts": out.counts, "paid": out.paid, "errors": out.errors}, sys.stdout)
    print()
    return 1 if out.errors else 0


if __name__ == "__main__":
    sys.exit(main())
