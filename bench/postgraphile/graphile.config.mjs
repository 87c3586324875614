// PostGraphile's config for the Linli benchmark (bench/src/postgraphile.rs
// passes `-C graphile.config.mjs -P postgraphile/presets/amber`). The bench
// waits for a server with `GET /graphql?query={__typename}`, which grafserv
// answers with 405 unless GraphQL over GET is on; the workloads use POST.
export default {
  grafserv: { graphqlOverGET: true },
};
