/*-------------------------------------------------------------------------
 *
 * holds.c
 *	  Everything that happens to a hold after it is taken: inv_commit,
 *	  inv_release, inv_extend, expiry by inv_sweep and reclaim on demand.
 *
 * Locking protocol (the same in every module, so that nothing deadlocks):
 *	  - stock rows are locked in SKU byte order (COLLATE "C"), all the rows a
 *		call needs before any is changed;
 *	  - inv_release and inv_extend lock the hold first, then its stock
 *		rows (in order); they hold no stock row while they wait;
 *	  - a reserve takes its idempotency key's lock, then, when a limit per
 *		owner applies, its owner's lock (limits.c), before any row lock;
 *	  - inv_commit locks the hold, then takes the sales locks of its SKUs
 *		shared (locks.h); it locks no stock row.  inv_set_stock and
 *		inv_adjust lock the stock row, then that SKU's sales lock
 *		exclusively, and wait for no hold;
 *	  - expiring overdue holds never waits: the sweep and a reserve's
 *		reclaim take the stock rows they lack with SKIP LOCKED, then the
 *		holds with SKIP LOCKED, and expire only holds whose rows they all
 *		have.  What they cannot have now is left to a later sweep.  (SKIP
 *		LOCKED alone can still wait, for the newest version of a row just
 *		updated: these try-locks also run under a lock_timeout of a
 *		millisecond, and give up when it strikes; see lock_overdue.)
 *	  Hence no cycle of waits among the extension's own calls, several
 *	  sweepers never block each other, and a sweep never blocks a checkout.
 *	  (Within one transaction that makes several calls, the caller's order
 *	  of calls still matters, as with any row locks.)
 *
 * Fencing: a hold past expires_at is expired whether or not a sweep has
 * run.  It cannot be committed or extended, and no longer counts against
 * available stock.  Each call reads the clock once it holds the hold's
 * lock (release_one: in its UPDATE, whose WHERE is evaluated again on the
 * row it waited for; commit_one: again once the row is updated, which
 * undoes a commit that waited past the expiry).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

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

PG_FUNCTION_INFO_V1(inv_commit);
PG_FUNCTION_INFO_V1(inv_release);
PG_FUNCTION_INFO_V1(inv_extend);
PG_FUNCTION_INFO_V1(inv_sweep);

static InvPlan lock_stock_of_holds_plan = {
	"SELECT s.sku FROM inventory.stock s"
	" WHERE s.sku IN (SELECT l.sku FROM inventory.reservation r, unnest(r.skus) AS l(sku)"
	"                  WHERE r.id = ANY ($1))"
	" ORDER BY s.sku COLLATE \"C\""
	" FOR NO KEY UPDATE OF s",
	1, {UUIDARRAYOID}
};

/* the units of holds $1 go back on sale */
static InvPlan apply_holds_plan = {
	"UPDATE inventory.stock s"
	"   SET available = s.available + x.qty,"
	"       version = s.version + 1,"
	"       updated_at = $2"
	"  FROM (SELECT l.sku, sum(l.qty)::bigint AS qty"
	"          FROM inventory.reservation r, unnest(r.skus, r.qtys) AS l(sku, qty)"
	"         WHERE r.id = ANY ($1)"
	"         GROUP BY l.sku) x"
	" WHERE s.sku = x.sku",
	2, {UUIDARRAYOID, TIMESTAMPTZOID}
};

/* the sales locks of the SKUs of holds $1 (being committed) */
static InvPlan lock_sales_of_holds_plan = {
	"SELECT inventory.lock_sales(r.skus) FROM inventory.reservation r"
	" WHERE r.id = ANY ($1)",
	1, {UUIDARRAYOID}
};

static InvPlan finish_holds_plan = {
	"UPDATE inventory.reservation"
	"   SET state = $2, finished_at = $3,"
	"       reference = coalesce($4, reference),"
	"       reason = coalesce($5, reason)"
	" WHERE id = ANY ($1) AND state = 'held'",
	5, {UUIDARRAYOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID}
};

static InvPlan lock_hold_plan = {
	"SELECT state, expires_at, created_at FROM inventory.reservation"
	" WHERE id = $1"
	" FOR NO KEY UPDATE",
	1, {UUIDOID}
};

static InvPlan extend_hold_plan = {
	"UPDATE inventory.reservation SET expires_at = $2 WHERE id = $1",
	2, {UUIDOID, TIMESTAMPTZOID}
};

