// A stand-in OpenID Connect provider for tests/web.rs, strict where a real
// one is: authorization code flow for public clients with PKCE (S256
// only), exact redirect URIs, single-use codes that expire, RS256 tokens
// whose keys are published as a JWKS. It prints its issuer URL as the
// first line on stdout and runs until killed.
//
// Endpoints: discovery, /authorize (a page with an "approve" button, as a
// provider's consent screen), /token, /jwks; and, for the test only,
// POST /clients (register a client) and GET /stats (what was issued or
// refused).
import { createServer } from "node:http";
import { createHash, createSign, generateKeyPairSync, randomBytes } from "node:crypto";

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const kid = randomBytes(8).toString("hex");
const clients = new Map(); // client_id → { redirect_uris, audience }
const pending = new Map(); // transaction → authorization request
const codes = new Map(); // code → { request, expires, used }
const stats = { authorizations: 0, codes: 0, tokens: 0, refused: [] };
const CODE_SECONDS = 60;
const UNRESERVED = /^[A-Za-z0-9\-._~]{43,128}$/;
let issuer = "";

const b64url = (buffer) => Buffer.from(buffer).toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function jwt(claims) {
  const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid }));
  const body = b64url(JSON.stringify(claims));
  const signer = createSign("RSA-SHA256");
  signer.update(`${header}.${body}`);
  return `${header}.${body}.${b64url(signer.sign(privateKey))}`;
}

function send(res, status, body, headers = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const type = typeof body === "string" ? "text/html; charset=utf-8" : "application/json";
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", ...headers });
  res.end(text);
}

function refuse(res, status, error, description, headers = {}) {
  stats.refused.push(`${error}: ${description}`);
  send(res, status, { error, error_description: description }, headers);
}

const readBody = (req) => new Promise((resolve) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
});

// CORS as providers do it: discovery and keys for anyone; the token
// endpoint for the origins of registered redirect URIs.
function corsFor(req, anyone) {
  const origin = req.headers.origin;
  if (!origin) return {};
  if (anyone) return { "access-control-allow-origin": "*" };
  const known = [...clients.values()].some((c) => c.redirect_uris.some((u) => new URL(u).origin === origin));
  return known ? { "access-control-allow-origin": origin, vary: "origin" } : {};
}

function authorize(req, res, url) {
  const q = Object.fromEntries(url.searchParams);
  const client = clients.get(q.client_id);
  // Never redirect to an unregistered URI: answer here instead.
  if (!client) return refuse(res, 400, "invalid_client", "unknown client_id");
  if (!client.redirect_uris.includes(q.redirect_uri)) return refuse(res, 400, "invalid_request", "redirect_uri is not registered");
  const back = (error, description) => {
    stats.refused.push(`${error}: ${description}`);
    const to = new URL(q.redirect_uri);
    to.search = new URLSearchParams({ error, error_description: description, ...(q.state ? { state: q.state } : {}) });
    res.writeHead(302, { location: to.toString() }).end();
  };
  if (q.response_type !== "code") return back("unsupported_response_type", "only code is supported");
  if (!(q.scope ?? "").split(" ").includes("openid")) return back("invalid_scope", "scope must include openid");
  if (!q.state) return back("invalid_request", "state is required");
  if (q.code_challenge_method !== "S256") return back("invalid_request", "code_challenge_method must be S256");
  if (!/^[A-Za-z0-9\-_]{43}$/.test(q.code_challenge ?? "")) return back("invalid_request", "code_challenge must be a base64url SHA-256");
  const transaction = randomBytes(16).toString("hex");
  pending.set(transaction, q);
  stats.authorizations += 1;
  send(res, 200, `<!doctype html><title>Stand-in provider</title>
<form method="post" action="/authorize/approve"><input type="hidden" name="transaction" value="${transaction}">
<p>Sign in to ${q.client_id} as kim?</p><button id="approve" type="submit">Approve</button></form>`);
}

