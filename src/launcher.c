/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: the background worker that starts a sweeper (sweeper.c)
 *	  in each database that wants one, and what ordinary backends do to
 *	  wake it or to keep it and its sweepers out of a database.
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

		if (!db->eligible || !inv_database_wanted(NameStr(db->name)))
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
			wait = Min(wait, inv_ms_until(now, Max(slot->hold_off_until, entry->retry_at)));
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
 * requests from ordinary backends
 *
 * What CREATE EXTENSION and ALTER DATABASE ... SET inventory.sweeper ask
 * of the launcher and the sweepers happens once their transaction commits,
 * and not at all if it is rolled back; a command that needs a database
 * nobody is connected to moves its sweeper out before it runs.
 * ----------------------------------------------------------------
 */

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
launcher_xact_callback(XactEvent event, void *arg)
{
	InvDbSlot  *slot;
	Latch	   *latch;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
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