/* units of sku ($2) in the holds $1 */
static InvPlan holds_units_plan = {
	"SELECT coalesce(sum(l.qty), 0)::bigint"
	"  FROM inventory.reservation r, unnest(r.skus, r.qtys) AS l(sku, qty)"
	" WHERE r.id = ANY ($1) AND l.sku = $2",
	2, {UUIDARRAYOID, TEXTOID}
};

/* the lines of SKUs $2 in holds $1, hold by hold, oldest expiry first */
static InvPlan hold_lines_plan = {
	"SELECT r.id, l.sku, l.qty"
	"  FROM inventory.reservation r, unnest(r.skus, r.qtys) AS l(sku, qty)"
	" WHERE r.id = ANY ($1) AND l.sku = ANY ($2)"
	" ORDER BY r.expires_at, r.id, l.sku COLLATE \"C\"",
	2, {UUIDARRAYOID, TEXTARRAYOID}
};

/* candidates for a reclaim: overdue holds with a line of one of $1 */
static InvPlan overdue_for_skus_plan = {
	"SELECT r.id FROM inventory.reservation r"
	" WHERE r.state = 'held' AND r.expires_at <= $2 AND r.skus && $1",
	2, {TEXTARRAYOID, TIMESTAMPTZOID}
};

/*
 * candidates for a sweep: the oldest overdue holds.  Exactly as many as the
 * sweep may expire: every candidate's stock rows get try-locked, and rows
 * locked for holds the sweep would not expire would only block others.
 */
static InvPlan overdue_batch_plan = {
	"SELECT id FROM inventory.reservation"
	" WHERE state = 'held' AND expires_at <= $1"
	" ORDER BY expires_at"
	" LIMIT $2",
	2, {TIMESTAMPTZOID, INT4OID}
};

/* SKUs of holds $1 whose stock rows the caller does not hold ($2) */
static InvPlan foreign_skus_plan = {
	"SELECT DISTINCT l.sku FROM inventory.reservation r, unnest(r.skus) AS l(sku)"
	" WHERE r.id = ANY ($1) AND l.sku <> ALL ($2)",
	2, {UUIDARRAYOID, TEXTARRAYOID}
};

static InvPlan try_lock_stock_plan = {
	"SELECT s.sku FROM inventory.stock s"
	" WHERE s.sku = ANY ($1)"
	" ORDER BY s.sku COLLATE \"C\""
	" FOR NO KEY UPDATE SKIP LOCKED",
	1, {TEXTARRAYOID}
};

/*
 * Lock, skipping the busy ones, at most $5 (NULL: all) of the holds of $1
 * that are still held and overdue (rechecked on the latest row version)
 * and whose SKUs are all in $2 or $3, oldest first.
 */
static InvPlan lock_overdue_plan = {
	"SELECT r.id FROM inventory.reservation r"
	" WHERE r.id = ANY ($1) AND r.state = 'held' AND r.expires_at <= $4"
	"   AND NOT EXISTS (SELECT 1 FROM unnest(r.skus) AS l(sku)"
	"                    WHERE l.sku <> ALL ($2) AND l.sku <> ALL ($3))"
	" ORDER BY r.expires_at"
	" LIMIT $5"
	" FOR NO KEY UPDATE OF r SKIP LOCKED",
	5, {UUIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZOID, INT4OID}
};

/*
 * Release of one hold in force, in one statement: the update locks the
 * hold and decides (held, and the clock, read once the lock is held,
 * before its expiry), and its event's payload is made from the row as it
 * now stands.  The units go back: a hold of one line (one stock row, so no
 * order to keep) has that row updated and then its event written, in the
 * same statement; a hold of several lines has its stock rows locked in
 * order and then updated, with its event, by the caller
 * (apply_lines_plan).  Either way an event's seq is taken once what orders
 * it is held, so that the events of a SKU are in the order of its changes.
 * The statement returns the clock, the lines' SKUs and quantities, their
 * number, the stock rows it updated and the payload.  No row when the hold
 * is not in force (or not there): the caller then looks why.  (A commit
 * is commit_one, without a statement.)
 */
