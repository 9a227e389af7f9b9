#!/usr/bin/python3
"""examples/relay/relay.py: relay the inventory outbox to RabbitMQ.

Takes events with inv_outbox_next, in seq order, publishes each to a
durable queue as a persistent message, and acknowledges to the database
(inv_outbox_ack) only what the broker has confirmed.  CONFIRM=message
(the default) uses publisher confirms, one per message, as pika's
blocking API offers them: simple, and slow (each waits for the broker's
fsync).  CONFIRM=batch publishes a whole batch in an AMQP transaction:
the broker's tx.commit-ok comes once every persistent message of it is
on disk, one fsync for the batch.  Delivery is therefore at least once: a relay killed between a
confirm and its ack, or a broker that restarts before confirming, makes
the next run publish those events again.  Each message carries the event's
id as its message_id (consumers drop duplicates by it) and seq,
aggregatetype, aggregateid and type as headers; the body is the payload.
One channel, in seq order, so the events of one aggregate arrive in order.

It waits for events with LISTEN inventory_outbox (so connect it to the
server, not through a transaction pooler) and polls every second as well,
reconnects to either side after a failure, and stops on SIGTERM or SIGINT
after the batch in hand.  It appends one line per acknowledged batch to
LOG (if set): "acked FIRST-LAST", "start" when it starts, "lost broker"
or "lost database" when it loses a connection (the batch in hand then
goes again: those are the duplicates a failure explains).

  DSN='host=/var/run/postgresql dbname=shop' AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2F \\
    QUEUE=inventory CONSUMER=rabbitmq-relay /usr/bin/python3 relay.py

Needs psycopg 3 and pika (Debian: python3-psycopg, python3-pika).
"""
import json
import os
import select
import signal
import sys
import time

import pika
import psycopg

DSN = os.environ.get("DSN", "")
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
QUEUE = os.environ.get("QUEUE", "inventory")
CONSUMER = os.environ.get("CONSUMER", "rabbitmq-relay")
BATCH = int(os.environ.get("BATCH", "500"))
CONFIRM = os.environ.get("CONFIRM", "message")
LOG = os.environ.get("LOG")

stopping = False


def stop(signum, frame):
    global stopping
    stopping = True


def log(line):
    if LOG:
        with open(LOG, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


def broker():
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = conn.channel()
    channel.queue_declare(QUEUE, durable=True)
    if CONFIRM == "batch":
        channel.tx_select()             # tx_commit waits until the batch is on disk
    else:
        channel.confirm_delivery()      # basic_publish waits for the message's confirm
    return conn, channel


def database():
    conn = psycopg.connect(DSN, autocommit=True)
    conn.execute("SELECT inv_outbox_subscribe(%s, 0)", (CONSUMER,))
    conn.execute("LISTEN inventory_outbox")
    return conn


def relay_batch(db, channel):
    """Publish the next batch; ack what the broker confirmed.  Returns how
    many events went out."""
    rows = db.execute(
        "SELECT id, seq, aggregatetype, aggregateid, type, payload"
        "  FROM inv_outbox_next(%s, %s)", (CONSUMER, BATCH)).fetchall()
    if not rows:
        return 0
    for id_, seq, aggtype, aggid, type_, payload in rows:
        # raises if the broker nacks it or the connection goes: then nothing
        # of this batch is acknowledged, and the next run sends it again
        channel.basic_publish(
            exchange="", routing_key=QUEUE, body=json.dumps(payload).encode(),
            properties=pika.BasicProperties(
                delivery_mode=2, message_id=str(id_), content_type="application/json",
                headers={"seq": seq, "aggregatetype": aggtype, "aggregateid": aggid,
                         "type": type_}),
            mandatory=CONFIRM != "batch")
    if CONFIRM == "batch":
        channel.tx_commit()
    db.execute("SELECT inv_outbox_ack(%s, %s)", (CONSUMER, rows[-1][1]))
    log(f"acked {rows[0][1]}-{rows[-1][1]}")
    return len(rows)


def main():
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("start")
    db = bconn = channel = None
    while not stopping:
        try:
            if db is None:
                db = database()
            if channel is None:
                bconn, channel = broker()
            if relay_batch(db, channel) == 0:
                # nothing ready: wait for a NOTIFY (data on the socket), a
                # second at most; the next call reads it
                select.select([db.fileno()], [], [], 1.0)
        except (pika.exceptions.AMQPError, OSError) as e:
            print(f"relay: broker: {type(e).__name__}: {e}; reconnecting", file=sys.stderr)
            log("lost broker")
            bconn = channel = None
            time.sleep(0.5)
        except psycopg.OperationalError as e:
            print(f"relay: database: {e}; reconnecting", file=sys.stderr)
            log("lost database")
            db = None
            time.sleep(0.5)
    for c in (bconn, db):
        try:
            if c is not None:
                c.close()
        except Exception:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
