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

/*
 * Lock, without waiting, the overdue holds with a line of one of skus
 * (text[]) that this call can expire: the caller holds the stock rows of
 * the SKUs in locked (text[]); other rows they need are taken if free.
 * At most max_holds of them (0: all), oldest expiry first.  Returns their
 * ids (uuid[]) and count; holds_finish(HOLD_EXPIRED) then gives their
 * units back.  Busy holds and rows are left to the sweep.
 */
extern Datum holds_lock_overdue(Datum skus, Datum locked, TimestampTz now,
								int32 max_holds, int *nids);

/*
 * Of the holds ids (uuid[], locked by the caller), the fewest, oldest
 * expiry first, that cover what nskus SKUs lack: each is taken only while
 * a SKU it has a line of still lacks units.  need[i] is what skus[i]
 * lacks; got[i] gets the units of skus[i] in all the holds, chosen or not.
 * Returns the chosen ids (uuid[]) and their count, and whether they cover
 * every need.
 */
extern Datum holds_covering(Datum ids, int nskus, char *const *skus,
							const int64 *need, int64 *got, int *nchosen,
							bool *covered);

/*
 * Expire up to max_holds overdue holds without waiting for any lock, in
 * the current transaction; returns how many.
 */
extern int	holds_sweep(int32 max_holds);

/* Units of sku in the holds ids (uuid[]). */
extern int64 holds_units(Datum ids, const char *sku);

#endif							/* INVENTORY_HOLDS_H */
