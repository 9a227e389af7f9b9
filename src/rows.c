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
#include "catalog/objectaddress.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "rows.h"
#include "schema.h"

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
	r->nsp = inv_schema_oid();
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
				 errdetail("Table %s.%s is missing.", inv_schema_name(), name),
				 errhint("Run ALTER EXTENSION inventory UPDATE.")));
	return rel;
}

/*
 * A new memory context in *cxt for a cache entry being made again, the old
 * one (if any) deleted first.  *cxt is NULL while none exists, so that an
 * error in between never leaves it pointing at a deleted context.
 */
static MemoryContext
fresh_context(MemoryContext *cxt)
{
	if (*cxt != NULL)
		MemoryContextDelete(*cxt);
	*cxt = NULL;
	*cxt = AllocSetContextCreate(CacheMemoryContext, "inventory rows cache entry",
								 ALLOCSET_SMALL_SIZES);
	return *cxt;
}

/*
 * The CHECK constraints of the tables written here, parsed, planned and made
 * ready to evaluate once per backend.  The executor does all three again
 * for every statement (ExecRelCheck), which was a tenth of a reserve's
 * CPU.  An evaluable expression without a parent plan keeps no state of
 * a query, so it serves every call of this backend (none of the tables'
 * constraints calls a function that could come back here while one is
 * being evaluated).  An entry is trusted only while the table's
 * constraints are still the same text: ALTER TABLE makes a new one.
 */
typedef struct PlannedChecks
{
	Oid			relid;
	int			ncheck;
	char	  **ccbin;			/* as in the relcache, to recognize them */
	ExprState **state;			/* parsed, planned and ready to evaluate */
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

	pc->relid = InvalidOid;
	old = MemoryContextSwitchTo(fresh_context(&pc->cxt));
	pc->ncheck = ncheck;
	pc->ccbin = palloc(sizeof(char *) * ncheck);
	pc->state = palloc(sizeof(ExprState *) * ncheck);
	for (int i = 0; i < ncheck; i++)
	{
		pc->ccbin[i] = pstrdup(constr->check[i].ccbin);
		pc->state[i] = ExecInitExpr(expression_planner(stringToNode(constr->check[i].ccbin)),
									NULL);
	}
	MemoryContextSwitchTo(old);
	pc->relid = RelationGetRelid(rel);
	return pc;
}

/*
 * The predicates of the partial indexes of the tables written here, ready
 * to evaluate, kept per backend for the same reason: the executor prepares
 * each again for every statement (ExecInsertIndexTuples).  An entry is
 * trusted while the index's predicate is still equal to the one it was
 * made from.
 */
typedef struct PreparedPredicate
{
	Oid			indexoid;
	List	   *pred;			/* a copy of the relcache's, to compare */
	ExprState  *state;
	MemoryContext cxt;
} PreparedPredicate;

#define PREDICATES_MAX 16

static PreparedPredicate prepared_predicates[PREDICATES_MAX];

static ExprState *
predicate_of(Oid indexoid, List *pred)
{
	PreparedPredicate *pp = NULL;
	MemoryContext old;

	for (int i = 0; i < PREDICATES_MAX && pp == NULL; i++)
		if (prepared_predicates[i].indexoid == indexoid)
			pp = &prepared_predicates[i];
	if (pp != NULL && equal(pp->pred, pred))
		return pp->state;
	for (int i = 0; i < PREDICATES_MAX && pp == NULL; i++)
		if (!OidIsValid(prepared_predicates[i].indexoid))
			pp = &prepared_predicates[i];
	if (pp == NULL)
		return NULL;			/* more than we keep: the executor's way */

	pp->indexoid = InvalidOid;
	old = MemoryContextSwitchTo(fresh_context(&pp->cxt));
	/*
	 * pred is the executor's copy, freed with its statement, and the
	 * planner's result may point into it (a Const's value): plan our copy.
	 */
	pp->pred = copyObject(pred);
	pp->state = ExecInitQual((List *) expression_planner((Expr *) pp->pred), NULL);
	MemoryContextSwitchTo(old);
	pp->indexoid = indexoid;
	return pp->state;
}