static InvPlan release_one_plan = {
	"WITH r AS ("
	"  UPDATE inventory.reservation r"
	"     SET state = 'released', finished_at = clock_timestamp(),"
	"         reason = coalesce($2, r.reason)"
	"   WHERE r.id = $1 AND r.state = 'held' AND r.expires_at > clock_timestamp()"
	"  RETURNING r.*),"
	" p AS ("
	"  SELECT "
	INV_RESERVATION_PAYLOAD("(SELECT " INV_PAYLOAD_LINES_AGG
							"   FROM unnest(r.skus, r.qtys) AS l(sku, qty))",
							"NULL::timestamptz", "r.owner", "r.reference", "r.reason")
	" AS payload FROM r),"
	" s AS ("
	"  UPDATE inventory.stock st"
	"     SET available = st.available + r.qtys[1],"
	"         version = st.version + 1,"
	"         updated_at = r.finished_at"
	"    FROM r"
	"   WHERE cardinality(r.skus) = 1 AND st.sku = r.skus[1]"
	"  RETURNING 1),"
	" e AS ("
	"  INSERT INTO inventory.outbox (occurred_at, aggregatetype, aggregateid, type, payload)"
	"  SELECT r.finished_at, 'reservation', r.id::text, 'reservation.released', p.payload"
	"    FROM r, p"
	"   WHERE (SELECT count(*) FROM s) = 1)"
	" SELECT r.finished_at, r.skus, r.qtys, cardinality(r.skus),"
	"        (SELECT count(*) FROM s), p.payload"
	"   FROM r, p",
	2, {UUIDOID, TEXTOID}
};

/*
 * The stock rows of a released hold of several lines ($1 SKUs in byte
 * order, $2 quantities): locked in that order first (k, whose count is an
 * initplan of the update, so it runs to the end before any row is
 * updated), then updated, then its event ($4 aggregateid, $5 type, $6
 * payload).
 */
static InvPlan apply_lines_plan = {
	"WITH k AS ("
	"  SELECT st.sku FROM inventory.stock st WHERE st.sku = ANY ($1)"
	"   ORDER BY st.sku COLLATE \"C\" FOR NO KEY UPDATE),"
	" s AS ("
	"  UPDATE inventory.stock st"
	"     SET available = st.available + x.qty,"
	"         version = st.version + 1,"
	"         updated_at = $3"
	"    FROM unnest($1::text[], $2::bigint[]) AS x(sku, qty)"
	"   WHERE st.sku = x.sku AND (SELECT count(*) FROM k) = cardinality($1)"
	"  RETURNING 1),"
	" e AS ("
	"  INSERT INTO inventory.outbox (occurred_at, aggregatetype, aggregateid, type, payload)"
	"  SELECT $3, 'reservation', $4, $5, $6 FROM (SELECT count(*) AS n FROM s) AS sc"
	"   WHERE sc.n > 0)"
	" SELECT count(*) FROM s",
	6, {TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, JSONBOID}
};

static const char *const hold_end_state[] = {
	[HOLD_COMMITTED] = "committed",
	[HOLD_RELEASED] = "released",
	[HOLD_EXPIRED] = "expired",
};

static const InvCounter hold_end_counter[] = {
	[HOLD_COMMITTED] = INV_COMMITTED,
	[HOLD_RELEASED] = INV_RELEASED,
	[HOLD_EXPIRED] = INV_EXPIRED,
};

static const char *const hold_end_event[] = {
	[HOLD_COMMITTED] = "reservation.committed",
	[HOLD_RELEASED] = "reservation.released",
	[HOLD_EXPIRED] = "reservation.expired",
};

void
holds_finish(Datum ids, int nids, HoldEnd end, TimestampTz now,
			 text *reference, text *reason)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	uint64		n;

	if (nids == 0)
		return;

	values[0] = ids;
	if (end == HOLD_COMMITTED)
		inv_plan_exec(&lock_sales_of_holds_plan, values, NULL, 0);
	else
	{
		inv_plan_exec(&lock_stock_of_holds_plan, values, NULL, 0);
		values[1] = TimestampTzGetDatum(now);
		inv_plan_exec(&apply_holds_plan, values, NULL, 0);
	}

	values[1] = CStringGetTextDatum(hold_end_state[end]);
	values[2] = TimestampTzGetDatum(now);
	values[3] = PointerGetDatum(reference);
	values[4] = PointerGetDatum(reason);
	if (reference == NULL)
		nulls[3] = 'n';
	if (reason == NULL)
		nulls[4] = 'n';
	n = inv_plan_exec(&finish_holds_plan, values, nulls, 0);
	if (n != (uint64) nids)
		elog(ERROR, "inventory: finished " UINT64_FORMAT " of %d holds", n, nids);

	outbox_reservation_events(ids, hold_end_event[end], now);
	stats_count(hold_end_counter[end], nids);
}

static void raise_expired(pg_uuid_t *id, const char *action);

