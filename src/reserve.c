/*-------------------------------------------------------------------------
 *
 * reserve.c
 *	  Taking holds: inv_reserve, inv_reserve_cart and inv_try_reserve_cart.
 *
 * All three are one engine over a normalized cart (cart.c):
 *	0. a request its snapshot proves cannot be served (an unknown SKU, a
 *	   short line with no overdue hold to reclaim) is refused before any
 *	   lock, xid or WAL (availability.c); a call with an idempotency key
 *	   looks for its replay first;
 *	1. calls with the same idempotency key are serialized by a
 *	   transaction-level lock on the key, in the extension's own lock
 *	   space (locks.h), taken before any row lock; a key seen before
 *	   returns the same hold (replay), or IV006 when the request differs
 *	   (other lines or owner);
 *	1a. a call with an owner to whom a limit applies takes the owner's
 *	   lock, then counts what the owner has, and refuses with IV007 past a
 *	   limit (limits.c); still before any row lock;
 *	2. the cart's stock rows are locked in SKU order, all of them, before
 *	   anything is decided, so two carts never deadlock; the clock is read
 *	   after that, so a wait cannot make an expired hold look in force;
 *	3. a SKU short of units first gets back the units of the fewest of its
 *	   overdue holds that cover the shortfall (holds.c), but only when the
 *	   holds this call can lock are enough, so a refusal writes nothing;
 *	   2 and 3 run in a subtransaction, rolled back on a refusal, unless
 *	   the snapshot said the cart fits (decide_under_locks);
 *	4. the hold, its lines, the stock and the event are written.
 * A one-line request whose units are free skips 2 to 4: as a guarded
 * UPDATE would, it takes the units and writes the hold, its line and its
 * event (reserve_one), and goes the locking way only when the units turned
 * out not to be free.  Those writes, and 4 for a hold without a key, are
 * made without a statement (rows.c).
 * A refusal is raised (IV001, IV002) or, for inv_try_reserve_cart,
 * returned as a status; either way nothing has been written, and no row
 * lock is kept.  A limit (IV007) is raised by all three: like a ttl or a
 * cart too long, it is the caller asking for more than it may have.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "availability.h"
#include "cart.h"
#include "errors.h"
#include "expiry_floor.h"
#include "holds.h"
#include "inventory.h"
#include "limits.h"
#include "locks.h"
#include "outbox.h"
#include "rows.h"
#include "shmem.h"
#include "spi_plans.h"

PG_FUNCTION_INFO_V1(inv_reserve);
PG_FUNCTION_INFO_V1(inv_reserve_cart);
PG_FUNCTION_INFO_V1(inv_try_reserve_cart);

typedef enum ReserveStatus
{
	RESERVE_RESERVED,
	RESERVE_REPLAYED,
	RESERVE_UNKNOWN_SKU,
	RESERVE_INSUFFICIENT_STOCK
} ReserveStatus;

static const char *const reserve_status_name[] = {
	[RESERVE_RESERVED] = "reserved",
	[RESERVE_REPLAYED] = "replayed",
	[RESERVE_UNKNOWN_SKU] = "unknown_sku",
	[RESERVE_INSUFFICIENT_STOCK] = "insufficient_stock",
};

static const InvCounter reserve_counter[] = {
	[RESERVE_RESERVED] = INV_RESERVED,
	[RESERVE_REPLAYED] = INV_REPLAYED,
	[RESERVE_UNKNOWN_SKU] = INV_REFUSED_UNKNOWN,
	[RESERVE_INSUFFICIENT_STOCK] = INV_REFUSED_STOCK,
};

/* What a reserve came to; allocated by the caller, outside SPI memory. */
typedef struct ReserveOutcome
{
	ReserveStatus status;
	pg_uuid_t	id;				/* RESERVED, REPLAYED */
	int			nshort;			/* UNKNOWN_SKU, INSUFFICIENT_STOCK */
	InvLine    *short_lines;	/* the lines refused, as requested */
	int64	   *short_available;	/* -1: unknown SKU */
} ReserveOutcome;

