/*-------------------------------------------------------------------------
 *
 * rows.c
 *	  The extension's own rows read, locked, updated and inserted through
 *	  the table access method, without a statement.
 *
 * A statement run through SPI, even with a kept generic plan, pays for
 * its executor at every call: the plan tree's state is built and torn
 * down, every expression and constraint is set up again, the plan cache
 * checks the plan.  For a checkout's commit that was more than half of
 * its CPU, for a few row operations whose shape never changes.  These do
 * what the executor would do for them, as logical replication's apply
 * does (execReplication.c): the row is found through the primary key in
 * the statement's snapshot, locked as UPDATE locks it (and, under read
 * committed, followed to its latest version, as UPDATE's recheck does),
 * and written as the executor writes it: the table's constraints checked,
 * its indexes maintained, its row triggers fired (an insert is
 * ExecSimpleRelationInsert; an update is the same for UPDATE, but, like
 * UPDATE and unlike ExecSimpleRelationUpdate, it updates the version it
 * read without locking it first, and hands a concurrent change back to
 * the caller: a lock of its own would cost a WAL record).
 *
 * The functions run as the extension's owner role (SECURITY DEFINER),
 * which owns these tables; each operation still checks the privilege the
 * executor would check for it (SELECT to read, UPDATE, INSERT), so that an
 * owner's right revoked is refused here as in a statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "utils/memutils.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "rows.h"

/*
 * Relation OIDs by name, remembered across calls (looking names up at every
 * call would cost more than the write).  A remembered OID is trusted only
 * while it still opens a relation of that name in the schema "inventory"
 * it was looked up in: DROP and CREATE EXTENSION make new ones.
 */
#define REMEMBERED_MAX 8

typedef struct RememberedRel
{
	const char *name;
	Oid			relid;
	Oid			nsp;			/* "inventory" when it was looked up */
} RememberedRel;

static RememberedRel remembered[REMEMBERED_MAX];

static Relation
try_open(Oid relid, bool is_index, LOCKMODE mode)
{
	Relation	rel;

	if (!OidIsValid(relid))
		return NULL;
	rel = try_relation_open(relid, mode);
	if (rel != NULL &&
		rel->rd_rel->relkind != (is_index ? RELKIND_INDEX : RELKIND_RELATION))
	{
		relation_close(rel, mode);
		return NULL;
	}
	return rel;
}

Relation
inv_open_named(const char *name, bool is_index, LOCKMODE mode)
{
	RememberedRel *r = NULL;
	RememberedRel scratch = {0};
	Relation	rel;

	for (int i = 0; i < REMEMBERED_MAX && r == NULL; i++)
		if (remembered[i].name == NULL || strcmp(remembered[i].name, name) == 0)
			r = &remembered[i];
	if (r == NULL)
		r = &scratch;			/* more names than we keep: look it up */

	rel = try_open(r->name != NULL ? r->relid : InvalidOid, is_index, mode);
	if (rel != NULL &&
		RelationGetNamespace(rel) == r->nsp &&
		strcmp(RelationGetRelationName(rel), name) == 0)
		return rel;
	if (rel != NULL)
		relation_close(rel, mode);

	r->name = name;
	r->nsp = get_namespace_oid("inventory", true);
	r->relid = OidIsValid(r->nsp) ? get_relname_relid(name, r->nsp) : InvalidOid;
	return try_open(r->relid, is_index, mode);
}

static Relation
open_named(const char *name, LOCKMODE mode)
{
	Relation	rel = inv_open_named(name, false, mode);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the inventory library needs a newer version of the extension's tables"),
				 errdetail("Table inventory.%s is missing.", name),
				 errhint("Run ALTER EXTENSION inventory UPDATE.")));
	return rel;
}

/*
 * The CHECK constraints of the tables written here, parsed and planned once
 * per backend.  The executor parses each constraint's stored expression
 * and plans it again for every statement (ExecRelCheck), which was a tenth
 * of a reserve's CPU.  An entry is trusted only while the table's
 * constraints are still the same text: ALTER TABLE makes a new one.
 */
