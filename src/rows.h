/*-------------------------------------------------------------------------
 *
 * rows.h
 *	  The extension's own rows read, locked, updated and inserted through
 *	  the table access method, without a statement: no plan, no executor
 *	  start and end, no expressions to set up.  For the few writes of a
 *	  checkout, which run millions of times and whose shape never changes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_ROWS_H
#define INVENTORY_ROWS_H

#include "nodes/execnodes.h"
#include "storage/lockdefs.h"

#define INV_ROWS_MAX_RELS 4

/* One batch of row operations on up to INV_ROWS_MAX_RELS tables. */
typedef struct InvRows
{
	Snapshot	snapshot;		/* the active one, pushed by inv_rows_begin */
	EState	   *estate;			/* NULL until the first write */
	List	   *slots;			/* the fetches' slots, dropped at the end */
	int			nrels;
	const char *const *names;	/* of the tables, in the schema "inventory" */
	ResultRelInfo *rel[INV_ROWS_MAX_RELS];	/* NULL until first used */
	Relation	pkey[INV_ROWS_MAX_RELS];	/* opened alone, for a read */
	bool		written[INV_ROWS_MAX_RELS];	/* locked to write, indexes open */
	EPQState	epq;			/* for BEFORE ROW UPDATE triggers, if any */
} InvRows;

/*
 * The relation of schema "inventory" of that name (an index when is_index,
 * else a table), opened with mode; NULL when there is none.  Its OID is
 * remembered across calls, and trusted while it still names it.
 */
extern Relation inv_open_named(const char *name, bool is_index, LOCKMODE mode);

/*
 * Begin row operations on the tables of schema "inventory" named in names
 * (n of them), as a statement on them would: a new command id and a
 * snapshot taken now (read committed) or the transaction's (repeatable
 * read, serializable).  Table i is opened when first used, to read
 * (AccessShareLock); when first written, it is locked as a statement's
 * target is (RowExclusiveLock) and its indexes are opened, and at the
 * first write the executor's state is made and a command id taken.
 * inv_rows_end closes them.  Using a missing table raises the error of an
 * extension older than the library.
 */
extern void inv_rows_begin(InvRows *rows, const char *const *names, int n);
extern void inv_rows_end(InvRows *rows);

/*
 * Table i will be written: lock it as a target now, before reading it, so
 * that the unit never asks for a stronger lock on a table it has read
 * (a REINDEX between the two would make that a deadlock).
 */
extern void inv_rows_will_write(InvRows *rows, int i);

/* Table i, opened now if it was not yet. */
extern Relation inv_rows_rel(InvRows *rows, int i);

/* The snapshot the unit reads in. */
extern Snapshot inv_rows_snapshot(InvRows *rows);

/* The attribute number of a column; the "newer version" error if missing. */
extern AttrNumber inv_rows_attnum(InvRows *rows, int i, const char *column);

/*
 * The version of the row of table i whose primary key (of one column) is
 * key that the snapshot sees, in a slot of the batch; NULL when none.
 */
extern TupleTableSlot *inv_rows_fetch(InvRows *rows, int i, Datum key);

/*
 * Lock that row as an UPDATE does (FOR NO KEY UPDATE), waiting for its
 * updaters.  Under read committed the latest version is locked and the
 * slot holds it; under repeatable read and serializable a row changed
 * since the snapshot is a serialization failure (40001), as for UPDATE.
 * false when the row was deleted meanwhile.
 */
extern bool inv_rows_lock(InvRows *rows, int i, TupleTableSlot *slot);

/* A virtual slot of table i's shape, its values all null. */
extern TupleTableSlot *inv_rows_new_slot(InvRows *rows, int i);

/* Set column att of a slot made by inv_rows_new_slot. */
static inline void
inv_rows_put(TupleTableSlot *slot, AttrNumber att, Datum value)
{
	slot->tts_values[att - 1] = value;
	slot->tts_isnull[att - 1] = false;
}

/*
 * Replace the row version in old (read by inv_rows_fetch or locked by
 * inv_rows_lock) by the values in new, as UPDATE does: waiting for a
 * transaction that is changing it, checking the table's constraints,
 * maintaining its indexes and firing its row triggers.
 *	INV_ROW_UPDATED: done;
 *	INV_ROW_CHANGED: another transaction updated it since (read committed;
 *		under repeatable read and serializable that is a serialization
 *		failure, 40001): lock the latest version with inv_rows_lock, decide
 *		again on it and update that;
 *	INV_ROW_GONE: it was deleted (40001 under the stricter levels).
 */
typedef enum InvRowUpdate
{
	INV_ROW_UPDATED,
	INV_ROW_CHANGED,
	INV_ROW_GONE
} InvRowUpdate;

extern InvRowUpdate inv_rows_update(InvRows *rows, int i, TupleTableSlot *old,
									TupleTableSlot *new);

/* Insert the values in new, as INSERT does (ExecSimpleRelationInsert). */
extern void inv_rows_insert(InvRows *rows, int i, TupleTableSlot *new);

#endif							/* INVENTORY_ROWS_H */
