/**
 * A libSQL `Client` for embedded `file:` databases that keeps its prepared
 * statements. @libsql/client's own embedded client prepares every statement on
 * every call, asks for its columns twice, turns every integer into a BigInt and
 * back, and builds each row with `Object.defineProperty` per column; on Fila's
 * hot path (claim, finish, insert) that was most of the time spent in the store.
 * This client talks to the same `libsql` native driver on one connection, with:
 *  - a bounded cache of prepared statements keyed by their SQL text;
 *  - per statement, its columns and a row class computed once;
 *  - plain numbers for integers (every integer Fila stores is a safe one);
 *  - the rows of a query read in one JSON value (see `asJsonRows`): reading them
 *    with the driver's iterator leaks native memory under Deno.
 * It implements the part of the `Client` interface drizzle's libsql driver and
 * Fila use (execute, batch, migrate, transaction, executeMultiple, close), with
 * the same results and the same `LibsqlError` codes (SQLITE_BUSY, ...).
 * Remote databases (libsql://, http(s)://) keep using @libsql/client.
 *
 * Waiting for another process's lock. SQLite's busy handler sleeps inside the
 * native call, on Fila's one JavaScript thread: with a long busy timeout an
 * instance answered nothing while a neighbour held the lock. So the native
 * timeout is short, and a write that still finds the lock taken waits in
 * JavaScript (timers, backoff) and tries again, up to a bound in total, while
 * reads, HTTP and heartbeats go on. And a prepared statement that meets
 * SQLITE_BUSY is left half-run by libsql (it keeps its read snapshot and every
 * later COMMIT on the connection fails with "SQL statements in progress"), so no
 * write statement may meet it: every write runs inside a `BEGIN IMMEDIATE` that
 * took the lock first (BEGIN runs through `exec`, which leaves nothing behind),
 * and a read that meets it is simply run again, which resets it.
 */
import Database from "libsql";
import type {
  Client,
  InArgs,
  InStatement,
  ResultSet,
  Row,
  Transaction,
  TransactionMode,
} from "@libsql/client";
// the errors from @libsql/core: importing @libsql/client itself would load its
// remote (hrana, websocket) and embedded clients, ~20 MB that a file store never uses
import { LibsqlBatchError, LibsqlError } from "@libsql/core/api";

type NativeDatabase = InstanceType<typeof Database>;
type NativeStatement = ReturnType<NativeDatabase["prepare"]>;
type SqlValue = string | number | bigint | null | Uint8Array;

/** How many distinct statements stay prepared (IN-lists of varying length make many). */
const STATEMENT_CACHE_SIZE = 512;
/** How long one native call may sleep in SQLite's busy handler (on the event loop). */
export const NATIVE_BUSY_TIMEOUT_MS = 20;
/** Waits between tries when the lock is taken: from the first to the cap, doubling. */
const BUSY_RETRY_FIRST_MS = 5;
const BUSY_RETRY_CAP_MS = 200;

/** Whether `error` says another connection holds a lock we need. */
export function isBusyError(error: unknown): boolean {
  const code = String((error as { code?: string })?.code ?? "");
  return code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED") ||
    /database is (locked|busy)/i.test(String((error as Error)?.message ?? ""));
}

/** Statements that only read: they run outside a write transaction. */
const READ_ONLY = /^\s*(select|pragma|explain|values)\b/i;

const VALUES = Symbol("values");

interface Prepared {
  /** The statement as given, or its `asJsonRows` form when `json` is true. */
  statement: NativeStatement;
  /** Column names when the statement returns rows, null when it does not. */
  columns: string[] | null;
  columnTypes: string[];
  makeRow: ((values: SqlValue[]) => Row) | null;
  /** The statement answers one row holding every row as JSON (read with `get`). */
  json: boolean;
}

