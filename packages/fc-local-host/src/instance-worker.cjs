'use strict';
/**
 * One emulated FC function instance (runs inside a worker_thread; plain CommonJS so it needs no
 * TypeScript loader). It `require`s the bundle from its own directory, runs `initialize(context)`
 * once, then serves invocations one at a time (FC 3.0 built-in runtimes: one request per instance,
 * docs/fc-runtime.md §1.1). A new worker = a fresh instance with a fresh module registry.
 *
 * Protocol (parentPort messages):
 *   in : { type: 'invoke', id, event: Uint8Array, context: {...plain data...} }
 *   out: { type: 'result', id, kind: 'ok', body: Uint8Array }
 *      | { type: 'result', id, kind: 'error', fcErrorType, errorType, errorMessage }
 * Only the error's name and message cross the boundary: never a stack (it can carry secrets).
 */
const { parentPort, workerData } = require('node:worker_threads');
const path = require('node:path');
const util = require('node:util');

const { bundleDir, handler } = workerData;

let mod;
let initialized = false;

/** Splits 'index.handler' / 'src/index.handler' into module file and export name (last dot). */
function splitHandler(spec) {
  const dot = spec.lastIndexOf('.');
  if (dot <= 0 || dot === spec.length - 1)
    throw namedError('InvalidHandlerError', `handler '${spec}' is not <file>.<export>`);
  return { file: spec.slice(0, dot), exportName: spec.slice(dot + 1) };
}

function namedError(name, message) {
  const err = new Error(message);
  err.name = name;
  return err;
}

function loadModule() {
  if (mod === undefined) {
    const { file } = splitHandler(handler);
    // require() from the bundle's own directory: relative requires inside it resolve there.
    mod = require(path.join(bundleDir, file));
  }
  return mod;
}

/** FC 3.0 nodejs20 logger line: "2024-03-04 07:01:16.927 <requestId> [info] message" (§2.3, §8.2). */
function makeLogger(requestId) {
  const line =
    (level) =>
    (...args) => {
      const ts = new Date().toISOString().replace('T', ' ').replace('Z', '');
      process.stdout.write(`${ts} ${requestId} [${level}] ${util.format(...args)}\n`);
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error'), log: line('info') };
}

function makeContext(data) {
  return {
    ...data,
    tracing: { ...(data.tracing || {}), parseOpenTracingBaggages: () => ({}) },
    logger: makeLogger(data.requestId),
  };
}

/**
 * Calls `fn(...args, callback)` supporting both styles (§2.2): a returned promise settles it, and so
 * does the callback; a non-promise return from a function declaring fewer params than the callback
 * position is taken as the result. Rejections are tagged with how they happened.
 */
function callBothStyles(fn, args) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const ok = (v) => {
      if (!settled) {
        settled = true;
        resolve(v);
      }
    };
    const fail = (handled, err) => {
      if (!settled) {
        settled = true;
        reject({ handled, err });
      }
    };
    const callback = (err, value) => (err !== null && err !== undefined ? fail(true, err) : ok(value));
    let ret;
    try {
      ret = fn(...args, callback);
    } catch (err) {
      fail(false, err);
      return;
    }
    if (ret !== null && ret !== undefined && typeof ret.then === 'function') {
      ret.then(ok, (err) => fail(false, err));
    } else if (fn.length <= args.length) {
      ok(ret);
    }
  });
}

/** Return-value mapping of §2.2: Buffer unchanged, object -> JSON, anything else -> String(v). */
function encodeResult(value) {
  // null/undefined -> empty body (inferred: the runtime sends nothing for callback(null)).
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === 'object') return Buffer.from(JSON.stringify(value), 'utf8');
  return Buffer.from(String(value), 'utf8');
}

function describe(err) {
  if (err instanceof Error) return { errorType: err.name || 'Error', errorMessage: err.message };
  if (typeof err === 'string') return { errorType: 'Error', errorMessage: err };
  return { errorType: 'Error', errorMessage: util.inspect(err, { depth: 2, breakLength: Infinity }) };
}

async function invoke(msg) {
  const context = makeContext(msg.context);
  let exported;
  try {
    const m = loadModule();
    const { exportName } = splitHandler(handler);
    exported = m[exportName];
    if (typeof exported !== 'function') {
      throw namedError(
        'HandlerNotFoundError',
        `handler '${handler}' is missing on module '${splitHandler(handler).file}'`,
      );
    }
  } catch (err) {
    return { kind: 'error', fcErrorType: 'UnhandledInvocationError', ...describe(err) };
  }
  if (!initialized) {
    const init = mod.initialize;
    if (typeof init === 'function') {
      try {
        await callBothStyles(init, [context]);
      } catch (tagged) {
        // §2.4: an initializer failure is reported as InitializationError; the host drops the instance.
        return { kind: 'error', fcErrorType: 'InitializationError', ...describe(tagged.err) };
      }
    }
    initialized = true;
  }
  try {
    const event = Buffer.from(msg.event.buffer, msg.event.byteOffset, msg.event.byteLength);
    const value = await callBothStyles(exported, [event, context]);
    return { kind: 'ok', body: encodeResult(value) };
  } catch (tagged) {
    const fcErrorType = tagged?.handled ? 'HandledInvocationError' : 'UnhandledInvocationError';
    return { kind: 'error', fcErrorType, ...describe(tagged ? tagged.err : tagged) };
  }
}

parentPort.on('message', (msg) => {
  if (msg?.type !== 'invoke') return;
  invoke(msg).then(
    (result) => {
      const out = { type: 'result', id: msg.id, ...result };
      if (result.kind === 'ok')
        out.body = new Uint8Array(result.body.buffer, result.body.byteOffset, result.body.byteLength);
      parentPort.postMessage(out);
    },
    (err) =>
      parentPort.postMessage({
        type: 'result',
        id: msg.id,
        kind: 'error',
        fcErrorType: 'UnhandledInvocationError',
        ...describe(err),
      }),
  );
});
