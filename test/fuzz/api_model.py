"""test/fuzz/api_model.py: a property-based test of the API (Hypothesis).

Random sequences of inv_set_stock, inv_adjust, inv_reserve,
inv_reserve_cart, inv_try_reserve_cart, inv_commit, inv_release,
inv_extend and inv_sweep calls, with valid arguments and garbage (NULLs,
empty strings, 10 kB SKUs, unicode, huge and negative numbers, bad
intervals, JSON of any shape), each call in a transaction of its own, are
run against the database in PGHOST/PGPORT/PGDATABASE and against a model
of what the reference says they do.  After every call:

  - it either did what the model says, or raised a SQLSTATE that the
    reference documents for it (and, where the model can tell which one
    is due, that one);
  - a refused call changed nothing: the SKUs', holds' and events' state is
    the model's, as before the call;
  - a call that succeeded wrote exactly the events the model expects;
  - inv_verify() is clean (the whole database: other sessions run the same
    test at the same time, on SKUs of their own).

Hypothesis shrinks a failing sequence to a short one and prints it.

    FUZZ_SEED     seed (default 1)
    FUZZ_EXAMPLES sequences to run (default 20)
    FUZZ_STEPS    most calls per sequence (default 30)
    FUZZ_PREFIX   prefix of this process's SKUs, idempotency keys and owners
                  (default F0-)

The database must have the extension, with no sweeper serving it
(inventory.sweeper = off), so that nothing expires unless a step says so.
Prints "PASS name" or "FAIL name: details" (the suite's format).
"""
import json
import os
import re
import sys
import unittest
import uuid

import psycopg
from hypothesis import HealthCheck, Verbosity, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, initialize,
                                 invariant, rule)

PREFIX = os.environ.get("FUZZ_PREFIX", "F0-")
MAX_BYTES = 256               # of a SKU and of an idempotency key
MAX_TTL_MIN = 60              # inventory.max_ttl, 1h by default
MAX_CART_LINES = 100          # inventory.max_cart_lines

# what the reference documents a call may raise on input alone
BAD_INPUT = {"22004", "22023", "22003", "22001", "IV007"}
# refusals the model decides
BUSINESS = {"IV001", "IV002", "IV003", "IV004", "IV005", "IV006", "IV008"}
# PostgreSQL's own, between concurrent sessions
CONCURRENCY = {"40001", "40P01"}
DOCUMENTED = BAD_INPUT | BUSINESS | CONCURRENCY

conn = psycopg.connect(autocommit=True)
outcomes = {}                 # (function, "ok" or SQLSTATE) -> calls


def call(sql, args=()):
    """Run one call in a transaction of its own: ("ok", rows) or ("err", sqlstate, message)."""
    fn = sql.split("inv_", 1)[1].split("(", 1)[0]
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            res = ("ok", cur.fetchall())
    except psycopg.Error as e:
        res = ("err", e.sqlstate, str(e).splitlines()[0] if str(e) else "")
    k = (fn, res[0] if res[0] == "ok" else res[1])
    outcomes[k] = outcomes.get(k, 0) + 1
    return res


def fetch(sql, args=()):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


# --- arguments ------------------------------------------------------------

# Names are short here; each sequence prefixes them with PREFIX and its own
# number (named()), so that no sequence meets another's SKUs, keys or holds.
skus = st.sampled_from(["A", "B", "C", "D"])


def text_any(max_size):
    """Any text PostgreSQL can hold (no NUL) and UTF-8 can encode (no surrogate)."""
    return st.text(alphabet=st.characters(blacklist_characters="\x00",
                                          blacklist_categories=("Cs",)),
                   max_size=max_size)


def mostly(valid, garbage):
    """valid four times in five: a sequence must get somewhere to find a bug.
    (one_of(valid, valid, ..., garbage) would not do it: it draws each
    distinct strategy alike.)"""
    return st.integers(0, 4).flatmap(lambda i: garbage if i == 0 else valid)


