/**
 * A stand-in for sqld / Turso in tests: an HTTP server speaking Hrana over HTTP, the protocol
 * `@libsql/client/web` (pure JS, fetch only) uses for `http://` and `libsql://` URLs, backed by
 * an embedded SQLite file through the native `libsql` package. No libSQL server can be installed
 * on these machines; this lets Fila's remote-store path run against a real wire protocol.
 *
 * Implemented (Hrana 2 and 3, JSON encoding; the request/response shapes and error codes follow
 * sqld's libsql-server):
 *  - `GET /v2`, `GET /v3` (version probes answer 200), `GET /health`;
 *  - `POST /v2/pipeline` and `POST /v3/pipeline` with the stream requests `execute`, `batch`
 *    (conditions ok / error / not / and / or, and `is_autocommit` on v3), `sequence`,
 *    `describe`, `store_sql`, `close_sql`, `get_autocommit` (v3) and `close`;
 *  - batons: each stream is one SQLite connection with its own transaction state; every
 *    response hands out a new unguessable baton and the old one stops working. An unknown or
 *    reused baton is refused with 400; a stream idle for `streamIdleMs` (sqld: 10 s) is closed,
 *    rolling back its transaction, and its baton then answers 500 `STREAM_EXPIRED`;
 *  - values (null, integer as a decimal string, float, text, blob as base64), cols with
 *    decltype, rows, `affected_row_count` (INSERT/UPDATE/DELETE only) and `last_insert_rowid`
 *    (INSERT only), as sqld reports them;
 *  - errors: SQLite failures as `SQLITE_<primary code>` (SQLITE_CONSTRAINT, SQLITE_BUSY, ...),
 *    plus sqld's SQL_NO_STATEMENT, SQL_MANY_STATEMENTS, ARGS_INVALID,
 *    ARGS_BOTH_POSITIONAL_AND_NAMED, SQL_STORE_TOO_MANY / _TOO_LARGE; protocol violations answer
 *    400 text and close the stream, as sqld does;
 *  - an optional auth token: without `Authorization: Bearer <token>` a pipeline answers 401
 *    (the version probes stay open, as the client sends them without the token).
 *
 * Not implemented: the Protobuf encoding (`GET /v3-protobuf` answers 404, so clients fall back
 * to JSON), cursors (`/v3/cursor`), Hrana over WebSocket, the v1 HTTP API (`POST /`), JWT
 * verification (the token is compared as an opaque string), sqld's transaction timeout that
 * steals a write lock held too long, replication, namespaces and response size limits. SQL
 * texts are split and classified by a small tokenizer here instead of sqld's full parser, so a
 * syntax error is reported as SQLITE_ERROR (sqld: SQL_PARSE_ERROR) and `describe` judges
 * `is_readonly` from the statement's verb. One known difference in behaviour: after a
 * statement inside a transaction gives up on a lock (SQLITE_BUSY past `busyTimeoutMs`, or
 * SQLITE_BUSY_SNAPSHOT), that transaction's COMMIT fails with SQLITE_BUSY and only ROLLBACK
 * ends it (sqld would commit what the transaction did before); see Stream for why.
 *
 * Concurrency: each stream has its own connection to the WAL-mode file. SQLite's own busy
 * timeout would block this single-threaded server while it waits, freezing the very stream
 * that holds the lock (its COMMIT could not be served), so connections get busy_timeout 0 and
 * a statement that meets SQLITE_BUSY is retried asynchronously until `busyTimeoutMs` is spent.
 */
import Database from "libsql";
import { primaryCodeName } from "../../db/libsql/local_client.ts";
import { Buffer } from "node:buffer";

type NativeDatabase = InstanceType<typeof Database>;
type SqlValue = null | bigint | number | string | Uint8Array;

export interface HranaServerOptions {
  /** The SQLite file behind the server (created if missing). */
  path: string;
  /** When set, pipelines must carry `Authorization: Bearer <authToken>`. */
  authToken?: string;
  /** The port to listen on; 0 or absent picks a free one. */
  port?: number;
  /** How long a stream may sit idle before it is closed (sqld: 10 s). */
  streamIdleMs?: number;
  /** How long a statement keeps retrying while the database is locked (default 5 s). */
  busyTimeoutMs?: number;
}

