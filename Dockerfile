# Orchestrator's image: the orchestrator, worker pools, the env-manager and orchctl, one image,
# the process chosen by the command. Multi-stage: the build stage has the dev dependencies and
# the compiler, the runtime stage only what runs, as a non-root user.
#
# To be reached from outside its container the orchestrator listens on all interfaces
# (ORCHESTRATOR_GRPC_ADDR=0.0.0.0:50052, ORCHESTRATOR_HTTP_ADDR=0.0.0.0:9097), and then starts
# only with credentials: gRPC tokens, dashboard credentials and the Redis password come from
# files mounted as secrets (see docker-compose.yml and deploy/compose/make-secrets.sh), never
# from the image or a command line.
#
#   docker build -t orchestrator:0.1.0 .
#   deploy/compose/make-secrets.sh
#   docker run --rm -v "$PWD/deploy/compose/secrets:/run/secrets:ro" \
#     -e REDIS_URL=redis://redis:6379 -e ORCHESTRATOR_REDIS_PASSWORD_FILE=/run/secrets/redis_password \
#     -e ORCHESTRATOR_GRPC_TOKENS_FILE=/run/secrets/grpc_tokens -e ORCHESTRATOR_CONFIG=/run/secrets/orchestrator.toml \
#     -e ORCHESTRATOR_GRPC_ADDR=0.0.0.0:50052 -e ORCHESTRATOR_HTTP_ADDR=0.0.0.0:9097 -p 127.0.0.1:50052:50052 \
#     orchestrator:0.1.0                                                                     # orchestrator
#   docker run --rm -v "$PWD/deploy/compose/secrets/redis_password:/run/secrets/redis_password:ro" \
#     -e REDIS_URL=redis://redis:6379 -e ORCHESTRATOR_REDIS_PASSWORD_FILE=/run/secrets/redis_password \
#     orchestrator:0.1.0 node dist/workers/main.js --classes cpu_short                       # a pool
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Behind a proxy that re-signs TLS, pass its CA bundle as a build secret (BuildKit):
#   DOCKER_BUILDKIT=1 docker build --secret id=npm_ca,src=/path/to/ca-bundle.crt .
# It is mounted for this step only and is in no layer of either stage.
RUN --mount=type=secret,id=npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi; \
    npm ci --no-audit --no-fund
COPY tsconfig.json buf.yaml buf.gen.yaml ./
COPY proto ./proto
COPY src ./src
COPY queues ./queues
COPY workers ./workers
COPY dashboard ./dashboard
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
# Listen addresses stay at their loopback defaults: every process of the image loads the same
# config, and a pool given the orchestrator's 0.0.0.0 binds would be refused at start for
# having no gRPC or dashboard credentials. The orchestrator's service sets them (docker-compose.yml).
ENV NODE_ENV=production
WORKDIR /app
RUN groupadd --system orq && useradd --system --gid orq --home-dir /app --shell /usr/sbin/nologin orq
COPY --from=build --chown=root:root /src/package.json ./
COPY --from=build --chown=root:root /src/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist ./dist
# The server reads the proto files for reflection.
COPY --from=build --chown=root:root /src/proto ./proto
# The dashboard serves its workflow pages from here.
COPY --from=build --chown=root:root /src/dashboard/static ./dashboard/static
# The store's Lua scripts, read when the processes start (src/store/store-script.ts).
COPY --from=build --chown=root:root /src/src/store/lua ./src/store/lua
USER orq
EXPOSE 50052 9097
# Healthy when the gRPC port accepts connections (the standard gRPC health service answers there).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('net').connect(50052,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"]
CMD ["node", "dist/src/bin/orchestrator.js"]
