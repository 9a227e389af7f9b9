/*-------------------------------------------------------------------------
 *
 * relay.c
 *	  The outbox relay API: inv_outbox_subscribe, inv_outbox_unsubscribe,
 *	  inv_outbox_next and inv_outbox_ack.
 *
 * A relay (a process that publishes the events to Kafka, RabbitMQ, SQS, ...)
 * asks inv_outbox_next for the events after its position, publishes them,
 * and moves its position with inv_outbox_ack.  Delivery is at least once,
 * in seq order.
 *
 * The trap: seq is taken when an event is written, not when it commits.
 * A takes seq 10, B takes 11 and commits first, a relay reads 11 and
 * acknowledges it, A commits: 10 is never delivered.  Comparing each
 * writer's xid with a snapshot's xmin does not close it, because seq order
 * is not xid order (B may hold the older xid).  So inv_outbox_next hands
 * out events only up to a safe horizon H: every event with seq <= H was
 * written by a transaction that has ended, so it is visible to any later
 * snapshot, or will never exist.
 *
 * Advancing H (advance_horizon):
 *	1. a writer assigns its top-level xid before its event takes a seq
 *	   (outbox.c: outbox_prepare_write);
 *	2. we read L, the outbox sequence's last value, and only then B, the
 *	   next xid to be assigned.  Whoever holds a seq <= L had its xid before
 *	   taking the seq, so before we read B: its xid is older than B;
 *	3. we take a snapshot: when its xmin is not older than B, no
 *	   transaction older than B is running, so H may become L.  Under
 *	   constant load some writer is always running, so (L, B) is kept as
 *	   "pending" instead, and becomes H at a later call once every
 *	   transaction older than that B has ended: H then trails L by one
 *	   call.
 * Our own transaction counts as running: H never covers an event we wrote
 * and have not committed.  (A snapshot's xmin already counts our own xid;
 * ended_before() checks it anyway.)
 *
 * The state is the one row of inventory.outbox_horizon.  Its updates are
 * serialized by a transaction-level lock (locks.h), not by a row lock: a
 * row lock would give us an xid before we read B, and that xid, older
 * than B, would keep H from moving.  A call that finds the lock taken does
 * not wait: another relay is moving H, and the H last committed is safe
 * to use as it is.  So relays never queue on each other, and a relay that
 * holds a consumer's row lock cannot deadlock with one that holds this
 * lock.  The row is written only when it changes, so an idle relay does
 * not write.
 *
 * inv_outbox_next (and inv_outbox_subscribe when it creates a consumer)
 * needs READ COMMITTED: the events are read by a statement that starts
 * after H was settled, so with a snapshot that sees every event up to H.
 * Under REPEATABLE READ that snapshot would be the transaction's first,
 * older one, which can miss an event H covers; the relay would then
 * acknowledge past it.
 *
 * The argument needs every seq to come from this extension's writers (a
 * row inserted by hand takes its seq before its xid) and the sequence to
 * hand values out in time order: CACHE 1, checked at every call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "errors.h"
#include "inventory.h"
#include "locks.h"
#include "schema.h"
#include "spi_plans.h"

PG_FUNCTION_INFO_V1(inv_outbox_subscribe);
PG_FUNCTION_INFO_V1(inv_outbox_unsubscribe);
PG_FUNCTION_INFO_V1(inv_outbox_next);
PG_FUNCTION_INFO_V1(inv_outbox_ack);

/* most events one inv_outbox_next call returns */
#define RELAY_MAX_EVENTS 10000

typedef struct Horizon
{
	int64		safe_seq;		/* H */
	bool		pending;		/* a candidate is waiting */
	int64		pending_seq;	/* its L */
	FullTransactionId pending_xid;	/* its B */
} Horizon;

static InvPlan read_horizon_plan = {
	"SELECT safe_seq, pending_seq, pending_xid FROM inventory.outbox_horizon",
	0, {InvalidOid}
};

static InvPlan write_horizon_plan = {
	"UPDATE inventory.outbox_horizon"
	"   SET safe_seq = $1, pending_seq = $2, pending_xid = $3",
	3, {INT8OID, INT8OID, XID8OID}
};

/* L, and the settings the bound depends on */
static InvPlan last_seq_plan = {
	"SELECT coalesce(pg_sequence_last_value(s.seqrelid), 0), s.seqcache,"
	"       s.seqincrement > 0 AND NOT s.seqcycle"
	"  FROM pg_sequence s"
	" WHERE s.seqrelid = (SELECT tableoid FROM inventory.outbox_seq_seq)",
	0, {InvalidOid}
};

static InvPlan find_consumer_plan = {
	"SELECT acked_seq FROM inventory.outbox_consumer WHERE consumer = $1",
	1, {TEXTOID}
};