export interface HranaServer {
  /** `http://127.0.0.1:<port>`, for `createClient({ url })`. */
  url: string;
  /** Counters tests can wait on: open streams, and statements waiting for a lock right now. */
  stats(): { openStreams: number; waitingOnLock: number };
  /** Stops listening and closes every stream (open transactions roll back). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Hrana JSON structures (the subset of the spec this server reads and writes)

type ProtoValue =
  | { type: "null" }
  | { type: "integer"; value: string }
  | { type: "float"; value: number }
  | { type: "text"; value: string }
  | { type: "blob"; base64: string };

interface ProtoStmt {
  sql?: string | null;
  sql_id?: number | null;
  args?: ProtoValue[];
  named_args?: { name: string; value: ProtoValue }[];
  want_rows?: boolean;
}

type ProtoCond =
  | { type: "ok"; step: number }
  | { type: "error"; step: number }
  | { type: "not"; cond: ProtoCond }
  | { type: "and"; conds: ProtoCond[] }
  | { type: "or"; conds: ProtoCond[] }
  | { type: "is_autocommit" };

interface ProtoError {
  message: string;
  code: string;
}

interface StmtResult {
  cols: { name: string | null; decltype: string | null }[];
  rows: ProtoValue[][];
  affected_row_count: number;
  last_insert_rowid: string | null;
}

type StreamResult =
  | { type: "ok"; response: Record<string, unknown> & { type: string } }
  | { type: "error"; error: ProtoError };

/** A violation of the protocol: the whole HTTP request fails with 400 and the stream closes. */
class ProtocolError extends Error {}

/** A failure of one stream request (or one batch step), reported inside the results. */
class RequestError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// SQL text: tokens, statement boundaries, parameters, verb

interface Token {
  kind: "word" | "variable" | "semicolon" | "lparen" | "rparen" | "other";
  text: string;
  start: number;
  end: number;
}

const ID_START = /[A-Za-z_\u0080-\uffff]/;
const ID_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;

/** The significant tokens of `sql` (whitespace and comments dropped), by SQLite's lexical rules. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: Token["kind"], start: number, end: number) =>
    tokens.push({ kind, text: sql.slice(start, end), start, end });
  while (i < sql.length) {
    const c = sql[i];
    const start = i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      const newline = sql.indexOf("\n", i);
      i = newline < 0 ? sql.length : newline + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      const close = sql.indexOf("*/", i + 2);
      i = close < 0 ? sql.length : close + 2;
    } else if (c === "'" || c === '"' || c === "`") {
      // a doubled quote inside is the quote itself
      i++;
      while (i < sql.length) {
        if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2;
          else break;
        } else i++;
      }
      i = Math.min(i + 1, sql.length);
      push("other", start, i);
    } else if (c === "[") {
      const close = sql.indexOf("]", i);
      i = close < 0 ? sql.length : close + 1;
      push("other", start, i);
    } else if (c === "?") {
      i++;
      while (i < sql.length && /[0-9]/.test(sql[i])) i++;
      push("variable", start, i);
    } else if ((c === ":" || c === "@" || c === "$") && ID_CHAR.test(sql[i + 1] ?? "")) {
      i++;
      while (i < sql.length && ID_CHAR.test(sql[i])) i++;
      push("variable", start, i);
    } else if (ID_START.test(c)) {
      while (i < sql.length && ID_CHAR.test(sql[i])) i++;
      push("word", start, i);
    } else if (c === ";") {
      i++;
      push("semicolon", start, i);
    } else if (c === "(" || c === ")") {
      i++;
      push(c === "(" ? "lparen" : "rparen", start, i);
    } else {
      i++;
      push("other", start, i);
    }
  }
  return tokens;
}

/** One SQL statement and what binding and reporting need to know about it. */
interface Statement {
  sql: string;
  /** Parameter names by index (1-based; index 0 unused); null for a bare `?`. */
  params: (string | null)[];
  /** INSERT, UPDATE, SELECT, ... after EXPLAIN and WITH clauses. */
  verb: string;
  explain: boolean;
}

