"""Introductions: a coach asks, the provider answers by signed link, places are real, outcomes feed the ranking.

The domain core of the introduction loop, below the web layer (it knows
nothing of Flask).  The web layer and the CLI use:

* :class:`IntroductionService` — ``request``, ``open_respond``/``accept``/``decline``,
  ``open_cancel``/``withdraw``, ``record_outcome``, ``open_manage``/``pause``/``resume``,
  ``send_manage_links``,
  ``responsiveness``, ``stats``, and ``tick`` (reminders, expiry, check-ins,
  retention, delivery) for cron, or :class:`IntroductionWorker` for a server's background thread;
* :class:`Asked` — what the coach asked, at sector level, from a search's query;
* :class:`Introduction` — the record the service hands out;
* the mailers (:func:`mailer_for`, :class:`FolderMailer`, :class:`SmtpMailer`);
* :func:`compose` and :func:`safe_addr_spec` — the one safe way to build an e-mail;
* :func:`check_request` and :func:`unsafe_text` — what a person may type (checked
  before anything is stored, so everything stored can be sent).

Every mail rule lives here once (the web layer's former ``web/mail.py`` and
``web/outbox.py`` were folded in): names and messages only ever reach a body,
addresses pass :func:`safe_addr_spec`, and each message is checked from its
bytes before it is sent.

Places (taken, held, paused) live in :mod:`findsupport.catalog.places`, since
the public catalogue reads them.
"""

from .addresses import UnsafeAddress, safe_addr_spec
from .lifecycle import DEFAULT_PUBLIC_URL, LINK_PATHS, OUTCOME_ANSWERS, ContactLookup, FeedbackSink, IntroductionService
from .mailers import FolderMailer, ListMailer, SmtpMailer, mailer_for
from .messages import KINDS, CannotCompose, Links, MessageFacts, compose
from .model import CLOSED_STATES, STATES, Asked, Introduction
from .outbox import Mailer, MessageQueue
from .stats import REPLY_BUCKETS_DAYS, Responsiveness, coarse_reply_days
from .tokens import TokenSigner
from .validation import RequestFields, check_request, unsafe_text
from .worker import IntroductionWorker

__all__ = [
    "IntroductionService",
    "Asked",
    "Introduction",
    "STATES",
    "CLOSED_STATES",
    "ContactLookup",
    "FeedbackSink",
    "LINK_PATHS",
    "DEFAULT_PUBLIC_URL",
    "OUTCOME_ANSWERS",
    "Mailer",
    "MessageQueue",
    "FolderMailer",
    "SmtpMailer",
    "ListMailer",
    "mailer_for",
    "compose",
    "Links",
    "MessageFacts",
    "KINDS",
    "safe_addr_spec",
    "UnsafeAddress",
    "CannotCompose",
    "check_request",
    "RequestFields",
    "unsafe_text",
    "Responsiveness",
    "REPLY_BUCKETS_DAYS",
    "coarse_reply_days",
    "TokenSigner",
    "IntroductionWorker",
]