static InvPlan lock_consumer_plan = {
	"SELECT acked_seq FROM inventory.outbox_consumer WHERE consumer = $1"
	" FOR NO KEY UPDATE",
	1, {TEXTOID}
};

static InvPlan lock_consumers_plan = {
	"LOCK TABLE inventory.outbox_consumer IN ROW EXCLUSIVE MODE",
	0, {InvalidOid}
};

static InvPlan insert_consumer_plan = {
	"INSERT INTO inventory.outbox_consumer (consumer, acked_seq, subscribed_at)"
	" VALUES ($1, $2, $3)"
	" ON CONFLICT (consumer) DO NOTHING",
	3, {TEXTOID, INT8OID, TIMESTAMPTZOID}
};

static InvPlan delete_consumer_plan = {
	"DELETE FROM inventory.outbox_consumer WHERE consumer = $1",
	1, {TEXTOID}
};

static InvPlan ack_plan = {
	"UPDATE inventory.outbox_consumer SET acked_seq = $2, acked_at = $3"
	" WHERE consumer = $1",
	3, {TEXTOID, INT8OID, TIMESTAMPTZOID}
};

/* whole rows, so that they have the table's own row type */
static InvPlan events_plan = {
	"SELECT o FROM inventory.outbox o"
	" WHERE o.seq > $1 AND o.seq <= $2"
	" ORDER BY o.seq LIMIT $3",
	3, {INT8OID, INT8OID, INT8OID}
};

/* The consumer name in argument argno: 22004 when NULL, 22023 when empty. */
static text *
arg_consumer(FunctionCallInfo fcinfo, int argno)
{
	text	   *consumer;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("consumer must not be null")));
	consumer = PG_GETARG_TEXT_PP(argno);
	if (VARSIZE_ANY_EXHDR(consumer) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("consumer must not be empty")));
	return consumer;
}

static void
require_read_committed(const char *fname)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s requires the READ COMMITTED isolation level", fname),
				 errdetail("Under REPEATABLE READ or SERIALIZABLE the outbox would be read with the transaction's first snapshot, which can miss events the horizon covers."),
				 errhint("Call it in a READ COMMITTED transaction (the default), best in a transaction of its own.")));
}

/*
 * The position of consumer; IV009 when there is none.  With lock, its row
 * stays locked until the end of the transaction.
 */
static int64
consumer_position(text *consumer, bool lock)
{
	Datum		value = PointerGetDatum(consumer);

	if (inv_plan_exec(lock ? &lock_consumer_plan : &find_consumer_plan,
					  &value, NULL, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INV_UNKNOWN_CONSUMER),
				 errmsg("unknown outbox consumer \"%s\"", text_to_cstring(consumer)),
				 errhint("Create it with inv_outbox_subscribe().")));
	return inv_result_int8(0, 1);
}

static void
read_horizon(Horizon *h)
{
	bool		isnull;
	Datum		xid;

	if (inv_plan_exec(&read_horizon_plan, NULL, NULL, 0) != 1)
		elog(ERROR, "inventory: table outbox_horizon does not have exactly one row");
	h->safe_seq = inv_result_int8(0, 1);
	h->pending_seq = inv_result_int8(0, 2);
	xid = inv_result(0, 3, &isnull);
	h->pending = !isnull;
	h->pending_xid = isnull ? InvalidFullTransactionId : DatumGetFullTransactionId(xid);
}

static void
write_horizon(const Horizon *h)
{
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = Int64GetDatum(h->safe_seq);
	values[1] = Int64GetDatum(h->pending_seq);
	values[2] = FullTransactionIdGetDatum(h->pending_xid);
	if (!h->pending)
		nulls[1] = nulls[2] = 'n';
	inv_plan_exec(&write_horizon_plan, values, nulls, 0);
}

/* The full xid of xid, which lies within 2^31 of rel (as xid8funcs does). */
static FullTransactionId
widen_xid(TransactionId xid, FullTransactionId rel)
{
	return FullTransactionIdFromU64(U64FromFullTransactionId(rel) +
									(int32) (xid - XidFromFullTransactionId(rel)));
}

/*
 * Has every transaction with an xid older than xid ended?  xmin is the
 * (widened) xmin of a snapshot taken after xid was read.  A transaction of
 * ours older than xid has not ended, whatever the snapshot says.
 */
static bool
ended_before(FullTransactionId xid, FullTransactionId xmin)
{
	FullTransactionId mine = GetTopFullTransactionIdIfAny();

	if (FullTransactionIdPrecedes(xmin, xid))
		return false;
	return !FullTransactionIdIsValid(mine) ||
		FullTransactionIdFollowsOrEquals(mine, xid);
}

/*
 * Move the safe horizon as far as it can go now, and return it; when
 * another transaction is moving it, return the last committed one.
 */