/*
 * The commit of a hold in force, without a statement (rows.c): the hold is
 * found through its primary key and updated as UPDATE updates it (held,
 * and before its expiry on the clock read then and again once the row is
 * ours), marked committed, and its event written, after the sales locks
 * of its SKUs (locks.h).  No stock row changes: the units sold
 * left available when they were reserved.  false, with nothing written,
 * when the hold is not in force (or not there): the caller looks why.
 */
enum
{
	COMMIT_HOLD,
	COMMIT_EVENT
};
static const char *const commit_tables[] = {
	[COMMIT_HOLD] = "reservation",
	[COMMIT_EVENT] = "outbox",
};

static bool
hold_in_force(TupleTableSlot *hold, AttrNumber state_att,
			  AttrNumber expires_att, TimestampTz now)
{
	bool		isnull;
	text	   *state;

	state = DatumGetTextPP(slot_getattr(hold, state_att, &isnull));
	return VARSIZE_ANY_EXHDR(state) == 4 &&
		memcmp(VARDATA_ANY(state), "held", 4) == 0 &&
		DatumGetTimestampTz(slot_getattr(hold, expires_att, &isnull)) > now;
}

/* a text column of a hold's row; NULL when null */
static text *
column_text(InvRows *rows, TupleTableSlot *hold, const char *column)
{
	AttrNumber	att = inv_rows_attnum(rows, COMMIT_HOLD, column);

	return hold->tts_isnull[att - 1] ? NULL : DatumGetTextPP(hold->tts_values[att - 1]);
}

static bool
commit_one(pg_uuid_t *id, text *reference)
{
	InvRows		rows;
	TupleTableSlot *hold;
	TupleTableSlot *sold;
	AttrNumber	state_att;
	AttrNumber	expires_att;
	AttrNumber	skus_att;
	AttrNumber	qtys_att;
	AttrNumber	reference_att;
	AttrNumber	finished_att;
	TimestampTz now = 0;
	ArrayType  *skus;
	Datum	   *sku;
	int			nsku;
	int			natts;

	inv_rows_begin(&rows, commit_tables, lengthof(commit_tables));
	inv_rows_will_write(&rows, COMMIT_HOLD);
	state_att = inv_rows_attnum(&rows, COMMIT_HOLD, "state");
	expires_att = inv_rows_attnum(&rows, COMMIT_HOLD, "expires_at");
	skus_att = inv_rows_attnum(&rows, COMMIT_HOLD, "skus");
	qtys_att = inv_rows_attnum(&rows, COMMIT_HOLD, "qtys");
	reference_att = inv_rows_attnum(&rows, COMMIT_HOLD, "reference");
	finished_att = inv_rows_attnum(&rows, COMMIT_HOLD, "finished_at");

	/*
	 * As UPDATE ... WHERE state = 'held' AND expires_at > clock_timestamp():
	 * the version in the snapshot, or, when another transaction changed it
	 * meanwhile, its latest version, locked.
	 */
	hold = inv_rows_fetch(&rows, COMMIT_HOLD, UUIDPGetDatum(id));
	sold = inv_rows_new_slot(&rows, COMMIT_HOLD);
	natts = sold->tts_tupleDescriptor->natts;
	for (;;)
	{
		InvRowUpdate res;

		if (hold == NULL ||
			!hold_in_force(hold, state_att, expires_att, now = GetCurrentTimestamp()))
		{
			inv_rows_end(&rows);
			return false;
		}
		slot_getallattrs(hold);
		memcpy(sold->tts_values, hold->tts_values, sizeof(Datum) * natts);
		memcpy(sold->tts_isnull, hold->tts_isnull, sizeof(bool) * natts);
		inv_rows_put(sold, state_att, CStringGetTextDatum(hold_end_state[HOLD_COMMITTED]));
		inv_rows_put(sold, finished_att, TimestampTzGetDatum(now));
		if (reference != NULL)
			inv_rows_put(sold, reference_att, PointerGetDatum(reference));
		res = inv_rows_update(&rows, COMMIT_HOLD, hold, sold);
		if (res == INV_ROW_UPDATED)
			break;
		if (res == INV_ROW_GONE || !inv_rows_lock(&rows, COMMIT_HOLD, hold))
			hold = NULL;
	}

	/*
	 * The update may have waited for a transaction that only locked the
	 * hold: a hold that ran out meanwhile is not sold (the error undoes
	 * the update, as it undoes the caller's transaction).
	 */
	if (GetCurrentTimestamp() >= DatumGetTimestampTz(sold->tts_values[expires_att - 1]))
		raise_expired(id, "committed");

	/* its SKUs' sales locks, then its event */
	skus = DatumGetArrayTypeP(sold->tts_values[skus_att - 1]);
	deconstruct_array(skus, TEXTOID, -1, false, TYPALIGN_INT, &sku, NULL, &nsku);
	if (nsku == 0)
		elog(ERROR, "inventory: reservation %s has no line", inv_uuid_str(id));
	for (int i = 0; i < nsku; i++)
	{
		text	   *t = DatumGetTextPP(sku[i]);

		inv_lock_sku_sales(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), ShareLock);
	}
	outbox_insert_event(&rows, COMMIT_EVENT, now, "reservation", inv_uuid_str(id),
						hold_end_event[HOLD_COMMITTED],
						outbox_reservation_payload(PointerGetDatum(skus),
												   sold->tts_values[qtys_att - 1],
												   false, 0,
												   column_text(&rows, sold, "owner"),
												   column_text(&rows, sold, "reference"),
												   column_text(&rows, sold, "reason")));
	inv_rows_end(&rows);
	stats_count(INV_COMMITTED, 1);
	return true;
}

