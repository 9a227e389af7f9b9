/*-------------------------------------------------------------------------
 *
 * limits.h
 *	  Limits against hoarding: per owner (units of a SKU, holds in force)
 *	  and per hold (its whole lifetime, extensions included).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_LIMITS_H
#define INVENTORY_LIMITS_H

#include "datatype/timestamp.h"
#include "utils/uuid.h"

#include "cart.h"

/* GUCs (registered in inventory.c); 0 turns each off */
extern int	inv_max_units_per_owner;
extern int	inv_owner_window;	/* seconds */
extern int	inv_max_holds_per_owner;
extern int	inv_max_hold_lifetime;	/* seconds */

/*
 * Raise IV007 when a hold of cart for owner would take the owner past a
 * limit (skus is the cart's text[] of SKUs): units of a SKU held in force or committed within the window
 * (inventory.max_units_per_owner, or the SKU's row of inventory.sku_limit),
 * or holds in force (inventory.max_holds_per_owner).  When one applies it
 * first takes the owner's lock (locks.h), so the caller must hold no row
 * lock yet; when none applies it runs no statement and takes no lock.
 * Between SPI_connect() and SPI_finish().
 */
extern void limits_check_owner(text *owner, const InvCart *cart, Datum skus);

/*
 * Raise IV007 when a hold created at "created" would expire at "expires",
 * more than inventory.max_hold_lifetime later.  id is the hold being
 * extended, or NULL for a hold being taken (then ttl is the ttl asked for).
 */
extern void limits_check_lifetime(TimestampTz created, TimestampTz expires,
								  const pg_uuid_t *id, Interval *ttl);

#endif							/* INVENTORY_LIMITS_H */
