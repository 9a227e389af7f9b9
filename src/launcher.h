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

#endif							/* INVENTORY_LAUNCHER_H */
