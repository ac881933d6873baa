// The peer of bench/ussd.py --peer: the gateway's USSD main menu and balance screen, written the
// way the npm package ussd-menu-builder's README shows (Express, menu states, a Redis session
// handler through menu.sessionConfig, node-postgres), on the same PostgreSQL data and Redis.
//
// Same work as the gateway per hop: the first hop of a session reads the caller, their loans,
// each loan's unpaid installments and credit in ONE statement (the gateway's, from
// gateway/flows/snapshot.py, as a prepared statement) and keeps it in the session in Redis; later
// hops read it back from Redis. Same screens, same texts (English and Kiswahili, copied from the
// gateway's catalogues), same money format. Not covered (not in the benchmark's portfolio): several
// loans per borrower, PAYG devices, the other menu options' screens.
//
// One difference from the README, on purpose: the README builds ONE global `menu` and runs every
// request through it, but UssdMenu keeps the request (args, val, the result callback) on the
// instance, so two requests in flight at once (any state that awaits PostgreSQL or Redis) answer
// each other's callers. Here the menu is built per request, which is what makes it correct.
//
//   PORT=3000 WORKERS=2 DATABASE_URL=postgresql://postgres@127.0.0.1:5432/db REDIS_URL=redis://127.0.0.1:6379/0 node server.js
'use strict';

const cluster = require('node:cluster');
const express = require('express');
const UssdMenu = require('ussd-menu-builder');
const pg = require('pg');
const { createClient } = require('redis');

const PORT = Number(process.env.PORT || 3000);
const WORKERS = Number(process.env.WORKERS || 2); // as many processes as the gateway's gunicorn workers
const SESSION_TTL = Number(process.env.USSD_SNAPSHOT_TTL || 180); // seconds, as the gateway's snapshot
const HELP_LINE = process.env.HELP_LINE || '0800 720 000';

// The gateway's snapshot statement (gateway/flows/snapshot.py), parameters as SQLAlchemy binds them.
const SNAPSHOT_SQL = `SELECT borrower.id, borrower.name, borrower.phone, borrower.language, borrower.country, borrower.timezone, loan.id AS id_1, loan.account_ref, loan.product, loan.currency, loan.status, (SELECT coalesce(sum(ledgerentry.amount), $1::INTEGER) AS coalesce_1
FROM ledgerentry
WHERE ledgerentry.loan_id = loan.id AND ledgerentry.component = $2::VARCHAR) AS anon_1, device.id AS id_2, device.credit_until, device.payg_disabled, installment.due_date, (((installment.principal_due + installment.interest_due + installment.fees_due) - installment.principal_paid) - installment.interest_paid) - installment.fees_paid AS anon_2
FROM borrower JOIN loan ON loan.borrower_id = borrower.id LEFT OUTER JOIN device ON device.loan_id = loan.id LEFT OUTER JOIN installment ON installment.loan_id = loan.id AND (((installment.principal_due + installment.interest_due + installment.fees_due) - installment.principal_paid) - installment.interest_paid) - installment.fees_paid > $3::BIGINT
WHERE borrower.phone = $4::VARCHAR ORDER BY loan.created_at, loan.id, installment.due_date, installment.seq`;

const TEXTS = {
  en: {
    hello: 'Hello {name}. Loan {ref}', balance: 'Balance', next: 'Next payment', pay: 'Pay now',
    last: 'Last payments', language: 'Language', promise: 'Promise to pay', callMe: 'Call me back',
    loan: 'Loan {ref}', balanceIs: 'Balance: {amount}', arrears: 'In arrears: {amount}', credit: 'Credit: {amount}',
    footer: '0 Menu 00 Back', unknown: 'Sorry, this number is not registered. Call {help_line} for help.',
  },
  sw: {
    hello: 'Habari {name}. Mkopo {ref}', balance: 'Salio', next: 'Malipo yajayo', pay: 'Lipa sasa',
    last: 'Malipo ya mwisho', language: 'Lugha', promise: 'Ahadi ya kulipa', callMe: 'Nipigie simu',
    loan: 'Mkopo {ref}', balanceIs: 'Salio: {amount}', arrears: 'Malimbikizo: {amount}', credit: 'Malipo ya ziada: {amount}',
    footer: '0 Menyu 00 Rudi', unknown: 'Samahani, nambari hii haijasajiliwa. Piga {help_line} kwa msaada.',
  },
};

function t(lang, key, values = {}) {
  return (TEXTS[lang] || TEXTS.en)[key].replace(/\{(\w+)\}/g, (_, name) => values[name]);
}

// As gateway/money.py: 'Ksh1,250' (en_KE), 'Ksh 1,250' (sw_KE); decimals only when there are cents.
function money(minor, lang) {
  const cents = minor % 100 !== 0;
  const amount = (minor / 100).toLocaleString('en-US', { minimumFractionDigits: cents ? 2 : 0, maximumFractionDigits: 2 });
  return (lang === 'sw' ? 'Ksh ' : 'Ksh') + amount;
}

const todayIn = (tz) => new Intl.DateTimeFormat('en-CA', { timeZone: tz }).format(new Date()); // YYYY-MM-DD