/**
 * A query rewritten to answer one row: a JSON array of its rows, each an array of
 * its values, in the query's order (SQLite keeps a subquery's ORDER BY under an
 * order-sensitive aggregate). Why: the driver's `all()` and `iterate()` create a
 * native handle per call (a Neon `JsBox`), and Deno's `napi_create_external`
 * never frees its own ~48-byte wrapper of one, so every read leaked native memory
 * (0.25 MiB per 1,000 tasks, issue #20); `get()` creates none.
 *
 * Reals are written with 17 significant digits (JSON's own 15 lose precision);
 * integers and text come back as `all()` gives them. The check for a real is left
 * out of a column declared as text, which cannot hold one (a claim's read of its
 * 29 columns, 13 of them text, took 12 % less time in SQLite). A statement that cannot be
 * wrapped (not a SELECT, or a BLOB column at run time) is read with `all()`.
 */
function asJsonRows(sql: string, columnTypes: string[]): string {
  const names = columnTypes.map((_, i) => `c${i}`);
  const values = names.map((c, i) =>
    // SQLite stores a number given to a column of TEXT affinity as text
    TEXT_AFFINITY.test(columnTypes[i])
      ? c
      : `CASE WHEN typeof(${c}) = 'real' THEN json(printf('%!.17g', ${c})) ELSE ${c} END`
  );
  // the newline ends a trailing `--` comment of the query
  return `WITH fila_rows(${names.join(", ")}) AS (${sql.replace(/;\s*$/, "")}\n)` +
    ` SELECT json_group_array(json_array(${values.join(", ")})) FROM fila_rows`;
}

/** A declared type SQLite gives TEXT affinity (https://www.sqlite.org/datatype3.html, rule 2). */
const TEXT_AFFINITY = /^(?!.*INT).*(CHAR|CLOB|TEXT)/i;

/** SELECT, WITH ... SELECT and VALUES; not DML (with or without RETURNING) nor PRAGMA. */
const QUERY = /^\s*(select|with|values)\b/i;

/**
 * Rows as @libsql/client shapes them: named columns as enumerable properties
 * (what `Object.keys` and drizzle's raw queries read), values by index and
 * `length` (what drizzle's typed queries read), built by one class per statement.
 * Its constructor is generated, one plain assignment per column: the loop over
 * the names with computed keys it replaces cost ~3 µs a claimed task's row.
 * (Generated code: LocalClient runs only where files and native code do, never
 * on Deno Deploy.)
 */
function rowMaker(columns: string[]): (values: SqlValue[]) => Row {
  const names = [...new Set(columns)];
  const assign = new Function(
    "values",
    "VALUES",
    // not enumerable: rows compare (deepEqual) and spread as @libsql/client's do
    "Object.defineProperty(this, VALUES, { value: values });\n" +
      names.map((name) => `this[${JSON.stringify(name)}] = values[${columns.indexOf(name)}];`)
        .join("\n"),
  ) as (this: unknown, values: SqlValue[], key: symbol) => void;
  class ResultRow {
    declare [VALUES]: SqlValue[];
    constructor(values: SqlValue[]) {
      assign.call(this, values, VALUES);
    }
  }
  Object.defineProperty(ResultRow.prototype, "length", { value: columns.length });
  for (let i = 0; i < columns.length; i++) {
    Object.defineProperty(ResultRow.prototype, i, {
      get(this: ResultRow) {
        return this[VALUES][i];
      },
    });
  }
  return (values) => new ResultRow(values) as unknown as Row;
}

function toSqlValue(value: unknown): SqlValue {
  switch (typeof value) {
    case "number":
      if (!Number.isFinite(value)) {
        throw new RangeError(
          "Only finite numbers (not Infinity or NaN) can be passed as arguments",
        );
      }
      return value;
    case "boolean":
      return value ? 1 : 0;
    case "undefined":
      throw new TypeError("undefined cannot be passed as argument to the database");
    case "string":
    case "bigint":
      return value;
  }
  if (value === null) return null;
  if (value instanceof Date) return value.valueOf();
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (value instanceof Uint8Array) return value;
  return value as SqlValue;
}

function toArgs(args: InArgs | undefined): SqlValue[] | Record<string, SqlValue> {
  if (args === undefined) return [];
  if (Array.isArray(args)) {
    const values = new Array<SqlValue>(args.length);
    for (let i = 0; i < args.length; i++) {
      const value = args[i];
      // text and finite numbers as they are (nearly every argument), the rest converted
      values[i] = typeof value === "string" || (typeof value === "number" && Number.isFinite(value))
        ? value
        : toSqlValue(value);
    }
    return values;
  }
  const named: Record<string, SqlValue> = {};
  for (const [name, value] of Object.entries(args)) {
    const bare = name[0] === "@" || name[0] === "$" || name[0] === ":" ? name.slice(1) : name;
    named[bare] = toSqlValue(value);
  }
  return named;
}

