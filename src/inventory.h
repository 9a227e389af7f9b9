/*-------------------------------------------------------------------------
 *
 * inventory.h
 *	  Settings, argument checks and helpers shared by the inventory modules.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_H
#define INVENTORY_H

#include "fmgr.h"
#include "datatype/timestamp.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* GUCs, defined in inventory.c */
extern int	inv_default_ttl;	/* seconds */
extern int	inv_max_ttl;		/* seconds */
extern int	inv_max_cart_lines;

/*
 * The longest SKU, idempotency key and owner, in bytes: all are btree keys
 * (an owner since 0.4.0, for the limits per owner), and a longer one would
 * fail deep in an index insert ("index row size").
 */
#define INV_MAX_SKU_BYTES	256
#define INV_MAX_KEY_BYTES	256
#define INV_MAX_OWNER_BYTES	256

/*
 * Argument checks: each raises 22004 for a NULL, 22001 for a SKU or key
 * longer than allowed and 22023 for another bad value, naming the
 * argument, before anything is read or written.
 */
extern void inv_require_writable(FunctionCallInfo fcinfo);
extern char *inv_arg_sku(FunctionCallInfo fcinfo, int argno, const char *argname);
extern int64 inv_arg_int8(FunctionCallInfo fcinfo, int argno, const char *argname);
extern pg_uuid_t *inv_arg_uuid(FunctionCallInfo fcinfo, int argno, const char *argname);
extern void inv_check_sku(const char *sku, int len, const char *argname);
extern text *inv_arg_text_or_null(FunctionCallInfo fcinfo, int argno);
extern text *inv_arg_key(FunctionCallInfo fcinfo, int argno, const char *argname);
extern text *inv_arg_owner(FunctionCallInfo fcinfo, int argno);
extern Interval *inv_arg_ttl(FunctionCallInfo fcinfo, int argno);
extern TimestampTz inv_expiry(Interval *ttl, TimestampTz now);

extern char *inv_uuid_str(const pg_uuid_t *id);
/* a new random (version 4) uuid, as gen_random_uuid() makes it */
extern void inv_random_uuid(pg_uuid_t *id);
extern Datum inv_uuid_array1(pg_uuid_t *id);

/* Milliseconds from "from" until "to", rounded up; 0 once it has passed */
static inline long
inv_ms_until(TimestampTz from, TimestampTz to)
{
	return to <= from ? 0 : (long) ((to - from + 999) / 1000);
}

#endif							/* INVENTORY_H */
