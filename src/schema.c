/*-------------------------------------------------------------------------
 *
 * schema.c
 *	  Where the extension's tables live (see schema.h).
 *
 * Found once per backend and kept: the extension's table "stock" is the
 * first of its configuration tables (pg_extension.extconfig, which
 * pg_extension_config_dump fills), and its schema is the tables' schema.
 * Forgotten when any schema changes (a syscache invalidation of
 * pg_namespace: CREATE, DROP, RENAME) and when that table does (a relcache
 * invalidation: DROP EXTENSION drops it), so that DROP EXTENSION and
 * CREATE EXTENSION into another schema in a live session find the new one.
 * Statements kept by spi_plans.c are prepared again when the name changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "schema.h"

/* the name the C code's statements use, and a default install's */
#define DEFAULT_SCHEMA "inventory"

static bool valid = false;
static uint64 invalidations = 0;
static bool callbacks_registered = false;
static Oid	schema_oid = InvalidOid;
static Oid	stock_relid = InvalidOid;
static NameData schema_name = {DEFAULT_SCHEMA};
static uint32 generation = 0;

static void
namespace_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	invalidations++;
	valid = false;
}

static void
relation_changed(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == stock_relid)
	{
		invalidations++;
		valid = false;
	}
}

/*
 * The extension's table "stock" among its configuration tables, InvalidOid
 * when the extension is not installed or has not registered it yet.
 */
static Oid
find_stock_table(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			found = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("inventory"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extconfig,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			ArrayType  *arr = DatumGetArrayTypeP(d);
			Oid		   *oids = (Oid *) ARR_DATA_PTR(arr);
			int			n = ARR_NDIM(arr) == 1 ? ARR_DIMS(arr)[0] : 0;

			for (int i = 0; i < n && !OidIsValid(found); i++)
			{
				char	   *relname = get_rel_name(oids[i]);

				if (relname != NULL && strcmp(relname, "stock") == 0)
					found = oids[i];
			}
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

static void
refresh(void)
{
	char	   *name = NULL;
	uint64		seen = invalidations;

	if (!callbacks_registered)
	{
		CacheRegisterSyscacheCallback(NAMESPACEOID, namespace_changed, (Datum) 0);
		CacheRegisterRelcacheCallback(relation_changed, (Datum) 0);
		callbacks_registered = true;
	}

	stock_relid = find_stock_table();
	schema_oid = OidIsValid(stock_relid) ? get_rel_namespace(stock_relid) : InvalidOid;
	if (OidIsValid(schema_oid))
		name = get_namespace_name(schema_oid);
	if (name == NULL)
	{
		/* not installed: nothing to keep, look again next time */
		schema_oid = InvalidOid;
		name = DEFAULT_SCHEMA;
	}
	if (strcmp(NameStr(schema_name), name) != 0)
	{
		namestrcpy(&schema_name, name);
		generation++;
	}

	/*
	 * Kept only if nothing changed while we looked (the lookups take locks,
	 * which process invalidations), and never after an error in between.
	 */
	valid = OidIsValid(schema_oid) && invalidations == seen;
}

Oid
inv_schema_oid(void)
{
	if (!valid)
		refresh();
	return schema_oid;
}

const char *
inv_schema_name(void)
{
	if (!valid)
		refresh();
	return NameStr(schema_name);
}

uint32
inv_schema_generation(void)
{
	if (!valid)
		refresh();
	return generation;
}

static bool
is_identifier_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '$' ||
		IS_HIGHBIT_SET(c);
}

/*
 * Only "inventory." that begins a qualified name is replaced: not preceded
 * by a part of a name, a dot or a quote (a setting's name in a string
 * literal, 'inventory.default_ttl', stays as it is), and followed by a
 * name.
 */
const char *
inv_schema_sql(const char *sql)
{
	const char *name = inv_schema_name();
	const char *quoted;
	const size_t len = strlen(DEFAULT_SCHEMA ".");
	StringInfoData buf;

	if (strcmp(name, DEFAULT_SCHEMA) == 0)
		return sql;

	quoted = quote_identifier(name);
	initStringInfo(&buf);
	for (const char *p = sql; *p != '\0'; p++)
	{
		if (strncmp(p, DEFAULT_SCHEMA ".", len) == 0 &&
			(p == sql || !(is_identifier_char(p[-1]) || p[-1] == '.' ||
						   p[-1] == '"' || p[-1] == '\'')) &&
			(is_identifier_char(p[len]) || p[len] == '"'))
		{
			appendStringInfo(&buf, "%s.", quoted);
			p += len - 1;
		}
		else
			appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}
