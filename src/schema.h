/*-------------------------------------------------------------------------
 *
 * schema.h
 *	  Where the extension's tables live.
 *
 * The tables live in a schema named "inventory", which CREATE EXTENSION
 * creates; when a schema of that name already exists (the shop's own),
 * they live in the schema the extension is installed in (CREATE EXTENSION
 * inventory SCHEMA s), next to the functions.  The install script decides
 * (sql/inventory--0.1.0.sql); the C code finds out: the schema of the
 * extension's table "stock".
 *
 * The statements in the C code name the tables "inventory.<table>", as in
 * a default install; inv_schema_sql() gives a statement with the actual
 * schema's name in their place.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_SCHEMA_H
#define INVENTORY_SCHEMA_H

/*
 * The schema of the extension's tables in this database, InvalidOid when
 * the extension is not installed (or its script has not yet created its
 * tables).  Needs a transaction.
 */
extern Oid	inv_schema_oid(void);

/* Its name, unquoted; "inventory" when the extension is not installed. */
extern const char *inv_schema_name(void);

/*
 * A number that changes whenever the schema's name changes in this
 * backend, for statements prepared with the old name to be prepared again.
 */
extern uint32 inv_schema_generation(void);

/*
 * sql, with every table named "inventory.x" named in the actual schema
 * instead (quoted as needed).  A name inside a string literal is left
 * alone ('inventory.default_ttl' is a setting): a statement must not name
 * a table in one ('inventory.x'::regclass).  sql itself when the schema is
 * "inventory"; otherwise a string palloc'd in the current memory context.
 */
extern const char *inv_schema_sql(const char *sql);

#endif							/* INVENTORY_SCHEMA_H */
