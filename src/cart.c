/*-------------------------------------------------------------------------
 *
 * cart.c
 *	  Parse, check and normalize the lines of a reservation request.
 *
 * items must be a non-empty JSON array of objects {"sku": string,
 * "qty": positive integer}, with no other key (a "SKU" or "quantity" is a
 * caller's mistake, not something to ignore).  Every violation is a 22023
 * (22003 for a qty beyond bigint, 22001 for a SKU too long) naming the
 * element, raised before anything is read or written.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "cart.h"
#include "errors.h"
#include "inventory.h"

static int
line_cmp(const void *a, const void *b)
{
	return strcmp(((const InvLine *) a)->sku, ((const InvLine *) b)->sku);
}

/* Sort by SKU and merge duplicates, summing their quantities. */
static void
cart_normalize(InvCart *cart)
{
	int			n = 0;

	qsort(cart->lines, cart->nlines, sizeof(InvLine), line_cmp);
	for (int i = 0; i < cart->nlines; i++)
	{
		if (n > 0 && strcmp(cart->lines[n - 1].sku, cart->lines[i].sku) == 0)
		{
			if (pg_add_s64_overflow(cart->lines[n - 1].qty, cart->lines[i].qty,
									&cart->lines[n - 1].qty))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("total qty of SKU \"%s\" in items is out of range for bigint",
								cart->lines[i].sku)));
		}
		else
			cart->lines[n++] = cart->lines[i];
	}
	cart->nlines = n;
}

static int64
line_qty(JsonbValue *v, int i)
{
	Datum		n;
	Datum		zero = DirectFunctionCall1(int8_numeric, Int64GetDatum(0));
	Datum		max = DirectFunctionCall1(int8_numeric, Int64GetDatum(PG_INT64_MAX));
	int64		qty;

	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("items[%d] has no \"qty\"", i)));
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("qty of items[%d] must be a number", i)));
	n = NumericGetDatum(v->val.numeric);
	if (DatumGetBool(DirectFunctionCall2(numeric_le, n, zero)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("qty of items[%d] must be positive", i)));
	if (DatumGetBool(DirectFunctionCall2(numeric_gt, n, max)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("qty of items[%d] is out of range for bigint", i)));
	qty = DatumGetInt64(DirectFunctionCall1(numeric_int8, n));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, n,
										  DirectFunctionCall1(int8_numeric,
															  Int64GetDatum(qty)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("qty of items[%d] must be an integer", i)));
	return qty;
}

/* Refuse the key of a line other than "sku" and "qty" (there is one). */
static void
line_keys(JsonbContainer *line, int i)
{
	JsonbIterator *it = JsonbIteratorInit(line);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		if ((v.val.string.len == 3 && memcmp(v.val.string.val, "sku", 3) == 0) ||
			(v.val.string.len == 3 && memcmp(v.val.string.val, "qty", 3) == 0))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("items[%d] has an unknown key \"%s\"", i,
						pnstrdup(v.val.string.val, v.val.string.len)),
				 errhint("A line has \"sku\" and \"qty\" only.")));
	}
}

InvCart *
cart_from_jsonb(Jsonb *items)
{
	InvCart    *cart;
	int			n;

	if (JB_ROOT_IS_SCALAR(items) || !JB_ROOT_IS_ARRAY(items))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("items must be a JSON array"),
				 errhint("Pass [{\"sku\": \"PS5\", \"qty\": 1}, ...].")));
	n = JB_ROOT_COUNT(items);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("items must not be empty")));
	if (n > inv_max_cart_lines)
		ereport(ERROR,
				(errcode(ERRCODE_INV_LIMIT_EXCEEDED),
				 errmsg("cart has %d lines, more than inventory.max_cart_lines", n),
				 errdetail("inventory.max_cart_lines is %d.", inv_max_cart_lines)));

	cart = palloc(sizeof(InvCart));
	cart->nlines = n;
	cart->lines = palloc(sizeof(InvLine) * n);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(&items->root, i);
		JsonbContainer *line;
		JsonbValue *sku;
		JsonbValue *qty;

		if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("items[%d] must be an object with \"sku\" and \"qty\"", i)));
		line = elem->val.binary.data;
		sku = getKeyJsonValueFromContainer(line, "sku", 3, NULL);
		qty = getKeyJsonValueFromContainer(line, "qty", 3, NULL);
		/* more keys than those found: one is unknown, name it */
		if (JsonContainerSize(line) > (sku != NULL) + (qty != NULL))
			line_keys(line, i);
		if (sku == NULL || sku->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sku of items[%d] must be a string", i)));
		if (sku->val.string.len == 0 || sku->val.string.len > INV_MAX_SKU_BYTES)
			inv_check_sku(sku->val.string.val, sku->val.string.len,
						  psprintf("sku of items[%d]", i));
		cart->lines[i].sku = pnstrdup(sku->val.string.val, sku->val.string.len);
		cart->lines[i].qty = line_qty(qty, i);
	}
	cart_normalize(cart);
	return cart;
}

InvCart *
cart_single(char *sku, int64 qty)
{
	InvCart    *cart = palloc(sizeof(InvCart));

	if (qty <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("qty must be positive"),
				 errdetail("qty is " INT64_FORMAT ".", qty)));
	cart->nlines = 1;
	cart->lines = palloc(sizeof(InvLine));
	cart->lines[0].sku = sku;
	cart->lines[0].qty = qty;
	return cart;
}

Datum
cart_sku_array(const InvCart *cart)
{
	Datum	   *elems = palloc(sizeof(Datum) * cart->nlines);

	for (int i = 0; i < cart->nlines; i++)
		elems[i] = CStringGetTextDatum(cart->lines[i].sku);
	return PointerGetDatum(construct_array(elems, cart->nlines, TEXTOID,
										   -1, false, TYPALIGN_INT));
}

Datum
cart_qty_array(const InvCart *cart)
{
	Datum	   *elems = palloc(sizeof(Datum) * cart->nlines);

	for (int i = 0; i < cart->nlines; i++)
		elems[i] = Int64GetDatum(cart->lines[i].qty);
	return PointerGetDatum(construct_array(elems, cart->nlines, INT8OID,
										   sizeof(int64), FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}
