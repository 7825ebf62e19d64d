# One image for every tracker process (api, worker, beat); docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tracker ./tracker
COPY workers ./workers
RUN pip install . && useradd --system --home /app tracker \
    && mkdir -p /var/lib/tracker-metrics && chown tracker /var/lib/tracker-metrics
USER tracker
EXPOSE 8000
CMD ["tracker", "api"]
