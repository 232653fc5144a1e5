"""Engine-neutral table declarations and the ordered list of schema migrations.

Each table is declared once here with ibis data types; every engine turns the declaration into
its own DDL. Columns that hold personal data are flagged ``pii=True`` so that encryption,
access export and erasure can find all of them, and every table with personal data names the
column that ties a row to a person (``person_columns``).

Example:
    >>> from aidmp.store.schema import TABLES
    >>> TABLES["events"].key
    ('message_id',)
    >>> sorted(c.name for c in TABLES["events"].columns if c.pii)[:3]
    ['anonymous_id', 'context', 'previous_id']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.datatypes as dt


@dataclass(frozen=True)
class Column:
    """One column: name, ibis type, whether it holds personal data, and a description."""

    name: str
    dtype: dt.DataType
    doc: str
    pii: bool = False
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    """A table: its columns, its key (rows are unique on it) and the columns naming a person."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str
    person_columns: tuple[str, ...] = field(default=())

    @property
    def schema(self) -> ibis.Schema:
        """The ibis schema of the table."""
        return ibis.schema({c.name: c.dtype for c in self.columns})

    @property
    def column_names(self) -> list[str]:
        """Column names in declaration order."""
        return [c.name for c in self.columns]


_S = dt.String(nullable=True)
_TS = dt.Timestamp(timezone="UTC", nullable=True)
_I = dt.Int64(nullable=True)


def _c(name: str, dtype: dt.DataType, doc: str, *, pii: bool = False, null: bool = True) -> Column:
    return Column(name, dtype.copy(nullable=null), doc, pii=pii, nullable=null)


EVENTS = TableSpec(
    name="events",
    doc="Append-only Segment-Spec events from every source; unique on message_id.",
    key=("message_id",),
    person_columns=("user_id", "anonymous_id"),
    columns=(
        _c("message_id", _S, "Segment messageId (or a deterministic id for imported rows)",
           null=False),
        _c("type", _S, "track | identify | page | screen | group | alias", null=False),
        _c("event", _S, "track event name, or the page/screen name"),
        _c("user_id", _S, "the source's known user id", pii=True),
        _c("anonymous_id", _S, "device / cookie id", pii=True),
        _c("group_id", _S, "account id of a group call"),
        _c("previous_id", _S, "the id an alias call links from", pii=True),
        _c("timestamp", _TS, "when it happened, corrected for client clock skew", null=False),
        _c("original_timestamp", _TS, "the timestamp the client sent"),
        _c("sent_at", _TS, "when the client sent it (client clock)"),
        _c("received_at", _TS, "when aidmp received it (server clock)", null=False),
        _c("properties", _S, "JSON object of event properties"),
        _c("traits", _S, "JSON object of identify/group traits", pii=True),
        _c("context", _S, "JSON object of Segment context (ip, userAgent, campaign...)", pii=True),
        _c("integrations", _S, "JSON object of per-destination switches"),
        _c("source", _S, "name of the source that delivered it", null=False),
        _c("event_date", dt.Date(nullable=True), "UTC day of timestamp (partition key)"),
    ),
)

QUARANTINE = TableSpec(
    name="quarantine",
    doc="Records that failed validation, with the reason; nothing invalid is silently dropped.",
    key=("id",),
    columns=(
        _c("id", _S, "deterministic id of (source, payload, reason)", null=False),
        _c("source", _S, "source that delivered the record", null=False),
        _c("kind", _S, "collector | import", null=False),
        _c("payload", _S, "the raw record as JSON text", pii=True, null=False),
        _c("options", _S, "JSON needed to replay it (import mapping, message type...)"),
        _c("field", _S, "the field that failed"),
        _c("reason", _S, "what is wrong with it", null=False),
        _c("row_number", _I, "1-based data row in the imported file"),
        _c("file", _S, "imported file path"),
        _c("received_at", _TS, "when it arrived", null=False),
        _c("replayed_at", _TS, "when a replay stored it as an event"),
    ),
)