/**
 * Splits `sql` into statements at top-level semicolons. A CREATE TRIGGER body holds
 * semicolons of its own: its statement ends only at the `;` after the trigger's END (an END
 * that closes a CASE does not count).
 */
function splitStatements(sql: string): Statement[] {
  const statements: Statement[] = [];
  let current: Token[] = [];
  let caseDepth = 0;
  let lastWasTriggerEnd = false;
  const flush = () => {
    if (current.length > 0) statements.push(describeTokens(sql, current));
    current = [];
    caseDepth = 0;
    lastWasTriggerEnd = false;
  };
  for (const token of tokenize(sql)) {
    if (token.kind === "semicolon") {
      if (!isCreateTrigger(current) || lastWasTriggerEnd) flush();
      else current.push(token);
      continue;
    }
    current.push(token);
    const word = token.kind === "word" ? token.text.toUpperCase() : "";
    if (word === "CASE") caseDepth++;
    if (word === "END" && caseDepth > 0) {
      caseDepth--;
      lastWasTriggerEnd = false;
    } else {
      lastWasTriggerEnd = word === "END";
    }
  }
  flush();
  return statements;
}

function leadingWords(tokens: Token[]): string[] {
  const words = tokens.map((t) => t.kind === "word" ? t.text.toUpperCase() : "");
  let at = 0;
  if (words[at] === "EXPLAIN") {
    at++;
    if (words[at] === "QUERY" && words[at + 1] === "PLAN") at += 2;
  }
  return words.slice(at);
}

function isCreateTrigger(tokens: Token[]): boolean {
  const words = leadingWords(tokens);
  if (words[0] !== "CREATE") return false;
  const next = words[1] === "TEMP" || words[1] === "TEMPORARY" ? 2 : 1;
  return words[next] === "TRIGGER";
}

const MAIN_VERBS = new Set(["SELECT", "INSERT", "REPLACE", "UPDATE", "DELETE", "VALUES"]);

function describeTokens(sql: string, tokens: Token[]): Statement {
  const first = tokens[0].kind === "word" ? tokens[0].text.toUpperCase() : "";
  const explain = first === "EXPLAIN";
  let verb = leadingWords(tokens)[0] ?? "";
  if (verb === "WITH") {
    // the verb is the first main keyword outside the common table expressions' parentheses
    let depth = 0;
    verb = "SELECT";
    for (const token of tokens) {
      if (token.kind === "lparen") depth++;
      else if (token.kind === "rparen") depth--;
      else if (depth === 0 && token.kind === "word" && MAIN_VERBS.has(token.text.toUpperCase())) {
        verb = token.text.toUpperCase();
        break;
      }
    }
  }
  return {
    sql: sql.slice(tokens[0].start, tokens[tokens.length - 1].end),
    params: parameterNames(tokens),
    verb,
    explain,
  };
}

