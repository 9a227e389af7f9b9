/*-------------------------------------------------------------------------
 *
 * holds.h
 *	  The end of a hold: committed, released or expired.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_HOLDS_H
#define INVENTORY_HOLDS_H

#include "datatype/timestamp.h"

typedef enum HoldEnd
{
	HOLD_COMMITTED,				/* units sold: on_hand and reserved drop */
	HOLD_RELEASED,				/* units back on sale: reserved drops */
	HOLD_EXPIRED				/* likewise, because the ttl ran out */
} HoldEnd;

/*
 * Finish the holds in ids (a uuid[] of held reservations the caller has
 * locked): stock rows are locked in SKU order, updated, the holds get
 * their final state and each one its event.
 */
extern void holds_finish(Datum ids, int nids, HoldEnd end, TimestampTz now,
						 text *reference, text *reason);

/* Units of sku in holds that are still "held" but past their expiry. */
extern int64 holds_overdue_qty(const char *sku, TimestampTz now);

/*
 * Expire, on the spot, the overdue holds with a line in one of skus (text[]).
 * The caller holds the stock locks of the SKUs in locked (text[]); holds
 * that need another stock row that is busy, or that another session has
 * locked, are left to the sweep.  Never waits for a lock, so it cannot
 * deadlock.  Returns the number of holds expired.
 */
extern int	holds_reclaim(Datum skus, Datum locked, TimestampTz now);

#endif							/* INVENTORY_HOLDS_H */