API_KEYS = TableSpec(
    name="api_keys",
    doc="API and write keys; only a SHA-256 hash of each secret is stored.",
    key=("key_id",),
    columns=(
        _c("key_id", _S, "public id of the key (the secret's prefix)", null=False),
        _c("key_hash", _S, "hex SHA-256 of the full secret", null=False),
        _c("scope", _S, "role: collect | analyst | marketer | engineer | privacy | admin "
                        "(write and read: the scopes of earlier versions)", null=False),
        _c("name", _S, "human label"),
        _c("source", _S, "source name events sent with this key are tagged with", null=False),
        _c("created_at", _TS, "creation time", null=False),
        _c("revoked_at", _TS, "revocation time, if revoked"),
        _c("expires_at", _TS, "refused from this time on (NULL: never)"),
        _c("rate_limit", dt.Float64(nullable=True), "requests per second allowed (NULL: no "
           "limit)"),
    ),
)

ITEMS = TableSpec(
    name="items",
    doc="Product / content catalog: one row per item, attributes as JSON.",
    key=("item_id",),
    columns=(
        _c("item_id", _S, "catalog id", null=False),
        _c("name", _S, "display name"),
        _c("category", _S, "main category"),
        _c("price", dt.Float64(nullable=True), "list price"),
        _c("attributes", _S, "JSON object of other attributes (genres, brand...)"),
        _c("source", _S, "source that delivered it", null=False),
        _c("updated_at", _TS, "when it was loaded", null=False),
    ),
)

AUDIT_LOG = TableSpec(
    name="audit_log",
    doc="Who did what to which object, when (no personal data in 'detail').",
    key=("id",),
    columns=(
        _c("id", _S, "unique id", null=False),
        _c("at", _TS, "when", null=False),
        _c("actor", _S, "key id or 'cli'", null=False),
        _c("action", _S, "verb, e.g. keys.create", null=False),
        _c("object", _S, "object acted on"),
        _c("detail", _S, "JSON detail"),
        _c("seq", _I, "position in the chain"),
        _c("prev_hash", _S, "hash of the previous entry"),
        _c("hash", _S, "SHA-256 of this entry and prev_hash"),
    ),
)

IDENTITIES = TableSpec(
    name="identities",
    doc="Identity graph nodes: every identifier seen, the profile it resolves to, and why.",
    key=("id_type", "id_value"),
    person_columns=("profile_id",),
    columns=(
        _c("id_type", _S, "identifier type: user_id, email, phone, anonymous_id, crm_id...",
           null=False),
        _c("id_value", _S, "normalised identifier value", pii=True, null=False),
        _c("profile_id", _S, "the profile it resolves to", null=False),
        _c("status", _S, "linked | detached (cut off by a limit) | blocked (shared/blocked value)",
           null=False),
        _c("reason", _S, "why it is detached or blocked"),
        _c("first_seen", _TS, "first event carrying it"),
        _c("last_seen", _TS, "last event carrying it"),
        _c("events", _I, "events carrying it"),
        _c("sources", _S, "sources it came from, comma-separated"),
        _c("build_id", _S, "build that last assigned it"),
    ),
)

MERGES = TableSpec(
    name="merges",
    doc="Every profile merge with the rule and the evidence; enough to undo it.",
    key=("id",),
    person_columns=("into_profile", "from_profile"),
    columns=(
        _c("id", _S, "merge id", null=False),
        _c("into_profile", _S, "the surviving profile", null=False),
        _c("from_profile", _S, "the profile merged into it", null=False),
        _c("rule", _S, "deterministic:<id_type> | probabilistic | manual", null=False),
        _c("evidence", _S, "JSON: the linking identifiers / match scores", pii=True),
        _c("created_at", _TS, "when", null=False),
        _c("build_id", _S, "the build that made it"),
        _c("undone_at", _TS, "when an unmerge undid it"),
    ),
)

IDENTITY_LINKS = TableSpec(
    name="identity_links",
    doc="Manual and probabilistic decisions over the graph: links to add, splits to keep.",
    key=("id",),
    columns=(
        _c("id", _S, "decision id", null=False),
        _c("kind", _S, "link (join two identifiers) | split (keep a node apart)", null=False),
        _c("id_type", _S, "first identifier type", null=False),
        _c("id_value", _S, "first identifier value", pii=True, null=False),
        _c("other_type", _S, "second identifier type (links)"),
        _c("other_value", _S, "second identifier value (links)", pii=True),
        _c("rule", _S, "probabilistic | unmerge | manual", null=False),
        _c("score", dt.Float64(nullable=True), "match probability of a probabilistic link"),
        _c("evidence", _S, "JSON evidence", pii=True),
        _c("status", _S, "active | review (near the threshold) | rejected", null=False),
        _c("created_at", _TS, "when", null=False),
    ),
)