typedef struct ReserveRequest
{
	InvCart    *cart;
	Interval   *ttl;			/* NULL: inventory.default_ttl */
	text	   *key;
	text	   *owner;
} ReserveRequest;

static InvPlan find_key_plan = {
	"SELECT r.id,"
	"       r.owner IS NOT DISTINCT FROM $2 AND r.skus = $3 AND r.qtys = $4"
	"  FROM inventory.reservation r"
	" WHERE r.idempotency_key = $1",
	4, {TEXTOID, TEXTOID, TEXTARRAYOID, INT8ARRAYOID}
};

static InvPlan lock_cart_stock_plan = {
	"SELECT s.sku, s.available FROM inventory.stock s"
	" WHERE s.sku = ANY ($1)"
	" ORDER BY s.sku COLLATE \"C\""
	" FOR NO KEY UPDATE",
	1, {TEXTARRAYOID}
};

/*
 * The writes of a keyed reserve whose stock rows are locked and whose lines
 * all fit, in one statement: the hold with its lines, the stock and the
 * event, whose payload is made from the values in hand.  Everything joins
 * the inserted hold, so when the insert meets a row with that key (one our
 * key lock did not see coming: written by hand) nothing at all is written
 * and no row comes back.  The arbiter names its predicate so that it
 * matches the partial index of 0.3.0 as well as the plain unique index of
 * earlier versions.  (A hold without a key has no arbiter to probe, and is
 * written without a statement: write_hold.)
 * $1 key, $2 owner, $3 now, $4 expires_at, $5 SKUs, $6 quantities.
 */
static InvPlan write_keyed_hold_plan = {
	"WITH h AS ("
	"  INSERT INTO inventory.reservation"
	"         (idempotency_key, owner, created_at, expires_at, skus, qtys)"
	"  VALUES ($1, $2, $3, $4, $5, $6)"
	"  ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
	"  RETURNING id, owner, created_at, expires_at),"
	" x AS (SELECT * FROM unnest($5::text[], $6::bigint[]) AS x(sku, qty)),"
	" s AS ("
	"  UPDATE inventory.stock st"
	"     SET available = st.available - x.qty, version = st.version + 1, updated_at = $3"
	"    FROM x, h WHERE st.sku = x.sku"
	"  RETURNING 1),"
	" e AS ("
	"  INSERT INTO inventory.outbox (occurred_at, aggregatetype, aggregateid, type, payload)"
	"  SELECT $3, 'reservation', h.id::text, 'reservation.held', "
	INV_HELD_PAYLOAD("(SELECT " INV_PAYLOAD_LINES_AGG " FROM x AS l)",
					 "h.expires_at", "h.owner")
	"    FROM h)"
	" SELECT h.id, (SELECT count(*) FROM s) FROM h",
	6, {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID, INT8ARRAYOID}
};

/*
 * Look the idempotency key up.  true when it names a reservation of the
 * same request (its id goes to *id); IV006 when it names another request.
 */
static bool
find_key(const ReserveRequest *req, Datum skus, Datum qtys, pg_uuid_t *id)
{
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		isnull;

	values[0] = PointerGetDatum(req->key);
	values[1] = PointerGetDatum(req->owner);
	if (req->owner == NULL)
		nulls[1] = 'n';
	values[2] = skus;
	values[3] = qtys;
	if (inv_plan_exec(&find_key_plan, values, nulls, 0) == 0)
		return false;

	memcpy(id, DatumGetUUIDP(inv_result(0, 1, &isnull)), sizeof(pg_uuid_t));
	if (!DatumGetBool(inv_result(0, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INV_IDEMPOTENCY_KEY_REUSED),
				 errmsg("idempotency key \"%s\" was used for a different request",
						text_to_cstring(req->key)),
				 errdetail("The reservation made with this key has other lines or another owner."),
				 errhint("Use a new key for a new request.")));
	return true;
}

static void
add_short(ReserveOutcome *out, const InvLine *line, int64 available)
{
	out->short_lines[out->nshort] = *line;
	out->short_available[out->nshort] = available;
	out->nshort++;
}

/*
 * Given every line's free units (-1: unknown SKU), fill *out with the
 * unknown SKUs or, when all are known, with the lines that do not fit.
 */
