/*-------------------------------------------------------------------------
 *
 * locks.c
 *	  The extension's own heavyweight locks: advisory locktags in a space
 *	  of their own (locks.h), taken as pg_advisory_xact_lock() takes its
 *	  own, so they go with the transaction or the subtransaction that took
 *	  them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"

#include "locks.h"

void
inv_lock_idempotency_key(const char *key, int len)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) key, len, 0);
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (hash >> 32), (uint32) hash,
						 INV_LOCKSPACE_IDEMPOTENCY);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

bool
inv_try_lock_horizon(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 1, INV_LOCKSPACE_HORIZON);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}
