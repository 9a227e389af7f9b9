/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background workers: a launcher, and one sweeper per database in
 *	  which the extension is installed.
 *
 * The launcher (started by the postmaster when the library is in
 * shared_preload_libraries) reads pg_database and starts a sweeper in
 * every database that accepts connections and is not a template, or only
 * in those named by inventory.databases.  A sweeper that finds no
 * extension leaves quietly and its database is marked in shared memory;
 * the launcher does not come back until CREATE EXTENSION (or ALTER
 * EXTENSION UPDATE) in that database asks it to, after its commit.  A
 * sweeper that fails is started again after LAUNCHER_RETRY_MS; a crash of
 * any worker makes the postmaster restart the whole cluster, launcher
 * included.  The launcher owns the handles, so that nothing restarts in a
 * loop in a database that does not want a sweeper (pg_net PR #264).
 *
 * Each sweeper cycle: expire overdue holds in batches of
 * inventory.sweep_batch, a transaction each, every inventory.sweep_interval;
 * purge by inventory.retention once a minute; and send NOTIFY
 * inventory_outbox on behalf of writers that committed events since the
 * last one.  Writers do not NOTIFY themselves when a sweeper runs, because
 * PostgreSQL serialises the commits of every notifying transaction of the
 * cluster on one lock; many commits then cost one NOTIFY, and only the
 * first of them wakes the sweeper.  Without a sweeper a writer sends its
 * own NOTIFY, but only as it commits: PostgreSQL refuses to PREPARE a
 * transaction that has notified, so a NOTIFY queued when the event was
 * written would make two-phase commit work or fail depending on whether a
 * sweeper runs.  A prepared transaction's events get no NOTIFY at all;
 * the relays poll for them.
 *
 * Every transaction of a sweeper first takes a share lock on the
 * extension (the lock DROP EXTENSION needs exclusively) and checks it is
 * still there, as Citus does, so a drop never meets a half-done sweep.
 * An error aborts that cycle only: it is logged and the next cycle runs
 * after a backoff.
 *
 * DROP DATABASE, ALTER DATABASE RENAME and CREATE DATABASE ... TEMPLATE
 * need a database nobody is connected to: a utility hook asks our sweeper
 * to leave it first, and keeps the launcher away for a while.
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
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "holds.h"
#include "retention.h"
#include "shmem.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(inv_worker_wake);

PGDLLEXPORT void inv_launcher_main(Datum main_arg);
PGDLLEXPORT void inv_sweeper_main(Datum main_arg);

/* how often the launcher looks for new databases anyway */
#define LAUNCHER_NAPTIME_MS		10000
/* a sweeper that stopped unexpectedly is started again after this */
#define LAUNCHER_RETRY_MS		10000
/* DROP DATABASE waits 5 s for others to leave; stay away longer */
#define HOLD_OFF_MS				10000
/* retention runs at most this often */
#define PURGE_INTERVAL_MS		60000
/* longest pause after failed cycles */
#define MAX_BACKOFF_MS			60000

int			inv_sweep_interval = 1000;
int			inv_sweep_batch = 100;
int			inv_retention = 7 * 24 * 3600;
char	   *inv_databases = NULL;
bool		inv_sweeper = true;
/* may a writer send its own NOTIFY when no sweeper will? */
static bool inv_writer_notify = true;

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * The shallowest (sub)transaction nesting level that wrote outbox events
 * and was not rolled back since; 0: none.
 */
static int	outbox_written_level = 0;
/* this transaction is committing events and a sweeper will NOTIFY for it */
static bool notify_via_sweeper = false;
/* CREATE or ALTER EXTENSION ran in this transaction */
static bool wake_launcher = false;
/* databases whose inventory.sweeper this transaction set or reset */
static List *sweeper_setting_changed = NIL;

/* ----------------------------------------------------------------
 * common
 * ----------------------------------------------------------------
 */

/* Is database dbname among inventory.databases (empty: all)? */
static bool
database_wanted(const char *dbname)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	bool		wanted = false;

	if (inv_databases == NULL || inv_databases[0] == '\0')
		return true;
	raw = pstrdup(inv_databases);
	if (!SplitGUCList(raw, ',', &names))
		return false;			/* the check hook rejects such values */
	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), dbname) == 0)
			wanted = true;
	list_free(names);
	pfree(raw);
	return wanted;
}