typedef struct PlannedChecks
{
	Oid			relid;
	int			ncheck;
	char	  **ccbin;			/* as in the relcache, to recognize them */
	Expr	  **expr;			/* parsed and planned */
	MemoryContext cxt;
} PlannedChecks;

static PlannedChecks planned_checks[REMEMBERED_MAX];

static PlannedChecks *
checks_of(Relation rel)
{
	TupleConstr *constr = rel->rd_att->constr;
	int			ncheck = constr->num_check;
	PlannedChecks *pc = NULL;
	MemoryContext old;

	for (int i = 0; i < REMEMBERED_MAX && pc == NULL; i++)
		if (planned_checks[i].relid == RelationGetRelid(rel))
			pc = &planned_checks[i];
	if (pc != NULL && pc->ncheck == ncheck)
	{
		bool		same = true;

		for (int i = 0; i < ncheck && same; i++)
			same = strcmp(pc->ccbin[i], constr->check[i].ccbin) == 0;
		if (same)
			return pc;
	}
	if (pc == NULL)
	{
		for (int i = 0; i < REMEMBERED_MAX && pc == NULL; i++)
			if (!OidIsValid(planned_checks[i].relid))
				pc = &planned_checks[i];
		if (pc == NULL)
			return NULL;		/* more tables than we keep: the executor's way */
	}

	if (pc->cxt != NULL)
		MemoryContextDelete(pc->cxt);
	pc->relid = InvalidOid;
	pc->cxt = AllocSetContextCreate(CacheMemoryContext, "inventory planned checks",
									ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(pc->cxt);
	pc->ncheck = ncheck;
	pc->ccbin = palloc(sizeof(char *) * ncheck);
	pc->expr = palloc(sizeof(Expr *) * ncheck);
	for (int i = 0; i < ncheck; i++)
	{
		pc->ccbin[i] = pstrdup(constr->check[i].ccbin);
		pc->expr[i] = expression_planner(stringToNode(constr->check[i].ccbin));
	}
	MemoryContextSwitchTo(old);
	pc->relid = RelationGetRelid(rel);
	return pc;
}

/*
 * Give the executor the table's CHECK constraints ready to evaluate, as
 * ExecRelCheck would make them, from the planned ones kept here.
 */
static void
prepare_checks(ResultRelInfo *rri, EState *estate)
{
	Relation	rel = rri->ri_RelationDesc;
	PlannedChecks *pc;
	MemoryContext old;

	if (rel->rd_att->constr == NULL || rel->rd_att->constr->num_check == 0 ||
		(pc = checks_of(rel)) == NULL)
		return;
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	rri->ri_ConstraintExprs = palloc(sizeof(ExprState *) * pc->ncheck);
	for (int i = 0; i < pc->ncheck; i++)
		rri->ri_ConstraintExprs[i] = ExecInitExpr(pc->expr[i], NULL);
	MemoryContextSwitchTo(old);
}

void
inv_rows_begin(InvRows *rows, const char *const *names, int n)
{
	List	   *rtable = NIL;
	EState	   *estate;

	Assert(n > 0 && n <= INV_ROWS_MAX_RELS);

	/*
	 * As SPI does before each statement: what this transaction wrote
	 * before is seen, and a snapshot is taken for the statement.
	 */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());

	rows->estate = estate = CreateExecutorState();
	estate->es_snapshot = GetActiveSnapshot();
	estate->es_output_cid = GetCurrentCommandId(true);
	rows->nrels = n;
	for (int i = 0; i < n; i++)
	{
		Relation	rel = open_named(names[i], RowExclusiveLock);
		RangeTblEntry *rte = makeNode(RangeTblEntry);

		rte->rtekind = RTE_RELATION;
		rte->relid = RelationGetRelid(rel);
		rte->relkind = rel->rd_rel->relkind;
		rte->rellockmode = RowExclusiveLock;
		rtable = lappend(rtable, rte);

		rows->rel[i] = makeNode(ResultRelInfo);
		InitResultRelInfo(rows->rel[i], rel, i + 1, NULL, 0);
		ExecOpenIndices(rows->rel[i], false);
		prepare_checks(rows->rel[i], estate);
	}
	ExecInitRangeTable(estate, rtable);
	EvalPlanQualInit(&rows->epq, estate, NULL, NIL, -1);
	AfterTriggerBeginQuery();
}