/** SQLite's primary result codes by number (the low byte of an extended code). */
const PRIMARY_CODES: Record<number, string> = {
  1: "SQLITE_ERROR",
  2: "SQLITE_INTERNAL",
  3: "SQLITE_PERM",
  4: "SQLITE_ABORT",
  5: "SQLITE_BUSY",
  6: "SQLITE_LOCKED",
  7: "SQLITE_NOMEM",
  8: "SQLITE_READONLY",
  9: "SQLITE_INTERRUPT",
  10: "SQLITE_IOERR",
  11: "SQLITE_CORRUPT",
  12: "SQLITE_NOTFOUND",
  13: "SQLITE_FULL",
  14: "SQLITE_CANTOPEN",
  15: "SQLITE_PROTOCOL",
  17: "SQLITE_SCHEMA",
  18: "SQLITE_TOOBIG",
  19: "SQLITE_CONSTRAINT",
  20: "SQLITE_MISMATCH",
  21: "SQLITE_MISUSE",
  22: "SQLITE_NOLFS",
  23: "SQLITE_AUTH",
  25: "SQLITE_RANGE",
  26: "SQLITE_NOTADB",
};

/** The name of a raw (extended) SQLite result code's primary code, e.g. 517 -> SQLITE_BUSY. */
export function primaryCodeName(rawCode: number): string | undefined {
  return PRIMARY_CODES[rawCode & 0xff];
}

/** The native driver's SqliteError as the LibsqlError @libsql/client would throw. */
function toLibsqlError(error: unknown): unknown {
  if (error instanceof LibsqlError || !(error instanceof Error)) return error;
  const { code, rawCode } = error as Error & { code?: string; rawCode?: number };
  if (rawCode === undefined && code === undefined) return error;
  const base = rawCode === undefined
    ? "SQLITE_UNKNOWN"
    : primaryCodeName(rawCode) ?? `SQLITE_UNKNOWN_${rawCode & 0xff}`;
  return new LibsqlError(error.message, base, code, rawCode, error);
}

/** A ResultSet as @libsql/client's; the rowid becomes a BigInt only if asked for (rarely). */
class LocalResultSet implements ResultSet {
  constructor(
    readonly columns: string[],
    readonly columnTypes: string[],
    readonly rows: Row[],
    readonly rowsAffected: number,
    private readonly rowid: number | undefined,
  ) {}

  get lastInsertRowid(): bigint | undefined {
    return this.rowid === undefined ? undefined : BigInt(this.rowid);
  }

  toJSON() {
    const { columns, columnTypes, rows, rowsAffected } = this;
    return { columns, columnTypes, rows, rowsAffected, lastInsertRowid: null };
  }
}

function resultSet(
  columns: string[],
  columnTypes: string[],
  rows: Row[],
  rowsAffected: number,
  lastInsertRowid: number | undefined,
): ResultSet {
  return new LocalResultSet(columns, columnTypes, rows, rowsAffected, lastInsertRowid);
}

/**
 * "deferred" takes the write lock at the first write, inside a prepared
 * statement, where meeting SQLITE_BUSY leaves the statement half-run (see the
 * header): so it takes the lock up front, like "write".
 */
const BEGIN: Record<TransactionMode, string> = {
  write: "BEGIN IMMEDIATE",
  read: "BEGIN TRANSACTION READONLY",
  deferred: "BEGIN IMMEDIATE",
};

/** One connection to an embedded database, with its prepared statements. */
class Connection {
  private readonly cache = new Map<string, Prepared>();
  /** The statement prepared or found last (see prepare). */
  private last: { sql: string; prepared: Prepared } | null = null;

  constructor(private readonly db: NativeDatabase) {}