TRAITS = TableSpec(
    name="traits",
    doc="Current value of every trait of every profile, with provenance.",
    key=("profile_id", "key"),
    person_columns=("profile_id",),
    columns=(
        _c("profile_id", _S, "profile", null=False),
        _c("key", _S, "trait name", null=False),
        _c("value", _S, "JSON-encoded value", pii=True),
        _c("source", _S, "source the winning value came from"),
        _c("updated_at", _TS, "when the winning value was set"),
        _c("rule", _S, "merge rule that chose it"),
    ),
)

BUILDS = TableSpec(
    name="builds",
    doc="Runs of the batch pipeline: what they covered and what they produced.",
    key=("build_id",),
    columns=(
        _c("build_id", _S, "build id", null=False),
        _c("started_at", _TS, "start", null=False),
        _c("finished_at", _TS, "end"),
        _c("events_until", _TS, "received_at of the newest event covered"),
        _c("stats", _S, "JSON summary per stage"),
    ),
)

SEGMENTS = TableSpec(
    name="segments",
    doc="Audience definitions: the rule text, its compiled JSON spec, real-time flag.",
    key=("id",),
    columns=(
        _c("id", _S, "segment id (a slug of the name)", null=False),
        _c("name", _S, "display name", null=False),
        _c("description", _S, "what it is for"),
        _c("rule", _S, "the rule as the marketer typed it"),
        _c("spec", _S, "the JSON spec the rule compiles to", null=False),
        _c("kind", _S, "rule | cluster | lookalike", null=False),
        _c("realtime", dt.Boolean(nullable=True), "whether membership is kept live in serve"),
        _c("webhook_url", _S, "where membership changes are pushed"),
        _c("created_at", _TS, "when", null=False),
        _c("updated_at", _TS, "when", null=False),
    ),
)

SEGMENT_MEMBERS = TableSpec(
    name="segment_members",
    doc="Membership spells: one row per entry of a profile into a segment, closed on exit.",
    key=("segment_id", "profile_id", "entered_at"),
    person_columns=("profile_id",),
    columns=(
        _c("segment_id", _S, "segment", null=False),
        _c("profile_id", _S, "profile", null=False),
        _c("entered_at", _TS, "when it entered", null=False),
        _c("exited_at", _TS, "when it left (NULL while a member)"),
        _c("trigger", _S, "build:<id> | realtime:<message_id>"),
    ),
)

MODELS = TableSpec(
    name="models",
    doc="Model registry: every fitted model version with its parameters, data window, metrics.",
    key=("name", "version"),
    columns=(
        _c("name", _S, "model name (clv, churn, propensity_order, rules, recommend...)",
           null=False),
        _c("version", _I, "1, 2, ...", null=False),
        _c("kind", _S, "estimator class", null=False),
        _c("params", _S, "JSON hyper-parameters and learned parameters"),
        _c("metrics", _S, "JSON evaluation metrics"),
        _c("data_window", _S, "JSON: calibration / holdout windows, rows"),
        _c("artifact", _S, "path of the saved model file"),
        _c("created_at", _TS, "when", null=False),
        _c("status", _S, "active | archived", null=False),
    ),
)

PREDICTIONS = TableSpec(
    name="predictions",
    doc="Model scores per profile (clv_12m, p_churn_90d...), pivoted into profiles by build.",
    key=("profile_id", "key"),
    person_columns=("profile_id",),
    columns=(
        _c("profile_id", _S, "profile", null=False),
        _c("key", _S, "prediction trait name", null=False),
        _c("value", dt.Float64(nullable=True), "the score"),
        _c("model", _S, "model name"),
        _c("version", _I, "model version"),
        _c("scored_at", _TS, "when", null=False),
    ),
)

CONSENTS = TableSpec(
    name="consents",
    doc="Consent per profile and purpose (email, ads, analytics, personalisation...).",
    key=("profile_id", "purpose"),
    person_columns=("profile_id",),
    columns=(
        _c("profile_id", _S, "profile", null=False),
        _c("purpose", _S, "purpose", null=False),
        _c("granted", dt.Boolean(nullable=True), "granted (true) or withdrawn (false)"),
        _c("updated_at", _TS, "when", null=False),
        _c("source", _S, "where the decision came from"),
    ),
)