/*
 * Release hold id if it is in force: one statement for a hold of one line
 * (release_one_plan); a hold of several lines then has its stock rows
 * locked in order and updated in a second one (apply_lines_plan).  false,
 * with nothing written, when it is not in force: the caller looks why
 * under the hold's lock.
 */
static bool
release_one(pg_uuid_t *id, text *reason)
{
	Datum		values[6];
	char		nulls[2] = {' ', ' '};
	bool		isnull;
	int64		nlines;
	int64		updated;
	Datum		skus;
	Datum		qtys;
	TimestampTz now;

	values[0] = UUIDPGetDatum(id);
	values[1] = PointerGetDatum(reason);
	if (reason == NULL)
		nulls[1] = 'n';
	outbox_will_write();
	if (inv_plan_exec(&release_one_plan, values, nulls, 0) == 0)
		return false;

	now = DatumGetTimestampTz(inv_result(0, 1, &isnull));
	nlines = inv_result_int8(0, 4);
	updated = inv_result_int8(0, 5);
	if (nlines == 0)
		elog(ERROR, "inventory: reservation %s has no line", inv_uuid_str(id));

	/* several rows: locked in order first, as everywhere */
	if (nlines > 1)
	{
		Datum		payload;

		/* the SPI tuple table goes with the next statement: keep the values */
		skus = datumCopy(inv_result(0, 2, &isnull), false, -1);
		qtys = datumCopy(inv_result(0, 3, &isnull), false, -1);
		payload = datumCopy(inv_result(0, 6, &isnull), false, -1);
		values[0] = skus;
		values[1] = qtys;
		values[2] = TimestampTzGetDatum(now);
		values[3] = CStringGetTextDatum(inv_uuid_str(id));
		values[4] = CStringGetTextDatum(hold_end_event[HOLD_RELEASED]);
		values[5] = payload;
		inv_plan_exec(&apply_lines_plan, values, NULL, 0);
		updated = inv_result_int8(0, 1);
	}
	if (updated != nlines)
		elog(ERROR, "inventory: updated the stock of fewer SKUs than hold %s has",
			 inv_uuid_str(id));
	stats_count(INV_RELEASED, 1);
	return true;
}

static Datum
empty_text_array(void)
{
	return PointerGetDatum(construct_empty_array(TEXTOID));
}

/*
 * Of the overdue holds in candidates (a uuid[] from the last statement),
 * lock those this call can expire without waiting; see the protocol above.
 * The caller holds the stock rows of the SKUs in locked (a text[]).  Runs
 * in lock_overdue's subtransaction.
 */
static Datum
try_lock_overdue(Datum candidates, Datum locked, TimestampTz now,
				 int32 max_holds, int *nids)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Datum		got;
	int			n;

	values[0] = candidates;
	values[1] = locked;
	inv_plan_exec(&foreign_skus_plan, values, NULL, 0);
	if (SPI_processed > 0)
	{
		values[0] = inv_result_array(1, TEXTOID, &n);
		inv_plan_exec(&try_lock_stock_plan, values, NULL, 0);
		got = inv_result_array(1, TEXTOID, &n);
	}
	else
		got = empty_text_array();

	values[0] = candidates;
	values[1] = locked;
	values[2] = got;
	values[3] = TimestampTzGetDatum(now);
	values[4] = Int32GetDatum(max_holds);
	if (max_holds <= 0)
		nulls[4] = 'n';
	inv_plan_exec(&lock_overdue_plan, values, nulls, 0);
	return inv_result_array(1, UUIDOID, nids);
}

