/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The background worker that starts the sweepers, one per database.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_LAUNCHER_H
#define INVENTORY_LAUNCHER_H

/*
 * Register the launcher, the utility hook and the commit callback that
 * wakes the launcher; called from _PG_init, only when the library is
 * preloaded.
 */
extern void inv_launcher_init(void);

/*
 * Have the launcher look at database dboid again at once (start its
 * sweeper; look for the extension there again); for any database, with or
 * without a shared slot.  A no-op without shared memory.
 */
extern void inv_launcher_wake(Oid dboid);

#endif							/* INVENTORY_LAUNCHER_H */
