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
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"

#include "locks.h"

PG_FUNCTION_INFO_V1(inv_lock_sales);

/* Lock key (len bytes), by its 64-bit hash, in space of ours, for this (sub)transaction. */
static void
lock_hashed(const char *key, int len, uint16 space, LOCKMODE mode)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) key, len, 0);
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (hash >> 32), (uint32) hash, space);
	(void) LockAcquire(&tag, mode, false, false);
}

void
inv_lock_idempotency_key(const char *key, int len)
{
	lock_hashed(key, len, INV_LOCKSPACE_IDEMPOTENCY, ExclusiveLock);
}

void
inv_lock_owner(const char *owner, int len)
{
	lock_hashed(owner, len, INV_LOCKSPACE_OWNER, ExclusiveLock);
}

void
inv_lock_sku_sales(const char *sku, int len, LOCKMODE mode)
{
	lock_hashed(sku, len, INV_LOCKSPACE_SALES, mode);
}

/*
 * inventory.lock_sales(skus text[]) RETURNS boolean
 *
 * The shared sales lock of each SKU of a hold being committed, for the
 * commit's statement (holds.c): true, once they are all held.
 */
Datum
inv_lock_sales(PG_FUNCTION_ARGS)
{
	ArrayType  *skus = PG_GETARG_ARRAYTYPE_P(0);
	ArrayIterator it = array_create_iterator(skus, 0, NULL);
	Datum		sku;
	bool		isnull;

	while (array_iterate(it, &sku, &isnull))
	{
		text	   *t;

		if (isnull)
			continue;
		t = DatumGetTextPP(sku);
		inv_lock_sku_sales(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), ShareLock);
	}
	array_free_iterator(it);
	PG_RETURN_BOOL(true);
}

bool
inv_try_lock_horizon(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 1, INV_LOCKSPACE_HORIZON);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}
