/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: the background worker that starts a sweeper (sweeper.c)
 *	  in each database that wants one, and what ordinary backends do to
 *	  wake it or to keep it and its sweepers out of a database.
 *
 * The launcher (started by the postmaster when the library is in
 * shared_preload_libraries) reads pg_database and starts a sweeper in
 * every database where the extension is installed, among those that
 * accept connections and are not templates, or only among those named by
 * inventory.databases.
 *
 * Only a process connected to a database can see whether the extension is
 * installed there, and the launcher is connected to none.  So a database
 * the launcher knows nothing of gets a probe: a sweeper that looks for the
 * extension first thing, and either stays as the database's sweeper or
 * leaves.  Probes run one at a time, so that a burst of new databases (any
 * role with CREATEDB can make them) costs one background worker at a time;
 * the sweepers of databases known to have the extension never wait for
 * them.  A database where the probe found no extension gives its shared
 * slot back at once and is remembered in the launcher's own memory
 * (dbstates), not in shared memory, which has room for
 * inventory.max_databases databases only; the launcher does not look there
 * again until CREATE EXTENSION (or ALTER EXTENSION UPDATE) in that database
 * asks it to, after its commit, through a queue that needs no slot
 * (inv_launcher_wake).  A probe that fails, or that has not found out
 * after PROBE_TIMEOUT_MS (connecting waits for any lock on the database,
 * which its owner can hold), gives its slot back too; it is tried again
 * later, after the databases not tried yet.
 *
 * A sweeper that fails is started again after LAUNCHER_RETRY_MS; a crash of
 * any worker makes the postmaster restart the whole cluster, launcher
 * included.  The launcher owns the handles, so that nothing restarts in a
 * loop in a database that does not want a sweeper (pg_net PR #264).
 *
 * DROP DATABASE, ALTER DATABASE RENAME and CREATE DATABASE ... TEMPLATE
 * need a database nobody is connected to: a utility hook asks our sweeper
 * to leave it first, and keeps the launcher away for a while.  ALTER
 * DATABASE ... SET inventory.sweeper has the database's sweeper started
 * afresh once it commits, since a session reads its database's settings
 * only as it connects.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "inventory.h"
#include "launcher.h"
#include "shmem.h"
#include "sweeper.h"

PG_FUNCTION_INFO_V1(inv_worker_wake);

PGDLLEXPORT void inv_launcher_main(Datum main_arg);

/* how often the launcher looks for new databases anyway */
#define LAUNCHER_NAPTIME_MS		10000
/* a sweeper that stopped unexpectedly is started again after this */
#define LAUNCHER_RETRY_MS		10000
/* a probe that has not found out by then is stopped */
#define PROBE_TIMEOUT_MS		10000
/* a probe that failed is tried again after LAUNCHER_RETRY_MS, doubling up to */
#define PROBE_RETRY_MAX_MS		(5 * 60 * 1000)
/* DROP DATABASE waits 5 s for others to leave; stay away longer */
#define HOLD_OFF_MS				10000

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* CREATE or ALTER EXTENSION ran in this transaction */
static bool wake_launcher = false;
/* databases whose inventory.sweeper this transaction set or reset */
static List *sweeper_setting_changed = NIL;

/* ----------------------------------------------------------------
 * launcher
 * ----------------------------------------------------------------
 */

typedef struct DbInfo
{
	Oid			oid;
	bool		eligible;		/* accepts connections, not a template */
	NameData	name;
} DbInfo;

/*
 * What the launcher knows of a database, from pass to pass: an entry for
 * every database of pg_database, in the launcher's own memory.  Our
 * sweeper there is a probe while it runs and present is not yet known.
 */
typedef struct DbState
{
	Oid			dboid;			/* hash key */
	DbInfo	   *db;				/* its row at this pass; NULL: gone */
	BackgroundWorkerHandle *handle; /* our sweeper there, if started */
	bool		present;		/* a sweeper found the extension there */
	bool		absent;			/* a probe found none: wait for a wake */
	bool		woken;			/* woken since: probe it before the others */
	bool		stopped;		/* our sweeper there stopped (this pass) */
	bool		terminated;		/* the probe was told to stop */
	int			failures;		/* probes in a row that stopped undecided */
	TimestampTz retry_at;		/* no sweeper, nor probe, before then */
	TimestampTz probe_until;	/* a probe still undecided then is stopped */
} DbState;

static HTAB *dbstates;

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
	inv_shared->launcher_latch = NULL;
	LWLockRelease(inv_shared->lock);
}

