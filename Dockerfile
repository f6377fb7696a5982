FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/gridfix

# Wheels cover every dependency (psycopg[binary], shapely, pillow, pillow-heif).
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install -e . && useradd --system --uid 10001 gridfix && mkdir -p var && chown gridfix var
USER gridfix

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"
CMD ["gridfix", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