/** Numbers parameters as SQLite does: `?` takes the next index, `?N` is N, a name keeps its first index. */
function parameterNames(tokens: Token[]): (string | null)[] {
  const names: (string | null)[] = [null];
  const byName = new Map<string, number>();
  let max = 0;
  for (const token of tokens) {
    if (token.kind !== "variable") continue;
    const text = token.text;
    if (text === "?") {
      max++;
      names[max] = null;
    } else if (text[0] === "?") {
      const index = Number(text.slice(1));
      if (index > max) {
        for (let i = max + 1; i < index; i++) names[i] = null;
        max = index;
      }
      if (!byName.has(text)) {
        byName.set(text, index);
        names[index] = text;
      }
    } else if (!byName.has(text)) {
      max++;
      byName.set(text, max);
      names[max] = text;
    }
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Values

function valueFromProto(value: ProtoValue | undefined): SqlValue {
  switch (value?.type) {
    case "null":
      return null;
    case "integer":
      if (typeof value.value === "string" && /^-?\d{1,19}$/.test(value.value)) {
        const integer = BigInt(value.value);
        if (BigInt.asIntN(64, integer) === integer) return integer;
      }
      throw new ProtocolError(`Invalid 64-bit integer ${JSON.stringify(value.value)}`);
    case "float":
      if (typeof value.value !== "number") throw new ProtocolError("Invalid float value");
      return value.value;
    case "text":
      if (typeof value.value !== "string") throw new ProtocolError("Invalid text value");
      return value.value;
    case "blob":
      if (typeof value.base64 !== "string") throw new ProtocolError("Invalid blob value");
      return new Uint8Array(Buffer.from(value.base64, "base64"));
    default:
      throw new ProtocolError(
        `Unknown value type ${JSON.stringify((value as { type?: unknown } | undefined)?.type)}`,
      );
  }
}

function valueToProto(value: unknown): ProtoValue {
  if (value === null || value === undefined) return { type: "null" };
  if (typeof value === "bigint") return { type: "integer", value: value.toString() };
  if (typeof value === "number") return { type: "float", value };
  if (typeof value === "string") return { type: "text", value };
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : value;
    return { type: "blob", base64: Buffer.from(bytes).toString("base64") };
  }
  throw new Error(`unexpected value from SQLite: ${String(value)}`);
}

// ---------------------------------------------------------------------------------------------
// Errors from SQLite

const SQLITE_BUSY = 5;

function rawCodeOf(error: unknown): number | undefined {
  const rawCode = (error as { rawCode?: unknown })?.rawCode;
  return typeof rawCode === "number" ? rawCode : undefined;
}

/** A native driver error as sqld reports it: the primary code's name, "SQLite error: ..." text. */
function requestErrorFrom(error: unknown): RequestError {
  if (error instanceof RequestError) return error;
  const rawCode = rawCodeOf(error);
  if (rawCode === undefined) throw error; // not SQLite's: a bug here, let it surface
  const code = primaryCodeName(rawCode) ?? "SQLITE_UNKNOWN";
  return new RequestError(code, `SQLite error: ${(error as Error).message}`);
}

// ---------------------------------------------------------------------------------------------
// Streams: one connection each

/**
 * A stream: one connection, its stored SQL texts and its idle clock.
 *
 * The native driver leaves a statement that failed with SQLITE_BUSY active (it is reset only
 * when run again, or finalized by the garbage collector), and while a writing statement is
 * active SQLite commits nothing on that connection: later autocommit writes would stay pending
 * and keep the write lock. So a busy statement is retried as the same statement object; one
 * abandoned busy (`stuck`) makes the connection unusable, and it is swapped for a fresh one as
 * soon as no transaction is open on it (an open one first fails its COMMIT, as it would on a
 * connection with a statement in progress, and is rolled back by the client).
 */
class Stream {
  readonly sqls = new Map<number, string>();
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set after `close` or expiry: later use of the connection is a protocol violation. */
  closed = false;
  /** A statement on `db` was abandoned while busy. */
  stuck = false;
  db: NativeDatabase;

  constructor(private readonly path: string) {
    this.db = Stream.connect(path);
  }

  private static connect(path: string): NativeDatabase {
    const db = new Database(path, { timeout: 0 });
    // a test server need not fsync every commit; WAL keeps NORMAL consistent
    db.exec("PRAGMA busy_timeout = 0; PRAGMA synchronous = NORMAL");
    return db;
  }

  /** Replaces a stuck connection once it is out of any transaction. */
  recoverIfStuck(): void {
    if (!this.stuck || this.closed || this.db.inTransaction) return;
    this.db.close();
    this.db = Stream.connect(this.path);
    this.stuck = false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    // statements not yet garbage-collected keep the native connection alive past close(), with
    // its transaction and locks: end the transaction here
    if (this.db.inTransaction) {
      try {
        this.db.exec("ROLLBACK");
      } catch {
        // nothing more can be done for this connection
      }
    }
    this.db.close();
  }
}

const MAX_STORED_SQLS = 50;
const MAX_STORED_SQL_BYTES = 5 * 1024;
/** How long an expired baton still answers STREAM_EXPIRED rather than "invalid baton" (sqld). */
const EXPIRED_MEMORY_MS = 300_000;

/**
 * Starts the stand-in on 127.0.0.1. The file at `options.path` is switched to WAL, so it can
 * also be shared with other connections and processes.
 */
export async function startHranaServer(options: HranaServerOptions): Promise<HranaServer> {
  const streamIdleMs = options.streamIdleMs ?? 10_000;
  const busyTimeoutMs = options.busyTimeoutMs ?? 5_000;

  const setup = new Database(options.path, { timeout: 0 });
  try {
    setup.exec("PRAGMA journal_mode = WAL");
  } finally {
    setup.close();
  }

  const streams = new Map<string, Stream>();
  const expired = new Map<string, number>();
  const allStreams = new Set<Stream>();
  let waitingOnLock = 0;
  let closing = false;

  function openStream(): Stream {
    const stream = new Stream(options.path);
    allStreams.add(stream);
    return stream;
  }

  function closeStream(stream: Stream): void {
    stream.close();
    allStreams.delete(stream);
  }

  /** Hands the stream a fresh baton and starts its idle clock. */
  function release(stream: Stream): string {
    const baton = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    streams.set(baton, stream);
    stream.idleTimer = setTimeout(() => {
      streams.delete(baton);
      closeStream(stream);
      const now = Date.now();
      for (const [old, at] of expired) if (now - at > EXPIRED_MEMORY_MS) expired.delete(old);
      expired.set(baton, now);
    }, streamIdleMs);
    return baton;
  }

  /**
   * Runs `work`, retrying while SQLite answers SQLITE_BUSY, without blocking other streams.
   * `work` reuses its statement across attempts; giving up on a statement leaves the
   * connection stuck (see Stream), unless `work` only prepares.
   */
  async function whileBusy<T>(stream: Stream, work: () => T, preparing = false): Promise<T> {
    const deadline = Date.now() + busyTimeoutMs;
    let pause = 1;
    for (;;) {
      try {
        return work();
      } catch (error) {
        const code = rawCodeOf(error);
        if (code === undefined || (code & 0xff) !== SQLITE_BUSY) throw error;
        // SQLITE_BUSY_SNAPSHOT (517) cannot clear by waiting, nor can a stuck connection's
        // COMMIT until its transaction is rolled back
        if (code !== SQLITE_BUSY || stream.stuck || closing || Date.now() >= deadline) {
          if (!preparing) stream.stuck = true;
          throw error;
        }
      }
      waitingOnLock++;
      try {
        await new Promise((resolve) => setTimeout(resolve, pause));
      } finally {
        waitingOnLock--;
      }
      pause = Math.min(pause * 2, 25);
    }
  }

  function sqlOf(stream: Stream, sql: unknown, sqlId: unknown): string {
    if (sql !== undefined && sql !== null && sqlId !== undefined && sqlId !== null) {
      throw new ProtocolError("Both sql and sql_id were given");
    }
    if (typeof sql === "string") return sql;
    if (typeof sqlId === "number") {
      const stored = stream.sqls.get(sqlId);
      if (stored === undefined) throw new ProtocolError(`SQL text ${sqlId} was not found`);
      return stored;
    }
    throw new ProtocolError("Neither sql nor sql_id was given");
  }

  /** The one statement of `stmt` with its arguments decoded (sqld checks this before running). */
  function prepareStmt(stream: Stream, stmt: ProtoStmt) {
    if (typeof stmt !== "object" || stmt === null) throw new ProtocolError("Missing stmt");
    const statements = splitStatements(sqlOf(stream, stmt.sql, stmt.sql_id));
    if (statements.length === 0) {
      throw new RequestError("SQL_NO_STATEMENT", "SQL string does not contain any statement");
    }
    if (statements.length > 1) {
      throw new RequestError("SQL_MANY_STATEMENTS", "SQL string contains more than one statement");
    }
    const args = (stmt.args ?? []).map(valueFromProto);
    const named = new Map<string, SqlValue>();
    for (const arg of stmt.named_args ?? []) named.set(arg.name, valueFromProto(arg.value));
    if (args.length > 0 && named.size > 0) {
      throw new RequestError(
        "ARGS_BOTH_POSITIONAL_AND_NAMED",
        "Specifying both positional and named arguments is not supported",
      );
    }
    return { statement: statements[0], args, named, wantRows: stmt.want_rows ?? true };
  }

  /** The values to bind by index, matched as sqld matches them (a name with or without its sign). */
  function bindValues(
    statement: Statement,
    args: SqlValue[],
    named: Map<string, SqlValue>,
  ): SqlValue[] {
    const count = statement.params.length - 1;
    const given = named.size > 0 ? named.size : args.length;
    const invalid = (why: string) =>
      new RequestError("ARGS_INVALID", `Arguments do not match SQL parameters: ${why}`);
    if (given > count) throw invalid(`too many parameters, expected ${count} found ${given}`);
    const values: SqlValue[] = [];
    for (let index = 1; index <= count; index++) {
      const name = statement.params[index];
      let value: SqlValue | undefined;
      if (name === null) value = named.size > 0 ? undefined : args[index - 1];
      else if (name[0] === "?") {
        value = named.size > 0 ? undefined : args[Number(name.slice(1)) - 1];
      } else {
        const key = named.has(name) ? name : name.slice(1);
        value = named.get(key);
      }
      if (value === undefined) {
        if (statement.explain) value = null;
        else throw invalid(`value for parameter ${name ?? index} not found`);
      }
      values.push(value);
    }
    return values;
  }

  async function runStatement(
    stream: Stream,
    prepared: ReturnType<typeof prepareStmt>,
  ): Promise<StmtResult> {
    const { statement, args, named, wantRows } = prepared;
    const values = bindValues(statement, args, named);
    const iud = !statement.explain &&
      ["INSERT", "REPLACE", "UPDATE", "DELETE"].includes(statement.verb);
    const insert = !statement.explain &&
      (statement.verb === "INSERT" || statement.verb === "REPLACE");
    const db = stream.db;
    try {
      const native = await whileBusy(stream, () => db.prepare(statement.sql), true);
      let cols: StmtResult["cols"] = [];
      let rows: ProtoValue[][] = [];
      if (native.reader) {
        native.raw(true);
        native.safeIntegers(true);
        cols = (native.columns() as { name: string; type: string | null }[])
          .map((c) => ({ name: c.name, decltype: c.type }));
        // every row is stepped through even when unwanted: errors and side effects still count
        const raw = await whileBusy(stream, () => native.all(values) as unknown[][]);
        if (wantRows) rows = raw.map((row) => row.map(valueToProto));
      } else {
        await whileBusy(stream, () => native.run(values));
      }
      let affected = 0;
      let lastInsertRowid: string | null = null;
      if (iud) {
        const counters = db.prepare("SELECT changes(), last_insert_rowid()");
        counters.raw(true);
        counters.safeIntegers(true);
        const [changes, rowid] = counters.get([]) as [bigint, bigint];
        affected = Number(changes);
        if (insert) lastInsertRowid = rowid.toString();
      }
      return { cols, rows, affected_row_count: affected, last_insert_rowid: lastInsertRowid };
    } catch (error) {
      throw requestErrorFrom(error);
    } finally {
      stream.recoverIfStuck();
    }
  }

  async function runBatch(
    stream: Stream,
    batch: { steps?: { condition?: ProtoCond | null; stmt: ProtoStmt }[] },
    version: number,
  ) {
    if (!Array.isArray(batch?.steps)) throw new ProtocolError("Missing batch steps");
    const steps = batch.steps;
    // like sqld, every statement is checked before the first one runs
    const prepared = steps.map((step, i) => {
      if (step.condition) checkCond(step.condition, i, version);
      return prepareStmt(stream, step.stmt);
    });
    const outcome: ("ok" | "error" | "skipped")[] = [];
    const stepResults: (StmtResult | null)[] = [];
    const stepErrors: (ProtoError | null)[] = [];
    for (let i = 0; i < steps.length; i++) {
      const condition = steps[i].condition;
      if (condition && !evalCond(stream, condition, outcome)) {
        outcome.push("skipped");
        stepResults.push(null);
        stepErrors.push(null);
        continue;
      }
      try {
        stepResults.push(await runStatement(stream, prepared[i]));
        stepErrors.push(null);
        outcome.push("ok");
      } catch (error) {
        const failure = requestErrorFrom(error);
        stepResults.push(null);
        stepErrors.push({ message: failure.message, code: failure.code });
        outcome.push("error");
      }
    }
    return { step_results: stepResults, step_errors: stepErrors };
  }

  function checkCond(cond: ProtoCond, stepIndex: number, version: number): void {
    switch (cond?.type) {
      case "ok":
      case "error":
        if (!Number.isInteger(cond.step) || cond.step < 0 || cond.step >= stepIndex) {
          throw new ProtocolError("Batch condition refers to a step that does not run before it");
        }
        return;
      case "not":
        return checkCond(cond.cond, stepIndex, version);
      case "and":
      case "or":
        if (!Array.isArray(cond.conds)) throw new ProtocolError("Missing conds");
        return cond.conds.forEach((c) => checkCond(c, stepIndex, version));
      case "is_autocommit":
        if (version < 3) {
          throw new ProtocolError("BatchCond of type `is_autocommit` needs Hrana 3");
        }
        return;
      default:
        throw new ProtocolError(
          `Unknown batch condition ${
            JSON.stringify((cond as { type?: unknown } | undefined)?.type)
          }`,
        );
    }
  }

  function evalCond(stream: Stream, cond: ProtoCond, outcome: string[]): boolean {
    switch (cond.type) {
      case "ok":
        return outcome[cond.step] === "ok";
      case "error":
        return outcome[cond.step] === "error";
      case "not":
        return !evalCond(stream, cond.cond, outcome);
      case "and":
        return cond.conds.every((c) => evalCond(stream, c, outcome));
      case "or":
        return cond.conds.some((c) => evalCond(stream, c, outcome));
      case "is_autocommit":
        return !stream.db.inTransaction;
    }
  }

  /** Runs every statement of `sql` in order, stopping at the first failure, rows ignored. */
  async function runSequence(stream: Stream, sql: string): Promise<void> {
    for (const statement of splitStatements(sql)) {
      await runStatement(stream, { statement, args: [], named: new Map(), wantRows: false });
    }
  }

  function describe(stream: Stream, sql: string) {
    const statements = splitStatements(sql);
    if (statements.length !== 1) {
      throw statements.length === 0
        ? new RequestError("SQL_NO_STATEMENT", "SQL string does not contain any statement")
        : new RequestError("SQL_MANY_STATEMENTS", "SQL string contains more than one statement");
    }
    const statement = statements[0];
    let cols: { name: string; decltype: string | null }[] = [];
    try {
      const native = stream.db.prepare(statement.sql);
      if (native.reader) {
        cols = (native.columns() as { name: string; type: string | null }[])
          .map((c) => ({ name: c.name, decltype: c.type }));
      }
    } catch (error) {
      throw requestErrorFrom(error);
    }
    return {
      params: statement.params.slice(1).map((name) => ({ name })),
      cols,
      is_explain: statement.explain,
      is_readonly: statement.explain || statement.verb === "SELECT" || statement.verb === "VALUES",
    };
  }

  // deno-lint-ignore no-explicit-any
  async function handleRequest(stream: Stream, request: any, version: number) {
    const type = request?.type;
    const needOpen = () => {
      if (stream.closed) throw new ProtocolError("The stream has already been closed");
    };
    switch (type) {
      case "close":
        closeStream(stream);
        return { type };
      case "execute":
        needOpen();
        return { type, result: await runStatement(stream, prepareStmt(stream, request.stmt)) };
      case "batch":
        needOpen();
        return { type, result: await runBatch(stream, request.batch, version) };
      case "sequence":
        needOpen();
        await runSequence(stream, sqlOf(stream, request.sql, request.sql_id));
        return { type };
      case "describe":
        needOpen();
        return { type, result: describe(stream, sqlOf(stream, request.sql, request.sql_id)) };
      case "store_sql": {
        const { sql_id: sqlId, sql } = request;
        if (typeof sqlId !== "number" || typeof sql !== "string") {
          throw new ProtocolError("store_sql needs sql_id and sql");
        }
        if (stream.sqls.has(sqlId)) throw new ProtocolError(`SQL text ${sqlId} already exists`);
        if (stream.sqls.size >= MAX_STORED_SQLS) {
          throw new RequestError(
            "SQL_STORE_TOO_MANY",
            `The server already stores ${stream.sqls.size} SQL texts, it cannot store more`,
          );
        }
        if (new TextEncoder().encode(sql).length > MAX_STORED_SQL_BYTES) {
          throw new RequestError("SQL_STORE_TOO_LARGE", "The statement is too large to be stored");
        }
        stream.sqls.set(sqlId, sql);
        return { type };
      }
      case "close_sql":
        stream.sqls.delete(request.sql_id);
        return { type };
      case "get_autocommit":
        if (version < 3) throw new ProtocolError("The `get_autocommit` request needs Hrana 3");
        needOpen();
        return { type, is_autocommit: !stream.db.inTransaction };
      default:
        throw new ProtocolError(`Unknown stream request ${JSON.stringify(type)}`);
    }
  }

  async function handlePipeline(request: Request, version: number): Promise<Response> {
    if (options.authToken !== undefined) {
      const header = request.headers.get("authorization") ?? "";
      if (header !== `Bearer ${options.authToken}`) {
        await request.body?.cancel();
        return Response.json(
          { error: "Unauthorized: `The JWT is invalid`" },
          { status: 401 },
        );
      }
    }
    // deno-lint-ignore no-explicit-any
    let body: any;
    try {
      body = await request.json();
    } catch {
      return text(400, "Could not deserialize JSON request body");
    }
    if (typeof body !== "object" || body === null || !Array.isArray(body.requests)) {
      return text(400, "The request body must hold a `requests` array");
    }
    let stream: Stream;
    const baton = body.baton;
    if (baton === undefined || baton === null) {
      stream = openStream();
    } else {
      const found = typeof baton === "string" ? streams.get(baton) : undefined;
      if (!found) {
        if (expired.has(baton)) {
          return Response.json(
            { message: "The stream has expired due to inactivity", code: "STREAM_EXPIRED" },
            { status: 500 },
          );
        }
        return text(400, "The baton is invalid (unknown, already used, or closed)");
      }
      // the baton is spent: a second request with it (a client not waiting its turn) fails
      streams.delete(baton);
      clearTimeout(found.idleTimer);
      stream = found;
    }
    const results: StreamResult[] = [];
    try {
      for (const entry of body.requests) {
        try {
          results.push({ type: "ok", response: await handleRequest(stream, entry, version) });
        } catch (error) {
          if (!(error instanceof RequestError)) throw error;
          results.push({ type: "error", error: { message: error.message, code: error.code } });
        }
      }
    } catch (error) {
      closeStream(stream);
      if (error instanceof ProtocolError) return text(400, error.message);
      throw error;
    }
    if (closing) closeStream(stream);
    const nextBaton = stream.closed ? null : release(stream);
    return Response.json({ baton: nextBaton, base_url: null, results });
  }

  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen: listening.resolve },
    async (request) => {
      const path = new URL(request.url).pathname.replace(/\/+$/, "");
      if (request.method === "GET") {
        if (path === "/v2" || path === "/v3") {
          return text(200, `Hello, this is HTTP API ${path.slice(1)} (Hrana over HTTP)`);
        }
        if (path === "/health" || path === "") return text(200, "OK");
        return text(404, "Not found");
      }
      if (request.method === "POST" && (path === "/v2/pipeline" || path === "/v3/pipeline")) {
        return await handlePipeline(request, path === "/v2/pipeline" ? 2 : 3);
      }
      await request.body?.cancel();
      return text(404, "Not found");
    },
  );

  const address = await listening.promise;
  return {
    url: `http://127.0.0.1:${address.port}`,
    stats: () => ({ openStreams: allStreams.size, waitingOnLock }),
    async close() {
      closing = true;
      await server.shutdown();
      for (const stream of allStreams) stream.close();
      allStreams.clear();
      streams.clear();
      expired.clear();
    },
  };
}

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain" } });
}