static int64
advance_horizon(void)
{
	Horizon		old;
	Horizon		cur;
	int64		last;
	bool		isnull;
	FullTransactionId next_xid;
	FullTransactionId xmin;
	const char *seq_schema = quote_identifier(inv_schema_name());

	/* no xid is assigned to us by this */
	if (!inv_try_lock_horizon())
	{
		read_horizon(&old);
		return old.safe_seq;
	}

	/* a statement after the lock: it sees the previous holder's update */
	read_horizon(&old);

	/* L first, then B: that order is the argument */
	if (inv_plan_exec(&last_seq_plan, NULL, NULL, 0) != 1)
		elog(ERROR, "inventory: sequence outbox_seq_seq not found");
	last = inv_result_int8(0, 1);
	if (inv_result_int8(0, 2) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence %s.outbox_seq_seq must have CACHE 1", seq_schema),
				 errdetail("With cached values a backend can take a seq after the relay has read the sequence, and the relay could skip its event."),
				 errhint("ALTER SEQUENCE %s.outbox_seq_seq CACHE 1", seq_schema)));
	/* seqs only go up: one at or below H again would be skipped */
	if (!DatumGetBool(inv_result(0, 3, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence %s.outbox_seq_seq must have a positive INCREMENT and NO CYCLE", seq_schema),
				 errdetail("The relay hands out events up to a seq; a seq that came again below it would be skipped."),
				 errhint("ALTER SEQUENCE %s.outbox_seq_seq INCREMENT 1 NO CYCLE", seq_schema)));
	if (last < old.safe_seq || (old.pending && last < old.pending_seq))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence %s.outbox_seq_seq went back below the outbox horizon", seq_schema),
				 errdetail("Its last value is " INT64_FORMAT "; events up to seq " INT64_FORMAT " have been handed out, and new events would be skipped.",
						   last, Max(old.safe_seq, old.pending ? old.pending_seq : 0)),
				 errhint("Move it forward with setval() past that seq.")));
	next_xid = ReadNextFullTransactionId();
	xmin = widen_xid(GetLatestSnapshot()->xmin, next_xid);

	cur = old;
	if (ended_before(next_xid, xmin))
	{
		cur.safe_seq = Max(old.safe_seq, last);
		cur.pending = false;
	}
	else
	{
		if (old.pending && ended_before(old.pending_xid, xmin))
		{
			cur.safe_seq = Max(old.safe_seq, old.pending_seq);
			cur.pending = false;
		}
		/* a waiting candidate stays: replacing it could starve H */
		if (!cur.pending && last > cur.safe_seq)
		{
			cur.pending = true;
			cur.pending_seq = last;
			cur.pending_xid = next_xid;
		}
	}
	if (!cur.pending)
	{
		cur.pending_seq = 0;
		cur.pending_xid = InvalidFullTransactionId;
	}

	if (cur.safe_seq != old.safe_seq || cur.pending != old.pending ||
		(cur.pending &&
		 (cur.pending_seq != old.pending_seq ||
		  !FullTransactionIdEquals(cur.pending_xid, old.pending_xid))))
		write_horizon(&cur);
	return cur.safe_seq;
}

/*
 * inv_outbox_subscribe(consumer text, start_after bigint) RETURNS bigint
 *
 * Create the consumer at position start_after (NULL: the safe horizon, so
 * only events from now on; 0: everything still in the outbox).  A
 * consumer that exists keeps its position; the call returns it.
 */
Datum
inv_outbox_subscribe(PG_FUNCTION_ARGS)
{
	text	   *consumer = arg_consumer(fcinfo, 0);
	bool		at_horizon = PG_ARGISNULL(1);
	int64		start = at_horizon ? 0 : PG_GETARG_INT64(1);
	Datum		values[3];
	int64		horizon;

	inv_require_writable(fcinfo);
	if (start < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("start_after must not be negative"),
				 errdetail("start_after is " INT64_FORMAT ".", start)));

	inv_spi_connect();
	values[0] = PointerGetDatum(consumer);
	if (inv_plan_exec(&find_consumer_plan, values, NULL, 0) == 1)
	{
		start = inv_result_int8(0, 1);
		SPI_finish();
		PG_RETURN_INT64(start);
	}

	require_read_committed("inv_outbox_subscribe");
	/*
	 * Before H is read: a purge of events (retention.c, SHARE) waits for us
	 * or we for it, so it never deletes events below the position we take.
	 */
	inv_plan_exec(&lock_consumers_plan, NULL, NULL, 0);
	horizon = advance_horizon();
	if (at_horizon)
		start = horizon;
	else if (start > horizon)
		ereport(ERROR,
				(errcode(ERRCODE_INV_BEYOND_HORIZON),
				 errmsg("cannot start outbox consumer \"%s\" beyond the outbox horizon",
						text_to_cstring(consumer)),
				 errdetail("start_after is " INT64_FORMAT "; events are handed out up to seq " INT64_FORMAT ".",
						   start, horizon),
				 errhint("Leave start_after NULL to start at the horizon.")));

	values[1] = Int64GetDatum(start);
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	if (inv_plan_exec(&insert_consumer_plan, values, NULL, 0) == 0)
	{
		/* a concurrent subscribe created it first: its position stands */
		if (inv_plan_exec(&find_consumer_plan, values, NULL, 0) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not subscribe outbox consumer \"%s\" due to a concurrent change",
							text_to_cstring(consumer)),
					 errhint("Retry the call.")));
		start = inv_result_int8(0, 1);
	}
	SPI_finish();
	PG_RETURN_INT64(start);
}