  get open(): boolean {
    return this.db.open;
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  execute(stmt: InStatement | string, args?: InArgs): ResultSet {
    const sql = typeof stmt === "string" ? stmt : stmt.sql;
    const bound = toArgs(typeof stmt === "string" ? args : stmt.args);
    try {
      return this.run(sql, bound);
    } catch (error) {
      if (!isBusyError(error)) throw error;
      // A statement that met SQLITE_BUSY stays half-run until it runs again: do
      // that now for a read (harmless), and forget the statement either way.
      const prepared = this.cache.get(sql);
      this.forget(sql);
      if (prepared?.columns && READ_ONLY.test(sql)) {
        try {
          if (prepared.json) prepared.statement.get(bound);
          else prepared.statement.all(bound);
        } catch { /* still busy: the caller tries again later */ }
      }
      throw error;
    }
  }

  private run(sql: string, bound: SqlValue[] | Record<string, SqlValue>): ResultSet {
    try {
      const prepared = this.prepare(sql);
      if (prepared.json) {
        const raw = this.jsonRows(sql, prepared, bound);
        if (raw) {
          const rows = new Array<Row>(raw.length);
          for (let i = 0; i < raw.length; i++) rows[i] = prepared.makeRow!(raw[i]);
          return resultSet(prepared.columns!, prepared.columnTypes, rows, 0, undefined);
        }
        return this.run(sql, bound); // prepared again as given (see jsonRows)
      }
      if (prepared.columns) {
        const raw = prepared.statement.all(bound) as SqlValue[][];
        const rows = new Array<Row>(raw.length);
        for (let i = 0; i < raw.length; i++) rows[i] = prepared.makeRow!(raw[i]);
        return resultSet(prepared.columns, prepared.columnTypes, rows, 0, undefined);
      }
      const info = prepared.statement.run(bound) as { changes: number; lastInsertRowid: number };
      return resultSet([], [], [], info.changes, info.lastInsertRowid);
    } catch (error) {
      throw toLibsqlError(error);
    }
  }

  /** Runs `stmts` in order inside the open transaction, as a batch reports failures. */
  executeAll(stmts: (InStatement | [string, InArgs?])[]): ResultSet[] {
    const results: ResultSet[] = [];
    for (let i = 0; i < stmts.length; i++) {
      if (!this.db.inTransaction) {
        throw new LibsqlBatchError("The transaction has been rolled back", i, "TRANSACTION_CLOSED");
      }
      const stmt = stmts[i];
      try {
        results.push(Array.isArray(stmt) ? this.execute(stmt[0], stmt[1]) : this.execute(stmt));
      } catch (error) {
        if (error instanceof LibsqlError && !(error instanceof LibsqlBatchError)) {
          throw new LibsqlBatchError(
            error.message,
            i,
            error.code,
            error.extendedCode,
            error.rawCode,
            error.cause instanceof Error ? error.cause : undefined,
          );
        }
        throw error;
      }
    }
    return results;
  }

  exec(sql: string): void {
    try {
      this.db.exec(sql);
    } catch (error) {
      throw toLibsqlError(error);
    }
  }

  rollbackIfOpen(): void {
    if (this.db.open && this.db.inTransaction) this.exec("ROLLBACK");
  }

  /** Whether `sql` only reads, so it may run outside a write transaction. */
  static readsOnly(sql: string): boolean {
    return READ_ONLY.test(sql);
  }

  /** `stmts` in one transaction begun by `begin`: all of them, or none. */
  executeInTransaction(begin: string, stmts: (InStatement | [string, InArgs?])[]): ResultSet[] {
    this.exec(begin);
    try {
      const results = this.executeAll(stmts);
      this.exec("COMMIT");
      return results;
    } finally {
      this.rollbackIfOpen();
    }
  }

  close(): void {
    this.cache.clear();
    this.last = null;
    if (this.db.open) this.db.close();
  }

  /**
   * The rows of a JSON-wrapped query, or null when SQLite refused to write them
   * as JSON (a BLOB value): the query is then prepared as given and stays so.
   */
  private jsonRows(
    sql: string,
    prepared: Prepared,
    bound: SqlValue[] | Record<string, SqlValue>,
  ): SqlValue[][] | null {
    try {
      const [text] = prepared.statement.get(bound) as [string];
      return JSON.parse(text);
    } catch (error) {
      if (!String((error as Error)?.message).includes("JSON cannot hold BLOB")) throw error;
      this.forget(sql);
      this.cache.set(sql, this.prepareNew(sql, false));
      return null;
    }
  }

  private prepare(sql: string): Prepared {
    // a batch repeats one statement (a thousand inserts): no lookup for the same one again
    if (this.last?.sql === sql) return this.last.prepared;
    const hit = this.cache.get(sql);
    if (hit) {
      // most recently used last, so the oldest is the first to go
      this.cache.delete(sql);
      this.cache.set(sql, hit);
      this.last = { sql, prepared: hit };
      return hit;
    }
    const prepared = this.prepareNew(sql, QUERY.test(sql));
    if (this.cache.size >= STATEMENT_CACHE_SIZE) {
      this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(sql, prepared);
    this.last = { sql, prepared };
    return prepared;
  }

  /** Drops `sql`'s prepared statement: the next call prepares it anew. */
  private forget(sql: string): void {
    this.cache.delete(sql);
    if (this.last?.sql === sql) this.last = null;
  }

  /** Prepares `sql`, wrapped by `asJsonRows` when `wrap` is set and it returns rows. */
  private prepareNew(sql: string, wrap: boolean): Prepared {
    let statement = this.db.prepare(sql);
    statement.safeIntegers(false);
    let columns: string[] | null = null;
    let columnTypes: string[] = [];
    try {
      statement.raw(true);
      const described = statement.columns() as { name: string; type: string | null }[];
      columns = described.map((c) => c.name);
      columnTypes = described.map((c) => c.type ?? "");
    } catch {
      // raw() throws for a statement that returns no rows
    }
    let json = false;
    if (wrap && columns) {
      try {
        const wrapped = this.db.prepare(asJsonRows(sql, columnTypes));
        wrapped.safeIntegers(false);
        wrapped.raw(true);
        statement = wrapped;
        json = true;
      } catch {
        // not a query SQLite accepts as a subquery: read its rows as given
      }
    }
    return { statement, columns, columnTypes, makeRow: columns && rowMaker(columns), json };
  }
}

/**
 * The client. Its one connection is shared by every call; an interactive
 * transaction holds it, and other calls wait for the transaction to end.
 */
export class LocalClient implements Client {
  closed = false;
  readonly protocol = "file";
  private readonly connection: Connection;
  private readonly lockWaitMs: number;
  private transactionEnded: Promise<void> | null = null;

  /** `lockWaitMs`: how long in total a write may wait for another process's lock. */
  constructor(path: string, options: { lockWaitMs?: number } = {}) {
    this.connection = new Connection(new Database(path, { timeout: NATIVE_BUSY_TIMEOUT_MS }));
    this.lockWaitMs = options.lockWaitMs ?? 10_000;
  }

  execute(stmtOrSql: InStatement | string, args?: InArgs): Promise<ResultSet> {
    const sql = typeof stmtOrSql === "string" ? stmtOrSql : stmtOrSql.sql;
    if (Connection.readsOnly(sql)) {
      return this.withLockRetry(() => this.connection.execute(stmtOrSql, args));
    }
    // a write takes the lock first (see the header); args go with a bare SQL string
    const stmt: InStatement | [string, InArgs?] = typeof stmtOrSql === "string"
      ? [stmtOrSql, args]
      : stmtOrSql;
    return this.withLockRetry(() => this.connection.executeInTransaction(BEGIN.write, [stmt])[0]);
  }

  batch(
    stmts: (InStatement | [string, InArgs?])[],
    mode: TransactionMode = "deferred",
  ): Promise<ResultSet[]> {
    return this.withLockRetry(() => this.connection.executeInTransaction(BEGIN[mode], stmts));
  }

  migrate(stmts: InStatement[]): Promise<ResultSet[]> {
    return this.withLockRetry(() => {
      const connection = this.connection;
      connection.exec("PRAGMA foreign_keys=off");
      try {
        return connection.executeInTransaction(BEGIN.write, stmts);
      } finally {
        connection.exec("PRAGMA foreign_keys=on");
      }
    });
  }

  transaction(mode: TransactionMode = "write"): Promise<Transaction> {
    return this.withLockRetry(() => {
      this.connection.exec(BEGIN[mode]);
      return new LocalTransaction(this.connection, this.hold());
    });
  }

  /**
   * Whether a write could take the lock within `withinMs` (for /health): begins
   * a write transaction and rolls it back at once.
   */
  async canWrite(withinMs: number): Promise<boolean> {
    try {
      await this.withLockRetry(() => {
        this.connection.exec(BEGIN.write);
        this.connection.exec("ROLLBACK");
      }, withinMs);
      return true;
    } catch (error) {
      if (isBusyError(error)) return false;
      throw error;
    }
  }

  /**
   * Runs `fn` while no other call uses the connection: they wait for it, as for
   * a transaction, without blocking the event loop (see Checkpointer on why).
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.whenFree(() => {
      const release = this.hold();
      return Promise.resolve().then(fn).finally(release);
    });
  }

  executeMultiple(sql: string): Promise<void> {
    return this.withLockRetry(() => {
      try {
        this.connection.exec(sql);
      } finally {
        this.connection.rollbackIfOpen();
      }
    });
  }

  sync(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  reconnect(): Promise<void> {
    return Promise.reject(new LibsqlError("reconnect is not supported", "NOT_IMPLEMENTED"));
  }

  close(): void {
    this.closed = true;
    this.connection.close();
  }

  /**
   * Runs `work` when the connection is free; while another process holds the
   * lock, tries again after a growing wait (timers, not the native busy
   * handler), until `lockWaitMs` has passed in all.
   */
  private async withLockRetry<T>(work: () => T, boundMs = this.lockWaitMs): Promise<Awaited<T>> {
    const deadline = Date.now() + boundMs;
    let wait = BUSY_RETRY_FIRST_MS;
    for (;;) {
      try {
        return await this.whenFree(work);
      } catch (error) {
        if (!isBusyError(error) || Date.now() + wait > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait * (0.5 + Math.random() / 2)));
        wait = Math.min(BUSY_RETRY_CAP_MS, wait * 2);
      }
    }
  }

  /**
   * Runs `work` once the connection is free: the client is open and no
   * transaction (or exclusive work) holds it. The check and `work` run with no
   * await between them, so nothing can take the connection in the gap.
   */
  private async whenFree<T>(work: () => T): Promise<Awaited<T>> {
    while (this.transactionEnded) await this.transactionEnded;
    if (this.closed || !this.connection.open) {
      throw new LibsqlError("The client is closed", "CLIENT_CLOSED");
    }
    return await work();
  }

  /** Holds the connection for the caller; the returned function lets it go. */
  private hold(): () => void {
    let end!: () => void;
    this.transactionEnded = new Promise((resolve) => end = resolve);
    return () => {
      this.transactionEnded = null;
      end();
    };
  }
}

class LocalTransaction implements Transaction {
  private settled = false;

  constructor(private readonly connection: Connection, private readonly release: () => void) {}

  get closed(): boolean {
    return this.settled || !this.connection.open || !this.connection.inTransaction;
  }

  execute(stmt: InStatement): Promise<ResultSet> {
    return this.run(() => this.connection.execute(stmt));
  }

  batch(stmts: InStatement[]): Promise<ResultSet[]> {
    return this.run(() => this.connection.executeAll(stmts));
  }

  executeMultiple(sql: string): Promise<void> {
    return this.run(() => this.connection.exec(sql));
  }

  commit(): Promise<void> {
    return this.run(() => {
      try {
        this.connection.exec("COMMIT");
      } finally {
        this.settle();
      }
    });
  }

  rollback(): Promise<void> {
    try {
      this.connection.rollbackIfOpen();
    } finally {
      this.settle();
    }
    return Promise.resolve();
  }

  close(): void {
    try {
      this.connection.rollbackIfOpen();
    } finally {
      this.settle();
    }
  }

  private run<T>(fn: () => T): Promise<T> {
    if (this.closed) {
      return Promise.reject(new LibsqlError("The transaction is closed", "TRANSACTION_CLOSED"));
    }
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.release();
  }
}
