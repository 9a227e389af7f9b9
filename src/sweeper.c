/*-------------------------------------------------------------------------
 *
 * sweeper.c
 *	  The per-database background worker, started by the launcher
 *	  (launcher.c) in each database that wants one, and the settings that
 *	  say which databases do.
 *
 * Each sweeper cycle: expire overdue holds in batches of
 * inventory.sweep_batch, a transaction each, every inventory.sweep_interval;
 * purge by inventory.retention once a minute; and send NOTIFY
 * inventory_outbox on behalf of writers that committed events since the
 * last one (notify.c says why writers leave it to us).
 *
 * Every transaction of a sweeper first takes a share lock on the
 * extension (the lock DROP EXTENSION needs exclusively) and checks it is
 * still there, as Citus does, so a drop never meets a half-done sweep.
 * Its work then runs as the owner of the extension's tables
 * (inventory_owner), not as the superuser the worker connects as: see
 * run_as_owner().
 * An error aborts that cycle only: it is logged and the next cycle runs
 * after a backoff.
 *
 * A sweeper first looks for the extension, and says what it found in its
 * shared slot, for the launcher: a probe (launcher.c) is a sweeper started
 * where the launcher does not know yet, and it is the database's sweeper
 * from then on if the extension is there.  A sweeper that finds no
 * extension, then or later (DROP EXTENSION), or inventory.sweeper off for
 * its database, leaves and says so in its slot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "expiry_floor.h"
#include "holds.h"
#include "inventory.h"
#include "launcher.h"
#include "notify.h"
#include "retention.h"
#include "schema.h"
#include "shmem.h"
#include "sweeper.h"

PGDLLEXPORT void inv_sweeper_main(Datum main_arg);

/* retention runs at most this often */
#define PURGE_INTERVAL_MS		60000
/* longest pause after failed cycles */
#define MAX_BACKOFF_MS			60000

int			inv_sweep_interval = 1000;
int			inv_sweep_batch = 100;
char	   *inv_databases = NULL;
bool		inv_sweeper = true;

/* ----------------------------------------------------------------
 * inventory.databases
 * ----------------------------------------------------------------
 */

/* Is database dbname among inventory.databases (empty: all)? */
bool
inv_database_wanted(const char *dbname)
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

/* check hook of inventory.databases */
bool
inv_check_databases(char **newval, void **extra, GucSource source)
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
 * The owner of the extension's tables: inventory_owner from 0.4.0 on (the
 * superuser that created the extension before, until ALTER EXTENSION
 * UPDATE runs).
 */
static Oid
tables_owner(void)
{
	Oid			nspoid = inv_schema_oid();
	Oid			relid = InvalidOid;
	HeapTuple	tuple;
	Oid			owner;

	if (OidIsValid(nspoid))
		relid = get_relname_relid("reservation", nspoid);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table reservation of the inventory extension is missing")));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * In a transaction: lock the extension against DROP EXTENSION and check it
 * is (still) installed.  *retention_ready tells whether its tables are at
 * 0.2.0 or later (ALTER EXTENSION UPDATE may not have run yet); *owner is
 * the role the work of the transaction runs as (run_as_owner).
 */
static bool
lock_extension(bool *retention_ready, Oid *owner)
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
		nspoid = inv_schema_oid();
		*retention_ready = OidIsValid(nspoid) &&
			OidIsValid(get_relname_relid("purged_sales", nspoid));
	}
	*owner = tables_owner();
	return true;
}

/*
 * The rest of the transaction runs as the owner of the extension's tables,
 * as VACUUM, ANALYZE and REFRESH MATERIALIZED VIEW run as the table's
 * owner: a bug in the sweep or the purge then has that role's rights, not
 * a superuser's.  The worker itself cannot connect as inventory_owner: in
 * PostgreSQL 15 InitializeSessionUserId() refuses a role without LOGIN to
 * background workers too (BGWORKER_BYPASS_ROLELOGINCHECK came in 17), and
 * the role must not be able to log in.  So it connects as the bootstrap
 * superuser and changes the current user within each transaction; the
 * security-restricted context forbids SET ROLE, SET SESSION AUTHORIZATION
 * and the like meanwhile.  The caller switches back before it commits;
 * when the work fails, the abort of the transaction restores the user it
 * started with (AbortTransaction does, as for a SECURITY DEFINER call).
 */