static bool
check_databases(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *names;
	bool		ok = SplitGUCList(raw, ',', &names);

	if (!ok)
		GUC_check_errdetail("List syntax is invalid.");
	list_free(names);
	pfree(raw);
	return ok;
}

static long
ms_until(TimestampTz from, TimestampTz to)
{
	return to <= from ? 0 : (long) ((to - from + 999) / 1000);
}

/* ----------------------------------------------------------------
 * launcher
 * ----------------------------------------------------------------
 */

typedef struct LaunchedDb
{
	Oid			dboid;			/* InvalidOid: free entry */
	BackgroundWorkerHandle *handle; /* our sweeper there, if started */
	TimestampTz retry_at;		/* not again before */
} LaunchedDb;

typedef struct DbInfo
{
	Oid			oid;
	bool		eligible;		/* accepts connections, not a template */
	NameData	name;
} DbInfo;

static LaunchedDb *launched;

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

static LaunchedDb *
launched_entry(Oid dboid)
{
	LaunchedDb *free_entry = NULL;

	for (int i = 0; i < inv_max_databases; i++)
	{
		if (launched[i].dboid == dboid)
			return &launched[i];
		if (free_entry == NULL && !OidIsValid(launched[i].dboid))
			free_entry = &launched[i];
	}
	if (free_entry != NULL)
	{
		free_entry->dboid = dboid;
		free_entry->handle = NULL;
		free_entry->retry_at = 0;
	}
	return free_entry;
}

static BackgroundWorkerHandle *
start_sweeper(DbInfo *db)
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

static DbInfo *
find_db(List *dbs, Oid dboid)
{
	ListCell   *lc;

	foreach(lc, dbs)
		if (((DbInfo *) lfirst(lc))->oid == dboid)
			return lfirst(lc);
	return NULL;
}

/* One look at the databases; returns how long to sleep (ms). */
static long
launcher_pass(void)
{
	static bool slots_warned = false;
	TimestampTz listed_at = GetCurrentTimestamp();
	List	   *dbs = database_list();
	TimestampTz now = GetCurrentTimestamp();
	long		wait = LAUNCHER_NAPTIME_MS;
	ListCell   *lc;
	pid_t		pid;

	/*
	 * First every sweeper we started, whatever its database has become:
	 * collect those that stopped, stop those whose database is gone or no
	 * longer takes connections (the others leave by themselves on a
	 * reload), forget databases that are gone.
	 */
	for (int i = 0; i < inv_max_databases; i++)
	{
		LaunchedDb *entry = &launched[i];
		DbInfo	   *db;

		if (!OidIsValid(entry->dboid))
			continue;
		db = find_db(dbs, entry->dboid);
		if (entry->handle != NULL)
		{
			if (GetBackgroundWorkerPid(entry->handle, &pid) == BGWH_STOPPED)
			{
				pfree(entry->handle);
				entry->handle = NULL;
				entry->retry_at = now + LAUNCHER_RETRY_MS * INT64CONST(1000);
			}
			else if (db == NULL || !db->eligible)
				TerminateBackgroundWorker(entry->handle);
		}
		if (entry->handle == NULL && db == NULL)
			entry->dboid = InvalidOid;
	}

	foreach(lc, dbs)
	{
		DbInfo	   *db = lfirst(lc);
		LaunchedDb *entry;
		InvDbSlot  *slot;
		bool		start;

		if (!db->eligible || !database_wanted(NameStr(db->name)))
			continue;
		if ((entry = launched_entry(db->oid)) == NULL ||
			(slot = shmem_db_slot(db->oid, true)) == NULL)
		{
			if (!slots_warned)
				ereport(LOG,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("inventory has no shared slot left for database \"%s\": it gets no sweeper",
								NameStr(db->name)),
						 errhint("Raise inventory.max_databases (now %d), or name the databases to sweep in inventory.databases.",
								 inv_max_databases)));
			slots_warned = true;
			continue;
		}
		if (entry->handle != NULL || inv_sweep_interval == 0)
			continue;

		LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
		if (slot->wake_requested)
		{
			slot->wake_requested = false;
			slot->extension_absent = false;
			slot->sweeper_off = false;
			entry->retry_at = 0;
		}
		start = slot->worker_pid == 0 && !slot->extension_absent &&
			!slot->sweeper_off &&
			now >= slot->hold_off_until && now >= entry->retry_at;
		if (!start && slot->worker_pid == 0 && !slot->extension_absent &&
			!slot->sweeper_off)
			wait = Min(wait, ms_until(now, Max(slot->hold_off_until, entry->retry_at)));
		LWLockRelease(inv_shared->lock);

		if (start && (entry->handle = start_sweeper(db)) == NULL)
		{
			entry->retry_at = now + LAUNCHER_RETRY_MS * INT64CONST(1000);
			wait = Min(wait, LAUNCHER_RETRY_MS);
		}
	}

	free_dropped_slots(dbs, listed_at);
	return Max(wait, 10);
}