/* Give the open indexes of rri their predicates, from the ones kept here. */
static void
prepare_predicates(ResultRelInfo *rri)
{
	for (int k = 0; k < rri->ri_NumIndices; k++)
	{
		IndexInfo  *ii = rri->ri_IndexRelationInfo[k];

		if (ii->ii_Predicate != NIL && ii->ii_PredicateState == NULL)
			ii->ii_PredicateState =
				predicate_of(RelationGetRelid(rri->ri_IndexRelationDescs[k]),
							 ii->ii_Predicate);
	}
}

/*
 * Give the executor the table's CHECK constraints ready to evaluate, as
 * ExecRelCheck would make them, from the ones kept here.
 */
static void
prepare_checks(ResultRelInfo *rri)
{
	Relation	rel = rri->ri_RelationDesc;
	PlannedChecks *pc;

	if (rel->rd_att->constr == NULL || rel->rd_att->constr->num_check == 0 ||
		(pc = checks_of(rel)) == NULL)
		return;
	rri->ri_ConstraintExprs = pc->state;
}

/*
 * Begin a unit of row operations on the tables names[0..n-1] of the schema
 * "inventory", for the statement that calls us.  A table is opened when
 * it is first used, and the executor's state is made and the table's
 * indexes opened when one is first written: a call that only reads a row
 * to refuse pays for no more than the read.
 */
void
inv_rows_begin(InvRows *rows, const char *const *names, int n)
{
	Assert(n > 0 && n <= INV_ROWS_MAX_RELS);

	/*
	 * As SPI does before each statement: what this transaction wrote
	 * before is seen, and a snapshot is taken for the statement.
	 */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	rows->snapshot = GetActiveSnapshot();
	rows->estate = NULL;
	rows->slots = NIL;
	rows->nrels = n;
	rows->names = names;
	for (int i = 0; i < n; i++)
	{
		rows->rel[i] = NULL;
		rows->pkey[i] = NULL;
		rows->written[i] = false;
	}
}

/* Name table i's relation in the range table, once both exist. */
static void
fill_rte(InvRows *rows, int i)
{
	RangeTblEntry *rte = exec_rt_fetch(i + 1, rows->estate);
	Relation	rel = rows->rel[i]->ri_RelationDesc;

	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
}

/*
 * The executor's state for the writes, made before the first: a range
 * table of our tables, a command id, the AFTER triggers' query level.
 */
static EState *
rows_estate(InvRows *rows)
{
	List	   *rtable = NIL;
	EState	   *estate;

	if (rows->estate != NULL)
		return rows->estate;
	rows->estate = estate = CreateExecutorState();
	estate->es_snapshot = rows->snapshot;
	estate->es_output_cid = GetCurrentCommandId(true);
	for (int i = 0; i < rows->nrels; i++)
	{
		/* a table's OID is filled in when it is opened */
		RangeTblEntry *rte = makeNode(RangeTblEntry);

		rte->rtekind = RTE_RELATION;
		rte->rellockmode = RowExclusiveLock;
		rtable = lappend(rtable, rte);
	}
	ExecInitRangeTable(estate, rtable);
	for (int i = 0; i < rows->nrels; i++)
		if (rows->rel[i] != NULL)
			fill_rte(rows, i);
	EvalPlanQualInit(&rows->epq, estate, NULL, NIL, -1);
	AfterTriggerBeginQuery();
	return estate;
}

/*
 * The ResultRelInfo of table i, opened with AccessShareLock when first
 * used: until it is written (rows_target), a call has only read, as a
 * refusal only reads.
 */
static ResultRelInfo *
rows_rri(InvRows *rows, int i)
{
	Relation	rel;

	Assert(i >= 0 && i < rows->nrels);
	if (rows->rel[i] != NULL)
		return rows->rel[i];
	rel = open_named(rows->names[i], AccessShareLock);
	rows->rel[i] = makeNode(ResultRelInfo);
	InitResultRelInfo(rows->rel[i], rel, i + 1, NULL, 0);
	prepare_checks(rows->rel[i]);
	if (rows->estate != NULL)
		fill_rte(rows, i);
	return rows->rel[i];
}