static void
run_as_owner(Oid owner, Oid *save_userid, int *save_sec_context)
{
	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(owner, *save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
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
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;

	*expired = 0;
	do
	{
		CHECK_FOR_INTERRUPTS();
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		*present = lock_extension(NULL, &owner);
		if (*present)
		{
			pgstat_report_activity(STATE_RUNNING, "inventory: expiring overdue holds");
			run_as_owner(owner, &save_userid, &save_sec_context);
			n = holds_sweep(inv_sweep_batch);
			SetUserIdAndSecContext(save_userid, save_sec_context);
			*expired += n;
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
	} while (*present && n == inv_sweep_batch && GetCurrentTimestamp() < deadline);

	/*
	 * The expiry floor, in a transaction of its own: the holds expired
	 * above are gone for good now, and the floor moves past them.
	 */
	if (*present)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (lock_extension(NULL, &owner))
			expiry_floor_refresh();
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
	}
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
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;

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
			if (lock_extension(&ready, &owner) && ready)
			{
				pgstat_report_activity(STATE_RUNNING, "inventory: purging by retention");
				run_as_owner(owner, &save_userid, &save_sec_context);
				n = retention_purge(kind, inv_sweep_batch);
				SetUserIdAndSecContext(save_userid, save_sec_context);
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

/*
 * The NOTIFY the sweeper sends for writers runs no SQL and needs no
 * privilege: unlike the sweep and the purge, it stays the worker's own.
 * notify_taken is set while it is being sent, to retry it after an error.
 *
 * Its transaction changes no data, but sending a NOTIFY takes an xid, so
 * its commit would wait for a WAL flush of its own under synchronous_commit
 * = on: one more flush for every batch of writers' commits.  Nothing in it
 * needs to survive a crash (a NOTIFY is not kept), and it is sent after
 * the writers' commits it announces are durable (they flushed before
 * their XACT_EVENT_COMMIT set notify_pending), so it commits without
 * waiting for its own flush.
 */
static bool notify_taken = false;

/*
 * NOTIFYs are sent at most every NOTIFY_GAP_MS: under load, every commit
 * that follows a NOTIFY wakes the sweeper for the next one, and these
 * transactions and wake-ups came to 2-3 % of the machine's CPU at 32
 * clients.  The commits of a gap share its one NOTIFY; a relay hears of an
 * event at most that much later.
 */
#define NOTIFY_GAP_MS 10

static TimestampTz next_notify = 0;

/* a NOTIFY that failed is tried again this much later, not at the next gap */
#define NOTIFY_RETRY_MS 1000

/* A NOTIFY is pending and may be sent at now? */
static bool
notify_due(TimestampTz now)
{
	/* a clock set back must not hold NOTIFYs until it catches up */
	if (next_notify > now + NOTIFY_RETRY_MS * INT64CONST(1000))
		next_notify = now;
	return pg_atomic_read_u32(&sweeper_slot->notify_pending) != 0 &&
		now >= next_notify;
}

static void
notify_cycle(TimestampTz now)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (!notify_due(now))
		return;
	next_notify = now + NOTIFY_GAP_MS * INT64CONST(1000);
	StartTransactionCommand();
	(void) set_config_option("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
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
		/* a lasting failure (a full NOTIFY queue) is not retried 100 times a second */
		pg_atomic_write_u32(&sweeper_slot->notify_pending, 1);
		next_notify = GetCurrentTimestamp() + NOTIFY_RETRY_MS * INT64CONST(1000);
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
		next_notify = 0;
		notify_cycle(GetCurrentTimestamp());
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
 * The sweeper connects as the bootstrap superuser (and runs its work as
 * the tables' owner, run_as_owner), so nothing it runs may depend on a
 * setting that the database's owner (ALTER DATABASE ... SET) or any user
 * controls.  As autovacuum does, override:
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

/* started as a probe, and not found the extension yet */
static bool probing = false;

/* before_shmem_exit callback of a probe, however it ends */
static void
probe_exit(int code, Datum arg)
{
	if (probing)
		ereport(DEBUG1,
				(errmsg_internal("inventory probe for database %u done",
								 DatumGetObjectId(arg))));
}

/* How many wakes the launcher was ever asked for (inv_launcher_wake) */
static uint64
wake_seq(void)
{
	uint64		seq;

	LWLockAcquire(inv_shared->lock, LW_SHARED);
	seq = inv_shared->wake_seq;
	LWLockRelease(inv_shared->lock);
	return seq;
}

/* times in a row the extension was not found, but a wake came meanwhile */
static int	absent_unsure = 0;

/*
 * The extension is not here, as of a look that began when wake_seq was
 * seen: tell the launcher, which frees our slot and stays away until a
 * wake, and leave.  Unless a wake came since: CREATE EXTENSION may have
 * committed after our snapshot, and its wake reached the launcher before
 * our report would; then return, to look again.  Wakes for other databases
 * count too, so after a few such looks leave without a report: the
 * launcher tries again later.
 */
static void
leave_if_absent(uint64 seen, const char *dbname)
{
	bool		sure;

	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
	sure = inv_shared->wake_seq == seen;
	if (sure)
	{
		sweeper_slot->extension_present = false;
		sweeper_slot->extension_absent = true;
	}
	LWLockRelease(inv_shared->lock);
	if (sure || ++absent_unsure >= 10)
		sweeper_leave(DEBUG1, dbname, "extension not installed");
}

/*
 * First thing: is the extension installed here?  If not, leave.  If so, a
 * probe has found out: say so to the launcher, which may start the next
 * probe now.
 */
static void
find_extension(const char *dbname)
{
	MemoryContext cxt = CurrentMemoryContext;
	Latch	   *latch;

	for (;;)
	{
		uint64		seen = wake_seq();
		bool		present;

		CHECK_FOR_INTERRUPTS();
		StartTransactionCommand();
		present = OidIsValid(get_extension_oid("inventory", true));
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
		if (present)
			break;
		leave_if_absent(seen, dbname);
	}
	absent_unsure = 0;

	LWLockAcquire(inv_shared->lock, LW_EXCLUSIVE);
	sweeper_slot->extension_present = true;
	latch = inv_shared->launcher_latch;
	LWLockRelease(inv_shared->lock);
	if (probing)
	{
		probing = false;
		ereport(DEBUG1,
				(errmsg_internal("inventory probe for database %u done: extension found",
								 MyDatabaseId)));
		pgstat_report_appname("inventory sweeper");
		if (latch != NULL)
			SetLatch(latch);
	}
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
	volatile uint64 seen = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* a probe logs when it starts and ends: t/013 counts them */
	probing = MyBgworkerEntry->bgw_extra[0] != 0;
	if (probing)
	{
		ereport(DEBUG1,
				(errmsg_internal("inventory probe for database %u starting", dboid)));
		before_shmem_exit(probe_exit, ObjectIdGetDatum(dboid));
	}

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname(probing ? "inventory probe" : "inventory sweeper");
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

	/* before the setting: a database without the extension keeps no slot */
	find_extension(dbname);

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
			 * leave; restart_requested, still set, has the launcher start a
			 * sweeper afresh at once.
			 */
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
			if (!inv_database_wanted(dbname))
				sweeper_leave(LOG, dbname, "not in inventory.databases");
			/* new settings take effect at once */
			next_sweep = 0;
			next_purge = 0;
		}

		MemoryContextSwitchTo(cycle_context);
		now = GetCurrentTimestamp();

		PG_TRY();
		{
			notify_cycle(now);
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
				bool		more;
				TimestampTz end;

				seen = wake_seq();
				more = sweep_cycle(&expired, &present);
				end = GetCurrentTimestamp();

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
									   expired, inv_ms_until(now, end),
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
			/* DROP EXTENSION; unless CREATE EXTENSION came since: look again */
			leave_if_absent(seen, dbname);
			absent = false;
			next_sweep = 0;
		}
		else
			absent_unsure = 0;

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
		wait = Min(inv_ms_until(now, next_sweep), inv_ms_until(now, next_purge));
		/* a NOTIFY that waits for its gap */
		if (pg_atomic_read_u32(&sweeper_slot->notify_pending) != 0)
			wait = Min(wait, inv_ms_until(now, next_notify));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(wait, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