/*
 * try_lock_overdue, made sure not to wait.  SKIP LOCKED does not always
 * skip: when the version of a row in the statement's snapshot was updated
 * by a transaction that commits while the statement looks at the row (or
 * whose multixact a key-share locker keeps running), heap_lock_tuple
 * follows the update chain (heap_lock_updated_tuple) and waits for whoever
 * has locked the newest version, whatever the wait policy.  Our caller may
 * hold stock rows out of SKU order by then (a reserve's cart, the rows of
 * an adjustment, the rows taken so far), and the one it waits for may be
 * waiting for those: a deadlock.  So the try-locks run in a
 * subtransaction under a lock_timeout of TRY_LOCK_TIMEOUT: such a wait ends
 * at once, the subtransaction rolls back, and this call locks nothing, as
 * if every row were busy; a later sweep gets the holds.  Any other error
 * is raised.
 */
#define TRY_LOCK_TIMEOUT "1ms"

typedef struct TryLock
{
	Datum		candidates;
	Datum		locked;
	TimestampTz now;
	int32		max_holds;
	int			nids;
} TryLock;

static Datum
try_lock_overdue_guarded(TryLock *t)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile Datum ids = (Datum) 0;
	volatile bool timed_out = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		int			nest = NewGUCNestLevel();

		(void) set_config_option("lock_timeout", TRY_LOCK_TIMEOUT,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
		ids = try_lock_overdue(t->candidates, t->locked, t->now, t->max_holds,
							   &t->nids);
		AtEOXact_GUC(true, nest);
	}
	PG_CATCH();
	{
		ErrorData  *edata = inv_subxact_rollback(cxt, owner);

		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(edata);
		FreeErrorData(edata);
		timed_out = true;
	}
	PG_END_TRY();

	if (timed_out)
	{
		t->nids = 0;
		return PointerGetDatum(construct_empty_array(UUIDOID));
	}
	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ids;
}

static Datum
lock_overdue(Datum candidates, int ncandidates, Datum locked, TimestampTz now,
			 int32 max_holds, int *nids)
{
	TryLock		t = {candidates, locked, now, max_holds, 0};
	Datum		ids;

	*nids = 0;
	if (ncandidates == 0)
		return candidates;
	ids = try_lock_overdue_guarded(&t);
	*nids = t.nids;
	return ids;
}

Datum
holds_lock_overdue(Datum skus, Datum locked, TimestampTz now, int32 max_holds,
				   int *nids)
{
	Datum		values[2];
	Datum		candidates;
	int			ncandidates;

	values[0] = skus;
	values[1] = TimestampTzGetDatum(now);
	inv_plan_exec(&overdue_for_skus_plan, values, NULL, 0);
	candidates = inv_result_array(1, UUIDOID, &ncandidates);
	return lock_overdue(candidates, ncandidates, locked, now, max_holds, nids);
}

Datum
holds_covering(Datum ids, int nskus, char *const *skus, const int64 *need,
			   int64 *got, int *nchosen, bool *covered)
{
	Datum		values[2];
	Datum	   *sku_datums = palloc(sizeof(Datum) * nskus);
	int64	   *missing = palloc(sizeof(int64) * nskus);
	Datum	   *chosen;
	pg_uuid_t  *last = NULL;
	bool		take = false;
	uint64		n;

	for (int i = 0; i < nskus; i++)
	{
		sku_datums[i] = CStringGetTextDatum(skus[i]);
		missing[i] = need[i];
	}
	values[0] = ids;
	values[1] = PointerGetDatum(construct_array(sku_datums, nskus, TEXTOID,
												-1, false, TYPALIGN_INT));
	n = inv_plan_exec(&hold_lines_plan, values, NULL, 0);
	chosen = palloc(sizeof(Datum) * Max(n, 1));
	*nchosen = 0;

	/* the rows come hold by hold, oldest expiry first */
	for (uint64 row = 0; row < n; row++)
	{
		bool		isnull;
		pg_uuid_t  *id = DatumGetUUIDP(inv_result(row, 1, &isnull));
		char	   *sku = TextDatumGetCString(inv_result(row, 2, &isnull));
		int64		qty = DatumGetInt64(inv_result(row, 3, &isnull));
		int			i;

		for (i = 0; i < nskus; i++)
			if (strcmp(skus[i], sku) == 0)
				break;
		if (i == nskus)
			continue;
		got[i] += qty;

		if (last == NULL || memcmp(last, id, sizeof(pg_uuid_t)) != 0)
		{
			/* a new hold: is it needed for any of its lines? */
			last = palloc(sizeof(pg_uuid_t));
			memcpy(last, id, sizeof(pg_uuid_t));
			take = false;
			for (uint64 r = row; r < n; r++)
			{
				char	   *s;

				if (memcmp(DatumGetUUIDP(inv_result(r, 1, &isnull)), last,
						   sizeof(pg_uuid_t)) != 0)
					break;
				s = TextDatumGetCString(inv_result(r, 2, &isnull));
				for (int j = 0; j < nskus; j++)
					if (strcmp(skus[j], s) == 0 && missing[j] > 0)
						take = true;
			}
			if (take)
				chosen[(*nchosen)++] = UUIDPGetDatum(last);
		}
		if (take)
			missing[i] -= qty;
	}

	*covered = true;
	for (int i = 0; i < nskus; i++)
		if (missing[i] > 0)
			*covered = false;
	return PointerGetDatum(construct_array(chosen, *nchosen, UUIDOID, UUID_LEN,
										   false, TYPALIGN_CHAR));
}

