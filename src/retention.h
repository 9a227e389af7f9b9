/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Purging finished holds and delivered events by inventory.retention.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_RETENTION_H
#define INVENTORY_RETENTION_H

/*
 * Purge up to max_rows finished holds and up to max_rows outbox events in
 * the current transaction; returns how many rows went.  Nothing when
 * inventory.retention is 0.
 */
extern int64 retention_purge(int max_rows);

#endif							/* INVENTORY_RETENTION_H */
