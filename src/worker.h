/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The sweeper background workers, their launcher and their settings.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_WORKER_H
#define INVENTORY_WORKER_H

#define INV_OUTBOX_CHANNEL "inventory_outbox"

/* GUCs, defined in worker.c */
extern int	inv_sweep_interval;	/* ms; 0: no sweeper */
extern int	inv_sweep_batch;
extern int	inv_retention;		/* s; 0: keep everything */
extern char *inv_databases;
extern bool inv_sweeper;		/* the server's; ALTER DATABASE may override */

/* GUCs, hooks and (when preloaded) the launcher; called from _PG_init */
extern void worker_init(void);

/*
 * This transaction wrote an outbox event: make sure a NOTIFY on
 * inventory_outbox follows its commit (not a COMMIT PREPARED: the relays
 * poll for those).
 */
extern void worker_outbox_written(void);

#endif							/* INVENTORY_WORKER_H */
