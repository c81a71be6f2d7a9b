#!/usr/bin/env node
// OAuth interop client for Airlock's Go tests: the official MCP TypeScript
// SDK's OAuth client (discovery from the protected resource metadata, RFC
// 8414 metadata, RFC 7591 dynamic registration, authorization code + PKCE,
// resource indicator) against a gateway whose dev issuer shows a login form.
// The "person" is this script: it follows the login form over HTTP.
//
// Usage:
//   node oauth.mjs <mcp-url> <subject> <groups>
//
// It connects with no token, logs in when the gateway answers 401, lists
// the tools, asks for a read grant, calls query_db and prints ONE JSON line:
//   {"client_id", "authorization": {<auth URL parameters, without state>},
//    "claims": {sub, aud, azp}, "tools": [...], "result": <CallToolResult>,
//    "replay": {"status", "www_authenticate"}}   (replay only with OAUTH_REPLAY_URL)
// The tokens, codes and verifier are never printed.
//
// Environment:
//   OAUTH_TRANSPORT     "streamable-http" (default) or "sse" (then <mcp-url> is the /sse URL)
//   OAUTH_REPLAY_URL    after the calls, POST an initialize request with the
//                       access token to this other MCP URL and report the answer
//   INTEROP_CONNECTION  connection for the grant and the query (default "demo")
//   INTEROP_SQL         query (default "SELECT count(*) AS n FROM customers")
//   INTEROP_TIMEOUT_MS  overall deadline (default 60000)

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const [url, subject, groups] = process.argv.slice(2);
if (!url || !subject) {
  process.stderr.write("usage: node oauth.mjs <mcp-url> <subject> <groups>\n");
  process.exit(2);
}

function fail(err) {
  process.stderr.write(`oauth client error: ${err?.stack || err}\n`);
  process.exit(1);
}

const REDIRECT = "http://127.0.0.1:1/callback"; // never contacted: the code is read from the redirect

// An in-memory OAuthClientProvider; redirectToAuthorization plays the person.
class Provider {
  constructor() {
    this.info = undefined;
    this.tok = undefined;
    this.verifier = undefined;
    this.code = undefined;
    this.authParams = undefined;
  }
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata() {
    return {
      client_name: "Airlock OAuth interop",
      redirect_uris: [REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info) {
    this.info = info;
  }
  tokens() {
    return this.tok;
  }
  saveTokens(t) {
    this.tok = t;
  }
  saveCodeVerifier(v) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
  async redirectToAuthorization(authURL) {
    const p = Object.fromEntries(authURL.searchParams);
    delete p.state;
    this.authParams = p;
    this.code = await followLoginForm(authURL);
  }
}

// followLoginForm GETs the login page, fills subject and groups, POSTs it
// and returns the code from the redirect.
async function followLoginForm(authURL) {
  const page = await fetch(authURL, { redirect: "manual" });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`login page: ${page.status}: ${html.slice(0, 300)}`);
  if (!html.includes("DEVELOPMENT ONLY")) throw new Error("login page lacks its DEVELOPMENT ONLY label");
  const form = new URLSearchParams();
  const unescape = (s) =>
    s.replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    form.set(unescape(m[1]), unescape(m[2]));
  }
  form.set("subject", subject);
  form.set("groups", groups || "");
  form.set("action", "login");
  const post = await fetch(new URL(authURL.pathname, authURL), {
    method: "POST",
    body: form,
    redirect: "manual",
  });
  const loc = post.headers.get("location");
  if (post.status !== 302 || !loc) throw new Error(`login POST: ${post.status}: ${(await post.text()).slice(0, 300)}`);
  const back = new URL(loc);
  if (back.searchParams.get("error")) {
    throw new Error(`authorization refused: ${back.searchParams.get("error")}: ${back.searchParams.get("error_description")}`);
  }
  const code = back.searchParams.get("code");
  if (!code) throw new Error("no code in the redirect");
  return code;
}

function claimsOf(jwt) {
  const c = JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
  return { sub: c.sub, aud: c.aud, azp: c.azp, groups: c.groups };
}

async function main() {
  const deadline = setTimeout(() => fail(new Error("timed out")), Number(process.env.INTEROP_TIMEOUT_MS || 60000));
  deadline.unref();

  const provider = new Provider();
  const info = { name: "airlock-oauth-interop", version: "0.0.0" };
  const Transport = process.env.OAUTH_TRANSPORT === "sse" ? SSEClientTransport : StreamableHTTPClientTransport;
  let transport = new Transport(new URL(url), { authProvider: provider });
  let client = new Client(info, { capabilities: {} });
  try {
    await client.connect(transport);
    throw new Error("connected without logging in: the gateway did not ask for a token");
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  if (!provider.code) throw new Error("the SDK did not start the authorization");
  await transport.finishAuth(provider.code); // token request with the PKCE verifier

  transport = new Transport(new URL(url), { authProvider: provider });
  client = new Client(info, { capabilities: {} });
  await client.connect(transport);
  const tools = (await client.listTools()).tools.map((t) => t.name);
  const conn = process.env.INTEROP_CONNECTION || "demo";
  const grant = await client.callTool({
    name: "request_access",
    arguments: { connection: conn, access: "read", duration: "5m", reason: "oauth interop test" },
  });
  if (grant.isError) throw new Error(`request_access failed: ${JSON.stringify(grant.content)}`);
  const result = await client.callTool({
    name: "query_db",
    arguments: { connection: conn, sql: process.env.INTEROP_SQL || "SELECT count(*) AS n FROM customers" },
  });
  await client.close();

  const out = {
    client_id: provider.info?.client_id,
    authorization: provider.authParams,
    claims: claimsOf(provider.tok.access_token),
    tools,
    result,
  };
  if (process.env.OAUTH_REPLAY_URL) {
    const r = await fetch(process.env.OAUTH_REPLAY_URL, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${provider.tok.access_token}`,
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: info },
      }),
    });
    await r.text();
    out.replay = { status: r.status, www_authenticate: r.headers.get("www-authenticate") };
  }
  const line = JSON.stringify(out) + "\n";
  await new Promise((resolve, reject) => process.stdout.write(line, (e) => (e ? reject(e) : resolve())));
  process.exit(0);
}

main().catch(fail);
