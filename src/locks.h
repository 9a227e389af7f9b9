/*-------------------------------------------------------------------------
 *
 * locks.h
 *	  The extension's own heavyweight locks, outside the applications'.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_LOCKS_H
#define INVENTORY_LOCKS_H

#include "storage/lockdefs.h"

/*
 * Advisory locktags whose fourth field is one of these.  The SQL advisory
 * lock functions only ever use 1 (a bigint key) or 2 (two integers), so no
 * pg_advisory_lock() of an application can take, or wait for, one of ours,
 * whatever keys it uses.  In pg_locks: locktype advisory, objsubid 18774
 * ("IV"), 18775, 18776 or 18777.
 */
#define INV_LOCKSPACE_IDEMPOTENCY	0x4956
#define INV_LOCKSPACE_HORIZON		0x4957
#define INV_LOCKSPACE_SALES			0x4958
#define INV_LOCKSPACE_OWNER			0x4959

/*
 * Serialize, until the end of the (sub)transaction, the calls that carry
 * this idempotency key.  The key's 64-bit hash names the lock: two keys
 * that share it merely queue.
 */
extern void inv_lock_idempotency_key(const char *key, int len);

/*
 * Serialize, until the end of the (sub)transaction, the reserves of one
 * owner that a per-owner limit applies to (limits.c), so that two of them
 * never both count the owner's holds before either has written its own.
 * Taken right after the idempotency key's lock and before any row lock;
 * like a key, named by the 64-bit hash of the owner.
 */
extern void inv_lock_owner(const char *owner, int len);

/*
 * The sales of a SKU, named by its 64-bit hash.  A commit takes it shared
 * (ShareLock) for each SKU it sells, before its event takes a seq; a
 * change of the SKU's count takes it exclusively (ExclusiveLock) before it
 * counts the units held.  So a count never takes for held the units of a
 * sale that is still under way, and a SKU's events stay in the order of
 * its changes, although a commit no longer locks the stock row.  Commits
 * never wait for each other.
 */
extern void inv_lock_sku_sales(const char *sku, int len, LOCKMODE mode);

/* Take the relay horizon's lock for this transaction if it is free. */
extern bool inv_try_lock_horizon(void);

#endif							/* INVENTORY_LOCKS_H */