void
inv_rows_end(InvRows *rows)
{
	EState	   *estate = rows->estate;

	/* the AFTER ROW triggers of the writes, if the tables have any */
	AfterTriggerEndQuery(estate);
	EvalPlanQualEnd(&rows->epq);
	for (int i = 0; i < rows->nrels; i++)
	{
		ExecCloseIndices(rows->rel[i]);
		/* the lock stays to the end of the transaction, as for a statement */
		table_close(rows->rel[i]->ri_RelationDesc, NoLock);
	}
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	rows->estate = NULL;
	PopActiveSnapshot();
	/* and what follows sees what was written */
	CommandCounterIncrement();
}

/* as the executor checks a statement's rights on its tables */
static void
check_privilege(Relation rel, AclMode mode)
{
	AclResult	res = pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), mode);

	if (res != ACLCHECK_OK)
		aclcheck_error(res, get_relkind_objtype(rel->rd_rel->relkind),
					   RelationGetRelationName(rel));
}

AttrNumber
inv_rows_attnum(InvRows *rows, int i, const char *column)
{
	Relation	rel = inv_rows_rel(rows, i);
	TupleDesc	desc = RelationGetDescr(rel);

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!att->attisdropped && strcmp(NameStr(att->attname), column) == 0)
			return att->attnum;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the inventory library needs a newer version of the extension's tables"),
			 errdetail("Column \"%s\" of inventory.%s is missing.",
					   column, RelationGetRelationName(rel)),
			 errhint("Run ALTER EXTENSION inventory UPDATE.")));
	return InvalidAttrNumber;	/* keep compiler quiet */
}

TupleTableSlot *
inv_rows_fetch(InvRows *rows, int i, Datum key)
{
	ResultRelInfo *rri = rows->rel[i];
	Relation	rel = rri->ri_RelationDesc;
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	Relation	pkey = NULL;
	TupleTableSlot *slot;
	ScanKeyData skey;
	IndexScanDesc scan;
	Oid			eqop;
	bool		found;

	for (int k = 0; k < rri->ri_NumIndices; k++)
		if (RelationGetRelid(rri->ri_IndexRelationDescs[k]) == pkoid)
			pkey = rri->ri_IndexRelationDescs[k];
	if (pkey == NULL || IndexRelationGetNumberOfKeyAttributes(pkey) != 1)
		elog(ERROR, "inventory: table \"%s\" has no primary key of one column",
			 RelationGetRelationName(rel));

	eqop = get_opfamily_member(pkey->rd_opfamily[0], pkey->rd_opcintype[0],
							   pkey->rd_opcintype[0], BTEqualStrategyNumber);
	if (!OidIsValid(eqop))
		elog(ERROR, "inventory: no equality operator for the primary key of \"%s\"",
			 RelationGetRelationName(rel));
	ScanKeyEntryInitialize(&skey, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   pkey->rd_indcollation[0], get_opcode(eqop), key);

	check_privilege(rel, ACL_SELECT);
	slot = table_slot_create(rel, &rows->estate->es_tupleTable);
	scan = index_beginscan(rel, pkey, rows->estate->es_snapshot, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	/* a unique index: at most one version is visible */
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found ? slot : NULL;
}

/* what UPDATE raises when the row changed since a transaction's snapshot */
static void
raise_concurrent(const char *change)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent %s", change)));
}

