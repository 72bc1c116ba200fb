# syntax=docker/dockerfile:1
# The odock-server image: Node 24 runs the TypeScript sources directly (type stripping), so
# there is no build step, only production dependencies, the sources and Node's compile cache of
# them (`odock-server prepare`: a start then loads no TypeScript compiler). Two stages keep npm's
# cache and the lockfile tooling out of the runtime image; the runtime runs as the unprivileged
# `node` user and answers its own healthcheck on GET /readyz.
ARG NODE_IMAGE=node:24.21.0-alpine

FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency needs an install script (all are pure JavaScript or WebAssembly).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    ODOCK_DATA_DIR=/var/lib/odock \
    NODE_COMPILE_CACHE=/app/.cache/node-compile-cache
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY config ./config
COPY src ./src
# The embedded store (used only when DATABASE_URL is unset) and the optional log file live here.
RUN mkdir -p /var/lib/odock /app/.cache && chown node:node /var/lib/odock /app/.cache
USER node
# Compiled once here, as the user that runs the gateway, so every container starts warm.
RUN node bin/odock-server.js prepare
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
# Node flags: src/node-flags.ts (why, and the measurement behind them).
ENTRYPOINT ["node", "--max-semi-space-size=4", "--v8-pool-size=1", "--no-allocation-site-pretenuring", "--heap-growing-percent=100", "bin/odock-server.js"]
CMD ["serve"]
