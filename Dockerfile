# Roster in a container. Not built on the machine this was written on (no Docker engine
# there): see docs/deploy.md, "What was tested".
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles its native module when no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# tsx runs the TypeScript sources (Roster has no build step), so devDependencies stay.
RUN npm ci --no-audit --no-fund
COPY src ./src
COPY tsconfig.json ./

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    ROSTER_HOST=0.0.0.0 \
    ROSTER_PORT=8080 \
    ROSTER_DATABASE_URL=sqlite:/data/roster.db
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.ROSTER_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node directly, not npm: SIGTERM from `docker stop` must reach Roster for a graceful stop.
CMD ["node", "--import", "tsx", "src/cli/roster.ts", "serve"]