/* Every database of the cluster, allocated in the caller's context. */
static List *
database_list(void)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *dbs = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old = MemoryContextSwitchTo(caller);
		DbInfo	   *info = palloc(sizeof(DbInfo));

		info->oid = db->oid;
		info->eligible = db->datallowconn && !db->datistemplate &&
			db->datconnlimit != -2; /* -2: left invalid by a failed DROP */
		info->name = db->datname;
		dbs = lappend(dbs, info);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	/* the commit left us in TopMemoryContext */
	MemoryContextSwitchTo(caller);
	return dbs;
}

/*
 * Start a sweeper in database db; a probe (see the file's header) when we
 * do not know whether the extension is there.
 */
static BackgroundWorkerHandle *
start_sweeper(DbInfo *db, bool probe)
{
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;
	MemoryContext old;
	bool		ok;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher restarts it */
	strlcpy(bgw.bgw_library_name, "inventory", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "inv_sweeper_main", BGW_MAXLEN);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "inventory sweeper for database %s",
			 NameStr(db->name));
	strlcpy(bgw.bgw_type, "inventory sweeper", BGW_MAXLEN);
	bgw.bgw_main_arg = ObjectIdGetDatum(db->oid);
	bgw.bgw_extra[0] = probe ? 1 : 0;
	bgw.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&bgw, &handle);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		/* the launcher retries every LAUNCHER_RETRY_MS: say it once */
		static bool warned = false;

		if (warned)
			return NULL;
		warned = true;
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start the inventory sweeper for database \"%s\"",
						NameStr(db->name)),
				 errhint("Raise max_worker_processes.")));
		return NULL;
	}
	return handle;
}

/* every shared slot is taken: say it once */
static void
no_slot_left(DbInfo *db)
{
	static bool warned = false;

	if (warned)
		return;
	warned = true;
	ereport(LOG,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("inventory has no shared slot left for database \"%s\": it gets no sweeper",
					NameStr(db->name)),
			 errhint("Raise inventory.max_databases (now %d), or name the databases to sweep in inventory.databases.",
					 inv_max_databases)));
}

/*
 * Free the shared slots of databases that are gone, unless claimed since
 * the list was read (a database created meanwhile).
 */
static void
free_dropped_slots(List *dbs, TimestampTz listed_at)
{
	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < inv_shared->nslots; i++)
	{
		InvDbSlot  *slot = &inv_shared->slots[i];
		ListCell   *lc;
		bool		exists = false;

		if (!OidIsValid(slot->dboid) || slot->worker_pid != 0 ||
			(TimestampTz) pg_atomic_read_u64(&slot->stats_since) >= listed_at)
			continue;
		foreach(lc, dbs)
			if (((DbInfo *) lfirst(lc))->oid == slot->dboid)
				exists = true;
		if (!exists)
			slot->dboid = InvalidOid;
	}
	LWLockRelease(inv_shared->lock);
}

/* Link each database's state to its row of this pass, new ones included. */
static void
states_relist(List *dbs)
{
	HASH_SEQ_STATUS status;
	DbState    *st;
	ListCell   *lc;

	hash_seq_init(&status, dbstates);
	while ((st = hash_seq_search(&status)) != NULL)
	{
		st->db = NULL;
		st->stopped = false;
	}
	foreach(lc, dbs)
	{
		DbInfo	   *db = lfirst(lc);
		bool		found;

		st = hash_search(dbstates, &db->oid, HASH_ENTER, &found);
		if (!found)
		{
			st->handle = NULL;
			st->present = false;
			st->absent = false;
			st->woken = false;
			st->terminated = false;
			st->failures = 0;
			st->retry_at = 0;
			st->probe_until = 0;
		}
		st->db = db;
	}
}

/*
 * Every sweeper we started, whatever its database has become: collect
 * those that stopped, stop those whose database is gone or no longer takes
 * connections (the others leave by themselves on a reload).
 */
