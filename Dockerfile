# bitsperity-mqtt-mcp in a container. The MCP protocol runs over stdio, so `docker run` needs -i (and no -t):
#
#   docker build -t ghcr.io/bitsperity/mqtt-mcp .
#   docker run -i --rm ghcr.io/bitsperity/mqtt-mcp --demo
#   docker run -i --rm -e MQTT_URL=mqtt://broker.example:1883 ghcr.io/bitsperity/mqtt-mcp
#
# An assistant's MCP config then runs the same thing, e.g.
#   { "command": "docker", "args": ["run", "-i", "--rm", "ghcr.io/bitsperity/mqtt-mcp", "--demo"] }
# Inside the container, localhost is the container itself: reach a broker on the host by its address
# (or run with --network host). Flags and their environment variables: `docker run --rm IMAGE --help`.
# Logs go to stderr; stdout belongs to the protocol. Stack traces point into the bundle (dist/*.js, names kept);
# `-e NODE_OPTIONS=--enable-source-maps` maps them to src/ at the cost of about 8 MB of memory.

# ---- build: type-check, then bundle with esbuild (npm run build = tsc -p tsconfig.build.json, npm run bundle -> dist/).
# One bundle starts in a third of the time of node_modules loaded file by file; it is split so that what
# `initialize` does not need (status server, Streamable HTTP, demo broker) is read only when it starts.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies and the bundle only, as the unprivileged node user (the bundle keeps
# @fastify/swagger and @fastify/swagger-ui outside: they read files beside their own code)
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# the status page is static files served from the package root
COPY --from=build /app/src/http/page ./src/http/page
USER node
# status page and Streamable HTTP endpoint
EXPOSE 8091
ENTRYPOINT ["node", "dist/main.js"]
