/*-------------------------------------------------------------------------
 *
 * cart.h
 *	  The lines of a reservation request, checked and normalized.
 *
 * A cart is sorted by SKU in byte order (COLLATE "C") with each SKU once,
 * its quantities summed.  That order is the order in which stock rows are
 * locked everywhere, which is what keeps two carts from deadlocking.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_CART_H
#define INVENTORY_CART_H

#include "utils/jsonb.h"

typedef struct InvLine
{
	char	   *sku;
	int64		qty;
} InvLine;

typedef struct InvCart
{
	int			nlines;
	InvLine    *lines;
} InvCart;

extern InvCart *cart_from_jsonb(Jsonb *items);
extern InvCart *cart_single(char *sku, int64 qty);

/* text[] of the SKUs and int8[] of the quantities, in cart order */
extern Datum cart_sku_array(const InvCart *cart);
extern Datum cart_qty_array(const InvCart *cart);

#endif							/* INVENTORY_CART_H */