static void
reap_sweepers(void)
{
	HASH_SEQ_STATUS status;
	DbState    *st;
	pid_t		pid;

	hash_seq_init(&status, dbstates);
	while ((st = hash_seq_search(&status)) != NULL)
	{
		if (st->handle == NULL)
			continue;
		if (GetBackgroundWorkerPid(st->handle, &pid) == BGWH_STOPPED)
		{
			pfree(st->handle);
			st->handle = NULL;
			st->stopped = true;
		}
		else if (st->db == NULL || !st->db->eligible)
			TerminateBackgroundWorker(st->handle);
	}
}

/*
 * What the sweepers found and what was asked of us since the last pass, in
 * that order, so that a wake wins over a probe's "no extension" that came
 * before it (and a sweeper reports none after a wake: see sweeper.c).
 * Gives back the slots of databases without the extension, and of probes
 * that stopped undecided.  Returns whether a probe runs.
 */
static bool
read_reports(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	DbState    *st;
	bool		probing = false;

	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);

	/* the sweepers' findings */
	for (int i = 0; i < inv_shared->nslots; i++)
	{
		InvDbSlot  *slot = &inv_shared->slots[i];

		if (!OidIsValid(slot->dboid))
			continue;
		st = hash_search(dbstates, &slot->dboid, HASH_FIND, NULL);
		/* once our sweeper has exited: it uses the slot as it leaves */
		if (slot->extension_absent && slot->worker_pid == 0 &&
			(st == NULL || st->handle == NULL))
		{
			if (st != NULL)
			{
				st->absent = true;
				st->present = false;
				st->woken = false;
			}
			slot->dboid = InvalidOid;
			continue;
		}
		if (st != NULL && slot->extension_present)
			st->present = true;
		/* a probe of a launcher before us (it exited with an error) */
		if (slot->worker_pid != 0 && !slot->extension_present &&
			(st == NULL || st->handle == NULL))
			probing = true;
	}

	/* sweepers that stopped without saying there is no extension */
	hash_seq_init(&status, dbstates);
	while ((st = hash_seq_search(&status)) != NULL)
	{
		InvDbSlot  *slot;

		if (st->handle != NULL && !st->present)
			probing = true;
		if (!st->stopped || st->absent)
			continue;
		slot = shmem_find_slot(st->dboid);
		if (st->present)
		{
			/* it left to read inventory.sweeper afresh: at once */
			if (slot != NULL && slot->restart_requested)
				st->retry_at = 0;
			else
				st->retry_at = now + LAUNCHER_RETRY_MS * INT64CONST(1000);
		}
		else
		{
			int64		ms = (int64) LAUNCHER_RETRY_MS << Min(st->failures, 5);

			st->failures++;
			st->retry_at = now + Min(ms, PROBE_RETRY_MAX_MS) * INT64CONST(1000);
			if (slot != NULL && slot->worker_pid == 0 && !slot->extension_present)
				slot->dboid = InvalidOid;
		}
	}

	/* the wakes: look at these databases again, at once */
	if (inv_shared->wakes_lost)
	{
		hash_seq_init(&status, dbstates);
		while ((st = hash_seq_search(&status)) != NULL)
		{
			st->absent = false;
			st->failures = 0;
			st->retry_at = 0;
		}
		for (int i = 0; i < inv_shared->nslots; i++)
			inv_shared->slots[i].sweeper_off = false;
	}
	for (int i = 0; i < inv_shared->nwakes; i++)
	{
		InvDbSlot  *slot = shmem_find_slot(inv_shared->wakes[i]);

		st = hash_search(dbstates, &inv_shared->wakes[i], HASH_FIND, NULL);
		if (st != NULL)
		{
			st->woken = !st->present;
			st->absent = false;
			st->failures = 0;
			st->retry_at = 0;
		}
		if (slot != NULL)
			slot->sweeper_off = false;
	}
	inv_shared->nwakes = 0;
	inv_shared->wakes_lost = false;

	LWLockRelease(inv_shared->lock);
	return probing;
}

/*
 * Start the sweeper of a database known to have the extension, unless it
 * runs, is off there, or must wait; returns how long to sleep at most (ms).
 */