garbage_text = st.one_of(st.none(), st.just(""), st.just("x" * 10_000), st.just("é" * 129),
                         st.just("🎮 PS5"), text_any(20))
sku_arg = mostly(skus, garbage_text)
qty_arg = mostly(st.integers(1, 5), st.sampled_from([None, 0, -1, 2**63 - 1, -2**63]))
count_arg = mostly(st.integers(0, 30), st.sampled_from([None, -1, 2**63 - 1]))
delta_arg = mostly(st.integers(-10, 10), st.sampled_from([None, 2**63 - 1, -2**63]))
# (text, minutes or None for "no ttl given", or False for a bad one)
ttl_arg = mostly(
    st.sampled_from([("10 minutes", 10), ("30 minutes", 30), (None, None)]),
    st.sampled_from([("0 seconds", False), ("-1 second", False), ("2 hours", False),
                     ("1 month", False), ("1000000 years", False)]))
key_arg = mostly(st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3"])),
                 st.sampled_from(["", "k" * 257]))
owner_arg = st.one_of(st.none(), st.sampled_from(["alice", "bob", ""]))
line = st.fixed_dictionaries({"sku": skus, "qty": st.integers(1, 4)})
# what JSON can carry: jsonb has no NaN, no infinity and no NUL
json_any = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | text_any(5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text_any(4), inner, max_size=3),
    max_leaves=8)
bad_line = st.one_of(
    st.fixed_dictionaries({"sku": skus, "qty": st.sampled_from([0, -1, 1.5, "1", None, 2**64])}),
    st.fixed_dictionaries({"sku": st.sampled_from(["", 42, None, "x" * 300]), "qty": st.just(1)}),
    st.fixed_dictionaries({"sku": skus, "qty": st.just(1), "color": st.just("red")}),
    st.fixed_dictionaries({"SKU": skus, "qty": st.just(1)}),
    json_any)
items_arg = mostly(
    st.lists(line, min_size=1, max_size=4),
    st.one_of(st.lists(st.one_of(line, bad_line), min_size=1, max_size=3),
              st.just([]), st.none(), json_any,
              # one line too many, cheap to draw
              st.just([{"sku": "A", "qty": 1}] * (MAX_CART_LINES + 1))))


def bad_text(v, nullable=False):
    """The SQLSTATE a SKU-like text argument earns, or None when fine."""
    if v is None:
        return None if nullable else "22004"
    if v == "":
        return "22023"
    if len(v.encode()) > MAX_BYTES:
        return "22001"
    return None


sequences = 0


class Model:
    def __init__(self):
        self.stock = {}      # sku -> [available, held]
        self.holds = {}      # id -> {"lines": {sku: qty}, "state": .., "owner": ..}
        self.keys = {}       # key -> hold id


