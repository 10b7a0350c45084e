# Build a wheel, install it into a slim runtime image, run as an unprivileged user.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY src ./src
COPY templates ./templates
COPY migrations ./migrations
RUN pip install --no-cache-dir hatchling \
 && pip wheel --no-cache-dir --no-deps --no-build-isolation -w /wheels . \
 && pip wheel --no-cache-dir -c constraints.txt -w /wheels /wheels/openalgo-*.whl

FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TZ=Asia/Kolkata \
    OPENALGO_DATA_DIR=/data \
    OPENALGO_HOST=0.0.0.0
RUN groupadd --system --gid 1000 openalgo \
 && useradd --system --uid 1000 --gid openalgo --home-dir /data --shell /usr/sbin/nologin openalgo \
 && mkdir -p /data && chown openalgo:openalgo /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels openalgo && rm -rf /wheels
USER openalgo
WORKDIR /data
VOLUME ["/data"]
EXPOSE 5000 8765
CMD ["openalgo", "serve"]
