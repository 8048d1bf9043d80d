"""gunicorn settings: ``gunicorn -c config/gunicorn.conf.py`` (workers, bind address and timeouts
on the command line or in GUNICORN_CMD_ARGS)."""

wsgi_app = "config.wsgi:application"


def post_worker_init(worker) -> None:
    # Each worker pays once, at start, what its first requests would (config/warmup.py).
    from config.warmup import warm_up

    warm_up()
