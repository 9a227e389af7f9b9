/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  The NOTIFY on inventory_outbox after the commit of a transaction that
 *	  wrote outbox events: what outbox.c calls as it writes one, and the
 *	  transaction callbacks that decide, as the transaction commits, who
 *	  sends it.
 *
 * A transaction that writes outbox events only notes it; who sends its
 * NOTIFY is decided at XACT_EVENT_PRE_COMMIT: the database's sweeper, when
 * one runs (sweeper.c sends it on behalf of every writer that committed
 * since its last one), else the transaction itself (Async_Notify still
 * works there, since PreCommit_Notify comes after the pre-commit
 * callbacks).  Writers do not NOTIFY themselves when a sweeper runs,
 * because PostgreSQL serialises the commits of every notifying transaction
 * of the cluster on one lock; many commits then cost one NOTIFY, and only
 * the first of them wakes the sweeper.
 *
 * Nothing is queued before the commit: PostgreSQL refuses to PREPARE a
 * transaction that has notified, so a NOTIFY queued when the event was
 * written would make two-phase commit work or fail depending on whether a
 * sweeper runs.  The events of a prepared transaction get no NOTIFY,
 * neither at PREPARE nor at COMMIT PREPARED, and the relays' poll finds
 * them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#include "notify.h"
#include "shmem.h"

bool		inv_writer_notify = true;

/*
 * The shallowest (sub)transaction nesting level that wrote outbox events
 * and was not rolled back since; 0: none.
 */
static int	outbox_written_level = 0;
/* this transaction is committing events and a sweeper will NOTIFY for it */
static bool notify_via_sweeper = false;

/*
 * Called before each event insert: a NOTIFY on inventory_outbox follows
 * this transaction's commit, unless the subtransaction that wrote the event
 * is rolled back.
 */
void
inv_notify_outbox_written(void)
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
notify_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
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

static void
notify_xact_callback(XactEvent event, void *arg)
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
			outbox_written_level = 0;
			notify_via_sweeper = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction's events get no NOTIFY, ever */
			outbox_written_level = 0;
			notify_via_sweeper = false;
			break;
		default:
			break;
	}
}

void
inv_notify_init(void)
{
	RegisterXactCallback(notify_xact_callback, NULL);
	RegisterSubXactCallback(notify_subxact_callback, NULL);
}
