/*-------------------------------------------------------------------------
 *
 * sweeper.h
 *	  The per-database background worker that expires overdue holds,
 *	  purges by retention and sends NOTIFY for writers; its settings.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_SWEEPER_H
#define INVENTORY_SWEEPER_H

#include "utils/guc.h"

/* GUCs, registered by _PG_init (inventory.c) */
extern int	inv_sweep_interval;	/* ms; 0: no sweeper */
extern int	inv_sweep_batch;
extern char *inv_databases;
extern bool inv_sweeper;		/* the server's; ALTER DATABASE may override */

/* check hook of inventory.databases: a comma-separated list of names */
extern bool inv_check_databases(char **newval, void **extra, GucSource source);

/* Is database dbname among inventory.databases (empty: all)? */
extern bool inv_database_wanted(const char *dbname);

#endif							/* INVENTORY_SWEEPER_H */
