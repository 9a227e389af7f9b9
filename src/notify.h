/*-------------------------------------------------------------------------
 *
 * notify.h
 *	  The NOTIFY on inventory_outbox that follows the commit of a
 *	  transaction that wrote outbox events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_NOTIFY_H
#define INVENTORY_NOTIFY_H

#define INV_OUTBOX_CHANNEL "inventory_outbox"

/* GUC, registered by _PG_init (inventory.c) */
extern bool inv_writer_notify;	/* may a writer NOTIFY when no sweeper will? */

/* Register the transaction callbacks; called from _PG_init */
extern void inv_notify_init(void);

/*
 * This transaction wrote an outbox event: make sure a NOTIFY on
 * inventory_outbox follows its commit (not a COMMIT PREPARED: the relays
 * poll for those).
 */
extern void inv_notify_outbox_written(void);

#endif							/* INVENTORY_NOTIFY_H */
