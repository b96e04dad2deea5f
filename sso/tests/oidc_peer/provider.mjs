// A real OpenID Provider (panva/oidc-provider) on loopback for the SSO tests.
// Usage: PORT=<port> node provider.mjs  → prints "READY <issuer>" once listening.
// - clients register dynamically (POST /reg), as each test's connection has its own redirect URI;
// - PKCE is required for every client; ID tokens are signed with a fresh RSA key (RS256);
// - sign-in is driven by the test: GET /interaction/<uid>/login?account=<email> signs in as that
//   account (its `email` claim is the account id) and consent is implied, so no HTML to scrape.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };

const configuration = {
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
  },
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const [given] = id.split('@');
        return { sub: id, email: id, email_verified: true, name: `${given} Example`, given_name: given, family_name: 'Example' };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
};

const provider = new Provider(issuer, configuration);

provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([^/]+)\/login$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== match[1]) ctx.throw(400, 'interaction mismatch');
  const account = String(ctx.query.account || '');
  if (!account) ctx.throw(400, 'account required');
  const redirectTo = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: account } }, { mergeWithLastSubmission: false });
  ctx.redirect(redirectTo);
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
