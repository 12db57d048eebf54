# Stand-ins for the three pinned upstream base images, for `make deploy-test` only (no registry is
# reachable there). Each target is built FROM one Debian bookworm root file system that
# deploy/deploy_test.py made with debootstrap (python3, redis-server, caddy) and `docker import`ed;
# it mimics the parts of its upstream image that deploy/Dockerfile and compose.yaml rely on.
# Nothing here needs a network: the app image's `pip install --require-hashes` reads the wheels
# from /wheels (downloaded on the host, the lock file's hashes still checked).
ARG ROOTFS=andre-test/rootfs:bookworm

# python:3.11-slim-bookworm: `python` on PATH, venv with pip, groupadd/useradd.
FROM ${ROOTFS} AS python
COPY wheels /wheels
ENV PIP_NO_INDEX=1 \
    PIP_FIND_LINKS=/wheels \
    LANG=C.UTF-8
CMD ["python3"]

# redis:7-alpine: /data a volume owned by 999:1000 (its redis user), redis-cli on PATH.
FROM ${ROOTFS} AS redis
# compose.yaml starts it as 999:1000 by number, so only the ownership of /data matters.
# Debian's /etc/redis (mode 2770, its own redis user) is not in the upstream image and would hide the
# ACL volume mounted below it.
RUN mkdir -p /data /usr/local/etc/redis \
    && chown 999:1000 /data \
    && rm -rf /etc/redis
VOLUME /data
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]

# caddy:2.10.2-alpine: caddy and wget on PATH, XDG dirs /config and /data declared as volumes
# (which is what makes the caddy stage of deploy/Dockerfile builder-sensitive).
FROM ${ROOTFS} AS caddy
RUN mkdir -p /config/caddy /data/caddy /etc/caddy /usr/share/caddy
ENV XDG_CONFIG_HOME=/config \
    XDG_DATA_HOME=/data
VOLUME /config
VOLUME /data
WORKDIR /srv
EXPOSE 80 443 443/udp 2019
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
