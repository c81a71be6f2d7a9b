#!/usr/bin/env node
// Interop client for Airlock's Go tests, built on the official MCP TypeScript
// SDK (@modelcontextprotocol/sdk, version pinned in package.json).
//
// Usage:
//   node client.mjs http <url> <bearer-token>   Streamable HTTP, e.g. http://127.0.0.1:PORT/mcp
//                                               (an empty token sends no Authorization header)
//   node client.mjs stdio <command> [args...]   spawn <command> over stdio, with this
//                                               process's full environment (AIRLOCK_TOKEN etc.)
//
// It initializes, lists the tools, calls one tool and prints ONE JSON line on stdout:
//   {"tools": ["name", ...], "result": <CallToolResult>}
// then exits 0. Any error is printed to stderr and the exit code is 1.
// Bad usage exits 2.
//
// Environment:
//   INTEROP_TOOL        tool to call (default "query_db")
//   INTEROP_CONNECTION  "connection" argument (default "demo")
//   INTEROP_SQL         "sql" argument (default "SELECT count(*) AS n FROM customers")
//   INTEROP_TIMEOUT_MS  overall deadline in milliseconds (default 60000)
// When the server offers request_access, the client first asks for a read
// grant on the connection (Airlock refuses queries without one).

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const USAGE = `usage:
  node client.mjs http <url> <bearer-token>
  node client.mjs stdio <command> [args...]`;

function usage() {
  process.stderr.write(USAGE + "\n");
  process.exit(2);
}

function describeError(err) {
  if (err instanceof Error) {
    let msg = err.stack || `${err.name}: ${err.message}`;
    if (err.code !== undefined) msg += `\ncode: ${JSON.stringify(err.code)}`;
    if (err.data !== undefined) msg += `\ndata: ${JSON.stringify(err.data)}`;
    if (err.cause !== undefined) msg += `\ncause: ${describeError(err.cause)}`;
    return msg;
  }
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

function fail(err) {
  process.stderr.write(`interop client error: ${describeError(err)}\n`);
  process.exit(1);
}

function makeTransport(argv) {
  const [mode, ...rest] = argv;
  switch (mode) {
    case "http": {
      if (rest.length !== 2) usage();
      const [url, token] = rest;
      let parsed;
      try {
        parsed = new URL(url);
      } catch {
        process.stderr.write(`invalid url: ${url}\n`);
        usage();
      }
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      return new StreamableHTTPClientTransport(parsed, { requestInit: { headers } });
    }
    case "stdio": {
      if (rest.length < 1) usage();
      const [command, ...args] = rest;
      const env = {};
      for (const [k, v] of Object.entries(process.env)) {
        if (typeof v === "string") env[k] = v;
      }
      return new StdioClientTransport({ command, args, env, stderr: "inherit" });
    }
    default:
      usage();
  }
}

async function main() {
  const transport = makeTransport(process.argv.slice(2));

  const timeoutMs = Number(process.env.INTEROP_TIMEOUT_MS || 60000);
  const deadline = setTimeout(() => {
    // Do not leave a spawned stdio server behind.
    const pid = transport.pid;
    if (pid) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    fail(new Error(`timed out after ${timeoutMs}ms`));
  }, timeoutMs);
  deadline.unref();

  let closing = false;
  const client = new Client({ name: "airlock-interop-client", version: "0.0.0" }, { capabilities: {} });
  client.onerror = (err) => {
    // Errors while closing (e.g. the aborted SSE stream) are expected noise.
    if (!closing) process.stderr.write(`interop client transport error: ${err?.message ?? String(err)}\n`);
  };

  await client.connect(transport); // initialize + notifications/initialized

  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    for (const t of page.tools) tools.push(t.name);
    cursor = page.nextCursor;
  } while (cursor);

  // Airlock needs a just-in-time grant before any query: ask for one.
  let grant;
  if (tools.includes("request_access")) {
    grant = await client.callTool({
      name: "request_access",
      arguments: {
        connection: process.env.INTEROP_CONNECTION || "demo",
        access: "read",
        duration: "5m",
        reason: "interop test",
      },
    });
    if (grant.isError) throw new Error(`request_access failed: ${JSON.stringify(grant.content)}`);
  }

  const result = await client.callTool({
    name: process.env.INTEROP_TOOL || "query_db",
    arguments: {
      connection: process.env.INTEROP_CONNECTION || "demo",
      sql: process.env.INTEROP_SQL || "SELECT count(*) AS n FROM customers",
    },
  });

  closing = true;
  await client.close();

  const line = JSON.stringify({ tools, grant, result }) + "\n";
  await new Promise((resolve, reject) => process.stdout.write(line, (err) => (err ? reject(err) : resolve())));
  process.exit(0);
}

main().catch(fail);