int64
holds_units(Datum ids, const char *sku)
{
	Datum		values[2];

	values[0] = ids;
	values[1] = CStringGetTextDatum(sku);
	inv_plan_exec(&holds_units_plan, values, NULL, 0);
	return inv_result_int8(0, 1);
}

/*
 * Lock one hold and read the clock: the call's "now" is taken once the
 * lock is held, so a wait for the lock cannot make an expired hold look
 * in force.  Returns the hold's state; *overdue tells whether it is past
 * its expiry, *created (unless NULL) gets when it was taken.  Raises IV003
 * when there is no such hold.
 */
static char *
lock_hold(pg_uuid_t *id, TimestampTz *now, bool *overdue, TimestampTz *created)
{
	Datum		value = UUIDPGetDatum(id);
	bool		isnull;

	if (inv_plan_exec(&lock_hold_plan, &value, NULL, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INV_RESERVATION_NOT_FOUND),
				 errmsg("reservation %s not found", inv_uuid_str(id))));
	*now = GetCurrentTimestamp();
	*overdue = DatumGetTimestampTz(inv_result(0, 2, &isnull)) <= *now;
	if (created != NULL)
		*created = DatumGetTimestampTz(inv_result(0, 3, &isnull));
	return TextDatumGetCString(inv_result(0, 1, &isnull));
}

static void
raise_expired(pg_uuid_t *id, const char *action)
{
	ereport(ERROR,
			(errcode(ERRCODE_INV_RESERVATION_EXPIRED),
			 errmsg("reservation %s has expired", inv_uuid_str(id)),
			 errdetail("A hold past its expiry cannot be %s; its units are back on sale.",
					   action),
			 errhint("Reserve again.")));
}

static void
raise_not_held(pg_uuid_t *id, const char *state, const char *action)
{
	ereport(ERROR,
			(errcode(ERRCODE_INV_RESERVATION_NOT_HELD),
			 errmsg("reservation %s is not held", inv_uuid_str(id)),
			 errdetail("It is %s, so it cannot be %s.", state, action)));
}

/*
 * inv_commit(reservation_id uuid, reference text) RETURNS boolean
 *
 * The payment went through: the units of the hold are sold.  false when
 * the hold was committed already (a retried call changes nothing).
 */
Datum
inv_commit(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = inv_arg_uuid(fcinfo, 0, "reservation_id");
	text	   *reference = inv_arg_text_or_null(fcinfo, 1);
	TimestampTz now;
	bool		overdue;
	char	   *state;
	bool		done = false;

	inv_require_writable(fcinfo);
	if (commit_one(id, reference))
		PG_RETURN_BOOL(true);
	inv_spi_connect();
	/* not in force: why? */
	state = lock_hold(id, &now, &overdue, NULL);
	if (strcmp(state, "committed") == 0)
		done = false;
	else if (strcmp(state, "released") == 0)
		raise_not_held(id, state, "committed");
	else if (strcmp(state, "expired") == 0 || overdue)
		raise_expired(id, "committed");
	else
	{
		holds_finish(inv_uuid_array1(id), 1, HOLD_COMMITTED, now, reference, NULL);
		done = true;
	}
	SPI_finish();
	PG_RETURN_BOOL(done);
}

/*
 * inv_release(reservation_id uuid, reason text) RETURNS boolean
 *
 * The payment failed or the buyer left: the units go back on sale.  false
 * when the hold was released or expired already; a hold past its expiry
 * that no sweep has reached yet is expired now, with its event.
 */