CAMPAIGNS = TableSpec(
    name="campaigns",
    doc="Campaign definitions: channel, UTM name, planned daily cost, audience, dates, holdout.",
    key=("id",),
    columns=(
        _c("id", _S, "campaign id (a slug of the name)", null=False),
        _c("name", _S, "display name", null=False),
        _c("channel", _S, "channel (the UTM medium, lower case)", null=False),
        _c("utm_campaign", _S, "the utm_campaign value its links carry", null=False),
        _c("daily_cost", dt.Float64(nullable=True), "planned cost per day (imported costs win)"),
        _c("audience", _S, "segment id it targets"),
        _c("start_date", dt.Date(nullable=False), "first day", null=False),
        _c("end_date", dt.Date(nullable=False), "last day (inclusive)", null=False),
        _c("holdout_share", dt.Float64(nullable=True), "share of the audience held out"),
        _c("created_at", _TS, "when", null=False),
    ),
)

JOBS = TableSpec(
    name="jobs",
    doc="Long work run by the service (build, refresh, fit, import, sync...): state, progress, "
        "outcome. `params` may name a person (an erasure), so it is flagged personal.",
    key=("id",),
    columns=(
        _c("id", _S, "job id", null=False),
        _c("kind", _S, "registered job kind, e.g. build, models.fit", null=False),
        _c("params", _S, "JSON parameters the job was submitted with", pii=True),
        _c("state", _S, "queued | running | succeeded | failed | cancelled", null=False),
        _c("stage", _S, "current (or last) stage"),
        _c("done", _I, "steps done in the stage"),
        _c("total", _I, "steps in the stage"),
        _c("result", _S, "JSON result of a succeeded job"),
        _c("error", _S, "why it failed (one line, no personal data)"),
        _c("submitted_by", _S, "key id, 'cli', 'python' or 'schedule:<name>'"),
        _c("created_at", _TS, "when submitted", null=False),
        _c("started_at", _TS, "when it started running"),
        _c("finished_at", _TS, "when it ended"),
    ),
)

SCHEDULES = TableSpec(
    name="schedules",
    doc="Cron schedules of the service: which job kind to submit, when it last ran.",
    key=("name",),
    columns=(
        _c("name", _S, "schedule name", null=False),
        _c("cron", _S, "cron expression (5 fields, UTC)", null=False),
        _c("kind", _S, "job kind it submits", null=False),
        _c("params", _S, "JSON parameters of the job"),
        _c("created_at", _TS, "when added", null=False),
        _c("last_run_at", _TS, "the scheduled time of the last run submitted"),
        _c("last_job_id", _S, "job id of the last run"),
    ),
)

OUTBOX = TableSpec(
    name="outbox",
    doc="Deliveries to webhooks and destinations, kept until delivered; retried with "
        "exponential backoff; `dead` rows are the dead-letter list (replayable). The body can "
        "carry profile ids and hashed identifiers.",
    key=("id",),
    columns=(
        _c("id", _S, "delivery id; also the Idempotency-Key header", null=False),
        _c("topic", _S, "what produced it: webhook:<segment>, audience:<destination>",
           null=False),
        _c("url", _S, "target URL", null=False),
        _c("body", dt.Binary(nullable=True), "request body (bytes, sent as is)", pii=True),
        _c("headers", _S, "JSON object of extra headers (signatures)"),
        _c("state", _S, "pending | delivered | dead", null=False),
        _c("attempts", _I, "attempts so far"),
        _c("next_at", _TS, "earliest time of the next attempt"),
        _c("last_status", _I, "HTTP status of the last attempt (null: no answer)"),
        _c("last_error", _S, "why the last attempt failed"),
        _c("created_at", _TS, "when queued", null=False),
        _c("delivered_at", _TS, "when a receiver accepted it"),
    ),
)

CAMPAIGN_COSTS = TableSpec(
    name="campaign_costs",
    doc="Imported campaign costs per day, channel and campaign (re-imports replace a day's row).",
    key=("date", "channel", "campaign"),
    columns=(
        _c("date", dt.Date(nullable=True), "the day the money was spent", null=False),
        _c("channel", _S, "channel (UTM medium), lower case", null=False),
        _c("campaign", _S, "campaign (UTM campaign name)", null=False),
        _c("cost", dt.Float64(nullable=True), "spend that day", null=False),
    ),
)