bool
inv_rows_lock(InvRows *rows, int i, TupleTableSlot *slot)
{
	Relation	rel = inv_rows_rel(rows, i);
	bool		xact_snapshot = IsolationUsesXactSnapshot();
	TM_FailureData tmfd;
	TM_Result	res;

	res = table_tuple_lock(rel, &slot->tts_tid, rows->estate->es_snapshot,
						   slot, rows->estate->es_output_cid,
						   LockTupleNoKeyExclusive, LockWaitBlock,
						   xact_snapshot ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
						   &tmfd);
	switch (res)
	{
		case TM_Ok:
			return true;
		case TM_Updated:
			/* only without FIND_LAST_VERSION: a snapshot of the transaction */
			raise_concurrent("update");
			break;
		case TM_Deleted:
			if (xact_snapshot)
				raise_concurrent("delete");
			return false;
		default:
			elog(ERROR, "inventory: unexpected result %d locking a row of \"%s\"",
				 (int) res, RelationGetRelationName(rel));
	}
	return false;				/* keep compiler quiet */
}

TupleTableSlot *
inv_rows_new_slot(InvRows *rows, int i)
{
	TupleTableSlot *slot;

	slot = ExecInitExtraTupleSlot(rows->estate,
								  RelationGetDescr(inv_rows_rel(rows, i)),
								  &TTSOpsVirtual);
	ExecClearTuple(slot);
	for (int a = 0; a < slot->tts_tupleDescriptor->natts; a++)
	{
		slot->tts_values[a] = (Datum) 0;
		slot->tts_isnull[a] = true;
	}
	return slot;
}

InvRowUpdate
inv_rows_update(InvRows *rows, int i, TupleTableSlot *old, TupleTableSlot *new)
{
	ResultRelInfo *rri = rows->rel[i];
	Relation	rel = rri->ri_RelationDesc;
	EState	   *estate = rows->estate;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	res;

	check_privilege(rel, ACL_UPDATE);
	ExecStoreVirtualTuple(new);

	/*
	 * BEFORE ROW triggers (none of ours) see the row locked: lock it, then
	 * let execReplication.c's update run them.
	 */
	if (rri->ri_TrigDesc && rri->ri_TrigDesc->trig_update_before_row)
	{
		if (!inv_rows_lock(rows, i, old))
			return INV_ROW_GONE;
		EvalPlanQualSetSlot(&rows->epq, new);
		ExecSimpleRelationUpdate(rri, estate, &rows->epq, old, new);
		return INV_ROW_UPDATED;
	}

	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(rri, estate, new, CMD_UPDATE);
	if (rel->rd_att->constr)
		ExecConstraints(rri, new, estate);

	res = table_tuple_update(rel, &old->tts_tid, new, estate->es_output_cid,
							 estate->es_snapshot, InvalidSnapshot,
							 true /* wait */ , &tmfd, &lockmode, &update_indexes);
	switch (res)
	{
		case TM_Ok:
			break;
		case TM_Updated:
			if (IsolationUsesXactSnapshot())
				raise_concurrent("update");
			return INV_ROW_CHANGED;
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				raise_concurrent("delete");
			return INV_ROW_GONE;
		default:
			elog(ERROR, "inventory: unexpected result %d updating a row of \"%s\"",
				 (int) res, RelationGetRelationName(rel));
	}

	if (rri->ri_NumIndices > 0 && update_indexes)
		list_free(ExecInsertIndexTuples(rri, new, estate, true, false, NULL, NIL));
	ExecARUpdateTriggers(estate, rri, NULL, NULL, &old->tts_tid, NULL, new,
						 NIL, NULL, false);
	return INV_ROW_UPDATED;
}

void
inv_rows_insert(InvRows *rows, int i, TupleTableSlot *new)
{
	check_privilege(rows->rel[i]->ri_RelationDesc, ACL_INSERT);
	ExecStoreVirtualTuple(new);
	ExecSimpleRelationInsert(rows->rel[i], rows->estate, new);
}
