/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Per-database shared state: the counters behind inventory.stats and
 *	  the coordinates of the database's sweeper.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_SHMEM_H
#define INVENTORY_SHMEM_H

#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "datatype/timestamp.h"

typedef enum InvCounter
{
	INV_RESERVED,				/* holds taken */
	INV_REPLAYED,				/* idempotent replays of a hold */
	INV_REFUSED_STOCK,			/* refused: insufficient stock (IV001) */
	INV_REFUSED_UNKNOWN,		/* refused: unknown SKU (IV002) */
	INV_COMMITTED,				/* holds committed */
	INV_RELEASED,				/* holds released */
	INV_EXPIRED,				/* holds expired, by sweep or on demand */
	INV_SWEEPS,					/* sweeps run (worker cycles, inv_sweep calls) */
	INV_PURGED_HOLDS,			/* finished holds purged by retention */
	INV_PURGED_EVENTS,			/* outbox events purged by retention */
	INV_NUM_COUNTERS
} InvCounter;

typedef struct InvDbSlot
{
	Oid			dboid;			/* InvalidOid: the slot is free */

	/* the sweeper; changed under InvShared->lock (exclusive) */
	pid_t		worker_pid;		/* 0: no sweeper in this database */
	Latch	   *worker_latch;
	bool		extension_present;	/* a sweeper found the extension here */
	bool		extension_absent;	/* a sweeper found none, and left */
	bool		sweeper_off;	/* the sweeper found inventory.sweeper off, left */
	bool		restart_requested;	/* inventory.sweeper changed here since */
	TimestampTz hold_off_until; /* no sweeper before then (DROP DATABASE) */

	/* set by a committing writer, cleared by the sweeper that NOTIFYs */
	pg_atomic_uint32 notify_pending;

	/* statistics; atomics, no lock */
	pg_atomic_uint64 counters[INV_NUM_COUNTERS];
	pg_atomic_uint64 last_sweep_at; /* TimestampTz; 0: never */
	pg_atomic_uint64 last_sweep_us; /* duration of that sweep */
	pg_atomic_uint64 stats_since;	/* TimestampTz of the slot's claim or reset */

	/*
	 * The expiry floor (expiry_floor.c): floor and floor_raises are read
	 * without a lock and written under floor_mutex, which guards the other
	 * two.  floor_raises: recomputations published; floor_lowest: the
	 * earliest expiry written since the current recomputation began;
	 * floor_gen: recomputations begun, and slot resets.
	 */
	slock_t		floor_mutex;
	pg_atomic_uint64 floor;		/* TimestampTz */
	pg_atomic_uint64 floor_raises;
	TimestampTz floor_lowest;
	uint64		floor_gen;
} InvDbSlot;

/* most wakes (inv_launcher_wake) waiting for the launcher's next pass */
#define INV_MAX_WAKES			32

typedef struct InvShared
{
	LWLock	   *lock;
	Latch	   *launcher_latch; /* NULL while no launcher runs */

	/*
	 * Databases the launcher is asked to look at again, whether or not they
	 * have a slot; under lock (exclusive to change).  wake_seq counts every
	 * wake ever asked for, so that a sweeper can tell whether one came
	 * while it looked for the extension.
	 */
	uint64		wake_seq;
	int			nwakes;
	bool		wakes_lost;		/* wakes[] overflowed: look at every database */
	Oid			wakes[INV_MAX_WAKES];

	int			nslots;
	InvDbSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} InvShared;

/* NULL unless the library was preloaded */
extern InvShared *inv_shared;

extern int	inv_max_databases;

extern void shmem_init(void);

/*
 * The slot of database dboid; with create, claims a free one.  NULL when
 * there is no shared memory or (create) every slot is taken.  Callers that
 * read the worker fields hold inv_shared->lock.
 */
extern InvDbSlot *shmem_db_slot(Oid dboid, bool create);
/* The slot of database dboid (InvalidOid: a free one), or NULL; the caller holds inv_shared->lock. */
extern InvDbSlot *shmem_find_slot(Oid dboid);

/* This backend's database's slot (cached), or NULL */
extern InvDbSlot *shmem_my_slot(void);

/* Count n events of kind c in this database: a no-op without the slot. */
static inline void
stats_count(InvCounter c, uint64 n)
{
	InvDbSlot  *slot = shmem_my_slot();

	if (slot != NULL && n > 0)
		pg_atomic_fetch_add_u64(&slot->counters[c], n);
}

/* A sweep of this database ran from start to end. */
extern void stats_sweep_done(TimestampTz start, TimestampTz end);

#endif							/* INVENTORY_SHMEM_H */