Datum
inv_release(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = inv_arg_uuid(fcinfo, 0, "reservation_id");
	text	   *reason = inv_arg_text_or_null(fcinfo, 1);
	TimestampTz now;
	bool		overdue;
	char	   *state;
	bool		done = false;

	inv_require_writable(fcinfo);
	inv_spi_connect();
	if (release_one(id, reason))
	{
		SPI_finish();
		PG_RETURN_BOOL(true);
	}
	/* not in force: why? */
	state = lock_hold(id, &now, &overdue, NULL);
	if (strcmp(state, "committed") == 0)
		raise_not_held(id, state, "released");
	else if (strcmp(state, "held") != 0)
		done = false;
	else if (overdue)
		holds_finish(inv_uuid_array1(id), 1, HOLD_EXPIRED, now, NULL, reason);
	else
	{
		holds_finish(inv_uuid_array1(id), 1, HOLD_RELEASED, now, NULL, reason);
		done = true;
	}
	SPI_finish();
	PG_RETURN_BOOL(done);
}

/*
 * inv_extend(reservation_id uuid, ttl interval) RETURNS timestamptz
 *
 * Give a hold in force a new expiry, now + ttl, at most
 * inventory.max_hold_lifetime after the hold was taken.  An expired hold
 * stays expired: its units may already be someone else's.
 */
Datum
inv_extend(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = inv_arg_uuid(fcinfo, 0, "reservation_id");
	Interval   *ttl;
	TimestampTz now;
	TimestampTz created;
	TimestampTz expires;
	Datum		values[2];
	bool		overdue;
	char	   *state;

	inv_require_writable(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ttl must not be null")));
	ttl = inv_arg_ttl(fcinfo, 1);

	inv_spi_connect();
	state = lock_hold(id, &now, &overdue, &created);
	expires = inv_expiry(ttl, now);
	if (strcmp(state, "committed") == 0 || strcmp(state, "released") == 0)
		raise_not_held(id, state, "extended");
	else if (strcmp(state, "expired") == 0 || overdue)
		raise_expired(id, "extended");
	/* however often it is extended, a hold ends within its lifetime */
	limits_check_lifetime(created, expires, id, NULL);

	values[0] = UUIDPGetDatum(id);
	values[1] = TimestampTzGetDatum(expires);
	inv_plan_exec(&extend_hold_plan, values, NULL, 0);
	expiry_floor_lower(expires);
	outbox_reservation_events(inv_uuid_array1(id), "reservation.extended", now);
	SPI_finish();
	PG_RETURN_TIMESTAMPTZ(expires);
}

int
holds_sweep(int32 max_holds)
{
	TimestampTz now = GetCurrentTimestamp();
	Datum		values[2];
	Datum		candidates;
	int			ncandidates;
	Datum		ids;
	int			nids;

	inv_spi_connect();
	values[0] = TimestampTzGetDatum(now);
	values[1] = Int32GetDatum(max_holds);
	inv_plan_exec(&overdue_batch_plan, values, NULL, 0);
	candidates = inv_result_array(1, UUIDOID, &ncandidates);
	ids = lock_overdue(candidates, ncandidates, empty_text_array(), now,
					   max_holds, &nids);
	holds_finish(ids, nids, HOLD_EXPIRED, now, NULL, NULL);
	SPI_finish();
	return nids;
}

/*
 * inv_sweep(max_holds int) RETURNS int
 *
 * Expire up to max_holds overdue holds, oldest first, skipping holds that
 * other sessions have locked or whose stock rows are busy: a later sweep
 * (or the reserve that needs the units) gets those.  Returns how many were
 * expired.  The sweeper does this on its own; this is for those who
 * schedule sweeps themselves.
 */
Datum
inv_sweep(PG_FUNCTION_ARGS)
{
	TimestampTz start = GetCurrentTimestamp();
	int32		max_holds;
	int			nids;

	inv_require_writable(fcinfo);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_holds must not be null")));
	max_holds = PG_GETARG_INT32(0);
	if (max_holds <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_holds must be positive"),
				 errdetail("max_holds is %d.", max_holds)));

	nids = holds_sweep(max_holds);
	/*
	 * The holds just expired still count for the floor: this transaction
	 * may yet roll back.  The next sweep moves the floor past them.
	 */
	expiry_floor_refresh();
	stats_sweep_done(start, GetCurrentTimestamp());
	PG_RETURN_INT32(nids);
}