static void
classify(const InvCart *cart, const int64 *avail, ReserveOutcome *out)
{
	out->nshort = 0;
	for (int i = 0; i < cart->nlines; i++)
		if (avail[i] < 0)
			add_short(out, &cart->lines[i], -1);
	if (out->nshort > 0)
	{
		out->status = RESERVE_UNKNOWN_SKU;
		return;
	}
	for (int i = 0; i < cart->nlines; i++)
		if (cart->lines[i].qty > avail[i])
			add_short(out, &cart->lines[i], avail[i]);
	if (out->nshort > 0)
		out->status = RESERVE_INSUFFICIENT_STOCK;
}

/*
 * Refuse in the snapshot, without a lock, when it proves the request
 * cannot be served (availability.c); true when *out is that refusal.
 * *verdict gets what the snapshot said.
 */
static bool
refused_in_snapshot(const InvCart *cart, int64 *avail, ReserveOutcome *out,
					AvailabilityVerdict *verdict)
{
	*verdict = availability_peek(cart, GetCurrentTimestamp(), avail);
	if (*verdict != AVAILABILITY_UNKNOWN_SKU && *verdict != AVAILABILITY_SHORT)
		return false;
	classify(cart, avail, out);
	Assert(out->status != RESERVE_RESERVED);
	return true;
}

/*
 * The common reserve: one line, whose units are free, without a statement
 * (rows.c).  The stock row is found through its primary key and, as a
 * guarded UPDATE would, taken only if its units are free in the version
 * the snapshot sees, or, when another transaction changed that version
 * meanwhile, in the latest one, locked (so it never oversells and, when
 * they are not, it writes nothing).  The clock is read just before the
 * update, as UPDATE reads it for its SET; the hold and its event are
 * written from the values in hand.
 * true when the hold is taken.  false, with nothing written, when the SKU
 * is not there or its units are not free: *verdict then says what the
 * read of the row in a snapshot of this moment proves (availability.h,
 * with the row's free units in avail[0]), or UNDECIDED when the units went
 * under a concurrent change or the transaction's snapshot is older than
 * this moment; the locking way decides what is not a refusal.  verdict
 * NULL: the caller has judged the snapshot already, and wants no verdict.
 */
enum
{
	ONE_STOCK,
	ONE_HOLD,
	ONE_EVENT
};
static const char *const reserve_one_tables[] = {
	[ONE_STOCK] = "stock",
	[ONE_HOLD] = "reservation",
	[ONE_EVENT] = "outbox",
};

static bool
units_free(TupleTableSlot *stock, AttrNumber available_att, int64 qty)
{
	bool		isnull;

	return DatumGetInt64(slot_getattr(stock, available_att, &isnull)) >= qty;
}

/* Update the stock row version in stock: qty units leave available. */
static InvRowUpdate
take_units(InvRows *rows, TupleTableSlot *stock, int64 qty, TimestampTz now)
{
	TupleTableSlot *taken = inv_rows_new_slot(rows, ONE_STOCK);
	AttrNumber	available_att = inv_rows_attnum(rows, ONE_STOCK, "available");
	AttrNumber	version_att = inv_rows_attnum(rows, ONE_STOCK, "version");
	int			natts = taken->tts_tupleDescriptor->natts;

	slot_getallattrs(stock);
	memcpy(taken->tts_values, stock->tts_values, sizeof(Datum) * natts);
	memcpy(taken->tts_isnull, stock->tts_isnull, sizeof(bool) * natts);
	inv_rows_put(taken, available_att,
				 Int64GetDatum(DatumGetInt64(stock->tts_values[available_att - 1]) - qty));
	inv_rows_put(taken, version_att,
				 Int64GetDatum(DatumGetInt64(stock->tts_values[version_att - 1]) + 1));
	inv_rows_put(taken, inv_rows_attnum(rows, ONE_STOCK, "updated_at"),
				 TimestampTzGetDatum(now));
	return inv_rows_update(rows, ONE_STOCK, stock, taken);
}

