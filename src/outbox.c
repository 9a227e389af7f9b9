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
#include "catalog/dependency.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "inventory.h"
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

static void
push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &v);
}

static void
push_string(JsonbParseState **state, const char *key, const char *val, int len)
{
	JsonbValue	v;

	push_key(state, key);
	v.type = jbvString;
	v.val.string.val = (char *) val;
	v.val.string.len = len;
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
push_text(JsonbParseState **state, const char *key, text *val)
{
	if (val != NULL)
		push_string(state, key, VARDATA_ANY(val), VARSIZE_ANY_EXHDR(val));
}

Jsonb *
outbox_reservation_payload(Datum skus, Datum qtys, bool has_expiry,
						   TimestampTz expires_at, text *owner,
						   text *reference, text *reason)
{
	JsonbParseState *state = NULL;
	Datum	   *sku;
	Datum	   *qty;
	bool	   *sku_null;
	bool	   *qty_null;
	int			nsku;
	int			nqty;
	JsonbValue *result;

	deconstruct_array(DatumGetArrayTypeP(skus), TEXTOID, -1, false,
					  TYPALIGN_INT, &sku, &sku_null, &nsku);
	deconstruct_array(DatumGetArrayTypeP(qtys), INT8OID, sizeof(int64),
					  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &qty, &qty_null, &nqty);
	if (nsku != nqty)
		elog(ERROR, "inventory: a hold has %d SKUs and %d quantities", nsku, nqty);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	push_key(&state, "lines");
	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < nsku; i++)
	{
		JsonbValue	v;

		if (sku_null[i] || qty_null[i])
			elog(ERROR, "inventory: a hold has a line without SKU or quantity");
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		push_text(&state, "sku", DatumGetTextPP(sku[i]));
		push_key(&state, "qty");
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(DatumGetInt64(qty[i]));
		pushJsonbValue(&state, WJB_VALUE, &v);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	if (has_expiry)
	{
		char		buf[MAXDATELEN + 1];

		/* as jsonb_build_object writes a timestamptz */
		JsonEncodeDateTime(buf, TimestampTzGetDatum(expires_at), TIMESTAMPTZOID, NULL);
		push_string(&state, "expires_at", buf, strlen(buf));
	}
	push_text(&state, "owner", owner);
	push_text(&state, "reference", reference);
	push_text(&state, "reason", reason);
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

/*
 * The sequence of outbox.seq, remembered for the table it was looked up
 * for: a new outbox (DROP and CREATE EXTENSION) is looked up again.
 */
static Oid	seq_table_relid = InvalidOid;
static Oid	seq_relid = InvalidOid;

void
outbox_insert_event(InvRows *rows, int i, TimestampTz at,
					const char *aggregatetype, const char *aggregateid,
					const char *type, Jsonb *payload)
{
	Relation	rel = inv_rows_rel(rows, i);
	TupleTableSlot *ev = inv_rows_new_slot(rows, i);
	AttrNumber	id_att = inv_rows_attnum(rows, i, "id");
	AttrNumber	seq_att = inv_rows_attnum(rows, i, "seq");
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

	if (seq_table_relid != RelationGetRelid(rel))
	{
		seq_relid = getIdentitySequence(RelationGetRelid(rel), seq_att, false);
		seq_table_relid = RelationGetRelid(rel);
	}

	inv_random_uuid(id);

	outbox_will_write();
	inv_rows_put(ev, id_att, UUIDPGetDatum(id));
	inv_rows_put(ev, seq_att, Int64GetDatum(nextval_internal(seq_relid, false)));
	inv_rows_put(ev, inv_rows_attnum(rows, i, "occurred_at"), TimestampTzGetDatum(at));
	inv_rows_put(ev, inv_rows_attnum(rows, i, "aggregatetype"), CStringGetTextDatum(aggregatetype));
	inv_rows_put(ev, inv_rows_attnum(rows, i, "aggregateid"), CStringGetTextDatum(aggregateid));
	inv_rows_put(ev, inv_rows_attnum(rows, i, "type"), CStringGetTextDatum(type));
	inv_rows_put(ev, inv_rows_attnum(rows, i, "payload"), JsonbPGetDatum(payload));
	inv_rows_insert(rows, i, ev);
}
