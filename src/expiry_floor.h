/*-------------------------------------------------------------------------
 *
 * expiry_floor.h
 *	  A bound below which no hold in force expires, kept in shared memory,
 *	  so that the lock-free refusal reads only the overdue holds that can
 *	  still be held.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_EXPIRY_FLOOR_H
#define INVENTORY_EXPIRY_FLOOR_H

#include "datatype/timestamp.h"

/*
 * This database's floor: no hold in state 'held', committed or not yet,
 * expires before it.  A reader that looks for overdue holds in a snapshot
 * calls expiry_floor_before() before it takes the snapshot and
 * expiry_floor_after() once it has it; the latter gives the bound to read
 * from: DT_NOBEGIN when it is not known (no shared memory, no sweep yet
 * since the server started, or a sweep raised the floor in between).
 */
typedef struct ExpiryFloorRead
{
	struct InvDbSlot *slot;		/* the slot read; NULL: none */
	TimestampTz floor;
	uint64		raises;
} ExpiryFloorRead;

extern ExpiryFloorRead expiry_floor_before(void);
extern TimestampTz expiry_floor_after(ExpiryFloorRead before);

/*
 * A version of a hold in state 'held' that expires at expires was just
 * written, its index entries too: lower the floor to it.  Every writer of
 * such a version calls this before its transaction commits.
 */
extern void expiry_floor_lower(TimestampTz expires);

/* Recompute the floor from the index of held holds (by every sweep). */
extern void expiry_floor_refresh(void);

#endif							/* INVENTORY_EXPIRY_FLOOR_H */