DESTINATIONS = TableSpec(
    name="destinations",
    doc="Where audiences are sent: one checked configuration per destination name.",
    key=("name",),
    columns=(
        _c("name", _S, "destination id (lower case, digits, underscores)", null=False),
        _c("type", _S, "file | webhook | google_customer_match | meta_custom_audience | "
                       "email_platform", null=False),
        _c("config", _S, "the configuration as JSON (no personal data)", null=False),
        _c("updated_at", _TS, "when it was saved", null=False),
    ),
)

CONSENT_RECORDS = TableSpec(
    name="consent_records",
    doc="Consent decisions given through the API or the CLI, per identifier: the history.",
    key=("id",),
    person_columns=("id_value",),
    columns=(
        _c("id", _S, "decision id", null=False),
        _c("id_type", _S, "identifier type the decision was given for", null=False),
        _c("id_value", _S, "normalised identifier value", pii=True, null=False),
        _c("purpose", _S, "consent purpose", null=False),
        _c("granted", dt.Boolean(nullable=True), "granted (true) or withdrawn (false)",
           null=False),
        _c("at", _TS, "when the person decided", null=False),
        _c("source", _S, "where the decision came from (api, cli, a source name)"),
        _c("actor", _S, "API key id or 'cli' that recorded it"),
    ),
)

SUPPRESSIONS = TableSpec(
    name="suppressions",
    doc="Identifiers of erased people as keyed hashes: data for them is dropped on arrival.",
    key=("hash",),
    columns=(
        _c("hash", _S, "HMAC-SHA256 of type:value under the pseudonymisation secret",
           null=False),
        _c("request_id", _S, "the erasure request that added it", null=False),
        _c("created_at", _TS, "when", null=False),
    ),
)

PRIVACY_REQUESTS = TableSpec(
    name="privacy_requests",
    doc="Data-subject access and erasure requests: status and counts, never the identifier.",
    key=("id",),
    columns=(
        _c("id", _S, "request id", null=False),
        _c("kind", _S, "access | erasure", null=False),
        _c("subject", _S, "keyed hash of the identifier asked about", null=False),
        _c("status", _S, "running | done | failed", null=False),
        _c("requested_at", _TS, "when it was asked", null=False),
        _c("finished_at", _TS, "when it finished"),
        _c("actor", _S, "API key id or 'cli'"),
        _c("report", _S, "JSON: rows removed or exported per table (counts only)"),
    ),
)

DP_RELEASES = TableSpec(
    name="dp_releases",
    doc="Differentially private releases: which report spent how much of the privacy budget.",
    key=("id",),
    columns=(
        _c("id", _S, "release id", null=False),
        _c("report", _S, "segment_sizes | overlaps", null=False),
        _c("epsilon", dt.Float64(nullable=True), "privacy budget spent", null=False),
        _c("at", _TS, "when", null=False),
        _c("actor", _S, "API key id or 'cli'"),
    ),
)

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (EVENTS, QUARANTINE, API_KEYS, ITEMS, AUDIT_LOG, IDENTITIES, MERGES,
                        IDENTITY_LINKS, TRAITS, BUILDS, SEGMENTS, SEGMENT_MEMBERS, MODELS,
                        PREDICTIONS, CONSENTS, CAMPAIGNS, CAMPAIGN_COSTS, DESTINATIONS,
                        CONSENT_RECORDS, SUPPRESSIONS, PRIVACY_REQUESTS, DP_RELEASES,
                        JOBS, SCHEDULES, OUTBOX)
}


@dataclass(frozen=True)
class DerivedSpec:
    """A table the pipeline writes whole from other tables (its columns follow the data and the
    settings, so they are not listed). Erasure, access export and the Spark path find it here.

    Attributes:
        name: the table name, or a name prefix when ``prefix`` is true.
        key: the columns rows are unique on (empty when the table holds one row of state).
        doc: what it holds.
        person_columns: the columns tying a row to a person (empty: no personal data).
        pii: whether columns other than the key may hold personal data.
        prefix: ``name`` is a prefix (one table per destination, per run...).
    """

    name: str
    key: tuple[str, ...]
    doc: str
    person_columns: tuple[str, ...] = ()
    pii: bool = False
    prefix: bool = False

    def matches(self, table: str) -> bool:
        """Whether ``table`` is this table (or one of this prefix's tables)."""
        return table.startswith(self.name) if self.prefix else table == self.name


