#!/usr/bin/env bash
# Runs the Celery worker and the web server together; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
host=${DEMO_HOST:-127.0.0.1}
port=${DEMO_PORT:-8000}
mkdir -p var/log

.venv/bin/celery -A config worker --loglevel=INFO --concurrency=2 >var/log/worker.log 2>&1 &
worker=$!
stop() {
  # Warm shutdown first (finishes the task at hand); a worker still alive after 10 s is killed.
  kill "$worker" 2>/dev/null || true
  for _ in $(seq 1 20); do
    kill -0 "$worker" 2>/dev/null || return 0
    sleep 0.5
  done
  pkill -KILL -P "$worker" 2>/dev/null || true
  kill -KILL "$worker" 2>/dev/null || true
}
trap stop EXIT INT TERM

echo
echo "  IVUS-calcium registry demo: http://$host:$port/"
echo "  Celery worker log: var/log/worker.log   (Ctrl-C stops the web server and the worker)"
echo
.venv/bin/python manage.py runserver "$host:$port" --noreload