/* Insert the hold of req's lines (skus, qtys) taken at now, and its event. */
static void
insert_hold(InvRows *rows, const ReserveRequest *req, Datum skus, Datum qtys,
			TimestampTz now, pg_uuid_t *id)
{
	TupleTableSlot *hold = inv_rows_new_slot(rows, ONE_HOLD);
	TimestampTz expires = inv_expiry(req->ttl, now);

	inv_random_uuid(id);
	inv_rows_put(hold, inv_rows_attnum(rows, ONE_HOLD, "id"), UUIDPGetDatum(id));
	if (req->key != NULL)
		inv_rows_put(hold, inv_rows_attnum(rows, ONE_HOLD, "idempotency_key"),
					 PointerGetDatum(req->key));
	if (req->owner != NULL)
		inv_rows_put(hold, inv_rows_attnum(rows, ONE_HOLD, "owner"),
					 PointerGetDatum(req->owner));
	inv_rows_put(hold, inv_rows_attnum(rows, ONE_HOLD, "state"), CStringGetTextDatum("held"));
	inv_rows_put(hold, inv_rows_attnum(rows, ONE_HOLD, "created_at"), TimestampTzGetDatum(now));
	inv_rows_put(hold, inv_rows_attnum(rows, ONE_HOLD, "expires_at"), TimestampTzGetDatum(expires));
	inv_rows_put(hold, inv_rows_attnum(rows, ONE_HOLD, "skus"), skus);
	inv_rows_put(hold, inv_rows_attnum(rows, ONE_HOLD, "qtys"), qtys);
	inv_rows_insert(rows, ONE_HOLD, hold);
	expiry_floor_lower(expires);

	outbox_insert_event(rows, ONE_EVENT, now, "reservation", inv_uuid_str(id),
						"reservation.held",
						outbox_reservation_payload(skus, qtys, true, expires,
												   req->owner, NULL, NULL));
}

static bool
reserve_one(const ReserveRequest *req, ReserveOutcome *out, int64 *avail,
			AvailabilityVerdict *verdict)
{
	const InvLine *line = &req->cart->lines[0];
	InvRows		rows;
	TupleTableSlot *stock;
	AttrNumber	available_att;
	TimestampTz now;
	Datum		sku = CStringGetTextDatum(line->sku);
	Datum		qty = Int64GetDatum(line->qty);
	ExpiryFloorRead floor = {NULL, DT_NOBEGIN, 0};

	/* for a refusal: the expiry floor, read before the snapshot is taken */
	if (verdict != NULL)
		floor = expiry_floor_before();
	inv_rows_begin(&rows, reserve_one_tables, lengthof(reserve_one_tables));
	available_att = inv_rows_attnum(&rows, ONE_STOCK, "available");

	/*
	 * As a guarded UPDATE: the version in the snapshot, if its units are
	 * free; when another transaction changed it meanwhile, its latest
	 * version, locked, if they still are.
	 */
	stock = inv_rows_fetch(&rows, ONE_STOCK, sku);

	/*
	 * Not free in a snapshot of now: the read a refusal needs is this one
	 * (as availability_peek would make it, which the call then skips).
	 */
	if ((stock == NULL || !units_free(stock, available_att, line->qty)) &&
		verdict != NULL && !IsolationUsesXactSnapshot())
	{
		bool		isnull;

		avail[0] = stock == NULL ? -1 :
			DatumGetInt64(slot_getattr(stock, available_att, &isnull));
		/* ... and after (expiry_floor.c) */
		*verdict = availability_judge(req->cart, avail, inv_rows_snapshot(&rows),
									  GetCurrentTimestamp(),
									  expiry_floor_after(floor));
		inv_rows_end(&rows);
		return false;
	}
	for (;;)
	{
		InvRowUpdate res;

		if (stock == NULL || !units_free(stock, available_att, line->qty))
		{
			if (verdict != NULL)
				*verdict = AVAILABILITY_UNDECIDED;
			inv_rows_end(&rows);
			return false;
		}
		now = GetCurrentTimestamp();
		res = take_units(&rows, stock, line->qty, now);
		if (res == INV_ROW_UPDATED)
			break;
		if (res == INV_ROW_GONE || !inv_rows_lock(&rows, ONE_STOCK, stock))
			stock = NULL;
	}

	insert_hold(&rows, req,
				PointerGetDatum(construct_array(&sku, 1, TEXTOID, -1, false, TYPALIGN_INT)),
				PointerGetDatum(construct_array(&qty, 1, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)),
				now, &out->id);
	inv_rows_end(&rows);
	return true;
}