async function approve(req, res) {
  const form = new URLSearchParams(await readBody(req));
  const request = pending.get(form.get("transaction"));
  if (!request) return refuse(res, 400, "invalid_request", "unknown transaction");
  pending.delete(form.get("transaction"));
  const code = randomBytes(24).toString("hex");
  codes.set(code, { request, expires: Date.now() + CODE_SECONDS * 1000, used: false });
  stats.codes += 1;
  const to = new URL(request.redirect_uri);
  to.search = new URLSearchParams({ code, state: request.state });
  res.writeHead(302, { location: to.toString() }).end();
}

async function token(req, res) {
  const cors = corsFor(req, false);
  if (!(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) {
    return refuse(res, 400, "invalid_request", "the body must be application/x-www-form-urlencoded", cors);
  }
  const form = new URLSearchParams(await readBody(req));
  if (form.get("grant_type") !== "authorization_code") return refuse(res, 400, "unsupported_grant_type", "only authorization_code", cors);
  const entry = codes.get(form.get("code") ?? "");
  if (!entry || entry.used || entry.expires < Date.now()) {
    if (entry) entry.used = true;
    return refuse(res, 400, "invalid_grant", "the code is unknown, used or expired", cors);
  }
  entry.used = true;
  const { request } = entry;
  if (form.get("client_id") !== request.client_id) return refuse(res, 400, "invalid_grant", "client_id differs", cors);
  if (form.get("redirect_uri") !== request.redirect_uri) return refuse(res, 400, "invalid_grant", "redirect_uri differs", cors);
  const verifier = form.get("code_verifier") ?? "";
  if (!UNRESERVED.test(verifier)) return refuse(res, 400, "invalid_grant", "code_verifier is malformed", cors);
  if (b64url(createHash("sha256").update(verifier).digest()) !== request.code_challenge) {
    return refuse(res, 400, "invalid_grant", "code_verifier does not match the challenge", cors);
  }
  const client = clients.get(request.client_id);
  const now = Math.floor(Date.now() / 1000);
  const common = { iss: issuer, sub: "idp-kim", iat: now, exp: now + 600, preferred_username: "kim" };
  stats.tokens += 1;
  send(res, 200, {
    access_token: jwt({ ...common, aud: client.audience, scope: request.scope, client_id: request.client_id }),
    id_token: jwt({ ...common, aud: request.client_id }),
    token_type: "Bearer",
    expires_in: 600,
    scope: request.scope,
  }, cors);
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, issuer || "http://127.0.0.1");
  try {
    if (req.method === "GET" && url.pathname === "/.well-known/openid-configuration") {
      return send(res, 200, {
        issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`,
        response_types_supported: ["code"], grant_types_supported: ["authorization_code"], subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"], code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["none"], scopes_supported: ["openid"],
      }, corsFor(req, true));
    }
    if (req.method === "GET" && url.pathname === "/jwks") {
      const jwk = publicKey.export({ format: "jwk" });
      return send(res, 200, { keys: [{ ...jwk, kid, alg: "RS256", use: "sig" }] }, corsFor(req, true));
    }
    if (req.method === "GET" && url.pathname === "/authorize") return authorize(req, res, url);
    if (req.method === "POST" && url.pathname === "/authorize/approve") return approve(req, res);
    if (req.method === "POST" && url.pathname === "/token") return token(req, res);
    if (req.method === "OPTIONS" && url.pathname === "/token") {
      // Browsers preflight only non-simple requests; the code exchange is
      // simple, so a preflight here means the client sent the wrong type.
      return refuse(res, 405, "invalid_request", "the token endpoint takes a form POST", corsFor(req, false));
    }
    if (req.method === "POST" && url.pathname === "/clients") {
      const body = JSON.parse(await readBody(req));
      if (!body.client_id || !Array.isArray(body.redirect_uris) || !body.audience) return send(res, 400, { error: "client_id, redirect_uris and audience" });
      clients.set(body.client_id, { redirect_uris: body.redirect_uris, audience: body.audience });
      return send(res, 201, { client_id: body.client_id });
    }
    if (req.method === "GET" && url.pathname === "/stats") return send(res, 200, stats);
    send(res, 404, { error: "not_found" });
  } catch (error) {
    send(res, 400, { error: "invalid_request", error_description: String(error) });
  }
});

server.listen(0, "127.0.0.1", () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  console.log(issuer);
});
