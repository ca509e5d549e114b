// A real OpenID Provider for tenantry's SSO tests: `oidc-provider` (OpenID-certified), run
// on loopback with the library's defaults wherever the tests do not need otherwise.
//
//   node tests/op/op.mjs
//
// 1. Listens on 127.0.0.1, a port the system picks, and prints `port N`.
// 2. Reads one JSON line from stdin: { "clients": [client metadata…],
//    "accounts": { "<login>": { "email": …, "email_verified": …, "name": … } } }
//    (the clients' redirect URIs name tenantry's port, known only after this provider's).
// 3. Starts the provider with issuer http://127.0.0.1:N and prints `ready`.
//
// Keys: one RS256 and one ES256 key, made at start. Claims: `email` and `email_verified`
// (scope `email`), `name` (scope `profile`); with the library's default
// `conformIdTokenClaims`, scope-requested claims are released only from UserInfo.
// Interactions: `GET /interaction/:uid` answers a page with one form; posting it with
// `login=<account>` signs that account in and grants what the client asked for. The
// provider's session cookie persists between attempts, as in a browser.
// `GET /__test/last-token-auth` tells how the last token request carried the client's
// credentials (`basic` or `body`), since the library accepts a secret either way.
// Stops when stdin closes (the test dropped it) or on SIGTERM.

import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { createInterface } from 'node:readline';
import Provider from 'oidc-provider';

const jwk = (type, options, alg, kid) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  alg,
  use: 'sig',
  kid,
});

let app = null;
const server = createServer((req, res) => {
  if (app) {
    app(req, res);
  } else {
    res.statusCode = 503;
    res.end('not ready');
  }
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`port ${port}\n`);
  const lines = createInterface({ input: process.stdin });
  let configured = false;
  lines.on('line', (line) => {
    if (configured) return;
    configured = true;
    start(`http://127.0.0.1:${port}`, JSON.parse(line));
  });
  lines.on('close', () => process.exit(0));
});
process.on('SIGTERM', () => process.exit(0));

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function start(issuer, { clients, accounts }) {
  const provider = new Provider(issuer, {
    clients,
    jwks: {
      keys: [
        jwk('rsa', { modulusLength: 2048 }, 'RS256', 'rs256-1'),
        jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'es256-1'),
      ],
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    cookies: { keys: ['tenantry-test-op-cookie-key'] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
  });
  provider.on('server_error', (ctx, err) => process.stderr.write(`op server_error: ${err}\n`));

  // How the last token request authenticated the client: `basic` (an Authorization header)
  // or `body` (none: credentials, if any, in the form body); read by the tests.
  let lastTokenAuth = null;
  provider.use(async (ctx, next) => {
    if (ctx.path === '/token') {
      lastTokenAuth = /^basic /i.test(ctx.get('authorization')) ? 'basic' : 'body';
    } else if (ctx.path === '/__test/last-token-auth') {
      ctx.body = { last_token_auth: lastTokenAuth };
      return undefined;
    }
    return next();
  });

  provider.use(async (ctx, next) => {
    const m = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (!m) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (ctx.method === 'GET' && !m[2]) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><title>Sign in</title><p>prompt: ${escape(details.prompt.name)}</p>
<form method="post" action="/interaction/${escape(details.uid)}/login">
<input name="login" value="${escape(details.session?.accountId ?? '')}"><button>Sign in</button></form>`;
      return undefined;
    }
    if (ctx.method === 'POST' && m[2]) {
      const body = await new Promise((resolve) => {
        let data = '';
        ctx.req.on('data', (c) => { data += c; });
        ctx.req.on('end', () => resolve(new URLSearchParams(data)));
      });
      const login = body.get('login') ?? '';
      if (!accounts[login]) {
        ctx.status = 400;
        ctx.body = `no account ${escape(login)}`;
        return undefined;
      }
      const { params } = details;
      const grant = new provider.Grant({ accountId: login, clientId: params.client_id });
      grant.addOIDCScope(params.scope);
      const grantId = await grant.save();
      const returnTo = await provider.interactionResult(ctx.req, ctx.res, {
        login: { accountId: login },
        consent: { grantId },
      }, { mergeWithLastSubmission: false });
      ctx.status = 303;
      ctx.redirect(returnTo);
      return undefined;
    }
    ctx.status = 405;
    return undefined;
  });

  app = provider.callback();
  process.stdout.write('ready\n');
}
