// A real OpenID provider for the sign-in tests: panva/oidc-provider (OpenID Certified), with
// its development login page, where any address signs in. The tests start it:
//
//   node provider.mjs PORT REDIRECT_URI CLIENT_ID CLIENT_SECRET
//
// It prints "issuer ready at http://127.0.0.1:PORT" once it listens. An account whose address
// starts with "unverified" has email_verified false. Test tooling only: Switchboard itself
// needs no Node.
import Provider from "oidc-provider";

const [port, redirectUri, clientId, clientSecret] = process.argv.slice(2);
if (!port || !redirectUri || !clientId || !clientSecret) {
  console.error("usage: node provider.mjs PORT REDIRECT_URI CLIENT_ID CLIENT_SECRET");
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: !id.startsWith("unverified") };
      },
    };
  },
  claims: { openid: ["sub"], email: ["email", "email_verified"] },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["a test-only cookie key, not a secret"] },
});
// Plain http on loopback: fine for a test, refused by the provider's production checks.
provider.proxy = false;

provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`issuer ready at ${issuer}`);
});
