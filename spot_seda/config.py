"""Typed, validated node settings decoded from a TOML file (configs/default.toml).

A bad file fails at start with a message naming the offending key (msgspec reports the path, e.g.
`Expected int, got str - at $.bus.batch_max`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from .model.symbols import SymbolRules, SymbolSpec

Positive = Annotated[int, msgspec.Meta(gt=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]  # (no 0: each process must know the others' ports)


class NodeSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    topology: str = "node"
    data_dir: str = "data"
    host: str = "127.0.0.1"
    http_port: Port = 8080
    ws_port: Port = 8081
    admin_token: str = ""
    #: admission control behind the HTTP stage: past this many commands waiting for Match, new
    #: orders get 503 / -1003
    max_in_flight: Positive = 5000
    #: admission control at the HTTP stage's front door (api/admission.py): past this many requests
    #: in flight in the HTTP handlers, a new order is answered 503 / -1003 at once, before any work
    shed_orders_in_flight: Positive = 64
    #: ... or past this much event-loop lag of the HTTP stage (0: lag is not looked at). These two
    #: defaults answer every request of a 2.5x burst within 1 s on a 2-core box, where 256 / 100 ms
    #: let answers queue for seconds (BENCHMARKS.md, "Overload", sixth session)
    shed_loop_lag_ms: NonNegativeFloat = 20.0
    #: past this many requests in flight, every request (cancels, reads, admin too) gets 503 / -1003
    shed_all_in_flight: Positive = 1024
    #: the listening socket's accept backlog (connections the kernel holds until the stage accepts
    #: them; Linux caps it at net.core.somaxconn)
    accept_backlog: Positive = 1024
    #: every request is answered within this long of its start: an order whose result is not known
    #: by then is answered -1007 (execution status unknown; find it by its client order id), a read
    #: that cannot see the writes before it likewise
    result_timeout_s: PositiveFloat = 10.0
    #: how often an open candle's state goes out (KLineChangeLog: kline streams and the history) while
    #: its symbol trades, in trade time: a window of this many ms (whole seconds), as Binance streams
    #: a candle every 1-2 s, and at each Tick (model/commands.py). A closed candle goes out at once.
    #: 0: every command that trades gives its candles (16 entries a command). Part of what the change
    #: log is: keep it across restarts of one node.
    candle_update_ms: Annotated[int, msgspec.Meta(ge=0, multiple_of=1000)] = 1000
    #: how often order entry journals a Tick while new orders come in or an open candle's interval
    #: has ended (0: only before a klines read, and candles close only with a later trade): an open
    #: candle reaches its streams and the history this long after a trade at most (plus a pipeline
    #: trip), and a candle closes this long after its end at most, also when the market goes quiet.
    #: Four small commands a second while trading.
    tick_ms: Annotated[int, msgspec.Meta(ge=0)] = 250
    #: finished orders Acquiring keeps in memory beside the open ones (about 1 KiB each), the most
    #: recent first; an older one is read from the SQLite history (GET /api/v3/order, allOrders)
    keep_finished_orders: Annotated[int, msgspec.Meta(ge=0)] = 10_000
    #: largest request body accepted
    max_body_bytes: Positive = 65536
    #: a WebSocket client (streams, WebSocket API) with more unsent bytes than this is closed (1008)
    #: at once, so a slow reader never holds up its stage and memory stays bounded
    ws_send_buffer_bytes: Positive = 4 * 1024 * 1024


class RateLimit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One of Binance's rate limits, as exchangeInfo's `rateLimits` lists it: at most `limit` per
    `interval_num` `interval`s. Windows are fixed and aligned on the clock (a minute's starts at :00,
    a day's at 00:00 UTC), as Binance's counters reset."""

    interval: Literal["SECOND", "MINUTE", "HOUR", "DAY"]
    interval_num: Positive = 1
    limit: Positive


def _binance_request_weight() -> list[RateLimit]:
    return [RateLimit(interval="MINUTE", interval_num=1, limit=6000)]


def _binance_raw_requests() -> list[RateLimit]:
    return [RateLimit(interval="MINUTE", interval_num=5, limit=300_000)]  # (CHANGELOG 2026-03-27)


def _binance_connections() -> list[RateLimit]:
    return [RateLimit(interval="MINUTE", interval_num=5, limit=300)]  # (web-socket-api.md, web-socket-streams.md)