/*
 * The writes of a reserve whose stock rows this transaction has locked and
 * whose lines all fit (decide_under_locks): each row's units, the hold
 * and its event, without a statement.
 */
static void
write_hold(const ReserveRequest *req, Datum skus, Datum qtys, TimestampTz now,
		   ReserveOutcome *out)
{
	InvRows		rows;

	inv_rows_begin(&rows, reserve_one_tables, lengthof(reserve_one_tables));
	for (int i = 0; i < req->cart->nlines; i++)
	{
		const InvLine *line = &req->cart->lines[i];
		TupleTableSlot *stock = inv_rows_fetch(&rows, ONE_STOCK,
											   CStringGetTextDatum(line->sku));

		/* the row is ours since the lock: no one else can have changed it */
		if (stock == NULL || take_units(&rows, stock, line->qty, now) != INV_ROW_UPDATED)
			elog(ERROR, "inventory: the locked stock row of SKU \"%s\" changed", line->sku);
	}
	insert_hold(&rows, req, skus, qtys, now, &out->id);
	inv_rows_end(&rows);
}

/*
 * Lock the cart's stock rows and check every line.  Fills *out with the
 * unknown SKUs or, when all are known, with the lines that do not fit;
 * avail[i] gets the free units of line i.
 */
static void
check_cart(const InvCart *cart, Datum skus, int64 *avail, ReserveOutcome *out)
{
	uint64		nrows;
	uint64		row = 0;
	bool		isnull;

	nrows = inv_plan_exec(&lock_cart_stock_plan, &skus, NULL, 0);

	/* both lists are in byte order of SKU: merge them */
	for (int i = 0; i < cart->nlines; i++)
	{
		char	   *sku = NULL;
		int			cmp = 1;

		while (row < nrows)
		{
			sku = TextDatumGetCString(inv_result(row, 1, &isnull));
			cmp = strcmp(sku, cart->lines[i].sku);
			if (cmp >= 0)
				break;
			row++;
		}
		if (row >= nrows || cmp != 0)
		{
			avail[i] = -1;
			continue;
		}
		avail[i] = inv_result_int8(row, 2);
		row++;
	}

	classify(cart, avail, out);
}

/*
 * Serialize the calls that carry this idempotency key until the end of the
 * transaction, so that a retry racing its original waits for it and then
 * sees its hold.  The lock is in the extension's own space (locks.h): an
 * application's advisory locks never meet it.
 */
