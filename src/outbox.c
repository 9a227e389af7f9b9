/*-------------------------------------------------------------------------
 *
 * outbox.c
 *	  The transactional outbox: every state change writes its event in the
 *	  same transaction, so a relay publishes exactly what committed.
 *
 * Rows follow Debezium's outbox-router defaults (aggregatetype,
 * aggregateid, type, payload).  Payloads are built by the server from the
 * rows as they stand after the change, so they can never disagree with
 * the tables, and hold only what the envelope does not already say
 * (outbox.h): events are most of what a checkout writes to the WAL.
 *
 * Every event insert is preceded by outbox_will_write(): the relay
 * (relay.c) relies on a writer having its transaction id before its event
 * takes a seq, and relays that LISTEN get a NOTIFY after the commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "notify.h"
#include "outbox.h"
#include "spi_plans.h"

static InvPlan reservation_event_plan = {
	"INSERT INTO inventory.outbox (occurred_at, aggregatetype, aggregateid, type, payload)"
	" SELECT $3, 'reservation', r.id::text, $2, "
	INV_RESERVATION_PAYLOAD("(SELECT " INV_PAYLOAD_LINES_AGG
							" FROM unnest(r.skus, r.qtys) AS l(sku, qty))",
							"CASE WHEN r.state = 'held' THEN r.expires_at END",
							"r.owner", "r.reference", "r.reason")
	"   FROM inventory.reservation r"
	"  WHERE r.id = ANY ($1)"
	"  ORDER BY r.id",
	3, {UUIDARRAYOID, TEXTOID, TIMESTAMPTZOID}
};

static InvPlan stock_event_plan = {
	"INSERT INTO inventory.outbox (occurred_at, aggregatetype, aggregateid, type, payload)"
	" SELECT $2, 'stock', s.sku, 'stock.adjusted',"
	"   jsonb_strip_nulls(jsonb_build_object('delta', $3::bigint, 'on_hand', $5::bigint,"
	"     'reserved', $6::bigint, 'version', s.version, 'reason', $4::text))"
	"   FROM inventory.stock s"
	"  WHERE s.sku = $1",
	6, {TEXTOID, TIMESTAMPTZOID, INT8OID, TEXTOID, INT8OID, INT8OID}
};

/*
 * Called before each event insert, before its seq is taken.
 *
 * The top-level transaction id is assigned here, so that whoever holds a
 * seq <= L had its xid before L was read from the sequence: once the
 * relay has seen every transaction older than the next xid at that moment
 * end, every event up to L is committed or gone for good (relay.c).
 * Without this the xid would come only with the row, after nextval.
 */
void
outbox_will_write(void)
{
	(void) GetTopTransactionId();
	/* and a NOTIFY inventory_outbox follows the commit (notify.c) */
	inv_notify_outbox_written();
}

void
outbox_reservation_events(Datum ids, const char *type, TimestampTz at)
{
	Datum		values[3];

	outbox_will_write();
	values[0] = ids;
	values[1] = CStringGetTextDatum(type);
	values[2] = TimestampTzGetDatum(at);
	inv_plan_exec(&reservation_event_plan, values, NULL, 0);
}

void
outbox_stock_event(const char *sku, int64 on_hand, int64 reserved, int64 delta,
				   text *reason, TimestampTz at)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(sku);
	values[1] = TimestampTzGetDatum(at);
	values[2] = Int64GetDatum(delta);
	values[3] = reason ? PointerGetDatum(reason) : (Datum) 0;
	if (reason == NULL)
		nulls[3] = 'n';
	values[4] = Int64GetDatum(on_hand);
	values[5] = Int64GetDatum(reserved);
	outbox_will_write();
	if (inv_plan_exec(&stock_event_plan, values, nulls, 0) != 1)
		elog(ERROR, "inventory: no stock row for event of SKU \"%s\"", sku);
}
