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

/*
 * Before a statement of the caller's own writes an event: assigns the
 * transaction id before the event takes its seq (relay.c), and has a
 * NOTIFY follow the commit.  The functions below call it themselves.
 */
extern void outbox_will_write(void);

/* One event of type "type" per reservation in ids (a uuid[]). */
extern void outbox_reservation_events(Datum ids, const char *type, TimestampTz at);

/* A stock.adjusted event describing the stock row of sku as it is now. */
extern void outbox_stock_event(const char *sku, int64 delta, text *reason,
							   TimestampTz at);

#endif							/* INVENTORY_OUTBOX_H */