static void
lock_key(text *key)
{
	inv_lock_idempotency_key(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
}

/*
 * Some lines are short: free the units of their overdue holds if the holds
 * this call can lock are enough for every short line.  Only as many holds
 * as cover the shortfall are expired, oldest expiry first: a buyer's
 * transaction never takes on a sweep's backlog.  Returns false, with the
 * units that could be had in out->short_available, when they are not
 * enough; nothing is written then.
 */
static bool
reclaim(Datum skus, ReserveOutcome *out, TimestampTz now)
{
	Datum	   *short_skus = palloc(sizeof(Datum) * out->nshort);
	char	  **names = palloc(sizeof(char *) * out->nshort);
	int64	   *need = palloc(sizeof(int64) * out->nshort);
	int64	   *got = palloc0(sizeof(int64) * out->nshort);
	int64		need_total = 0;
	Datum		short_array;
	Datum		ids;
	Datum		chosen = (Datum) 0;
	int			nids;
	int			nchosen = 0;
	bool		covered = false;

	for (int i = 0; i < out->nshort; i++)
	{
		names[i] = out->short_lines[i].sku;
		short_skus[i] = CStringGetTextDatum(names[i]);
		need[i] = out->short_lines[i].qty - out->short_available[i];
		need_total += need[i];
	}
	short_array = PointerGetDatum(construct_array(short_skus, out->nshort,
												  TEXTOID, -1, false, TYPALIGN_INT));

	/*
	 * Each overdue hold of a short SKU brings at least one unit, so the
	 * oldest need_total of them are enough when any are; only when they
	 * are not (their units are of a SKU that needs no more) are all the
	 * lockable ones looked at.
	 */
	for (int pass = 0; pass < 2 && !covered; pass++)
	{
		int32		max_holds = pass == 0 ? (int32) Min(need_total, PG_INT32_MAX) : 0;

		ids = holds_lock_overdue(short_array, skus, now, max_holds, &nids);
		if (nids == 0)
			break;
		memset(got, 0, sizeof(int64) * out->nshort);
		chosen = holds_covering(ids, out->nshort, names, need, got, &nchosen, &covered);
		if (pass == 0 && !covered && nids < max_holds)
			break;				/* that was every lockable one */
	}
	for (int i = 0; i < out->nshort; i++)
		out->short_available[i] += got[i];
	if (covered)
		holds_finish(chosen, nchosen, HOLD_EXPIRED, now, NULL, NULL);
	return covered;
}

/*
 * Lock the cart's stock rows and decide, reclaiming overdue holds if a
 * line is short and they are enough; *now is read once the rows are
 * locked.  true when the cart fits now (its rows stay locked, and the
 * reclaimed holds are expired); false, with *out the refusal, when not.
 *
 * With may_refuse (the snapshot did not say the cart fits), this runs in a
 * subtransaction, rolled back on a refusal: a refused caller then keeps
 * none of the row locks it took to decide (stock rows, overdue holds) until
 * its transaction ends.  A cart the snapshot said fits skips that cost;
 * should it be refused after all (the units went in between), its stock
 * rows stay locked until the caller's transaction ends.
 */
static bool
decide_under_locks(const InvCart *cart, Datum skus, int64 *avail,
				   ReserveOutcome *out, TimestampTz *now, bool may_refuse)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool fits = false;

	if (may_refuse)
	{
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
	}
	PG_TRY();
	{
		check_cart(cart, skus, avail, out);
		*now = GetCurrentTimestamp();
		if (out->status == RESERVE_RESERVED)
			fits = true;
		else if (out->status == RESERVE_INSUFFICIENT_STOCK &&
				 reclaim(skus, out, *now))
		{
			out->status = RESERVE_RESERVED;
			check_cart(cart, skus, avail, out);
			if (out->status != RESERVE_RESERVED)
				elog(ERROR, "inventory: stock still short after reclaiming overdue holds");
			fits = true;
		}
	}
	PG_CATCH();
	{
		if (may_refuse)
			ReThrowError(inv_subxact_rollback(cxt, owner));
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (may_refuse)
	{
		if (fits)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	return fits;
}

static void
reserve(const ReserveRequest *req, ReserveOutcome *out)
{
	InvCart    *cart = req->cart;
	Datum		skus;
	Datum		qtys;
	int64	   *avail;
	TimestampTz now;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	bool		tried_one = false;
	uint64		nrows;
	AvailabilityVerdict verdict = AVAILABILITY_UNDECIDED;

	avail = palloc(sizeof(int64) * cart->nlines);
	out->status = RESERVE_RESERVED;

	/*
	 * The common call, one line without a key or an owner, needs no SPI:
	 * it takes the units as a guarded UPDATE would, and the read it makes
	 * of the stock row is the one a refusal in the snapshot needs.
	 */
	if (req->key == NULL && req->owner == NULL && cart->nlines == 1)
	{
		tried_one = true;
		if (reserve_one(req, out, avail, &verdict))
		{
			stats_count(reserve_counter[out->status], 1);
			return;
		}
		if (verdict == AVAILABILITY_UNKNOWN_SKU || verdict == AVAILABILITY_SHORT)
		{
			classify(cart, avail, out);
			stats_count(reserve_counter[out->status], 1);
			return;
		}
	}
	/* without a key there is nothing to replay: a refusal needs no SPI */
	else if (req->key == NULL && refused_in_snapshot(cart, avail, out, &verdict))
	{
		stats_count(reserve_counter[out->status], 1);
		return;
	}

	inv_spi_connect();
	skus = cart_sku_array(cart);
	qtys = cart_qty_array(cart);

	if (req->key != NULL)
	{
		lock_key(req->key);
		if (find_key(req, skus, qtys, &out->id))
		{
			out->status = RESERVE_REPLAYED;
			goto done;
		}
		if (refused_in_snapshot(cart, avail, out, &verdict))
			goto done;
	}

	/*
	 * The owner's limits: after the key's lock (a replay is not counted
	 * again), before any row lock.  Without an owner, nothing to do.
	 */
	if (req->owner != NULL)
		limits_check_owner(req->owner, cart, skus);

	/*
	 * One line that fits, or that the snapshot could not judge: try the
	 * one-statement way first.  When the units are gone by the time the
	 * row is locked, it wrote nothing, and the locking way below decides
	 * (with a reclaim of overdue holds, or a refusal).
	 */
	if (cart->nlines == 1 && !tried_one && verdict != AVAILABILITY_RECLAIM)
	{
		if (reserve_one(req, out, avail, NULL))
			goto done;
		/* the units went meanwhile: the locking way decides (and refuses) */
		verdict = AVAILABILITY_UNDECIDED;
	}

	if (!decide_under_locks(cart, skus, avail, out, &now,
							verdict != AVAILABILITY_FITS))
		goto done;

	/* a hold without a key cannot meet another's: no arbiter to probe */
	if (req->key == NULL)
	{
		write_hold(req, skus, qtys, now, out);
		goto done;
	}

	values[0] = PointerGetDatum(req->key);
	values[1] = PointerGetDatum(req->owner);
	values[2] = TimestampTzGetDatum(now);
	values[3] = TimestampTzGetDatum(inv_expiry(req->ttl, now));
	if (req->owner == NULL)
		nulls[1] = 'n';
	values[4] = skus;
	values[5] = qtys;
	outbox_will_write();
	nrows = inv_plan_exec(&write_keyed_hold_plan, values, nulls, 0);
	/* the hold and its index entries are written (or a key's hold was there) */
	expiry_floor_lower(DatumGetTimestampTz(values[3]));
	if (nrows == 0)
	{
		/*
		 * The key was taken by someone who did not hold our key lock
		 * (a row written by hand, or since purged): ask for a retry.
		 */
		if (!find_key(req, skus, qtys, &out->id))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not reserve with idempotency key \"%s\" due to a concurrent change",
							text_to_cstring(req->key)),
					 errhint("Retry the call.")));
		out->status = RESERVE_REPLAYED;
		goto done;
	}
	memcpy(&out->id, DatumGetUUIDP(inv_result(0, 1, &isnull)), sizeof(pg_uuid_t));
	if (DatumGetInt64(inv_result(0, 2, &isnull)) != cart->nlines)
		elog(ERROR, "inventory: reserved stock of fewer SKUs than the cart has");

