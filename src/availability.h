/*-------------------------------------------------------------------------
 *
 * availability.h
 *	  Reading a cart's free units in the snapshot, without a lock.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_AVAILABILITY_H
#define INVENTORY_AVAILABILITY_H

#include "datatype/timestamp.h"
#include "utils/snapshot.h"

#include "cart.h"

typedef enum AvailabilityVerdict
{
	AVAILABILITY_UNDECIDED,		/* only the row locks can tell */
	AVAILABILITY_FITS,			/* every line fits in the snapshot */
	AVAILABILITY_RECLAIM,		/* a line is short, but overdue holds may free units */
	AVAILABILITY_UNKNOWN_SKU,	/* a SKU of the cart does not exist */
	AVAILABILITY_SHORT			/* a line does not fit, and nothing can free units */
} AvailabilityVerdict;

/*
 * Read the cart's stock rows in the active snapshot; avail[i] gets line i's
 * free units (on_hand - reserved), -1 for an unknown SKU.  UNKNOWN_SKU and
 * SHORT are refusals that hold at the snapshot's moment; FITS and RECLAIM
 * are hints only: the row locks decide.
 */
extern AvailabilityVerdict availability_peek(const InvCart *cart, TimestampTz now,
											 int64 *avail);

/*
 * The verdict on a cart whose free units avail[i] (-1: unknown SKU) were
 * read in snap, a snapshot of this moment (never a transaction's snapshot
 * under REPEATABLE READ or SERIALIZABLE: such a reader decides under the
 * row locks instead).  The overdue holds that could free units are looked
 * for in snap at now, from floor on (expiry_floor_after() of a read
 * begun before snap was taken: expiry_floor.h).
 */
extern AvailabilityVerdict availability_judge(const InvCart *cart, const int64 *avail,
											  Snapshot snap, TimestampTz now,
											  TimestampTz floor);

#endif							/* INVENTORY_AVAILABILITY_H */