void
inv_launcher_main(Datum main_arg)
{
	MemoryContext pass_context;

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

	launched = MemoryContextAllocZero(TopMemoryContext,
									  sizeof(LaunchedDb) * inv_max_databases);
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
 * sweeper
 * ----------------------------------------------------------------
 */

static InvDbSlot *sweeper_slot;

static void
sweeper_detach(int code, Datum arg)
{
	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
	if (sweeper_slot->worker_pid == MyProcPid)
	{
		sweeper_slot->worker_pid = 0;
		sweeper_slot->worker_latch = NULL;
	}
	LWLockRelease(inv_shared->lock);
}

/*
 * In a transaction: lock the extension against DROP EXTENSION and check it
 * is (still) installed.  *retention_ready tells whether its tables are at
 * 0.2.0 or later (ALTER EXTENSION UPDATE may not have run yet).
 */
static bool
lock_extension(bool *retention_ready)
{
	Oid			extoid = get_extension_oid("inventory", true);
	Oid			nspoid;

	if (!OidIsValid(extoid))
		return false;
	LockDatabaseObject(ExtensionRelationId, extoid, 0, AccessShareLock);
	/* taking the lock processed invalidations: was it dropped meanwhile? */
	if (get_extension_oid("inventory", true) != extoid)
		return false;
	if (retention_ready != NULL)
	{
		nspoid = get_namespace_oid("inventory", true);
		*retention_ready = OidIsValid(nspoid) &&
			OidIsValid(get_relname_relid("purged_sales", nspoid));
	}
	return true;
}

/*
 * One pass may not take longer than this, so that a backlog (the first
 * purge after an upgrade, say) cannot hold up sweeps, NOTIFYs or a reload;
 * what is left waits for the next pass, which comes at once.
 */
static TimestampTz
pass_deadline(void)
{
	return GetCurrentTimestamp() +
		(int64) Max(inv_sweep_interval, 1000) * 500;	/* half, in us */
}

/*
 * Expire overdue holds, a batch per transaction, until a batch comes back
 * short or the pass has used its time.  *present: is the extension there?
 * Returns whether overdue holds may be left.
 */
static bool
sweep_cycle(int64 *expired, bool *present)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz deadline = pass_deadline();
	int			n = 0;

	*expired = 0;
	do
	{
		CHECK_FOR_INTERRUPTS();
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		*present = lock_extension(NULL);
		if (*present)
		{
			pgstat_report_activity(STATE_RUNNING, "inventory: expiring overdue holds");
			n = holds_sweep(inv_sweep_batch);
			*expired += n;
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
	} while (*present && n == inv_sweep_batch && GetCurrentTimestamp() < deadline);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (*present)
		stats_sweep_done(start, GetCurrentTimestamp());
	return *present && n == inv_sweep_batch;
}

/*
 * Purge by inventory.retention: holds, then events, a batch per
 * transaction, within the pass's time.  Returns whether rows may be left.
 */
static bool
purge_cycle(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz deadline = pass_deadline();
	bool		ready = false;
	bool		more = false;

	if (inv_retention == 0)
		return false;
	for (RetentionKind kind = RETENTION_HOLDS; kind <= RETENTION_EVENTS; kind++)
	{
		int64		n;

		do
		{
			CHECK_FOR_INTERRUPTS();
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			n = 0;
			if (lock_extension(&ready) && ready)
			{
				pgstat_report_activity(STATE_RUNNING, "inventory: purging by retention");
				n = retention_purge(kind, inv_sweep_batch);
			}
			PopActiveSnapshot();
			CommitTransactionCommand();
			MemoryContextSwitchTo(cxt);
		} while (n >= inv_sweep_batch && GetCurrentTimestamp() < deadline);
		more |= (n >= inv_sweep_batch);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	return more;
}

/* set while a NOTIFY for writers is being sent, to retry it after an error */
static bool notify_taken = false;

static void
notify_cycle(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (pg_atomic_read_u32(&sweeper_slot->notify_pending) == 0)
		return;
	StartTransactionCommand();
	pg_atomic_write_u32(&sweeper_slot->notify_pending, 0);
	notify_taken = true;
	Async_Notify(INV_OUTBOX_CHANNEL, NULL);
	CommitTransactionCommand();
	notify_taken = false;
	MemoryContextSwitchTo(cxt);
}

/* In PG_CATCH: log the error, clean up, and carry on. */
static void
cycle_error(MemoryContext cxt)
{
	HOLD_INTERRUPTS();
	EmitErrorReport();
	AbortOutOfAnyTransaction();
	FlushErrorState();
	pgstat_report_activity(STATE_IDLE, NULL);
	if (notify_taken)
	{
		pg_atomic_write_u32(&sweeper_slot->notify_pending, 1);
		notify_taken = false;
	}
	MemoryContextSwitchTo(cxt);
	RESUME_INTERRUPTS();
}

/* pause after failures in a row: the interval, doubling, at most a minute */
static TimestampTz
after_backoff(TimestampTz now, int failures)
{
	int64		ms = Max(inv_sweep_interval, 1000);

	ms <<= Min(failures - 1, 16);
	return now + Min(ms, MAX_BACKOFF_MS) * INT64CONST(1000);
}

/*
 * Leave on purpose: stop being this database's sweeper first, so that
 * committing writers NOTIFY themselves, then send what was pending.
 */
static void
sweeper_leave(int elevel, const char *dbname, const char *why)
{
	sweeper_detach(0, (Datum) 0);
	PG_TRY();
	{
		notify_cycle();
	}
	PG_CATCH();
	{
		cycle_error(TopMemoryContext);
	}
	PG_END_TRY();
	ereport(elevel,
			(errmsg("inventory sweeper for database \"%s\" stopping: %s",
					dbname, why)));
	proc_exit(0);
}

/*
 * The sweeper runs as the bootstrap superuser, so nothing it runs may
 * depend on a setting that the database's owner (ALTER DATABASE ... SET)
 * or any user controls.  As autovacuum does, override:
 *
 * - search_path: with the database's path, or the default one whose
 *   "$user" is the bootstrap superuser's name, a schema the owner made
 *   could shadow an operator or an aggregate that the sweep uses, and
 *   the sweeper would run the owner's code as a superuser.  An empty path
 *   resolves every unqualified name in pg_catalog; our tables are named
 *   with their schema.
 * - the timeouts, read-only transactions and the isolation level: any of
 *   them could make every sweep fail, and stop holds from expiring.
 */
static void
sweeper_settings(void)
{
	static const char *const settings[][2] = {
		{"search_path", ""},
		{"statement_timeout", "0"},
		{"lock_timeout", "0"},
		{"idle_in_transaction_session_timeout", "0"},
		{"default_transaction_read_only", "off"},
		{"default_transaction_isolation", "read committed"},
	};

	for (int i = 0; i < lengthof(settings); i++)
		SetConfigOption(settings[i][0], settings[i][1], PGC_SUSET, PGC_S_OVERRIDE);
}

/* inventory.sweeper is off here: leave, and keep the launcher away */
static void
sweeper_off(const char *dbname)
{
	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
	sweeper_slot->sweeper_off = true;
	LWLockRelease(inv_shared->lock);
	sweeper_leave(LOG, dbname, "inventory.sweeper is off for this database");
}

void
inv_sweeper_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	char	   *dbname;
	MemoryContext cycle_context;
	/* volatile: changed within PG_TRY and read after an error */
	volatile TimestampTz next_sweep = 0;
	volatile TimestampTz next_purge = 0;
	volatile TimestampTz behind_logged = 0;
	volatile int sweep_failures = 0;
	volatile int purge_failures = 0;
	volatile bool absent = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("inventory sweeper");
	sweeper_settings();

	/*
	 * One sweeper per database: a second one (after a launcher restart)
	 * leaves, and so does one started while DROP DATABASE wants it away.
	 */
	sweeper_slot = shmem_db_slot(dboid, true);
	if (sweeper_slot == NULL)
		proc_exit(0);
	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
	if (sweeper_slot->worker_pid != 0 ||
		GetCurrentTimestamp() < sweeper_slot->hold_off_until)
	{
		LWLockRelease(inv_shared->lock);
		proc_exit(0);
	}
	sweeper_slot->worker_pid = MyProcPid;
	sweeper_slot->worker_latch = MyLatch;
	sweeper_slot->restart_requested = false;
	LWLockRelease(inv_shared->lock);
	before_shmem_exit(sweeper_detach, (Datum) 0);

	StartTransactionCommand();
	dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(dboid));
	CommitTransactionCommand();

	/* ALTER DATABASE ... SET inventory.sweeper = off reached us as we connected */
	if (!inv_sweeper)
		sweeper_off(dbname);

	cycle_context = AllocSetContextCreate(TopMemoryContext, "inventory sweeper",
										  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		TimestampTz now;
		long		wait;
		bool		restart;

		CHECK_FOR_INTERRUPTS();
		LWLockAcquire(inv_shared->lock, LW_SHARED);
		restart = sweeper_slot->restart_requested;
		LWLockRelease(inv_shared->lock);
		if (restart)
		{
			/*
			 * A database's settings reach a session only as it connects:
			 * leave, and have the launcher start a sweeper afresh.
			 */
			LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
			sweeper_slot->wake_requested = true;
			LWLockRelease(inv_shared->lock);
			sweeper_leave(DEBUG1, dbname, "inventory.sweeper was changed for this database");
		}
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (!inv_sweeper)
				sweeper_off(dbname);
			if (inv_sweep_interval == 0)
				sweeper_leave(LOG, dbname, "inventory.sweep_interval is 0");
			if (!database_wanted(dbname))
				sweeper_leave(LOG, dbname, "not in inventory.databases");
			/* new settings take effect at once */
			next_sweep = 0;
			next_purge = 0;
		}

		MemoryContextSwitchTo(cycle_context);
		now = GetCurrentTimestamp();

		PG_TRY();
		{
			notify_cycle();
		}
		PG_CATCH();
		{
			cycle_error(cycle_context);
		}
		PG_END_TRY();

		if (now >= next_sweep)
		{
			PG_TRY();
			{
				int64		expired;
				bool		present;
				bool		more = sweep_cycle(&expired, &present);
				TimestampTz end = GetCurrentTimestamp();

				absent = !present;
				next_sweep = more ? end : now + inv_sweep_interval * INT64CONST(1000);
				sweep_failures = 0;
				/* worth a line: the sweep takes longer than its interval */
				if ((more || end > now + inv_sweep_interval * INT64CONST(1000)) &&
					end - behind_logged > 60 * USECS_PER_SEC)
				{
					behind_logged = end;
					ereport(LOG,
							(errmsg("inventory sweeper for database \"%s\" is falling behind",
									dbname),
							 errdetail("Expiring " INT64_FORMAT " holds took %ld ms%s; inventory.sweep_interval is %d ms.",
									   expired, ms_until(now, end),
									   more ? ", and more are overdue" : "",
									   inv_sweep_interval)));
				}
			}
			PG_CATCH();
			{
				cycle_error(cycle_context);
				sweep_failures = sweep_failures + 1;
				next_sweep = after_backoff(GetCurrentTimestamp(), sweep_failures);
			}
			PG_END_TRY();
		}
		if (absent)
		{
			LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
			sweeper_slot->extension_absent = true;
			LWLockRelease(inv_shared->lock);
			sweeper_leave(DEBUG1, dbname, "extension not installed");
		}

		/* the purge has its own pace and failures: it never delays a sweep */
		if (now >= next_purge && now < next_sweep)
		{
			PG_TRY();
			{
				bool		more = purge_cycle();

				next_purge = more ? GetCurrentTimestamp() :
					now + PURGE_INTERVAL_MS * INT64CONST(1000);
				purge_failures = 0;
			}
			PG_CATCH();
			{
				cycle_error(cycle_context);
				purge_failures = purge_failures + 1;
				next_purge = Max(after_backoff(GetCurrentTimestamp(), purge_failures),
								 now + PURGE_INTERVAL_MS * INT64CONST(1000));
			}
			PG_END_TRY();
		}
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(cycle_context);

		now = GetCurrentTimestamp();
		wait = Min(ms_until(now, next_sweep), ms_until(now, next_purge));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(wait, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ----------------------------------------------------------------
 * signals from ordinary backends
 *
 * A transaction that writes outbox events only notes it; who sends its
 * NOTIFY is decided at XACT_EVENT_PRE_COMMIT: our sweeper, when one runs,
 * else the transaction itself (Async_Notify still works there, since
 * PreCommit_Notify comes after the pre-commit callbacks).  Nothing is
 * queued before, so PREPARE TRANSACTION works with or without a sweeper;
 * the events of a prepared transaction get no NOTIFY, neither at PREPARE
 * nor at COMMIT PREPARED, and the relays' poll finds them.
 * ----------------------------------------------------------------
 */

/*
 * Called before each event insert: a NOTIFY on inventory_outbox follows
 * this transaction's commit, unless the subtransaction that wrote the event
 * is rolled back.
 */
void
worker_outbox_written(void)
{
	int			level = GetCurrentTransactionNestLevel();

	if (outbox_written_level == 0 || level < outbox_written_level)
		outbox_written_level = level;
}

/* Does a sweeper serve this database, to NOTIFY for us after our commit? */
static bool
sweeper_running(void)
{
	InvDbSlot  *slot = shmem_my_slot();
	pid_t		pid;

	if (slot == NULL)
		return false;
	LWLockAcquire(inv_shared->lock, LW_SHARED);
	pid = slot->worker_pid;
	LWLockRelease(inv_shared->lock);
	return pid != 0;
}

/*
 * A subtransaction's events pass to its parent when it commits, and go
 * with it when it is rolled back, as its NOTIFYs would.
 */
static void
worker_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	/* nothing written, or written by an ancestor too */
	if (outbox_written_level == 0 || outbox_written_level < level)
		return;
	switch (event)
	{
		case SUBXACT_EVENT_COMMIT_SUB:
			outbox_written_level = level - 1;
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			outbox_written_level = 0;
			break;
		default:
			break;
	}
}

/*
 * After ALTER DATABASE ... SET or RESET inventory.sweeper committed: each
 * of those databases gets a new sweeper, which reads the setting as it
 * connects (and leaves if it is off).
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
		InvDbSlot  *slot = shmem_db_slot(lfirst_oid(lc), true);

		if (slot == NULL)
			continue;
		LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
		slot->wake_requested = true;
		latch = NULL;
		if (slot->worker_pid != 0)
		{
			slot->restart_requested = true;
			latch = slot->worker_latch;
		}
		LWLockRelease(inv_shared->lock);
		if (latch != NULL)
			SetLatch(latch);
	}
	LWLockAcquire(inv_shared->lock, LW_SHARED);
	latch = inv_shared->launcher_latch;
	LWLockRelease(inv_shared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

static void
worker_xact_callback(XactEvent event, void *arg)
{
	InvDbSlot  *slot;
	Latch	   *latch;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:

			/*
			 * Decided now, not when the events were written: the sweeper
			 * may have come or gone since, and a NOTIFY queued then would
			 * have made a PREPARE TRANSACTION fail.
			 */
			if (outbox_written_level > 0)
			{
				if (sweeper_running())
					notify_via_sweeper = true;
				else if (inv_writer_notify)
					Async_Notify(INV_OUTBOX_CHANNEL, NULL);
			}
			break;
		case XACT_EVENT_COMMIT:
			if (notify_via_sweeper && (slot = shmem_my_slot()) != NULL)
			{
				/*
				 * Only the first writer since the last NOTIFY wakes the
				 * sweeper: the others' commits come before that NOTIFY too.
				 * A stale latch is harmless: PGPROCs stay in shared memory.
				 */
				if (pg_atomic_exchange_u32(&slot->notify_pending, 1) == 0 &&
					(latch = slot->worker_latch) != NULL)
					SetLatch(latch);
			}
			if (wake_launcher && (slot = shmem_db_slot(MyDatabaseId, true)) != NULL)
			{
				LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
				slot->wake_requested = true;
				latch = inv_shared->launcher_latch;
				LWLockRelease(inv_shared->lock);
				if (latch != NULL)
					SetLatch(latch);
			}
			if (sweeper_setting_changed != NIL)
				restart_sweepers(sweeper_setting_changed);
			outbox_written_level = 0;
			notify_via_sweeper = false;
			wake_launcher = false;
			sweeper_setting_changed = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction's events get no NOTIFY, ever */
			outbox_written_level = 0;
			notify_via_sweeper = false;
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
worker_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
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
worker_init(void)
{
	BackgroundWorker bgw;

	DefineCustomIntVariable("inventory.sweep_interval",
							"Pause between two sweeps of overdue holds; 0 stops the sweepers.",
							"Holds expire within about this long after their expiry.",
							&inv_sweep_interval,
							1000, 0, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * Small, because a sweep transaction keeps the stock rows of the holds
	 * it expires locked until it commits, and buyers of those SKUs wait for
	 * it: measured on 2 cores, a buyer behind a sweep of 1,000 holds waited
	 * about 33 ms, behind one of 100 about 7 ms.  A backlog is worked off in
	 * as many transactions as it takes, within the pass's time.
	 */
	DefineCustomIntVariable("inventory.sweep_batch",
							"Most holds a sweep expires, or retention purges, in one transaction.",
							"Buyers of the SKUs a sweep transaction touches wait for its commit: keep it small.",
							&inv_sweep_batch,
							100, 1, 1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.retention",
							"How long finished holds, and outbox events no consumer waits for, are kept; 0 keeps them forever.",
							NULL,
							&inv_retention,
							7 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * PGC_SUSET, not PGC_SIGHUP, only so that a superuser can turn it off
	 * for one database with ALTER DATABASE ... SET; a sweeper reads it as
	 * it connects and at a reload.  Set in a session it means nothing.
	 */
	DefineCustomBoolVariable("inventory.sweeper",
							 "Whether a sweeper serves the database; set it per database with ALTER DATABASE.",
							 "Off: holds expire only when inv_sweep() runs or a reserve needs their units.",
							 &inv_sweeper,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * Without a sweeper each writer sends its own NOTIFY, and PostgreSQL
	 * serialises the commits of every notifying transaction of the cluster
	 * on one lock, held through the commit's WAL flush: measured on 2
	 * cores, 64 clients, checkouts ran at 315-476/s with it and 883-975/s
	 * without.  Off: no NOTIFY then; relays find the events by polling.
	 */
	DefineCustomBoolVariable("inventory.writer_notify",
							 "Whether a transaction that wrote outbox events sends NOTIFY inventory_outbox itself when no sweeper serves the database.",
							 "Off: relays find those events by polling; with a sweeper nothing changes.",
							 &inv_writer_notify,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("inventory.databases",
							   "Databases the sweepers serve (comma-separated); empty: every database with the extension.",
							   NULL,
							   &inv_databases,
							   "",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   check_databases, NULL, NULL);

	RegisterXactCallback(worker_xact_callback, NULL);
	RegisterSubXactCallback(worker_subxact_callback, NULL);

	/*
	 * Loaded on first use, the library has no shared memory and no
	 * workers.  It must not define a PGC_POSTMASTER setting then either:
	 * PostgreSQL ends the session (FATAL) for that after startup.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomIntVariable("inventory.max_databases",
							"Most databases the launcher and the counters keep track of (every database that accepts connections counts).",
							NULL,
							&inv_max_databases,
							256, 1, 100000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	shmem_init();

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = worker_ProcessUtility;

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
