/*-------------------------------------------------------------------------
 *
 * outbox.h
 *	  Events written to inventory.outbox in the caller's transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_OUTBOX_H
#define INVENTORY_OUTBOX_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#include "rows.h"

/*
 * Before a statement of the caller's own writes an event: assigns the
 * transaction id before the event takes its seq (relay.c), and has a
 * NOTIFY follow the commit.  The functions below call it themselves.
 */
extern void outbox_will_write(void);

/*
 * The payload of every reservation event, as SQL, so that each statement
 * that writes one (here, and the one-statement paths of reserve.c and
 * holds.c, which make it from the values in hand) writes the same keys.
 * The event's envelope already says which hold (aggregateid), what
 * happened (type) and when (occurred_at): the payload carries the rest,
 * the lines always, expires_at while the hold is in force, owner,
 * reference and reason when they are set, and no key whose value is null.
 * Each argument is an SQL expression given as a string literal; lines is
 * a jsonb array as INV_PAYLOAD_LINES_AGG makes it from rows aliased l.
 */
#define INV_RESERVATION_PAYLOAD(lines, expires_at, owner, reference, reason) \
	"jsonb_strip_nulls(jsonb_build_object('lines', " lines "," \
	" 'expires_at', " expires_at ", 'owner', " owner "," \
	" 'reference', " reference ", 'reason', " reason "))"
/* the same for a hold just taken: it has no reference nor reason yet */
#define INV_HELD_PAYLOAD(lines, expires_at, owner) \
	"CASE WHEN " owner " IS NULL" \
	" THEN jsonb_build_object('lines', " lines ", 'expires_at', " expires_at ")" \
	" ELSE jsonb_build_object('lines', " lines ", 'expires_at', " expires_at "," \
	" 'owner', " owner ") END"
#define INV_PAYLOAD_LINES_AGG \
	"jsonb_agg(jsonb_build_object('sku', l.sku, 'qty', l.qty) ORDER BY l.sku COLLATE \"C\")"

/*
 * The same payload made in C from the values in hand (INV_RESERVATION_PAYLOAD
 * is its SQL twin): skus (text[]) and qtys (bigint[]) are the hold's lines
 * in byte order of SKU; expires_at is left out when has_expiry is false,
 * owner, reference and reason when NULL.
 */
extern Jsonb *outbox_reservation_payload(Datum skus, Datum qtys,
										 bool has_expiry, TimestampTz expires_at,
										 text *owner, text *reference,
										 text *reason);

/*
 * Insert an event into table i of rows (inventory.outbox, opened by the
 * caller with inv_rows_begin), with its id and seq drawn as the table's
 * defaults would; calls outbox_will_write() first.
 */
extern void outbox_insert_event(InvRows *rows, int i, TimestampTz at,
								const char *aggregatetype,
								const char *aggregateid, const char *type,
								Jsonb *payload);

/* One event of type "type" per reservation in ids (a uuid[]). */
extern void outbox_reservation_events(Datum ids, const char *type, TimestampTz at);

/*
 * A stock.adjusted event: sku now has on_hand units, of which reserved are
 * held, after a change of delta; reason is left out of the payload when
 * NULL.  The caller holds the SKU's row and sales
 * locks (stock.c), so those are its numbers as of this event.
 */
extern void outbox_stock_event(const char *sku, int64 on_hand, int64 reserved,
							   int64 delta, text *reason, TimestampTz at);

#endif							/* INVENTORY_OUTBOX_H */