def _binance_orders() -> list[RateLimit]:
    return [RateLimit(interval="SECOND", interval_num=10, limit=100), RateLimit(interval="DAY", interval_num=1, limit=200000)]


class RateLimitSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Binance's rate limits at the REST API (spot_seda/api/ratelimit.py, which holds the endpoint
    weights). A file without this section has none: configs/default.toml switches them on with
    Binance's values."""

    enabled: bool = False
    #: REQUEST_WEIGHT per client IP (an IPv6 client: per /64), for every /api/ request
    request_weight: list[RateLimit] = msgspec.field(default_factory=_binance_request_weight)
    #: RAW_REQUESTS per client IP: every REST request counts 1, whatever its weight (so a client whose
    #: successful orders weigh 0 is still bounded; the WebSocket API has CONNECTIONS instead)
    raw_requests: list[RateLimit] = msgspec.field(default_factory=_binance_raw_requests)
    #: CONNECTIONS per client IP: new WebSocket connections (the WebSocket API's, the streams'), each
    #: port counting its own (each Push process: a port several share counts per process); what the
    #: WebSocket API's exchangeInfo lists instead of RAW_REQUESTS
    connections: list[RateLimit] = msgspec.field(default_factory=_binance_connections)
    #: ORDERS per account (POST /api/v3/order, /api/spot/v2/), wherever they come from
    orders: list[RateLimit] = msgspec.field(default_factory=_binance_orders)
    #: an IP answered this many 429s in a row without waiting for their Retry-After is banned (418)
    ban_after_429s: Positive = 10
    #: the first ban's length; each further ban of the same IP doubles it, up to ban_max_s
    #: (Binance: "from 2 minutes to 3 days")
    ban_s: PositiveFloat = 120.0
    ban_max_s: PositiveFloat = 259200.0
    #: most IPs, and most accounts, the limiter remembers; idle ones are forgotten first
    max_tracked: Positive = 100_000


class BusSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    transport: Literal["shm", "inproc", "kafka"] = "shm"
    #: bytes of shared memory per consumer-group member queue; a full queue is back-pressure
    queue_bytes: Positive = 64 * 1024 * 1024
    #: a batch whose encoding exceeds this is split into several messages
    max_message_bytes: Positive = 1024 * 1024
    #: how long a producer waits on a full queue before failing loudly
    put_timeout_s: PositiveFloat = 10.0
    #: most entries a stage handles in one handle_events call
    batch_max: Positive = 4096
    #: most messages a stage takes from one shm ring per poll. Each message is a published batch, up
    #: to max_message_bytes; a stage that lags would otherwise take (and decode) its whole ring at
    #: once, and its memory would keep that high-water mark (Persist: +80-150 MiB over a 30 s soak
    #: with 4,096, +23-30 with 64; BENCHMARKS "Pipeline", seventh session)
    poll_max_messages: Positive = 64
    #: per topic; 1 makes every stage's output order a function of the commands alone (replay is
    #: byte-identical); more lets several instances of a stage share the work
    partitions: Positive = 1
    codec: Literal["msgpack", "json"] = "msgpack"
    #: map every page of the rings a stage process uses into it when it starts (Aeron's
    #: pre-touch): no page faults on the hot path while a ring first wraps, and the process's
    #: memory is its bound from the start instead of creeping up to it (bus/shm.py)
    pretouch: bool = True
    #: shm consumer groups read on their stage's event loop, woken by a pipe that every producer
    #: writes a byte to after each put, instead of by a thread blocking on the ring (the thread's
    #: wake-up, its wait for the GIL and its hand-over to the loop each cost a context switch)
    doorbells: list[str] = msgspec.field(default_factory=lambda: ["acquiring"])


class JournalSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What an acknowledged command survives (spot_seda/journal/writer.py): "always" kill -9 and power
    loss; "batch" kill -9, and power loss but for the last window; "off" kill -9 only."""

    fsync: Literal["always", "batch", "off"] = "batch"
    batch_window_ms: PositiveFloat = 2.0
    #: a new segment file starts past this size; segments older than a snapshot are deleted
    segment_bytes: Positive = 64 * 1024 * 1024
    #: seconds between snapshots of every stage while the node runs (0: only at a clean stop);
    #: recovery replays the journal after the last one (runtime/snapshots.py)
    snapshot_interval_s: NonNegativeFloat = 10.0
    #: delete the segments older than the last snapshot (false: keep every command, e.g. for audits)
    rotate: bool = True


class HistorySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The SQLite history Persist writes (spot_seda/history/)."""

    #: Persist gathers entries this long before one transaction commits them all (0: a transaction
    #: per poll). Bigger transactions cost SQLite far less per row (10 -> 50 ms: Persist -12% CPU
    #: per command, BENCHMARKS "Pipeline"; 50 -> 200 ms: -6% per order in the node, -9 to -14% per
    #: command in the pipeline, BENCHMARKS "Node over HTTP", fifteenth session; 200 -> 1000 ms: -20%
    #: per command in the pipeline, -9% per order in the node, twenty-first session: random index
    #: inserts dirty a page each, and a longer transaction writes each page to the WAL fewer times);
    #: a read waits for no interval: its "read" marker makes Persist commit at once
    #: (api/readbarrier.py). Persist commits after this long without input too, so an entry may wait
    #: up to about twice this when the input stops just short of it. What a crash loses of it,
    #: recovery writes again from the journal; Persist holds that much input in memory meanwhile.
    commit_interval_ms: NonNegativeFloat = 1000.0
    #: SQLite's page cache per connection to the history (Persist's writer, Acquiring's reader), KiB
    cache_kib: Positive = 2000
    #: an order that ended CANCELED, EXPIRED or EXPIRED_IN_MATCH with nothing executed is archived this
    #: long after its last change (in trading time: the newest entry Persist wrote), as Binance does
    #: after 90 days: its row leaves the history (most orders of a venue end so), and a query of it by
    #: orderId answers -2026 ORDER_ARCHIVED (errors.md). 0: never
    archive_after_days: NonNegativeFloat = 90.0


class KafkaSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """bus.transport = "kafka" (spot_seda/bus/kafka.py); topics get bus.partitions partitions."""

    bootstrap_servers: str = "127.0.0.1:9092"
    #: replicas of each topic the node creates (at most the number of brokers; configs/kafka.toml: 3)
    replication_factor: Positive = 1
    #: a write is acknowledged once this many replicas have it (capped at replication_factor): with 3
    #: replicas and 2, one broker may be down and no acknowledged write lives on one disk only
    min_insync_replicas: Positive = 2
    #: topic names are <topic_prefix><topic>: several nodes can share a cluster
    topic_prefix: str = "spot_seda."
    #: how long the producer waits to fill a batch (latency against throughput)
    linger_ms: NonNegativeFloat = 1.0
    #: how long a producer that keeps its order across topics (Match: a command's trades before the
    #: order updates they cause) waits for the acknowledgement of what it sent before; past it the
    #: stage fails and restarts alone. Longer than a broker's failover (its session timeout, 6 s in
    #: spot_seda.kafka_broker's clusters and 9 s by Kafka's default, then an election): at 10 s
    #: (bus.put_timeout_s, used before) a loaded box's failover restarted Match. The stage's
    #: heartbeat stays fresh while it waits.
    ack_timeout_s: PositiveFloat = 60.0
    #: how long a request for the cluster's metadata or a partition's offsets waits for its answer
    #: (making and checking topics, finding where to read): at a start, a cluster that has not
    #: answered within it stops the node with one line (exit status 2)
    request_timeout_s: PositiveFloat = 30.0
    #: the encoding of a message: JSON (the seed's field names, readable by any consumer) or msgpack
    codec: Literal["json", "msgpack"] = "json"
    #: every accepted command also goes to <topic_prefix>CommandLog (replicated, kept forever), and
    #: an order is answered only once the cluster has it (spot_seda/commandlog.py)
    command_log: bool = True
    #: how long the node's topics keep entries (-1: for ever). A stage restarted alone re-reads its
    #: input since its pipeline started, a stage on a machine without Acquiring all of it
    retention_ms: Annotated[int, msgspec.Meta(ge=-1)] = -1
    #: with the command log: every complete snapshot also goes to <topic_prefix>NodeSnapshots, and a
    #: node whose data dir lacks it (empty, or older) starts from it (runtime/clustersnapshots.py)
    snapshots_in_cluster: bool = True
    #: each stage instance's producer is transactional (transactional.id <topic_prefix><instance>):
    #: the outputs of one input batch and the input offsets they reflect commit together, consumers
    #: see only committed ones, and a newer incarnation of the instance fences the older one off
    #: (README, "Kafka mode"; off by default: BENCHMARKS.md, "Kafka", has its cost)
    transactions: bool = False


class RuntimeSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: pin each stage process to one core; stages without an entry in `cores`: one core each where
    #: there are enough, spread by weight (StageSpec.weight) where they outnumber the cores
    pinning: bool = True
    cores: dict[str, list[Annotated[int, msgspec.Meta(ge=0)]]] = {}
    #: instances per stage name (a stage that partitions its input may run several)
    instances: dict[str, Positive] = {}
    restart_backoff_s: PositiveFloat = 0.2
    restart_backoff_max_s: PositiveFloat = 5.0
    #: a stage whose heartbeat is older than this is considered wedged: killed and restarted
    stall_timeout_s: PositiveFloat = 10.0
    #: `run.py --take-over` (over Kafka, no Acquiring beside it): an instance of one of its stages
    #: run elsewhere whose kept state is older than this is taken over here (journal.snapshot_interval_s
    #: sets how often it is written: keep this several times that; `run.py --take-over` refuses less
    #: than twice it, where every live instance would look dead between two writes)
    take_over_after_s: PositiveFloat = 30.0
    #: how long a stopping stage may take to drain before it is killed
    drain_timeout_s: PositiveFloat = 10.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: each stage process's cyclic garbage collector (gc.set_threshold): a young collection after
    #: this many more container allocations than frees (CPython's default: 700), an older one every
    #: that many young ones, a full one every that many older ones. A stage allocates tuples, dicts
    #: and lists for every entry, nearly all freed by reference counting, so CPython's 700 made
    #: hundreds of collections a second, and its full ones (every 70,000) walked the stage's whole
    #: state (BENCHMARKS.md, "Pipeline", eighth session). A young collection stops the stage for as
    #: long as it walks what is young: at 50,000 that was 10-31 ms in order entry, a whole tail of
    #: its own, so young ones come every 5,000 (2-7 ms) and the older ones as rarely as before, every
    #: million (BENCHMARKS.md, "Pipeline", fortieth session; the metrics' gc columns time them).
    gc_thresholds: tuple[Positive, Positive, Positive] = (5_000, 200, 100)
    #: stage name -> ms it sleeps after a poll that emptied its queue, before it reads again, so
    #: that one wake-up takes in more input (as a Kafka producer's linger.ms or a consumer's
    #: fetch.max.wait.ms). Push reads from four producers, and every write into its empty queue
    #: woke its reader thread and then its event loop for a few entries: at the node's rates 1 ms
    #: took a quarter off its CPU per order. Its frames go out up to that much later. KLine and
    #: Persist showed no gain at 2 or 5 ms, and Match and Settlement answer orders: none by
    #: default. BENCHMARKS.md, "Node over HTTP", ninth session.
    linger_ms: dict[str, NonNegativeFloat] = msgspec.field(default_factory=lambda: {"push": 1.0})
    #: stages run under Linux's SCHED_BATCH: a stage woken by a queue write does not preempt the
    #: process running on its core (Acquiring in the middle of a loop iteration) but runs when that
    #: one blocks or its slice ends, and then finds more input waiting. Acquiring's event loop, which
    #: answers the clients, keeps the normal policy: named here, only its journal fsync thread (and
    #: its bus reader thread, where its group has no doorbell, bus.doorbells) takes SCHED_BATCH.
    #: Names of no stage in the topology are ignored. All by default: on 2 cores the node over HTTP
    #: took 26% more orders a second with the stages behind Acquiring so, and 20% more again with
    #: Acquiring's threads too, with lower tails
    #: (BENCHMARKS.md, "Node over HTTP", thirteenth session).
    batch_scheduling: list[str] = msgspec.field(
        default_factory=lambda: ["acquiring", "match", "kline", "settlement", "persist", "push"])
    #: stage name -> how much its processes' nice value is raised (0-19): contended, a stage at
    #: nice 10 gets about a tenth of a nice-0 neighbour's share of a core. Persist, KLine and Push
    #: are off the path of an order's answer; lowered, they yield the cores to the stages that
    #: answer (Acquiring, Match, Settlement) and to whatever else runs on the machine (clients,
    #: bots of a simulator), and read more input per turn. On 2 cores shared with its clients the
    #: node over HTTP took about a fifth more orders a second (more in 12 of 12 alternating
    #: pairs), Push's latency at 200 trades/s to 1,000 clients unchanged (BENCHMARKS.md, "Node
    #: over HTTP", fourteenth session). Reads that wait for Persist (read your own writes) and
    #: streams wait for these stages' turn when the cores are busy.
    nice: dict[str, Annotated[int, msgspec.Meta(ge=0, le=19)]] = msgspec.field(
        default_factory=lambda: {"persist": 10, "kline": 10, "push": 10})
    #: where the stages outnumber the cores (`pinning` spreads them by weight), these run unpinned,
    #: on whichever core has room, instead of on the one their weight was placed on (whose load
    #: still counts: the pinned stages keep the cores they had). On 2 cores, Persist, KLine and
    #: Push (at a raised nice value, above) floating took 10% more REST orders a second over 12
    #: alternating pairs, with lower tails. With a core per stage, every stage is pinned anyway.
    unpinned_when_shared: list[str] = msgspec.field(default_factory=lambda: ["persist", "kline", "push"])
    #: stage name -> the interpreter's switch interval in its process, ms (sys.setswitchinterval;
    #: CPython's default 5): how long a thread that wants the GIL waits for the one holding it
    #: before asking it to let go. Acquiring's bus reader thread, which brings Match's answers,
    #: waited up to 5 ms for a busy event loop before each hand-over; at 0.5 ms the node over HTTP
    #: took more orders a second, with lower tails (BENCHMARKS.md, "Node over HTTP", fourteenth
    #: session).
    switch_interval_ms: dict[str, PositiveFloat] = msgspec.field(default_factory=lambda: {"acquiring": 0.5})


class RelaySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The synthetic source -> relay -> tally pipeline (topology "relay"): runtime proof and benchmark."""

    count: Annotated[int, msgspec.Meta(ge=0)] = 0  # entries per source instance; 0 = forever
    rate: Annotated[int, msgspec.Meta(ge=0)] = 0  # entries/s per source; 0 = as fast as possible
    keys: Positive = 64
    chunk: Positive = 512  # entries generated per source step
    payload_bytes: Annotated[int, msgspec.Meta(ge=0)] = 0
    report_every: Positive = 100_000


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    node: NodeSettings = msgspec.field(default_factory=NodeSettings)
    bus: BusSettings = msgspec.field(default_factory=BusSettings)
    journal: JournalSettings = msgspec.field(default_factory=JournalSettings)
    history: HistorySettings = msgspec.field(default_factory=HistorySettings)
    rate_limits: RateLimitSettings = msgspec.field(default_factory=RateLimitSettings)
    kafka: KafkaSettings = msgspec.field(default_factory=KafkaSettings)
    runtime: RuntimeSettings = msgspec.field(default_factory=RuntimeSettings)
    relay: RelaySettings = msgspec.field(default_factory=RelaySettings)
    symbols: list[SymbolSpec] = []

    def symbol_rules(self) -> dict[str, SymbolRules]:
        """Integer rules per symbol name (validated; raises ConfigError naming the symbol)."""
        rules: dict[str, SymbolRules] = {}
        for spec in self.symbols:
            if spec.symbol in rules:
                raise ConfigError(f"symbols: {spec.symbol} is listed twice")
            try:
                rules[spec.symbol] = SymbolRules(spec)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        return rules


class ConfigError(ValueError):
    """The configuration file is missing, malformed or names an invalid value."""


DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.toml"


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate a TOML config file (default: configs/default.toml)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    return parse_settings(raw, source=str(path))


def parse_settings(raw: bytes | str, source: str = "<config>") -> Settings:
    """Decode TOML text into Settings; errors name the file and the key."""
    try:
        settings = msgspec.toml.decode(raw, type=Settings)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
    settings.symbol_rules()  # validate symbol rules up front
    check_ports(settings.node)
    return settings


def check_ports(node: NodeSettings) -> None:
    """The two ports in range and apart (also after command-line overrides, which msgspec did not
    see); raises ConfigError naming them."""
    for key in ("http_port", "ws_port"):
        port = getattr(node, key)
        if type(port) is not int or not 1 <= port <= 65535:
            raise ConfigError(f"node.{key}: a port is 1..65535, not {port!r}")
    if node.http_port == node.ws_port:
        raise ConfigError(f"node.http_port and node.ws_port are both {node.http_port}: the HTTP and WebSocket "
                          "servers need a port each")