static long
start_known(DbState *st, TimestampTz now)
{
	InvDbSlot  *slot = shmem_db_slot(st->dboid, true);
	long		wait = LAUNCHER_NAPTIME_MS;
	bool		start;

	if (slot == NULL)
	{
		no_slot_left(st->db);
		return wait;
	}
	LWLockAcquire(inv_shared->lock, LW_SHARED);
	start = slot->worker_pid == 0 && !slot->sweeper_off &&
		now >= slot->hold_off_until && now >= st->retry_at;
	if (!start && slot->worker_pid == 0 && !slot->sweeper_off)
		wait = inv_ms_until(now, Max(slot->hold_off_until, st->retry_at));
	LWLockRelease(inv_shared->lock);

	if (start && (st->handle = start_sweeper(st->db, false)) == NULL)
	{
		st->retry_at = now + LAUNCHER_RETRY_MS * INT64CONST(1000);
		wait = LAUNCHER_RETRY_MS;
	}
	return wait;
}

/* Start a probe in database st; returns how long to sleep at most (ms). */
static long
start_probe(DbState *st, TimestampTz now)
{
	InvDbSlot  *slot = shmem_db_slot(st->dboid, true);
	TimestampTz hold_off_until;
	bool		start;

	if (slot == NULL)
	{
		no_slot_left(st->db);
		return LAUNCHER_NAPTIME_MS;
	}
	LWLockAcquire(inv_shared->lock, LW_SHARED);
	start = slot->worker_pid == 0 && now >= slot->hold_off_until;
	hold_off_until = slot->hold_off_until;
	LWLockRelease(inv_shared->lock);
	if (!start)
	{
		/* DROP DATABASE or the like: let the others go first */
		st->retry_at = Max(hold_off_until, now + LAUNCHER_RETRY_MS * INT64CONST(1000));
		return 0;
	}

	if ((st->handle = start_sweeper(st->db, true)) == NULL)
	{
		st->retry_at = now + LAUNCHER_RETRY_MS * INT64CONST(1000);
		return LAUNCHER_RETRY_MS;
	}
	ereport(DEBUG1,
			(errmsg_internal("inventory launcher: probing database \"%s\"",
							 NameStr(st->db->name))));
	st->woken = false;
	st->terminated = false;
	st->probe_until = now + PROBE_TIMEOUT_MS * INT64CONST(1000);
	return PROBE_TIMEOUT_MS;
}

/* One look at the databases; returns how long to sleep (ms). */
static long
launcher_pass(void)
{
	TimestampTz listed_at = GetCurrentTimestamp();
	List	   *dbs = database_list();
	TimestampTz now = GetCurrentTimestamp();
	long		wait = LAUNCHER_NAPTIME_MS;
	DbState    *candidate = NULL;
	HASH_SEQ_STATUS status;
	DbState    *st;
	bool		probing;
	ListCell   *lc;

	states_relist(dbs);
	reap_sweepers();
	probing = read_reports(now);
	free_dropped_slots(dbs, listed_at);

	/*
	 * Sweepers where the extension is known to be, and the database to
	 * probe next: one woken by CREATE EXTENSION first, then one never
	 * probed, in the order of pg_database.
	 */
	foreach(lc, dbs)
	{
		DbInfo	   *db = lfirst(lc);

		st = hash_search(dbstates, &db->oid, HASH_FIND, NULL);
		if (st->handle != NULL)
		{
			if (!st->present && !st->terminated)
			{
				if (now >= st->probe_until)
				{
					ereport(LOG,
							(errmsg("inventory probe in database \"%s\" has not finished after %d s: stopping it",
									NameStr(db->name), PROBE_TIMEOUT_MS / 1000),
							 errdetail("Connecting to a database waits for any lock held on it.")));
					TerminateBackgroundWorker(st->handle);
					st->terminated = true;
				}
				else
					wait = Min(wait, inv_ms_until(now, st->probe_until));
			}
			continue;
		}
		if (!db->eligible || !inv_database_wanted(NameStr(db->name)) ||
			inv_sweep_interval == 0 || st->absent)
			continue;
		if (st->present)
		{
			long		w = start_known(st, now);	/* Min() evaluates twice */

			wait = Min(wait, w);
		}
		else if (now < st->retry_at)
			wait = Min(wait, inv_ms_until(now, st->retry_at));
		else if (candidate == NULL ||
				 (st->woken && !candidate->woken) ||
				 (st->woken == candidate->woken &&
				  st->failures == 0 && candidate->failures > 0))
			candidate = st;
	}
	if (candidate != NULL && !probing)
	{
		long		w = start_probe(candidate, now);

		wait = Min(wait, w);
	}

	/* forget databases that are gone, once their sweeper has stopped */
	hash_seq_init(&status, dbstates);
	while ((st = hash_seq_search(&status)) != NULL)
		if (st->db == NULL && st->handle == NULL)
			(void) hash_search(dbstates, &st->dboid, HASH_REMOVE, NULL);

	return Max(wait, 10);
}

