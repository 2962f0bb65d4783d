"""gunicorn settings for one findsupport app server (install as /etc/findsupport/gunicorn.conf.py).

Used by deploy/systemd/findsupport.service::

    gunicorn -c /etc/findsupport/gunicorn.conf.py 'findsupport.web:create_app()'

The request limits and the hook that makes gunicorn's own errors
``application/problem+json`` come from :mod:`findsupport.web.serving`, so they
match the app's (a URL longer than 4,096 characters is the app's 414; the
request line, header count and header size are bounded below nginx's buffers).
"""

import os

from findsupport.web.serving import gunicorn_options

# limit_request_line, limit_request_fields, limit_request_field_size, post_worker_init
globals().update(gunicorn_options())

#: Behind nginx on a private network: listen on the app server's private address only.
#: Anyone who can reach this port can forge X-Forwarded-For (FINDSUPPORT_TRUST_PROXY=true),
#: so firewall it to the proxies.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
#: One synchronous worker per core: a search is CPU work (~1 ms), nginx buffers slow clients,
#: and sync workers keep the spatial index single-threaded.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
#: Build the engine (postcode directory, catalogue snapshot, index, model) once in the master,
#: before forking: workers start at once and share its memory copy-on-write.
preload_app = True
# timeout and graceful_timeout come from gunicorn_options() above (findsupport.web.serving).
#: No access log here: nginx logs every request (without query strings or link tokens);
#: errors and worker events still go to stderr (journald).
accesslog = None
errorlog = "-"