done:
	SPI_finish();
	stats_count(reserve_counter[out->status], 1);
}

/* Read the arguments shared by every reserve function, from argument ttl_arg on. */
static void
request_init(ReserveRequest *req, FunctionCallInfo fcinfo, int ttl_arg,
			 InvCart *cart)
{
	req->cart = cart;
	req->ttl = inv_arg_ttl(fcinfo, ttl_arg);
	req->key = inv_arg_key(fcinfo, ttl_arg + 1, "idempotency_key");
	req->owner = inv_arg_owner(fcinfo, ttl_arg + 2);
}

static ReserveOutcome *
outcome_new(const InvCart *cart)
{
	ReserveOutcome *out = palloc0(sizeof(ReserveOutcome));

	out->short_lines = palloc(sizeof(InvLine) * cart->nlines);
	out->short_available = palloc(sizeof(int64) * cart->nlines);
	return out;
}

static InvCart *
cart_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("items must not be null")));
	return cart_from_jsonb(PG_GETARG_JSONB_P(0));
}

/* Raise the refusal of a reserve that returns a uuid. */
static Datum
reserve_result(ReserveOutcome *out)
{
	InvLine    *first = &out->short_lines[0];

	switch (out->status)
	{
		case RESERVE_RESERVED:
		case RESERVE_REPLAYED:
			break;
		case RESERVE_UNKNOWN_SKU:
			ereport(ERROR,
					(errcode(ERRCODE_INV_UNKNOWN_SKU),
					 errmsg("unknown SKU \"%s\"", first->sku),
					 out->nshort > 1 ?
					 errdetail("%d SKUs of the request are unknown.", out->nshort) : 0,
					 errhint("Create a SKU with inv_set_stock().")));
			break;
		case RESERVE_INSUFFICIENT_STOCK:
			ereport(ERROR,
					(errcode(ERRCODE_INV_INSUFFICIENT_STOCK),
					 errmsg("insufficient stock for SKU \"%s\"", first->sku),
					 out->nshort > 1 ?
					 errdetail("Requested " INT64_FORMAT ", available " INT64_FORMAT
							   "; %d SKUs of the request are short.",
							   first->qty, out->short_available[0], out->nshort) :
					 errdetail("Requested " INT64_FORMAT ", available " INT64_FORMAT ".",
							   first->qty, out->short_available[0])));
			break;
	}
	return UUIDPGetDatum(&out->id);
}