DERIVED: tuple[DerivedSpec, ...] = (
    DerivedSpec("profiles", ("profile_id",), "the wide, model-ready view: traits, computed "
                "traits, scores and predictions per profile", ("profile_id",), pii=True),
    DerivedSpec("event_profiles", ("message_id",), "which profile each event belongs to",
                ("profile_id",)),
    DerivedSpec("_profile_computed", ("profile_id",), "per-person computed traits and the "
                "scores' inputs kept between builds", ("profile_id",), pii=True),
    DerivedSpec("_profile_interests", ("profile_id", "category"), "per-person decayed interest "
                "sums kept between builds", ("profile_id",)),
    DerivedSpec("_profile_", (), "the profile build's state and work tables (reference time, "
                "settings signature, people to recompute)", ("profile_id",), prefix=True),
    DerivedSpec("_identity_", (), "identity resolution state and work tables (dictionary of "
                "normalised identifiers, observations, refused counts)", ("profile_id",),
                pii=True, prefix=True),
    DerivedSpec("audience_syncs", (), "the log of audience syncs: segment, destination, adds "
                "and removes counted"),
    DerivedSpec("sync_state_", ("segment_id", "profile_id"), "what was last sent to one "
                "destination", ("profile_id",), prefix=True),
    DerivedSpec("campaign_planned_costs", ("date", "channel", "campaign"), "daily costs "
                "planned by campaign definitions"),
    DerivedSpec("_keep_stage_", (), "rows kept while a declared table is rewritten",
                prefix=True, pii=True),
    DerivedSpec("_mllib_", (), "work tables of model fits inside a distributed engine "
                "(training pairs, scores before they reach predictions)", ("profile_id",),
                prefix=True),
    DerivedSpec("cluster_labels", ("profile_id",), "the cluster of each profile from a "
                "K-Means fitted inside a distributed engine", ("profile_id",), prefix=True),
)


def declared(table: str) -> TableSpec | DerivedSpec | None:
    """The declaration of a stored table: a declared table, a derived one, or None.

    Example:
        >>> declared("events").key, declared("sync_state_meta").person_columns
        (('message_id',), ('profile_id',))
    """
    if table in TABLES:
        return TABLES[table]
    return next((d for d in DERIVED if d.matches(table)), None)


@dataclass(frozen=True)
class Migration:
    """One schema version: the tables it creates (later migrations may add columns)."""

    version: int
    description: str
    create: tuple[TableSpec, ...] = ()
    add_columns: tuple[tuple[str, Column], ...] = ()


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core tables: events, quarantine, api_keys, items, audit_log",
              create=(EVENTS, QUARANTINE, API_KEYS, ITEMS, AUDIT_LOG)),
    Migration(2, "identity graph and profiles: identities, merges, identity_links, traits, "
                 "builds", create=(IDENTITIES, MERGES, IDENTITY_LINKS, TRAITS, BUILDS)),
    Migration(3, "audiences and models: segments, segment_members, models, predictions, "
                 "consents", create=(SEGMENTS, SEGMENT_MEMBERS, MODELS, PREDICTIONS, CONSENTS)),
    Migration(4, "campaign definitions", create=(CAMPAIGNS,)),
    Migration(5, "service: jobs, schedules, delivery outbox",
              create=(JOBS, SCHEDULES, OUTBOX)),
    Migration(6, "campaign costs and audience destinations as declared tables",
              create=(CAMPAIGN_COSTS, DESTINATIONS)),
    Migration(7, "privacy: consent records, suppressions, data-subject requests; the audit "
                 "log chained by hash",
              create=(CONSENT_RECORDS, SUPPRESSIONS, PRIVACY_REQUESTS),
              add_columns=tuple(("audit_log", c) for c in AUDIT_LOG.columns[-3:])),
    Migration(8, "roles: key expiry and per-key rate limits",
              add_columns=tuple(("api_keys", c) for c in API_KEYS.columns[-2:])),
    Migration(9, "differentially private releases", create=(DP_RELEASES,)),
)
