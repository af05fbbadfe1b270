# A stand-in for the official redis:7 image, built from Debian's redis-server package on the CI
# base image (no registry is reachable in CI). It keeps the contract docker-compose.yml relies on:
# docker-entrypoint.sh runs redis-server as the redis user, with the data in /data.
FROM orchestrator-base:trixie
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh && mkdir -p /data && chown redis:redis /data
WORKDIR /data
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
