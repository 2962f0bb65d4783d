"""The search engine: one object behind the CLI, the API, the map, the widget and the notebooks.

:class:`Engine` runs the whole flow of a search — validate the query,
resolve the postcode (or point), find and count the candidates in the
index, rank them exactly, explain the page, log it as a feedback session —
and knows nothing of Flask.

Everything heavy (the postcode directory, the public catalogue, the index,
the ranker and its fused scorer) is built once into an immutable
:class:`Snapshot`.  :meth:`Engine.reload` builds a new snapshot beside the
old one and swaps a single reference, so every search runs start to finish
on one snapshot and none is lost or mixed during a swap.

A search repeated with the same parsed query is answered from a per-engine
cache of ranked pages (:mod:`findsupport.search.page_cache`,
``settings.search_cache_entries``): a club's widget repeats its preset search
on every page view.  A page is served only on the snapshot and the
"usually replies within" figures it was computed from, so a reload, a
``replace`` or a model activation is seen by the next search; each search
served with ``log=True`` still records a feedback session of its own.

Concurrency: share one engine between threads (searches only read; the
R-tree and the polygon tests take their own short locks, see
:mod:`findsupport.index.tree`), or give each worker process its own engine
(``gunicorn -w N``: ``create_app()`` runs per worker).

Examples
--------
>>> from findsupport import Engine, load_settings
>>> engine = Engine.open(load_settings())                                # doctest: +SKIP
>>> response = engine.search({"postcode": "NE21 4LZ", "role": "mentor",
...                           "event": "hurdles", "slots": "tue_eve"})   # doctest: +SKIP
>>> [(r.provider.name, r.distance_km, r.reasons) for r in response.results][:1]  # doctest: +SKIP
[('Alex Kestrel', 2.3, ('2.3 km away', 'hurdles specialist', 'free Tue evening'))]
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import taxonomy
from ..catalog.public import PublicCatalog, PublicProvider
from ..catalog.snapshot import cached_public_catalog, providers_at
from ..config import Settings, open_data_dir
from ..errors import DataUnavailable, ModelError
from ..features import FEATURE_NAMES, FeatureScales, QueryContext, compute_features
from ..geo import PostcodeDirectory, PostcodeLocation, check_lonlat, to_bng
from ..geo.directory import POINT_KIND
from ..index import SearchIndex, find_matches, make_scorer, warm_up
from ..index.scoring import FusedScorer, MatrixScorer
from ..ranking.explain import Explainer
from .page_cache import CachedPage, PageCache, page_key
from .query import SearchQuery, parse_query
from .refine import refined_matches
from .results import SearchResponse, SearchResult

__all__ = [
    "Engine",
    "Snapshot",
    "EmptyCatalog",
    "load_serving_ranker",
    "open_feedback_log",
    "settle_heap",
    "DEFAULT_MODEL_VERSION",
]

log = logging.getLogger(__name__)


def default_ranker() -> Any:
    """The default-weights ranker (:func:`findsupport.ranking.weights.default_serving_ranker`).

    A :class:`~findsupport.ranking.weights.ServingRanker`, not the
    scikit-learn estimator that training uses: no server start-up imports
    scikit-learn (with the SciPy and pandas modules it pulls in, a second or
    two of every new worker's start-up; issue 13).
    """
    from ..ranking.weights import default_serving_ranker

    return default_serving_ranker()

Progress = Callable[[str], None]

#: Model version reported while the default (hand-set) weights serve.
DEFAULT_MODEL_VERSION = "default"
#: Distinct asks (event, slots, role, mode, level) whose explainers are kept; each holds a
#: few phrases, so this bounds memory, not speed.
EXPLAINERS_CACHED = 4096
_KIND_WORDS = {"sector": "sector", "outcode": "postcode district"}


class EmptyCatalog(DataUnavailable):
    """The data directory lists no providers (new, never filled, or the wrong folder).

    Raised by ``Engine.open(..., require_providers=True)`` (the notebooks),
    so that analysis stops at once with the folder's absolute path and how to
    fill it rather than failing later on empty tables.
    """

    title = "No providers in the catalogue"
    code = "empty-catalog"


def _empty_catalog_message(settings: Settings) -> str:
    data_dir = Path(settings.data_dir).absolute()
    where = f"the database of FINDSUPPORT_DATABASE_URL (data directory {data_dir})" if settings.database_url else str(data_dir)
    return (
        f"The catalogue in {where} lists no providers. Fill it with `findsupport --data-dir {data_dir} demo` "
        f"(synthetic providers) or `findsupport --data-dir {data_dir} import FILE`; or, if this is the wrong "
        "folder, set FINDSUPPORT_DATA_DIR (a relative one is read from the current directory, or from the "
        "project's top folder in the notebooks)."
    )


def load_serving_ranker(settings: Settings) -> tuple[Any, str]:
    """The ranker to serve and its version: the active trained model, or the default weights.

    Uses ``findsupport.ranking.load_active_ranker(settings)`` (which returns
    the default ranker and ``"default"`` when no model has been activated).
    When the active model file is unusable (:class:`ModelError`), or while the
    ranking package does not provide it, the default weights serve and a
    warning is logged.
    """
    ranking = importlib.import_module("findsupport.ranking")
    load_active = getattr(ranking, "load_active_ranker", None)
    if load_active is None:
        return default_ranker(), DEFAULT_MODEL_VERSION
    try:
        return load_active(settings)
    except ModelError as exc:
        # A broken or incompatible model file must not take search down.
        log.warning("active ranking model unusable (%s); serving the default weights", exc.message)
        return default_ranker(), DEFAULT_MODEL_VERSION


def open_feedback_log(settings: Settings, *, batched: bool = False) -> Any:
    """The feedback log of ``settings`` (``FeedbackLog.open``), or ``None`` while the ranking package has none."""
    if importlib.util.find_spec("findsupport.ranking.feedback") is None:
        return None
    feedback = importlib.import_module("findsupport.ranking.feedback")
    return feedback.FeedbackLog.open(settings, batched=batched)


def settle_heap(*, collect: bool = True) -> None:
    """Collect (unless ``collect`` is false), then freeze every object alive now out of the garbage collector's sight.

    A catalogue is millions of long-lived objects (providers, their tuples);
    each full collection would walk all of them — a 10-100 ms pause in the
    middle of some search (measured: p99 at 100k providers fell from 7.7 ms
    to 2.4 ms).  Frozen objects are still freed by reference counting when a
    reload drops the old snapshot (they hold no reference cycles).  The
    serving engine (:meth:`Engine.open`, :meth:`Engine.reload`) calls this;
    notebooks and tests building engines with :meth:`Engine.from_catalog`
    may call it themselves.

    :meth:`Engine.open` freezes without collecting: a process that has just
    started holds next to no cyclic garbage (about 20 objects at 100,000
    providers), and a full collection walks every object its imports made
    (measured: 6-8% of a whole start-up at 100,000 providers).
    """
    if collect:
        gc.collect()
    gc.freeze()


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything a search reads, built once and never changed.

    Attributes
    ----------
    catalog : PublicCatalog
    index : SearchIndex
    ranker : the ranking model (``decision_function``, ``contributions``)
    scorer : the index's scorer for this ranker (fused when the ranker is linear)
    model_version : str or None
    scales : FeatureScales
    build_seconds : float
    """

    catalog: PublicCatalog
    index: SearchIndex
    ranker: Any
    scorer: FusedScorer | MatrixScorer
    model_version: str | None
    scales: FeatureScales
    build_seconds: float

    @classmethod
    def build(
        cls, catalog: PublicCatalog, ranker: Any, model_version: str | None, *, previous: "Snapshot | None" = None
    ) -> "Snapshot":
        """Index ``catalog`` (or reuse ``previous``'s index when the catalogue is the same) and bind the ranker."""
        started = time.perf_counter()
        if previous is not None and previous.catalog is catalog:
            index = previous.index
        else:
            index = SearchIndex.build(catalog)
        # Model files pin the feature scales to the definitions' defaults.
        scales = FeatureScales()
        scorer = make_scorer(ranker, catalog, (index.main, index.online), scales)
        # The compiled search loops load (or compile, the first time) now, never inside a request.
        warm_up(index, scorer)
        return cls(catalog, index, ranker, scorer, model_version, scales, time.perf_counter() - started)


class Engine:
    """Search providers: the one public entry point for every interface.

    Build with :meth:`open` (from settings: postcode directory, catalogue
    store, active model, feedback log) or :meth:`from_catalog` (notebooks,
    tests, benchmarks).  The constructor is for those two.
    """

    def __init__(
        self,
        snapshot: Snapshot,
        directory: PostcodeDirectory,
        *,
        settings: Settings | None = None,
        store: Any = None,
        feedback: Any = None,
        follow_active_model: bool = False,
    ) -> None:
        self._snapshot = snapshot
        self._directory = directory
        self._settings = settings or Settings()
        self._store = store
        self._feedback = feedback
        self._follow_active_model = follow_active_model
        #: The database's count of model activations when the served model was loaded (None: not yet looked).
        self._model_revision: int | None = None
        self._reload_lock = threading.Lock()
        #: Where "usually replies within N days" comes from (:meth:`follow_responsiveness`), and its
        #: figures as of the catalogue served: swapped as one reference, like the snapshot.
        self._responsiveness: Callable[[], Mapping[str, int]] | None = None
        self._replies_within: Mapping[str, int] = {}
        #: Explainers by the asks they phrase (event, slots, role, mode, level): their memos carry over.
        self._explainers: dict[tuple[Any, ...], Explainer] = {}
        #: Ranked pages of repeated queries; a new (empty) one after every swap of the snapshot or the
        #: figures, so no page of an old snapshot keeps it alive (see :meth:`search` for the order of reads).
        self._pages = PageCache(self._settings.search_cache_entries)

    # ------------------------------------------------------------------ construction
    @classmethod
    def open(
        cls,
        settings: Settings,
        progress: Progress | None = None,
        *,
        feedback: bool = True,
        reverse: bool = True,
        require_providers: bool = False,
        batch_feedback: bool = False,
    ) -> "Engine":
        """The engine of an installation: everything loaded and built now, once.

        Parameters
        ----------
        settings : Settings
        progress : callable, optional
            Receives short progress messages (the CLI prints them to stderr).
        feedback : bool, default True
            Attach the feedback log (searches with ``log=True`` are recorded).
        batch_feedback : bool, default False
            Write feedback sessions in batches off the caller's path (the web
            app, ``settings.feedback_write_batch_ms``); otherwise each is
            written before the search returns.
        reverse : bool, default True
            Build the nearest-postcode tree now, for lon/lat searches (about a
            second); without it the first lon/lat search builds it.
        require_providers : bool, default False
            Raise :class:`EmptyCatalog` when no provider is listed (notebooks:
            nothing to analyse).  Otherwise an empty catalogue serves (a server
            started before its first import) and a warning says how to fill it.

        Raises
        ------
        EmptyCatalog
            With ``require_providers``, when the catalogue lists nobody.
        """
        from ..catalog.store import CatalogStore

        # Before the postcode cache is written inside it: a new data dir is created private and announced.
        open_data_dir(settings)
        store = CatalogStore.open(settings)
        # From the columnar snapshot of this catalogue version when one is cached (no SQL read, no
        # object per provider); otherwise read from the database and cached for the next process.
        catalog = cached_public_catalog(store, settings.resolved_cache_dir)
        if not len(catalog):
            if require_providers:
                raise EmptyCatalog(_empty_catalog_message(settings))
            log.warning("%s", _empty_catalog_message(settings))
        directory = PostcodeDirectory.load(settings.resolved_cache_dir, progress)
        if reverse:
            directory.prepare_reverse()
        ranker, model_version = load_serving_ranker(settings)
        if progress:
            progress(f"indexing {len(catalog):,} providers")
        snapshot = Snapshot.build(catalog, ranker, model_version)
        log_ = open_feedback_log(settings, batched=batch_feedback) if feedback else None
        settle_heap(collect=False)
        return cls(snapshot, directory, settings=settings, store=store, feedback=log_, follow_active_model=True)

    @classmethod
    def from_catalog(
        cls,
        catalog: PublicCatalog,
        directory: PostcodeDirectory,
        ranker: Any = None,
        feedback: Any = None,
        settings: Settings | None = None,
        *,
        model_version: str | None = None,
    ) -> "Engine":
        """An engine over a given public catalogue (notebooks, tests, benchmarks).

        ``ranker`` defaults to the default ranker; ``feedback`` to none (nothing
        logged); ``settings`` to the defaults (radius and limit bounds).
        """
        if ranker is None:
            ranker, model_version = default_ranker(), model_version or DEFAULT_MODEL_VERSION
        snapshot = Snapshot.build(catalog, ranker, model_version)
        return cls(snapshot, directory, settings=settings, feedback=feedback)

    # ------------------------------------------------------------------ state
    @property
    def snapshot(self) -> Snapshot:
        """The snapshot serving now (hold it to make several reads consistent)."""
        return self._snapshot

    @property
    def catalog(self) -> PublicCatalog:
        return self._snapshot.catalog

    @property
    def index(self) -> SearchIndex:
        return self._snapshot.index

    @property
    def ranker(self) -> Any:
        return self._snapshot.ranker

    @property
    def model_version(self) -> str | None:
        return self._snapshot.model_version

    @property
    def directory(self) -> PostcodeDirectory:
        return self._directory

    @property
    def feedback(self) -> Any:
        """The feedback log, or ``None`` (nothing is logged)."""
        return self._feedback

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def store(self) -> Any:
        """The catalogue store the engine reloads from (``None`` for :meth:`from_catalog` engines)."""
        return self._store

    def reload(self) -> bool:
        """Rebuild and swap if the store's catalogue or the active model changed; True when swapped.

        The new snapshot is built beside the old one, which keeps serving until
        a single reference assignment swaps them.  Concurrent calls are
        serialised.
        """
        with self._reload_lock:
            old = self._snapshot
            catalog, ranker, version = old.catalog, old.ranker, old.model_version
            if self._store is not None and self._store.version() != old.catalog.version:
                catalog = cached_public_catalog(self._store, self._settings.resolved_cache_dir)
            if self._follow_active_model:
                # One row read each check; the model itself is loaded only after an activation (anywhere).
                revision = importlib.import_module("findsupport.ranking.registry").active_revision(self._settings)
                if revision != self._model_revision:
                    new_ranker, new_version = load_serving_ranker(self._settings)
                    self._model_revision = revision
                    if new_version != old.model_version:
                        ranker, version = new_ranker, new_version
            if catalog is old.catalog and ranker is old.ranker:
                return False
            if catalog is not old.catalog and self._responsiveness is not None:
                # Every answer to an introduction changes places, hence the catalogue version.
                self._replies_within = self._responsiveness()
            self._snapshot = Snapshot.build(catalog, ranker, version, previous=old)
            self._forget_pages()
            if self._store is not None:
                settle_heap()
            return True

    def follow_responsiveness(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Show each provider's "usually replies within N days" on results, from ``source``.

        ``source()`` maps provider ids to a coarse number of days (providers
        without enough answered introductions are absent); it is called now and
        again on each reload that brings a new catalogue, so figures reach every
        server within the reload interval and no search pays for them.  The web
        app passes :meth:`IntroductionService.replies_within_by_provider
        <findsupport.introductions.IntroductionService.replies_within_by_provider>`.
        """
        with self._reload_lock:
            self._responsiveness = source
            self._replies_within = source()
            self._forget_pages()

    def replace(self, *, catalog: PublicCatalog | None = None, ranker: Any = None, model_version: str | None = None) -> None:
        """Serve a given catalogue and/or ranker from now on (built beside, swapped in one step)."""
        with self._reload_lock:
            old = self._snapshot
            new_ranker = old.ranker if ranker is None else ranker
            version = old.model_version if ranker is None and model_version is None else model_version
            self._snapshot = Snapshot.build(catalog if catalog is not None else old.catalog, new_ranker, version, previous=old)
            self._forget_pages()

    def _forget_pages(self) -> None:
        """Start an empty page cache (after the snapshot or the figures were swapped; under the reload lock).

        Pages of the old snapshot could not be served anyway (each is checked
        against the snapshot serving); dropping them at once frees the old
        snapshot as soon as the searches still running on it finish.
        """
        self._pages = PageCache(self._settings.search_cache_entries)

    # ------------------------------------------------------------------ lookups
    def provider(self, provider_id: str) -> PublicProvider:
        """The public view of a listed provider (:class:`ProviderNotFound` otherwise)."""
        return self._snapshot.catalog.get(provider_id)

    def resolve_location(self, query: SearchQuery) -> PostcodeLocation:
        """Where the coach is: their postcode, sector or district centroid, or their point.

        A lon/lat query keeps the exact point (``kind="point"``) and names the
        nearest postcode, which also proves the point is in Great Britain.

        Raises
        ------
        InvalidPostcode, PostcodeNotFound, PostcodeNotCovered, InvalidInput, LocationOutsideCoverage
        """
        if query.postcode is not None:
            return self._directory.lookup(query.postcode, allow_partial=True)
        lon, lat = check_lonlat(query.lon, query.lat)
        nearest = self._directory.nearest(lon, lat, max_distance_m=self._settings.reverse_max_km * 1000.0)
        easting, northing = to_bng([lon], [lat])
        return dataclasses.replace(
            nearest,
            easting=float(easting[0]),
            northing=float(northing[0]),
            lon=lon,
            lat=lat,
            kind=POINT_KIND,
            input=f"{lon},{lat}",
        )

    # ------------------------------------------------------------------ search
    def search(
        self, query: SearchQuery | Mapping[str, Any], log: bool = False, *, client: str | None = None
    ) -> SearchResponse:
        """Ranked providers for a query.

        Parameters
        ----------
        query : SearchQuery or mapping
            A mapping is validated with :func:`~findsupport.search.query.parse_query`.
        log : bool, default False
            Record the served page as a feedback session (when a feedback log
            is attached and the page is not empty); its id is ``search_id``.
            Off unless asked: a library call, a notebook or a script is not a
            coach choosing from a page, and the ranking learns from the log.
        client : str, optional
            The keyed hash of the client address (the web layer's
            ``client_key``), recorded with the session so training can
            deduplicate and cap what one client contributes.

        Returns
        -------
        SearchResponse
            ``total`` counts every matching provider (see
            :mod:`findsupport.index.matching` for each mode); ``results`` is the
            page ``offset .. offset + limit`` in rank order.  A repeated query
            may share its (frozen) results with earlier responses
            (:mod:`findsupport.search.page_cache`): read their ``features``,
            never change them.

        Raises
        ------
        InvalidQuery, InvalidPostcode, PostcodeNotFound, PostcodeNotCovered, LocationOutsideCoverage
        """
        if not isinstance(query, SearchQuery):
            query = parse_query(query, self._settings)
        # The cache before the snapshot: a swap replaces the snapshot, then the cache, so a cache read
        # here is never newer than the snapshot read next, and the new cache gets no page of the old one.
        pages = self._pages
        snapshot = self._snapshot  # one snapshot for the whole search, whatever reloads meanwhile
        replies_within = self._replies_within
        key = page_key(query) if pages.capacity else None
        page = pages.get(key, snapshot, replies_within) if key is not None else None
        if page is None:
            page = self._rank(query, snapshot, replies_within)
            if key is not None:
                pages.put(key, page)
        results, location = page.results, page.location
        search_id = None
        if log and self._feedback is not None and results:
            shown = [(result.provider.id, result.position) for result in results]
            search_id = self._feedback.log_search(
                query.feedback_query(), shown, snapshot.model_version, catalog_version=snapshot.catalog.version,
                client=client, sector=location.sector if query.postcode is None else None,
            )
        return SearchResponse(
            query=query,
            location=location,
            results=results,
            total=page.total,
            search_id=search_id,
            model_version=snapshot.model_version,
            notes=page.notes,
            totals=dict(page.totals) if page.totals is not None else None,
            rendered=page.rendered if key is not None else None,
        )

    def _rank(self, query: SearchQuery, snapshot: Snapshot, replies_within: Mapping[str, int]) -> CachedPage:
        """Everything :meth:`search` answers that does not depend on the request: where, the page, the totals, the notes."""
        location = self.resolve_location(query)
        context = QueryContext.from_query(
            location.easting,
            location.northing,
            role=query.role,
            event=query.event,
            slots=query.slots,
            mode=query.mode,
            level=query.level,
        )
        totals = None
        if query.filtered:
            # Filters and nearest-first: every candidate, exactly (search/refine.py).
            matches, near = refined_matches(snapshot.index, snapshot.catalog, snapshot.ranker, snapshot.scales, context, query)
        else:
            matches = find_matches(
                snapshot.index,
                snapshot.scorer,
                context,
                radius_m=query.radius_km * 1000.0,
                role=query.role,
                k=query.offset + query.limit,
            )
            near = matches.near  # the in-person rule alone (counted while ranking): those who meet the coach
        if query.mode == "any":
            totals = {"near": near, "online": matches.total - near}
        results = self._page(snapshot, replies_within, query, context, matches.ranked)
        return CachedPage(
            snapshot=snapshot,
            replies_within=replies_within,
            location=location,
            results=tuple(results),
            total=matches.total,
            totals=totals,
            notes=_notes(query, location, matches.total),
        )

    def _page(
        self, snapshot: Snapshot, replies_within: Mapping[str, int], query: SearchQuery, context: QueryContext, ranked: Any
    ) -> list[SearchResult]:
        """Features, contributions and reasons of the requested page only.

        One ``compute_features`` and one ``contributions`` call for the page's
        rows; the query's phrases are worked out once for all of them.  The
        score shown is the one the page was ranked by (equal to
        ``decision_function`` of these features up to float rounding).
        """
        offset = query.offset
        positions = ranked.positions[offset:]
        if len(positions) == 0:
            return []
        distance = ranked.distance_m[offset:]
        inside = ranked.inside[offset:]
        # In an `any` search, those matching the in-person rule are "near", the others "online".
        if query.mode == "any":
            groups = np.where(inside & (distance <= query.radius_km * 1000.0), "near", "online").tolist()
        else:
            groups = ["online" if query.mode == "online" else "near"] * len(positions)
        features = compute_features(context, snapshot.catalog, positions, distance, inside, snapshot.scales)
        contributions = snapshot.ranker.contributions(features)
        asks = (query.event, query.slots, query.role, query.mode, query.level)
        explainer = self._explainers.get(asks)
        if explainer is None:
            if len(self._explainers) >= EXPLAINERS_CACHED:
                self._explainers.clear()
            # A dict store is atomic; concurrent searches at worst build one twice.
            explainer = self._explainers[asks] = Explainer(
                event=query.event, slots=query.slots, role=query.role, mode=query.mode, level=query.level
            )
        # The page's providers made together (one read per column of a snapshot), not one by one.
        providers = providers_at(snapshot.catalog.providers, positions.tolist())
        feature_rows = features.tolist()
        # The JSON shape's 4 decimals, for the whole page in one call: numpy's
        # rounding (scale, round half to even, unscale) equals Python's round()
        # except on values within an ulp of a tie, which no feature takes
        # (tests/search/test_results.py checks both on every feature).
        rounded_rows = np.round(features, 4).tolist()
        results = []
        for i, (provider, metres, score, row, rounded, contribution) in enumerate(
            zip(providers, distance.tolist(), ranked.scores[offset:].tolist(), feature_rows, rounded_rows, contributions.tolist())
        ):
            distance_km = round(metres / 1000.0, 1)
            reasons, missing = explainer.texts(provider, row, contribution, distance_km)
            results.append(
                SearchResult(
                    provider=provider,
                    position=offset + i + 1,
                    distance_km=distance_km,
                    score=score,
                    features=dict(zip(FEATURE_NAMES, row)),
                    reasons=reasons,
                    missing=missing,
                    rounded_features=dict(zip(FEATURE_NAMES, rounded)),
                    group=groups[i],
                    replies_within_days=replies_within.get(provider.id),
                )
            )
        return results


def _notes(query: SearchQuery, location: PostcodeLocation, total: int) -> tuple[str, ...]:
    """Plain sentences about how the search was read and what to try when it found little."""
    notes = []
    if location.kind == POINT_KIND:
        notes.append(f"Searching from your location, near {location.postcode}.")
    elif location.kind in _KIND_WORDS:
        notes.append(f"Searching from the centre of {_KIND_WORDS[location.kind]} {location.postcode}.")
    if location.corrected:
        notes.append(f"{location.input!r} was read as {location.postcode}.")
    who = f"{taxonomy.ROLE_LABELS[query.role].lower()}s" if query.role else "providers"
    if total == 0:
        if query.mode == "in_person":
            notes.append(
                f"No {who} within {query.radius_km:g} km can travel to you; "
                "try a larger radius or include online support (mode any)."
            )
        elif query.mode == "online":
            notes.append(f"No {who} offer online support yet.")
        else:
            notes.append(f"No {who} within {query.radius_km:g} km or online; try a larger radius.")
    elif query.offset >= total:
        notes.append(f"There are {total} results; this page starts after the last one.")
    return tuple(notes)
