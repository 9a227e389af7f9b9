#!/usr/bin/env node
// examples/node/checkout.js: a small checkout service on the inventory
// extension, in Node.js with node-postgres (npm: pg).
//
// WORKERS concurrent buyers loop until DURATION seconds have passed: each
// reserves a cart of one to three lines with an idempotency key, "pays"
// (success, failure, walking away, or a payment that comes back after the
// hold expired), then commits or releases.  It
// branches on SQLSTATE (err.code), never on an error's text:
//
//   IV001          sold out: the buyer is told so
//   40001, 40P01   serialization failure or deadlock: the same call again,
//                  with the same idempotency key
//   IV004          the hold expired before the payment came back: refund
//
// It runs through a pooler in transaction pooling mode (pgbouncer
// pool_mode = transaction): every call is one autocommit statement, and
// node-postgres prepares no named statement unless asked to.
//
// At the end it prints one JSON object: what happened, and the ids of the
// holds whose buyers were told "paid".
//
//   npm install && PGHOST=/tmp PGPORT=6432 PGDATABASE=shop WORKERS=32 \
//     DURATION=10 SKUS=JS-1,JS-2,JS-3 node checkout.js
'use strict';
const { Client } = require('pg');
const crypto = require('crypto');

const WORKERS = Number(process.env.WORKERS || 32);
const DURATION = Number(process.env.DURATION || 10);
const SKUS = (process.env.SKUS || 'JS-1,JS-2,JS-3').split(',');
const TTL = process.env.TTL || '2 seconds';
const SLOW = Number(process.env.SLOW || 2.5);  // seconds: longer than TTL
const RETRY = new Set(['40001', '40P01']);

const out = { counts: {}, paid: [], errors: [] };
const count = (what) => { out.counts[what] = (out.counts[what] || 0) + 1; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (a, b) => a + Math.floor(Math.random() * (b - a + 1));

// one autocommit statement; 40001/40P01: the same call again
async function call(client, sql, params) {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      return (await client.query(sql, params)).rows[0];
    } catch (e) {
      if (!RETRY.has(e.code)) throw e;
      count('retries');
      await sleep(10 * (attempt + 1));
    }
  }
  throw new Error('no luck after 20 retries');
}

async function buyer(client, slow) {
  const skus = [...SKUS].sort(() => Math.random() - 0.5).slice(0, rand(1, Math.min(3, SKUS.length)));
  const cart = JSON.stringify(skus.map((sku) => ({ sku, qty: rand(1, 2) })));
  const key = crypto.randomUUID();
  const reserve = 'SELECT inv_reserve_cart($1::jsonb, $2::interval, idempotency_key => $3) AS id';
  let hold;
  try {
    hold = (await call(client, reserve, [cart, TTL, key])).id;
  } catch (e) {
    if (e.code === 'IV001') { count('sold_out'); return false; }
    throw e;
  }
  count('reserved');
  // the key again, as a client that lost the answer would: the same hold
  const again = (await call(client, reserve, [cart, TTL, key])).id;
  if (again !== hold) out.errors.push(`key ${key}: hold ${hold}, then ${again}`);
  let payment = Math.random();
  if (payment < 0.1 && !slow) { count('walked_away'); return true; }  // the hold expires on its own
  if (slow) {                                             // a payment that outlives the hold
    await sleep(SLOW * 1000);
    payment = 1;
  }
  await sleep(Math.random() * 50);                        // the payment provider
  if (payment < 0.3) {
    await call(client, "SELECT inv_release($1, 'payment declined')", [hold]);
    count('released');
    return true;
  }
  try {
    await call(client, "SELECT inv_commit($1, 'payment ok')", [hold]);
  } catch (e) {
    if (e.code === 'IV004') { count('expired_before_payment'); return true; }  // refund
    throw e;
  }
  count('paid');
  out.paid.push(hold);
  return true;
}

async function worker(n, deadline) {
  const client = new Client();   // PGHOST, PGPORT, PGDATABASE, PGUSER
  try {
    await client.connect();
    // every fourth worker's first buyer with a hold pays too late
    let slow = n % 4 === 0;
    while (Date.now() < deadline) {
      if (await buyer(client, slow)) slow = false;
    }
  } catch (e) {
    out.errors.push(`worker ${n}: ${e.code || ''} ${e.message}`);
  } finally {
    await client.end().catch(() => {});
  }
}

async function main() {
  const deadline = Date.now() + DURATION * 1000;
  await Promise.all(Array.from({ length: WORKERS }, (_, n) => worker(n, deadline)));
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exitCode = out.errors.length ? 1 : 0;
}

main();
