# Roster in a container. Not built on the machine this was written on (no Docker engine
# there): see docs/deploy.md, "What was tested".
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles its native module when no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# `npm ci` runs the `prepare` script, which compiles src/ into dist/ (scripts/build.mjs); the
# devDependencies (tsx, test tools) are dropped afterwards.
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund
# The user documentation, which Roster serves at /docs/ (/ServiceProviderConfig names it).
COPY docs/*.md ./docs/
COPY docs/idp ./docs/idp

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    ROSTER_HOST=0.0.0.0 \
    ROSTER_PORT=8080 \
    ROSTER_DATABASE_URL=sqlite:/data/roster.db \
    ROSTER_DATA_DIR=/data
COPY --from=build /app /app
# The process runs as node and /app is root's: first start writes the password of `admin` to
# initial-admin-password in ROSTER_DATA_DIR (with PostgreSQL; beside a SQLite file otherwise),
# so that folder must be node's (the default, ./data = /app/data, failed with EACCES).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.ROSTER_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node directly, not npm: SIGTERM from `docker stop` must reach Roster for a graceful stop.
CMD ["node", "dist/cli/roster.js", "serve"]
