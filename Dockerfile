# throttle-probe: `throttle-probe run` by default, metrics on :10130.
#
#   docker build -t throttle-probe .
#   docker run -d --cap-drop ALL -p 127.0.0.1:10130:10130 \
#       -v probe-archive:/var/lib/throttle-probe throttle-probe
#
# The probe opens ordinary TCP and UDP sockets only (scapy only builds
# ClientHello bytes), so it needs no capability, hence --cap-drop ALL; the port
# is published on loopback only, as /metrics has no password without --web-config.
# docs/deployment.md has the details, Compose, systemd and a fleet.

# Debian's own Python in both stages: the venv built in the first runs
# unchanged in the second, which has the same interpreter at the same path.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
# Behind a mirror or a TLS-inspecting proxy: --build-arg PIP_INDEX_URL=... and
# PIP_CERT=/path/in/a/--volume (pip reads both from the environment).
ARG PIP_INDEX_URL
ARG PIP_CERT
COPY pyproject.toml README.md targets.yaml /src/
COPY probe /src/probe
RUN python3 -m venv /opt/throttle-probe \
    && /opt/throttle-probe/bin/pip install --no-cache-dir --disable-pip-version-check /src \
    && /opt/throttle-probe/bin/pip uninstall -y --disable-pip-version-check pip setuptools

FROM ${BASE}
# ca-certificates: the system trust store, for a ca_bundle that points at it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10130 --user-group --no-create-home \
       --home-dir /var/lib/throttle-probe --shell /usr/sbin/nologin probe \
    && install -d -o probe -g probe -m 0750 /var/lib/throttle-probe
COPY --from=build /opt/throttle-probe /opt/throttle-probe
COPY targets.yaml /etc/throttle-probe/targets.yaml
ENV PATH=/opt/throttle-probe/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER probe
WORKDIR /var/lib/throttle-probe
VOLUME /var/lib/throttle-probe
EXPOSE 10130
# /-/healthy answers without authentication. With TLS in a web config, replace
# http by https and add context=ssl._create_unverified_context() to urlopen.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:10130/-/healthy', timeout=4)"]
ENTRYPOINT ["throttle-probe"]
CMD ["run", "--targets", "/etc/throttle-probe/targets.yaml", "--listen", ":10130", \
     "--archive", "/var/lib/throttle-probe/archive"]
