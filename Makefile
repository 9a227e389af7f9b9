# inventory: a PostgreSQL extension for stock reservations (PGXS)
#
#   make && make install && make installcheck        -- your own server (install as root)
#   make demo                                        -- flash sale on a throwaway cluster
#   make test                                        -- every suite on a throwaway cluster

EXTENSION = inventory
MODULE_big = inventory
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = $(wildcard sql/inventory--*.sql)
PG_CPPFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wno-sign-compare

# pg_regress reads sql/NAME.sql and compares with expected/NAME.out
REGRESS = setup stock reserve cart soldout commit_release sweep verify relay stats limits upgrade tables_schema
REGRESS_OPTS = --load-extension=inventory
# isolation specs live in specs/
ISOLATION = sweeper_off last_unit cart_deadlock commit_vs_release double_commit \
	commit_vs_sweep set_stock_vs_reserve idempotency_race two_sweepers \
	reclaim_vs_sweep reclaim_vs_commit release_vs_sweep extend_vs_sweep \
	adjust_cas cart_vs_set_stock set_stock_create checkout_vs_sweep \
	relay_late_commit relay_older_xid relay_two_relays \
	relay_subscribe_vs_purge soldout_vs_release lock_space soldout_snapshot refusal_locks \
	event_order reclaim_chain_wait commit_wait_expiry commit_snapshot owner_limit_race owner_holds_race \
	expiry_floor
ISOLATION_OPTS = --load-extension=inventory
# TAP tests live in t/ and start clusters of their own (the sweepers need
# shared_preload_libraries); scripts/tap.sh runs them, as the postgres OS
# user when make runs as root, since initdb refuses to run as root.
NO_INSTALLCHECK = 1

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks headers only in a server built with --enable-depend: every
# object depends on every header of ours, so that a changed struct never
# leaves an object compiled against its old layout.
$(OBJS) $(OBJS:.o=.bc): $(wildcard src/*.h)

# installcheck: the regression and isolation suites on the running server
# (each in a database of its own, where they turn the sweeper off), then
# the TAP suite; all three run even when one fails.
.PHONY: installcheck installcheck-regress installcheck-isolation installcheck-tap
installcheck:
	@status=0; \
	$(MAKE) --no-print-directory installcheck-regress || status=1; \
	$(MAKE) --no-print-directory installcheck-isolation || status=1; \
	$(MAKE) --no-print-directory installcheck-tap || status=1; \
	if [ $$status -ne 0 ]; then echo "make installcheck: some suites failed (see above)"; fi; \
	exit $$status
installcheck-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)
installcheck-isolation:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)
installcheck-tap:
	PG_CONFIG=$(PG_CONFIG) ./scripts/tap.sh

.PHONY: demo test
demo:
	./scripts/demo.sh
test:
	./scripts/test.sh
.PHONY: bench bench-floor budget
bench:
	./scripts/bench.sh
bench-floor:
	./scripts/bench_floor.sh
budget:
	./scripts/budget.sh
