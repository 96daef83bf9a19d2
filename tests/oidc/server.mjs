// An OpenID Provider (panva's oidc-provider) on 127.0.0.1, for tests/oidc_provider.rs.
//
// It prints one JSON line, {"issuer": "http://127.0.0.1:PORT"}, once it listens,
// and exits when its standard input closes (the test ends) or on SIGTERM.
//
// One client ("tower-jwt-auth-test") may use the client_credentials grant. Each
// resource indicator `urn:tower-jwt-auth:ALG` gets JWT access tokens (RFC 9068,
// typ "at+jwt") signed with ALG, so the test can check every algorithm family.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const jwk = (type, options, kid) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  kid,
  use: 'sig',
});

const keys = [
  jwk('rsa', { modulusLength: 2048 }, 'rsa-1'),
  jwk('ec', { namedCurve: 'P-256' }, 'p256-1'),
  jwk('ec', { namedCurve: 'P-384' }, 'p384-1'),
  jwk('ed25519', {}, 'ed25519-1'),
];

const PREFIX = 'urn:tower-jwt-auth:';

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    jwks: { keys },
    clients: [{
      client_id: 'tower-jwt-auth-test',
      client_secret: 'a-client-secret-for-loopback-tests-only',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'],
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => `${PREFIX}RS256`,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => {
          if (!resource.startsWith(PREFIX)) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'read write',
            audience: resource,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: resource.slice(PREFIX.length) } },
          };
        },
      },
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
