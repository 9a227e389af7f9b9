/*-------------------------------------------------------------------------
 *
 * errors.h
 *	  The SQLSTATEs of the inventory extension, in one place.
 *
 * Class "IV" is ours.  A program branches on these codes, so they never
 * change meaning; README.md documents each one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_ERRORS_H
#define INVENTORY_ERRORS_H

#include "utils/elog.h"

/* not enough unreserved units of a SKU */
#define ERRCODE_INV_INSUFFICIENT_STOCK		MAKE_SQLSTATE('I','V','0','0','1')
/* the SKU was never created with inv_set_stock() */
#define ERRCODE_INV_UNKNOWN_SKU				MAKE_SQLSTATE('I','V','0','0','2')
/* no reservation has that id */
#define ERRCODE_INV_RESERVATION_NOT_FOUND	MAKE_SQLSTATE('I','V','0','0','3')
/* the hold is past its expiry, swept or not */
#define ERRCODE_INV_RESERVATION_EXPIRED		MAKE_SQLSTATE('I','V','0','0','4')
/* the hold was committed or released already */
#define ERRCODE_INV_RESERVATION_NOT_HELD	MAKE_SQLSTATE('I','V','0','0','5')
/* an idempotency key came back with a different request */
#define ERRCODE_INV_IDEMPOTENCY_KEY_REUSED	MAKE_SQLSTATE('I','V','0','0','6')
/* a ttl or a cart above the configured limits */
#define ERRCODE_INV_LIMIT_EXCEEDED			MAKE_SQLSTATE('I','V','0','0','7')
/* a compare-and-set found the stock row at another version */
#define ERRCODE_INV_VERSION_CONFLICT		MAKE_SQLSTATE('I','V','0','0','8')
/* no outbox consumer has that name (inv_outbox_subscribe creates one) */
#define ERRCODE_INV_UNKNOWN_CONSUMER		MAKE_SQLSTATE('I','V','0','0','9')
/* a position past the outbox's safe horizon: events there are not handed out yet */
#define ERRCODE_INV_BEYOND_HORIZON			MAKE_SQLSTATE('I','V','0','1','0')

#endif							/* INVENTORY_ERRORS_H */