class APIMachine(RuleBasedStateMachine):
    holds = Bundle("holds")

    def __init__(self):
        global sequences
        super().__init__()
        sequences += 1
        self.tag = f"{PREFIX}{sequences}-"
        self.m = Model()
        self.refused = 0
        self.last_seq = fetch("SELECT coalesce(max(seq), 0) FROM inventory.outbox")[0][0]

    def no_hold(self):
        """An id no hold has, for the calls that follow a refused reserve."""
        self.refused += 1
        return uuid.uuid5(uuid.NAMESPACE_OID, f"{self.tag}{self.refused}")

    def named(self, v):
        """A SKU, key or owner of this sequence; NULL and '' stay as they are."""
        return v if v is None or v == "" else self.tag + v

    def named_items(self, items):
        if not isinstance(items, list):
            return items
        return [dict(it, sku=self.named(it["sku"]))
                if isinstance(it, dict) and isinstance(it.get("sku"), str) else it
                for it in items]

    # --- checks -----------------------------------------------------------

    def new_events(self):
        """Events of this process's SKUs and holds since the last look."""
        rows = fetch("""SELECT seq, aggregatetype, aggregateid, type, payload
                          FROM inventory.outbox WHERE seq > %s ORDER BY seq""", (self.last_seq,))
        if rows:
            self.last_seq = rows[-1][0]
        mine = {str(h) for h in self.m.holds}
        return [(t, a, p) for _, _, a, t, p in rows if a in mine or a.startswith(self.tag)]

    def expect_events(self, what, expected):
        got = sorted((t, a) for t, a, _ in self.new_events())
        want = sorted(expected)
        assert got == want, f"{what}: events {got}, expected {want}"

    def check_db(self, what):
        for sku, (avail, held) in self.m.stock.items():
            row = fetch("SELECT on_hand, reserved, available FROM inv_stock(%s)", (sku,))
            assert row == [(avail + held, held, avail)], \
                f"{what}: {sku} is {row}, the model says on_hand {avail + held}, reserved {held}, available {avail}"
        if self.m.holds:
            ids = list(self.m.holds)
            states = dict(fetch("SELECT id, state FROM inventory.reservation WHERE id = ANY (%s)", (ids,)))
            for hid, h in self.m.holds.items():
                assert states.get(hid) == h["state"], \
                    f"{what}: hold {hid} is {states.get(hid)}, the model says {h['state']}"
        problems = fetch("SELECT sku, problem FROM inv_verify()")
        assert not problems, f"{what}: inv_verify() says {problems}"

    def outcome(self, what, res, expected_ok, allowed):
        """expected_ok: True (must succeed), False (must fail with one of allowed),
        None (either; a failure with one of allowed)."""
        if res[0] == "ok":
            assert expected_ok is not False, \
                f"{what}: succeeded, the model expected one of {sorted(allowed)}"
            return True
        state = res[1]
        assert state in DOCUMENTED, f"{what}: undocumented SQLSTATE {state}: {res[2]}"
        if state in CONCURRENCY:
            return False
        assert expected_ok is not True, f"{what}: failed with {state} ({res[2]}), the model expected success"
        assert state in allowed, f"{what}: failed with {state} ({res[2]}), the model expected one of {sorted(allowed)}"
        return False

    @initialize(counts=st.lists(st.integers(0, 12), min_size=4, max_size=4))
    def catalogue(self, counts):
        """Most sequences are about SKUs that exist: A to D start with some units."""
        for name, n in zip("ABCD", counts):
            sku = self.named(name)
            assert call("SELECT inv_set_stock(%s, %s)", (sku, n))[0] == "ok"
            self.m.stock[sku] = [n, 0]
        self.new_events()

    @invariant()
    def database_is_the_model(self):
        self.check_db("after the step")

    # --- stock ------------------------------------------------------------

    @rule(sku=sku_arg, n=count_arg, reason=st.one_of(st.none(), garbage_text))
    def set_stock(self, sku, n, reason):
        sku = self.named(sku)
        what = f"inv_set_stock({sku!r:.40}, {n!r}, {reason!r:.20})"
        bad = {b for b in (bad_text(sku), "22004" if n is None else None,
                           "22023" if n is not None and n < 0 else None) if b}
        res = call("SELECT inv_set_stock(%s::text, %s::bigint, %s::text)", (sku, n, reason))
        if bad:
            self.outcome(what, res, False, bad)
            self.expect_events(what, [])
            return
        held = self.m.stock.get(sku, [0, 0])[1]
        if n < held:
            self.outcome(what, res, False, {"IV001"})
            self.expect_events(what, [])
            return
        if self.outcome(what, res, True, set()):
            assert res[1] == [(n,)], f"{what}: returned {res[1]}"
            self.m.stock[sku] = [n - held, held]
            self.expect_events(what, [("stock.adjusted", sku)])

    @rule(sku=sku_arg, delta=delta_arg, reason=st.one_of(st.none(), garbage_text))
    def adjust(self, sku, delta, reason):
        sku = self.named(sku)
        what = f"inv_adjust({sku!r:.40}, {delta!r})"
        bad = {b for b in (bad_text(sku), "22004" if delta is None else None) if b}
        res = call("SELECT inv_adjust(%s::text, %s::bigint, %s::text)", (sku, delta, reason))
        if bad:
            self.outcome(what, res, False, bad | {"22023"})
            self.expect_events(what, [])
            return
        if sku not in self.m.stock:
            self.outcome(what, res, False, {"IV002", "22003", "22023"})
            self.expect_events(what, [])
            return
        avail, held = self.m.stock[sku]
        on_hand = avail + held + delta
        if not -2**63 <= on_hand < 2**63 or delta == 0:
            self.outcome(what, res, None, {"22003", "22023"})
        elif on_hand < held:
            self.outcome(what, res, False, {"IV001"})
        elif self.outcome(what, res, True, set()):
            assert res[1] == [(on_hand,)], f"{what}: returned {res[1]}, expected {on_hand}"
            self.m.stock[sku] = [on_hand - held, held]
            self.expect_events(what, [("stock.adjusted", sku)])
            return
        if res[0] == "ok":   # delta 0 may be a no-op that succeeds
            self.m.stock[sku] = [on_hand - held, held]
            self.new_events()
            return
        self.expect_events(what, [])

    # --- reserves ---------------------------------------------------------

    def reserve_common(self, what, lines, ttl, key, owner, res_ok, get_id, bad):
        """lines: {sku: qty} when the items are well formed, else None."""
        ttl_min = ttl[1]
        if ttl_min is False:
            bad = bad | {"22023", "IV007"}
        kb = bad_text(key, nullable=True)
        if kb:
            bad = bad | {kb}
        if bad:
            self.outcome(what, res_ok, False, bad)
            self.expect_events(what, [])
            return None
        if key is not None and key in self.m.keys:
            hid = self.m.keys[key]
            h = self.m.holds[hid]
            same = h["lines"] == lines and h["owner"] == owner
            if not same:
                self.outcome(what, res_ok, False, {"IV006"})
                self.expect_events(what, [])
                return None
            if self.outcome(what, res_ok, True, set()):
                assert get_id(res_ok) == hid, f"{what}: replayed {get_id(res_ok)}, not {hid}"
            self.expect_events(what, [])
            return None
        unknown = [s for s in lines if s not in self.m.stock]
        short = [s for s, q in lines.items() if s in self.m.stock and self.m.stock[s][0] < q]
        if unknown:
            self.outcome(what, res_ok, False, {"IV002"})
            self.expect_events(what, [])
            return None
        if short:
            self.outcome(what, res_ok, False, {"IV001"})
            self.expect_events(what, [])
            return None
        if not self.outcome(what, res_ok, True, set()):
            self.expect_events(what, [])
            return None
        hid = get_id(res_ok)
        assert hid is not None, f"{what}: no hold id in {res_ok}"
        for s, q in lines.items():
            self.m.stock[s][0] -= q
            self.m.stock[s][1] += q
        self.m.holds[hid] = {"lines": dict(lines), "state": "held", "owner": owner}
        if key is not None:
            self.m.keys[key] = hid
        self.expect_events(what, [("reservation.held", str(hid))])
        return hid

    @rule(target=holds, sku=sku_arg, qty=qty_arg, ttl=ttl_arg, key=key_arg, owner=owner_arg)
    def reserve(self, sku, qty, ttl, key, owner):
        sku, key, owner = self.named(sku), self.named(key), self.named(owner)
        what = f"inv_reserve({sku!r:.40}, {qty!r}, {ttl[0]!r}, {key!r:.40}, {owner!r})"
        bad = {b for b in (bad_text(sku), "22004" if qty is None else None,
                           "22023" if qty is not None and qty <= 0 else None) if b}
        res = call("SELECT inv_reserve(%s::text, %s::bigint, %s::interval, %s::text, %s::text)",
                   (sku, qty, ttl[0], key, owner))
        hid = self.reserve_common(what, {sku: qty} if not bad else None, ttl, key, owner, res,
                                  lambda r: r[1][0][0], bad)
        return hid if hid is not None else self.no_hold()

    @staticmethod
    def cart_lines(items):
        """{sku: summed qty} for well-formed items, else (None, codes it may earn)."""
        if items is None:
            return None, {"22004"}
        if not isinstance(items, list) or not items:
            return None, {"22023"}
        if len(items) > MAX_CART_LINES:
            return None, {"IV007"}
        lines = {}
        for it in items:
            if not (isinstance(it, dict) and set(it) == {"sku", "qty"}
                    and isinstance(it["sku"], str) and it["sku"] != ""
                    and len(it["sku"].encode()) <= MAX_BYTES
                    and type(it["qty"]) is int and 0 < it["qty"] < 2**63):
                return None, {"22023", "22003", "22001"}
            lines[it["sku"]] = lines.get(it["sku"], 0) + it["qty"]
        return lines, set()

    @rule(target=holds, items=items_arg, ttl=ttl_arg, key=key_arg, owner=owner_arg)
    def reserve_cart(self, items, ttl, key, owner):
        items, key, owner = self.named_items(items), self.named(key), self.named(owner)
        what = f"inv_reserve_cart({json.dumps(items)[:80]}, {ttl[0]!r}, {key!r:.40}, {owner!r})"
        lines, bad = self.cart_lines(items)
        res = call("SELECT inv_reserve_cart(%s::jsonb, %s::interval, %s::text, %s::text)",
                   (None if items is None else json.dumps(items), ttl[0], key, owner))
        hid = self.reserve_common(what, lines, ttl, key, owner, res, lambda r: r[1][0][0], bad)
        return hid if hid is not None else self.no_hold()

    @rule(target=holds, items=items_arg, ttl=ttl_arg, key=key_arg)
    def try_reserve_cart(self, items, ttl, key):
        items, key = self.named_items(items), self.named(key)
        what = f"inv_try_reserve_cart({json.dumps(items)[:80]}, {ttl[0]!r}, {key!r:.40})"
        lines, bad = self.cart_lines(items)
        res = call("SELECT reservation_id, status, shortfall FROM"
                   " inv_try_reserve_cart(%s::jsonb, %s::interval, %s::text)",
                   (None if items is None else json.dumps(items), ttl[0], key))
        # a business refusal is a row, not an error: turn it into one for the model
        if res[0] == "ok" and res[1][0][1] in ("insufficient_stock", "unknown_sku"):
            status = res[1][0][1]
            res = ("err", "IV001" if status == "insufficient_stock" else "IV002", status)
        hid = self.reserve_common(what, lines, ttl, key, None, res, lambda r: r[1][0][0], bad)
        return hid if hid is not None else self.no_hold()

    # --- the end of a hold ------------------------------------------------

    def finish(self, what, res, hid, state, retry_from, refused, units_back):
        """A commit or a release: it ends a held hold in state, returns false
        for a hold already in one of retry_from, and is refused with one of
        refused otherwise."""
        h = self.m.holds.get(hid)
        if h is None:
            self.outcome(what, res, False, {"IV003"})
        elif h["state"] == "held":
            if self.outcome(what, res, True, set()):
                assert res[1] == [(True,)], f"{what}: returned {res[1]}"
                h["state"] = state
                for s, q in h["lines"].items():
                    if units_back:
                        self.m.stock[s][0] += q
                    self.m.stock[s][1] -= q
                self.expect_events(what, [("reservation." + state, str(hid))])
                return
        elif h["state"] in retry_from:
            if self.outcome(what, res, True, set()):
                assert res[1] == [(False,)], f"{what}: a retry returned {res[1]}"
        else:
            self.outcome(what, res, False, refused)
        self.expect_events(what, [])

    @rule(hid=holds, reference=st.one_of(st.none(), garbage_text))
    def commit(self, hid, reference):
        what = f"inv_commit({hid}, {reference!r:.20})"
        res = call("SELECT inv_commit(%s::uuid, %s::text)", (hid, reference))
        self.finish(what, res, hid, "committed", ("committed",), {"IV004", "IV005"},
                    units_back=False)

    @rule(hid=holds, reason=st.one_of(st.none(), garbage_text))
    def release(self, hid, reason):
        what = f"inv_release({hid}, {reason!r:.20})"
        res = call("SELECT inv_release(%s::uuid, %s::text)", (hid, reason))
        self.finish(what, res, hid, "released", ("released", "expired"), {"IV005"},
                    units_back=True)

    @rule(hid=holds, ttl=ttl_arg)
    def extend(self, hid, ttl):
        what = f"inv_extend({hid}, {ttl[0]!r})"
        res = call("SELECT inv_extend(%s::uuid, %s::interval)", (hid, ttl[0]))
        h = self.m.holds.get(hid)
        if ttl[1] is None:
            self.outcome(what, res, False, {"22004"})
        elif ttl[1] is False:
            self.outcome(what, res, False, {"22023", "IV007"} | ({"IV003"} if h is None else set()))
        elif h is None:
            self.outcome(what, res, False, {"IV003"})
        elif h["state"] == "held":
            if self.outcome(what, res, True, set()):
                self.expect_events(what, [("reservation.extended", str(hid))])
                return
        else:
            self.outcome(what, res, False, {"IV004", "IV005"})
        self.expect_events(what, [])

    @rule(n=st.one_of(st.integers(1, 1000), st.sampled_from([None, 0, -1])))
    def sweep(self, n):
        what = f"inv_sweep({n!r})"
        res = call("SELECT inv_sweep(%s::integer)", (n,))
        if n is None:
            self.outcome(what, res, False, {"22004"})
        elif n <= 0:
            self.outcome(what, res, False, {"22023"})
        else:
            self.outcome(what, res, True, set())
        # none of this process's holds is overdue: a sweep writes nothing of ours
        self.expect_events(what, [])

    @rule()
    def time_passes(self):
        """Every hold of this process in force runs out, and a sweep expires them."""
        held = [h for h, v in self.m.holds.items() if v["state"] == "held"]
        with conn.transaction():
            conn.execute("""UPDATE inventory.reservation
                               SET expires_at = created_at + interval '1 microsecond'
                             WHERE id = ANY (%s)""", (held,))
            conn.execute("SELECT inv_sweep(100000)")
        for hid in held:
            h = self.m.holds[hid]
            h["state"] = "expired"
            for s, q in h["lines"].items():
                self.m.stock[s][0] += q
                self.m.stock[s][1] -= q
        self.expect_events("time_passes", [("reservation.expired", str(h)) for h in held])


TestAPI = APIMachine.TestCase
TestAPI.settings = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20")),
    stateful_step_count=int(os.environ.get("FUZZ_STEPS", "30")),
    deadline=None, database=None, suppress_health_check=list(HealthCheck),
    verbosity=Verbosity.verbose if os.environ.get("FUZZ_VERBOSE") else Verbosity.normal)
TestAPI = seed(int(os.environ.get("FUZZ_SEED", "1")))(TestAPI)


if __name__ == "__main__":
    result = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=0).result
    name = f"api_model ({PREFIX}, seed {os.environ.get('FUZZ_SEED', '1')})"
    print(f"# {sequences} sequences, {sum(outcomes.values())} calls:",
          ", ".join(f"{f} {o} {n}" for (f, o), n in sorted(outcomes.items())))
    if result.wasSuccessful():
        print(f"PASS {name}")
    else:
        lines = (result.failures + result.errors)[0][1].strip().splitlines()
        # the exception's own line ("AssertionError: ...", "psycopg.errors.X: ...")
        raised = [l.strip(" |") for l in lines if re.match(r"^[\s|]*([\w]+\.)*[A-Z]\w*[a-z]\w*: ", l)]
        detail = raised[-1] if raised else lines[-1]
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