Relation
inv_rows_rel(InvRows *rows, int i)
{
	return rows_rri(rows, i)->ri_RelationDesc;
}

Snapshot
inv_rows_snapshot(InvRows *rows)
{
	return rows->snapshot;
}

/*
 * The ResultRelInfo of table i, to write to it: locked as a statement's
 * target table (RowExclusiveLock), its indexes open, the executor's state
 * made.
 */
static ResultRelInfo *
rows_target(InvRows *rows, int i)
{
	ResultRelInfo *rri = rows_rri(rows, i);

	rows_estate(rows);
	if (!rows->written[i])
	{
		LockRelationOid(RelationGetRelid(rri->ri_RelationDesc), RowExclusiveLock);
		if (rri->ri_RelationDesc->rd_rel->relhasindex)
		{
			ExecOpenIndices(rri, false);
			prepare_predicates(rri);
		}
		rows->written[i] = true;
	}
	return rri;
}

void
inv_rows_will_write(InvRows *rows, int i)
{
	(void) rows_target(rows, i);
}

void
inv_rows_end(InvRows *rows)
{
	EState	   *estate = rows->estate;
	ListCell   *lc;

	/* the AFTER ROW triggers of the writes, if the tables have any */
	if (estate != NULL)
	{
		AfterTriggerEndQuery(estate);
		EvalPlanQualEnd(&rows->epq);
	}
	foreach(lc, rows->slots)
		ExecDropSingleTupleTableSlot(lfirst(lc));
	for (int i = 0; i < rows->nrels; i++)
	{
		/* the locks stay to the end of the transaction, as for a statement */
		if (rows->pkey[i] != NULL)
			index_close(rows->pkey[i], NoLock);
		if (rows->rel[i] == NULL)
			continue;
		ExecCloseIndices(rows->rel[i]);
		table_close(rows->rel[i]->ri_RelationDesc, NoLock);
	}
	if (estate != NULL)
	{
		ExecResetTupleTable(estate->es_tupleTable, false);
		FreeExecutorState(estate);
		rows->estate = NULL;
	}
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

/*
 * Columns' numbers, remembered by table and by the address of the name
 * asked for (callers pass constants): looking a column up among all of a
 * table's, at every call, was 1 % of a checkout's CPU.  A remembered number
 * is used only while that column still has that name.
 */
#define REMEMBERED_ATTS 64

typedef struct RememberedAtt
{
	Oid			relid;
	const char *name;
	AttrNumber	attnum;
} RememberedAtt;

static RememberedAtt remembered_atts[REMEMBERED_ATTS];

AttrNumber
inv_rows_attnum(InvRows *rows, int i, const char *column)
{
	Relation	rel = inv_rows_rel(rows, i);
	TupleDesc	desc = RelationGetDescr(rel);
	RememberedAtt *r = &remembered_atts[(((uintptr_t) column >> 3) ^ RelationGetRelid(rel)) %
										REMEMBERED_ATTS];

	if (r->relid == RelationGetRelid(rel) && r->name == column &&
		r->attnum <= desc->natts)
	{
		Form_pg_attribute att = TupleDescAttr(desc, r->attnum - 1);

		if (!att->attisdropped && strcmp(NameStr(att->attname), column) == 0)
			return r->attnum;
	}

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!att->attisdropped && strcmp(NameStr(att->attname), column) == 0)
		{
			r->relid = RelationGetRelid(rel);
			r->name = column;
			r->attnum = att->attnum;
			return att->attnum;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the inventory library needs a newer version of the extension's tables"),
			 errdetail("Column \"%s\" of %s.%s is missing.",
					   column, get_namespace_name(RelationGetNamespace(rel)),
					   RelationGetRelationName(rel)),
			 errhint("Run ALTER EXTENSION inventory UPDATE.")));
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/*
 * The primary key of table i: the open one if its indexes are, else opened
 * on its own, for a call that may only read.
 */
