/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Purging finished holds and delivered events by inventory.retention.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_RETENTION_H
#define INVENTORY_RETENTION_H

/* GUC, registered by _PG_init (inventory.c) */
extern int	inv_retention;		/* s; 0: keep everything */

typedef enum RetentionKind
{
	RETENTION_HOLDS,			/* finished holds */
	RETENTION_EVENTS			/* acknowledged outbox events */
} RetentionKind;

/*
 * Purge up to max_rows rows of one kind in the current transaction;
 * returns how many went.  Nothing when inventory.retention is 0.
 */
extern int64 retention_purge(RetentionKind kind, int max_rows);

#endif							/* INVENTORY_RETENTION_H */