void
inv_launcher_main(Datum main_arg)
{
	MemoryContext pass_context;
	HASHCTL		ctl;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: pg_database is a shared catalog */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("inventory launcher");

	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
	inv_shared->launcher_latch = MyLatch;
	LWLockRelease(inv_shared->lock);
	before_shmem_exit(launcher_detach, (Datum) 0);

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(DbState);
	dbstates = hash_create("inventory launcher databases", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS);
	pass_context = AllocSetContextCreate(TopMemoryContext, "inventory launcher",
										 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContext old;
		long		wait;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* inventory.sweeper may be on again: let the sweepers decide */
			LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
			for (int i = 0; i < inv_shared->nslots; i++)
				inv_shared->slots[i].sweeper_off = false;
			LWLockRelease(inv_shared->lock);
		}

		old = MemoryContextSwitchTo(pass_context);
		wait = launcher_pass();
		MemoryContextSwitchTo(old);
		MemoryContextReset(pass_context);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ----------------------------------------------------------------
 * requests from ordinary backends
 *
 * What CREATE EXTENSION and ALTER DATABASE ... SET inventory.sweeper ask
 * of the launcher and the sweepers happens once their transaction commits,
 * and not at all if it is rolled back; a command that needs a database
 * nobody is connected to moves its sweeper out before it runs.
 * ----------------------------------------------------------------
 */

/*
 * Ask the launcher to look at database dboid again at once: forget that
 * its probe found no extension, start its sweeper if it is not running.
 * A queue in shared memory, not the database's slot: a database without
 * the extension has none.  When the queue is full the launcher looks at
 * every database again instead.
 */
void
inv_launcher_wake(Oid dboid)
{
	Latch	   *latch;
	int			i;

	if (inv_shared == NULL)
		return;
	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
	inv_shared->wake_seq++;
	for (i = 0; i < inv_shared->nwakes; i++)
		if (inv_shared->wakes[i] == dboid)
			break;
	if (i == inv_shared->nwakes)
	{
		if (i < INV_MAX_WAKES)
			inv_shared->wakes[inv_shared->nwakes++] = dboid;
		else
			inv_shared->wakes_lost = true;
	}
	latch = inv_shared->launcher_latch;
	LWLockRelease(inv_shared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * After ALTER DATABASE ... SET or RESET inventory.sweeper committed: each
 * of those databases that has a slot (the extension, or a probe running)
 * gets a new sweeper, which reads the setting as it connects (and leaves
 * if it is off).  The others have no sweeper to restart: the next probe
 * there reads the setting anyway.
 */
static void
restart_sweepers(List *dboids)
{
	ListCell   *lc;
	Latch	   *latch;

	if (inv_shared == NULL)
		return;
	foreach(lc, dboids)
	{
		InvDbSlot  *slot = shmem_db_slot(lfirst_oid(lc), false);

		if (slot == NULL)
			continue;
		LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
		latch = NULL;
		if (slot->dboid == lfirst_oid(lc) && slot->worker_pid != 0)
		{
			slot->restart_requested = true;
			latch = slot->worker_latch;
		}
		LWLockRelease(inv_shared->lock);
		if (latch != NULL)
			SetLatch(latch);
		inv_launcher_wake(lfirst_oid(lc));
	}
}

static void
launcher_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (wake_launcher)
				inv_launcher_wake(MyDatabaseId);
			if (sweeper_setting_changed != NIL)
				restart_sweepers(sweeper_setting_changed);
			wake_launcher = false;
			sweeper_setting_changed = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_launcher = false;
			sweeper_setting_changed = NIL;
			break;
		default:
			break;
	}
}

/*
 * inventory.worker_wake() RETURNS void
 *
 * Run by the extension's scripts: once this transaction commits, the
 * launcher starts a sweeper here.  A no-op without shared memory.
 */
Datum
inv_worker_wake(PG_FUNCTION_ARGS)
{
	if (inv_shared != NULL)
		wake_launcher = true;
	PG_RETURN_VOID();
}

/*
 * Ask our sweeper to leave database dbname, and the launcher to stay away
 * for HOLD_OFF_MS: the command that follows needs it empty.  The command
 * itself waits (up to 5 s) for the sweeper to go.
 */
static void
release_database(const char *dbname)
{
	Oid			dboid = get_database_oid(dbname, true);
	InvDbSlot  *slot;
	pid_t		pid;

	if (!OidIsValid(dboid) || (slot = shmem_db_slot(dboid, false)) == NULL)
		return;
	/* under the lock: the sweeper clears worker_pid under it before it exits */
	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
	slot->hold_off_until = GetCurrentTimestamp() + HOLD_OFF_MS * INT64CONST(1000);
	pid = slot->worker_pid;
	if (pid != 0)
		(void) kill(pid, SIGTERM);
	LWLockRelease(inv_shared->lock);
}

/*
 * The database named, when the current user may run a command on it that
 * needs it empty (its owner, or a superuser), from the top level: nobody
 * else can make a sweeper leave.
 */
static const char *
releasable(const char *dbname, ProcessUtilityContext context)
{
	Oid			dboid;

	if (dbname == NULL || context != PROCESS_UTILITY_TOPLEVEL)
		return NULL;
	dboid = get_database_oid(dbname, true);
	if (!OidIsValid(dboid) || !pg_database_ownercheck(dboid, GetUserId()))
		return NULL;
	return dbname;
}

static void
launcher_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	const char *dbname = NULL;
	ListCell   *lc;

	/* the commands that refuse a database someone is connected to */
	if (IsA(stmt, DropdbStmt))
		dbname = ((DropdbStmt *) stmt)->dbname;
	else if (IsA(stmt, RenameStmt) &&
			 ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
		dbname = ((RenameStmt *) stmt)->subname;
	else if (IsA(stmt, CreatedbStmt))
	{
		foreach(lc, ((CreatedbStmt *) stmt)->options)
		{
			DefElem    *opt = lfirst(lc);

			if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
				dbname = defGetString(opt);
		}
	}
	else if (IsA(stmt, AlterDatabaseStmt))
	{
		foreach(lc, ((AlterDatabaseStmt *) stmt)->options)
			if (strcmp(((DefElem *) lfirst(lc))->defname, "tablespace") == 0)
				dbname = ((AlterDatabaseStmt *) stmt)->dbname;
	}
	if ((dbname = releasable(dbname, context)) != NULL)
		release_database(dbname);

	/* the database's sweeper reads inventory.sweeper as it connects */
	if (IsA(stmt, AlterDatabaseSetStmt))
	{
		AlterDatabaseSetStmt *alter = (AlterDatabaseSetStmt *) stmt;
		VariableSetStmt *set = alter->setstmt;
		Oid			dboid = get_database_oid(alter->dbname, true);

		if (OidIsValid(dboid) &&
			(set->kind == VAR_RESET_ALL ||
			 (set->name != NULL && pg_strcasecmp(set->name, "inventory.sweeper") == 0)))
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			sweeper_setting_changed = lappend_oid(sweeper_setting_changed, dboid);
			MemoryContextSwitchTo(old);
		}
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* ----------------------------------------------------------------
 * set-up
 * ----------------------------------------------------------------
 */

void
inv_launcher_init(void)
{
	BackgroundWorker bgw;

	RegisterXactCallback(launcher_xact_callback, NULL);

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = launcher_ProcessUtility;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = LAUNCHER_RETRY_MS / 1000;
	strlcpy(bgw.bgw_library_name, "inventory", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "inv_launcher_main", BGW_MAXLEN);
	strlcpy(bgw.bgw_name, "inventory launcher", BGW_MAXLEN);
	strlcpy(bgw.bgw_type, "inventory launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&bgw);
}