static Relation
rows_pkey(InvRows *rows, int i)
{
	ResultRelInfo *rri = rows_rri(rows, i);
	Relation	rel = rri->ri_RelationDesc;
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	Relation	pkey = NULL;

	for (int k = 0; k < rri->ri_NumIndices && pkey == NULL; k++)
		if (RelationGetRelid(rri->ri_IndexRelationDescs[k]) == pkoid)
			pkey = rri->ri_IndexRelationDescs[k];
	if (pkey == NULL && OidIsValid(pkoid))
	{
		if (rows->pkey[i] == NULL)
			rows->pkey[i] = index_open(pkoid, AccessShareLock);
		pkey = rows->pkey[i];
	}
	if (pkey == NULL || IndexRelationGetNumberOfKeyAttributes(pkey) != 1)
		elog(ERROR, "inventory: table \"%s\" has no primary key of one column",
			 RelationGetRelationName(rel));
	return pkey;
}

/*
 * The equality function of a primary key's operator class, remembered for
 * the few keys we read through (two syscache lookups at every read).
 */
#define REMEMBERED_KEYS 4

typedef struct RememberedKey
{
	Oid			indexoid;
	Oid			opfamily;
	Oid			opcintype;
	RegProcedure eqproc;
} RememberedKey;

static RememberedKey remembered_keys[REMEMBERED_KEYS];

static RegProcedure
pkey_equality(Relation pkey)
{
	RememberedKey *r = NULL;
	Oid			eqop;

	for (int k = 0; k < REMEMBERED_KEYS; k++)
		if (remembered_keys[k].indexoid == RelationGetRelid(pkey))
		{
			r = &remembered_keys[k];
			if (r->opfamily == pkey->rd_opfamily[0] && r->opcintype == pkey->rd_opcintype[0])
				return r->eqproc;
		}
	eqop = get_opfamily_member(pkey->rd_opfamily[0], pkey->rd_opcintype[0],
							   pkey->rd_opcintype[0], BTEqualStrategyNumber);
	if (!OidIsValid(eqop))
		elog(ERROR, "inventory: no equality operator for index \"%s\"",
			 RelationGetRelationName(pkey));
	for (int k = 0; k < REMEMBERED_KEYS && r == NULL; k++)
		if (!OidIsValid(remembered_keys[k].indexoid))
			r = &remembered_keys[k];
	if (r == NULL)
		r = &remembered_keys[RelationGetRelid(pkey) % REMEMBERED_KEYS];
	r->indexoid = RelationGetRelid(pkey);
	r->opfamily = pkey->rd_opfamily[0];
	r->opcintype = pkey->rd_opcintype[0];
	r->eqproc = get_opcode(eqop);
	return r->eqproc;
}

TupleTableSlot *
inv_rows_fetch(InvRows *rows, int i, Datum key)
{
	Relation	rel = inv_rows_rel(rows, i);
	Relation	pkey = rows_pkey(rows, i);
	TupleTableSlot *slot;
	ScanKeyData skey;
	IndexScanDesc scan;
	bool		found;

	ScanKeyEntryInitialize(&skey, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   pkey->rd_indcollation[0], pkey_equality(pkey), key);

	check_privilege(rel, ACL_SELECT);
	slot = table_slot_create(rel, &rows->slots);
	scan = index_beginscan(rel, pkey, rows->snapshot, 1, 0);
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
	/* a row is locked to be written: the table is locked as a target */
	Relation	rel = rows_target(rows, i)->ri_RelationDesc;
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

	slot = ExecInitExtraTupleSlot(rows_estate(rows),
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
	ResultRelInfo *rri = rows_target(rows, i);
	Relation	rel = rri->ri_RelationDesc;
	EState	   *estate = rows->estate;	/* made by rows_target */
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
	ResultRelInfo *rri = rows_target(rows, i);

	check_privilege(rri->ri_RelationDesc, ACL_INSERT);
	ExecStoreVirtualTuple(new);
	ExecSimpleRelationInsert(rri, rows->estate, new);
}