/* inv_outbox_unsubscribe(consumer text) RETURNS boolean */
Datum
inv_outbox_unsubscribe(PG_FUNCTION_ARGS)
{
	Datum		value = PointerGetDatum(arg_consumer(fcinfo, 0));
	uint64		n;

	inv_require_writable(fcinfo);
	inv_spi_connect();
	n = inv_plan_exec(&delete_consumer_plan, &value, NULL, 0);
	SPI_finish();
	PG_RETURN_BOOL(n > 0);
}

/*
 * inv_outbox_next(consumer text, max_events int) RETURNS SETOF inventory.outbox
 *
 * Up to max_events events after the consumer's position, in seq order,
 * none beyond the safe horizon.  The position does not move: that is
 * inv_outbox_ack's job, once the events are published.
 */
Datum
inv_outbox_next(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *consumer = arg_consumer(fcinfo, 0);
	int32		max_events;
	int64		acked;
	int64		horizon;

	inv_require_writable(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_events must not be null")));
	max_events = PG_GETARG_INT32(1);
	if (max_events < 1 || max_events > RELAY_MAX_EVENTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_events must be between 1 and %d", RELAY_MAX_EVENTS),
				 errdetail("max_events is %d.", max_events)));
	require_read_committed("inv_outbox_next");

	InitMaterializedSRF(fcinfo, 0);
	inv_spi_connect();
	acked = consumer_position(consumer, false);
	horizon = advance_horizon();
	if (acked < horizon)
	{
		Datum		values[3];
		uint64		n;

		values[0] = Int64GetDatum(acked);
		values[1] = Int64GetDatum(horizon);
		values[2] = Int64GetDatum(max_events);
		/* a new statement, so a snapshot taken after the horizon was settled */
		n = inv_plan_exec(&events_plan, values, NULL, 0);
		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;
			HeapTupleHeader row = DatumGetHeapTupleHeader(inv_result(i, 1, &isnull));
			HeapTupleData tuple;

			tuple.t_len = HeapTupleHeaderGetDatumLength(row);
			ItemPointerSetInvalid(&tuple.t_self);
			tuple.t_tableOid = InvalidOid;
			tuple.t_data = row;
			/* copied: the tuplestore outlives SPI */
			tuplestore_puttuple(rsinfo->setResult, &tuple);
		}
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * inv_outbox_ack(consumer text, upto_seq bigint) RETURNS bigint
 *
 * The consumer has published every event up to upto_seq: move its position
 * there, and return the position.  A position is never moved back, so a
 * retried or late acknowledgement changes nothing; one beyond the safe
 * horizon (events not handed out yet) is refused with IV010.  The row lock
 * makes two relays of the same name take turns.
 */
Datum
inv_outbox_ack(PG_FUNCTION_ARGS)
{
	text	   *consumer = arg_consumer(fcinfo, 0);
	int64		upto = inv_arg_int8(fcinfo, 1, "upto_seq");
	int64		acked;

	inv_require_writable(fcinfo);
	if (upto < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("upto_seq must not be negative"),
				 errdetail("upto_seq is " INT64_FORMAT ".", upto)));

	inv_spi_connect();
	acked = consumer_position(consumer, true);
	if (upto > acked)
	{
		Horizon		h;
		Datum		values[3];

		read_horizon(&h);
		if (upto > h.safe_seq)
			ereport(ERROR,
					(errcode(ERRCODE_INV_BEYOND_HORIZON),
					 errmsg("cannot acknowledge events beyond the outbox horizon"),
					 errdetail("upto_seq is " INT64_FORMAT "; events are handed out up to seq " INT64_FORMAT ".",
							   upto, h.safe_seq),
					 errhint("Acknowledge only events inv_outbox_next() returned.")));
		values[0] = PointerGetDatum(consumer);
		values[1] = Int64GetDatum(upto);
		values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
		inv_plan_exec(&ack_plan, values, NULL, 0);
		acked = upto;
	}
	SPI_finish();
	PG_RETURN_INT64(acked);
}