/*
 * inv_reserve(sku text, qty bigint, ttl interval, idempotency_key text,
 *			   owner text) RETURNS uuid
 */
Datum
inv_reserve(PG_FUNCTION_ARGS)
{
	char	   *sku = inv_arg_sku(fcinfo, 0, "sku");
	int64		qty = inv_arg_int8(fcinfo, 1, "qty");
	InvCart    *cart = cart_single(sku, qty);
	ReserveRequest req;
	ReserveOutcome *out = outcome_new(cart);

	inv_require_writable(fcinfo);
	request_init(&req, fcinfo, 2, cart);
	reserve(&req, out);
	return reserve_result(out);
}

/*
 * inv_reserve_cart(items jsonb, ttl interval, idempotency_key text,
 *					owner text) RETURNS uuid
 */
Datum
inv_reserve_cart(PG_FUNCTION_ARGS)
{
	InvCart    *cart = cart_arg(fcinfo);
	ReserveRequest req;
	ReserveOutcome *out = outcome_new(cart);

	inv_require_writable(fcinfo);
	request_init(&req, fcinfo, 1, cart);
	reserve(&req, out);
	return reserve_result(out);
}

/* [{"sku": ..., "requested": ..., "available": ...}, ...] */
static Datum
shortfall_jsonb(const ReserveOutcome *out)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < out->nshort; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "{\"sku\": ");
		escape_json(&buf, out->short_lines[i].sku);
		appendStringInfo(&buf, ", \"requested\": " INT64_FORMAT ", \"available\": ",
						 out->short_lines[i].qty);
		if (out->short_available[i] < 0)
			appendStringInfoString(&buf, "null}");
		else
			appendStringInfo(&buf, INT64_FORMAT "}", out->short_available[i]);
	}
	appendStringInfoChar(&buf, ']');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * inv_try_reserve_cart(items jsonb, ttl interval, idempotency_key text,
 *						owner text)
 *	RETURNS TABLE (reservation_id uuid, status text, shortfall jsonb)
 *
 * A shortage is a business outcome here, returned rather than raised, so a
 * caller can show "only 2 left" without catching errors.  Bad input still
 * raises.
 */
Datum
inv_try_reserve_cart(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	InvCart    *cart = cart_arg(fcinfo);
	ReserveRequest req;
	ReserveOutcome *out = outcome_new(cart);
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	inv_require_writable(fcinfo);
	request_init(&req, fcinfo, 1, cart);
	/* in FROM the executor knows the row type: no catalog lookup per call */
	InitMaterializedSRF(fcinfo, rsinfo->expectedDesc != NULL ?
						MAT_SRF_USE_EXPECTED_DESC : 0);
	reserve(&req, out);

	if (out->status == RESERVE_RESERVED || out->status == RESERVE_REPLAYED)
	{
		values[0] = UUIDPGetDatum(&out->id);
		nulls[2] = true;
	}
	else
	{
		nulls[0] = true;
		values[2] = shortfall_jsonb(out);
	}
	values[1] = CStringGetTextDatum(reserve_status_name[out->status]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