// As gateway/services/ledger.balance_of
function balanceOf(loan, today) {
  let outstanding = 0;
  let arrears = 0;
  for (const [due, owed] of loan.unpaid) {
    outstanding += owed;
    if (due < today) arrears += owed;
  }
  return { netOutstanding: Math.max(outstanding - loan.credit, 0), arrears, credit: loan.credit };
}

function snapshotFrom(rows) {
  const loans = new Map();
  for (const r of rows) {
    if (!loans.has(r.id_1)) {
      loans.set(r.id_1, { id: r.id_1, accountRef: r.account_ref, currency: r.currency, status: r.status,
                          credit: Number(r.anon_1), unpaid: [] });
    }
    if (r.due_date !== null) loans.get(r.id_1).unpaid.push([r.due_date, Number(r.anon_2)]);
  }
  const all = [...loans.values()];
  const open = all.filter((l) => ['active', 'defaulted', 'pending'].includes(l.status));
  const first = rows[0];
  return { caller: { id: first.id, name: first.name, language: first.language, timezone: first.timezone },
           loans: open.length ? open : all.slice(-1) };
}

function serve() {
  pg.types.setTypeParser(1082, (v) => v); // dates as 'YYYY-MM-DD', compared as strings
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
  const redis = createClient({ url: process.env.REDIS_URL });
  redis.on('error', (err) => console.error('redis', err.message));
  const sessionKey = (sessionId) => `peer:ussd:session:${sessionId}`;

  function buildMenu() {
    const menu = new UssdMenu();
    menu.sessionConfig({
      start: () => Promise.resolve(),
      end: (sessionId) => redis.del(sessionKey(sessionId)),
      set: (sessionId, key, value) => redis.multi().hSet(sessionKey(sessionId), key, value)
        .expire(sessionKey(sessionId), SESSION_TTL).exec(),
      get: (sessionId, key) => redis.hGet(sessionKey(sessionId), key),
    });

    // The caller's snapshot: this session's copy in Redis, else one statement, then kept.
    async function snapshot() {
      const kept = await menu.session.get('snapshot');
      if (kept) return JSON.parse(kept);
      const { rows } = await pool.query({ name: 'snapshot', text: SNAPSHOT_SQL,
                                          values: [0, 'credit', 0, menu.args.phoneNumber] });
      if (!rows.length) return null;
      const snap = snapshotFrom(rows);
      await menu.session.set('snapshot', JSON.stringify(snap));
      return snap;
    }

    function unknownNumber() {
      menu.end(['sw', 'en'].map((lang) => t(lang, 'unknown', { help_line: HELP_LINE })).join('\n'));
    }

    menu.startState({
      run: async () => {
        const snap = await snapshot();
        if (!snap) return unknownNumber();
        const lang = snap.caller.language;
        const loan = snap.loans[0];
        const inArrears = ['active', 'defaulted'].includes(loan.status)
          && balanceOf(loan, todayIn(snap.caller.timezone)).arrears > 0;
        menu.con([
          t(lang, 'hello', { name: snap.caller.name.split(/\s+/)[0], ref: loan.accountRef }),
          `1 ${t(lang, 'balance')}`, `2 ${t(lang, 'next')}`, `3 ${t(lang, 'pay')}`, `4 ${t(lang, 'last')}`,
          `5 ${t(lang, 'language')}`, ...(inArrears ? [`6 ${t(lang, 'promise')}`] : []), `8 ${t(lang, 'callMe')}`,
        ].join('\n'));
      },
      next: { 1: 'balance' },
    });

    menu.state('balance', {
      run: async () => {
        const snap = await snapshot();
        if (!snap) return unknownNumber();
        const lang = snap.caller.language;
        const loan = snap.loans[0];
        const b = balanceOf(loan, todayIn(snap.caller.timezone));
        const lines = [t(lang, 'loan', { ref: loan.accountRef }), t(lang, 'balanceIs', { amount: money(b.netOutstanding, lang) })];
        if (b.arrears) lines.push(t(lang, 'arrears', { amount: money(b.arrears, lang) }));
        if (b.credit) lines.push(t(lang, 'credit', { amount: money(b.credit, lang) }));
        lines.push(t(lang, 'footer'));
        menu.con(lines.join('\n'));
      },
      next: { '00': '__start__' },
    });

    menu.on('error', (err) => console.error('ussd', err.message));
    return menu;
  }

  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.get('/health', (req, res) => res.send('ok'));
  app.post('/ussd', async (req, res) => {
    const args = {
      phoneNumber: req.body.phoneNumber,
      sessionId: req.body.sessionId,
      serviceCode: req.body.serviceCode,
      text: req.body.text,
    };
    try {
      const resMsg = await buildMenu().run(args);
      res.send(resMsg);
    } catch (err) {
      console.error('ussd', err.message);
      res.status(500).send('END Sorry, try again later.');
    }
  });

  redis.connect().then(() => app.listen(PORT, '127.0.0.1'));
}

if (cluster.isPrimary && WORKERS > 1) {
  for (let i = 0; i < WORKERS; i += 1) cluster.fork();
  cluster.on('exit', (worker, code) => {
    console.error(`peer worker ${worker.process.pid} exited (${code}); stopping`);
    process.exit(1);
  });
  process.on('SIGTERM', () => { for (const id in cluster.workers) cluster.workers[id].kill(); process.exit(0); });
} else {
  serve();
}
