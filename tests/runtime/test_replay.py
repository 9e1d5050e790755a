"""Determinism: the same commands give byte-identical change logs, also across a restart."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spot_seda.model.commands import DECODER, ENCODER, NewOrder, Transfer
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import InvariantBroken, apply_commands
from tests.conftest import settings_from
from tests.sessions import STOP_KINDS, T0, commands, run, stop_commands



def test_the_same_commands_give_byte_identical_change_logs(tmp_path):
    cmds = commands(7, 1500)
    first, accepted, pipeline = run(tmp_path, "a", cmds)
    second, _, _ = run(tmp_path, "b", cmds)
    assert first == second
    assert first.count(b"SpotTrade") > 100  # the session really traded
    pipeline.stage("acquiring-0").ledger.check_invariants()


def test_a_restart_in_the_middle_changes_nothing(tmp_path):
    cmds = commands(11, 1200)
    whole, accepted, _ = run(tmp_path, "whole", cmds)
    # first incarnation: half the commands; the journal holds what it accepted
    _, journal, _ = run(tmp_path, "first", cmds[:600])
    # second incarnation: rebuilt from the journal, then the rest of the commands
    resumed, _, pipeline = run(tmp_path, "second", cmds[600:], journal=journal)
    assert resumed == whole
    pipeline.stage("acquiring-0").ledger.check_invariants()


def test_a_journal_replays_to_the_very_bytes_of_the_live_run(tmp_path):
    """Journaled commands are replayed many at a time, their freezes not waiting for credits: the
    change log must still be the one the commands gave live, one at a time."""
    live, journal, _ = run(tmp_path, "live", commands(5, 1500))
    replayed, _, pipeline = run(tmp_path, "replayed", [], journal=journal)
    assert replayed == live
    assert pipeline.stage("acquiring-0").ledger.negative() == []


def test_a_journal_that_spends_money_nobody_had_is_refused(tmp_path):
    """A freeze is not checked against free funds on replay; the end of the replay is."""
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    journal = [Transfer(1, "USDT", 10**8, T0),
               NewOrder(1, "BTCUSDT", "BUY", "LIMIT", "GTC", 5_000_000, 10**8, 0, "a", "NONE", T0, 1)]
    with pytest.raises(InvariantBroken, match="left negative"):
        apply_commands(InprocPipeline(settings), journal, journaled=True)


def test_the_streamed_change_log_is_the_one_kept_in_memory(tmp_path):
    """run.py replay writes each stream to its own file as it goes and puts them together at the end
    (constant memory); that must give the very bytes of sorting everything kept in memory."""
    from spot_seda.runtime.replay import merge_streams, record_to_files

    cmds = commands(3, 800)
    kept, _, _ = run(tmp_path, "kept", cmds)
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path / "streamed"}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    streams = record_to_files(pipeline, tmp_path / "streams")
    apply_commands(pipeline, cmds, journaled=False)
    streams.close()
    assert len(list((tmp_path / "streams").iterdir())) >= 4  # several streams, merged in order
    count = merge_streams(tmp_path / "streams", tmp_path / "streamed.jsonl")
    assert (tmp_path / "streamed.jsonl").read_bytes() == kept
    assert count == kept.count(b"\n")


def test_a_divergence_is_caught_at_the_first_settle_after_it(tmp_path):
    """In-process, every tick settles the pipeline: a balance still negative then can only mean the
    journal and the code disagree, so the replay stops there rather than at the end."""
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    journal = [Transfer(1, "USDT", 10**8, T0),
               NewOrder(1, "BTCUSDT", "BUY", "LIMIT", "GTC", 5_000_000, 10**8, 0, "a", "NONE", T0, 1)]
    journal += [Transfer(2, "BTC", 10**8, T0 + i, f"t{i}") for i in range(1000)]
    with pytest.raises(InvariantBroken, match="still negative after 256 journaled commands"):
        apply_commands(InprocPipeline(settings), journal, journaled=True)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32), st.integers(50, 400))
def test_any_session_replays_from_its_journal_to_the_live_bytes(tmp_path_factory, seed, n):
    """Forced freezes and 256-command batches on replay, against one command at a time live, over
    sessions of any seed and length (markets holding all free quote included)."""
    tmp = tmp_path_factory.mktemp("s")
    live, journal, _ = run(tmp, "live", commands(seed, n))
    replayed, _, pipeline = run(tmp, "replayed", [], journal=journal)
    assert replayed == live
    pipeline.stage("acquiring-0").ledger.check_invariants()


def test_strategy_ids_go_through_the_journal_and_a_restart_to_the_same_bytes(tmp_path):
    """strategyId / strategyType are journaled with their orders (left out when not sent: such a
    command is encoded as before they were kept) and carried by the Created entries to every stage:
    live, replayed from the journal and restarted halfway give the same bytes."""
    cmds = [msgspec.structs.replace(c, strategy_id=n % 7, strategy_type=1_000_000 + n)
            if type(c) is NewOrder and n % 3 == 0 else c for n, c in enumerate(commands(17, 600))]
    whole, journal, pipeline = run(tmp_path, "whole", cmds)
    assert all(DECODER.decode(ENCODER.encode(c)) == c for c in journal)
    plain = next(c for c in journal if type(c) is NewOrder and c.strategy_id < 0)
    assert b"strategy" not in ENCODER.encode(plain)
    labelled = {c.order_id: (c.strategy_id, c.strategy_type) for c in journal
                if type(c) is NewOrder and c.strategy_id >= 0}
    assert len(labelled) > 100 and whole.count(b'"strategy_id"') == len(labelled)
    for stage in ("acquiring-0", "push-0"):  # (Acquiring's open and recent orders; Push's every order)
        orders = pipeline.stage(stage).orders
        assert all((o.strategy_id, o.strategy_type) == labelled.get(i, (-1, -1)) for i, o in orders.items())
    assert run(tmp_path, "replayed", [], journal=journal)[0] == whole
    _, first_half, _ = run(tmp_path, "first", cmds[:300])
    assert run(tmp_path, "second", cmds[300:], journal=first_half)[0] == whole


# ------------------------------------------------------------------ stop orders

def triggered_stops(pipeline) -> int:
    """Stop orders that started working (Match reported their trigger), as Acquiring saw them."""
    orders = pipeline.stage("acquiring-0").orders.values()
    return sum(o.type.name in STOP_KINDS and o.working_time >= 0 for o in orders)


def test_stop_orders_give_byte_identical_change_logs_live_and_from_their_journal(tmp_path):
    cmds = stop_commands(21, 1500)
    first, journal, pipeline = run(tmp_path, "a", cmds)
    second, _, _ = run(tmp_path, "b", cmds)
    assert first == second
    assert sum(type(c) is NewOrder and c.stop_price > 0 for c in journal) > 200  # accepted stops
    assert triggered_stops(pipeline) > 50 and first.count(b"would_trigger") > 20
    assert first.count(b"SpotTrade") > 300
    pipeline.stage("acquiring-0").ledger.check_invariants()
    replayed, _, again = run(tmp_path, "replayed", [], journal=journal)
    assert replayed == first
    assert triggered_stops(again) == triggered_stops(pipeline)
    again.stage("acquiring-0").ledger.check_invariants()


def test_stop_orders_carry_on_from_a_restart_and_from_snapshots_to_the_same_bytes(tmp_path):
    """Pending stops and the last price live in Match's pickled books: a pipeline restored from the
    stages' snapshots mid-session (as recovery restores them) continues exactly as the whole run."""
    cmds = stop_commands(8, 1200)
    whole, _, _ = run(tmp_path, "whole", cmds)
    _, journal, _ = run(tmp_path, "first", cmds[:600])
    resumed, _, _ = run(tmp_path, "second", cmds[600:], journal=journal)
    assert resumed == whole  # restarted: the journal replayed, then the rest live
    assert resumed_from_snapshots(tmp_path, cmds, 600) == whole


def test_trailing_stops_give_the_same_bytes_live_from_their_journal_and_from_snapshots(tmp_path):
    """Trailing stops move with every trade (their best price lives in Match's books): the same
    commands give the same change log, live, replayed from the journal, restarted halfway, and
    restored from the stages' snapshots halfway."""
    cmds = stop_commands(33, 1200, trailing=True)
    whole, journal, pipeline = run(tmp_path, "whole", cmds)
    assert run(tmp_path, "again", cmds)[0] == whole
    trailing = [o for o in pipeline.stage("acquiring-0").orders.values() if o.trailing_delta]
    assert len(trailing) > 80, len(trailing)
    assert sum(o.trailing_time >= 0 for o in trailing) > 60  # they started tracking ...
    assert sum(o.working_time >= 0 for o in trailing) > 30  # ... and triggered
    assert whole.count(b'"trailing_time"') > 60
    assert run(tmp_path, "replayed", [], journal=journal)[0] == whole
    _, first_half, _ = run(tmp_path, "first", cmds[:600])
    assert run(tmp_path, "second", cmds[600:], journal=first_half)[0] == whole
    assert resumed_from_snapshots(tmp_path, cmds, 600) == whole
    pipeline.stage("acquiring-0").ledger.check_invariants()


def resumed_from_snapshots(tmp_path, cmds, at: int) -> bytes:
    """The change log of `cmds` run on a pipeline whose stages are restored, after the first `at`,
    from their snapshots (as runtime/recovery.py restores them), then given the rest."""
    import pickle

    from spot_seda.runtime.replay import record, write_jsonl

    def pipeline(name):
        return InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path / name}"\n[bus]\ntransport = "inproc"\n'))

    before = pipeline(f"before-{at}")
    batches = record(before)
    apply_commands(before, cmds[:at], journaled=False)
    books = before.stage("match-0").books
    assert sum(len(b.stops()) for b in books.values()) >= 3  # the snapshot holds pending stops
    states = {label: pickle.dumps({"stage": r.stage.snapshot_state(), "next": dict(r.sequencer.next),
                                   "last_seen": dict(r.last_seen)})
              for label, r in before.runners.items() if r.stage.inherits_state}  # (Persist: its SQLite file)
    after = pipeline(f"after-{at}")
    for label, blob in states.items():  # as runtime/recovery.py restores a snapshot
        state = pickle.loads(blob)
        runner = after.runners[label]
        runner.stage.restore_state(state["stage"])
        runner.sequencer.next = state["next"]
        runner.last_seen = state["last_seen"]
    later = record(after)
    apply_commands(after, cmds[at:], journaled=False)
    write_jsonl(batches + later, tmp_path / f"snapshotted-{at}.jsonl")
    return (tmp_path / f"snapshotted-{at}.jsonl").read_bytes()


def test_a_command_file_takes_stop_orders_as_the_api_does(tmp_path):
    from spot_seda.runtime.replay import read_command_file

    path = tmp_path / "cmds.jsonl"
    path.write_text(
        '{"cmd": "order", "account": 1, "timestamp": 1, "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS_LIMIT",'
        ' "timeInForce": "IOC", "quantity": "0.5", "price": "49000", "stopPrice": "49500.5"}\n'
        '{"cmd": "order", "account": 1, "timestamp": 2, "symbol": "BTCUSDT", "side": "BUY", "type": "TAKE_PROFIT",'
        ' "quantity": "0.5", "stopPrice": "40000"}\n'
        '{"cmd": "order", "account": 1, "timestamp": 3, "symbol": "BTCUSDT", "side": "BUY", "type": "STOP_LOSS",'
        ' "quantity": "0.5"}\n')
    rules = settings_from("").symbol_rules()
    commands = read_command_file(path, rules)
    assert next(commands) == NewOrder(1, "BTCUSDT", "SELL", "STOP_LOSS_LIMIT", "IOC", 4_900_000, 50_000_000, 0, "",
                                      "EXPIRE_MAKER", 1, stop_price=4_950_050)  # (the symbol's default STP)
    assert next(commands) == NewOrder(1, "BTCUSDT", "BUY", "TAKE_PROFIT", "GTC", 0, 50_000_000, 0, "", "EXPIRE_MAKER",
                                      2, stop_price=4_000_000)
    with pytest.raises(ValueError, match="cmds.jsonl:3: Param 'stopPrice' or 'trailingDelta' must be sent"):
        next(commands)


def test_a_command_file_refuses_a_parameter_the_api_does_not_read(tmp_path):
    """An order or amend line with a parameter its REST endpoint does not read stops the replay with
    the API's -1104 (a misspelt timeInForce is not an order without one)."""
    from spot_seda.runtime.replay import read_command_file

    rules = settings_from("").symbol_rules()
    for line, read in (
            ('{"cmd": "order", "account": 1, "timestamp": 1, "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",'
             ' "timeInforce": "GTC", "quantity": "0.5", "price": "49000"}', 5),
            ('{"cmd": "amend", "account": 1, "timestamp": 1, "symbol": "BTCUSDT", "orderId": 1, "newQty": "0.2",'
             ' "price": "1"}', 3)):
        path = tmp_path / "cmds.jsonl"
        path.write_text(line + "\n")
        with pytest.raises(ValueError, match=f"cmds.jsonl:1: Not all sent parameters were read; read '{read}' "
                                             f"parameter\\(s\\) but was sent '{read + 1}'."):
            next(read_command_file(path, rules))


def test_a_command_file_refuses_a_parameter_sent_empty(tmp_path):
    """As the API: an empty `price` on a MARKET order or `newClientOrderId` on an amend is no order
    without one (-1105 / -1118), an empty mandatory one -1102."""
    from spot_seda.runtime.replay import read_command_file

    rules = settings_from("").symbol_rules()
    head = '{"cmd": "order", "account": 1, "timestamp": 1, "symbol": "BTCUSDT", "side": "BUY", '
    for line, error in (
            (head + '"type": "MARKET", "quantity": "0.5", "price": ""}', "Parameter 'price' was empty."),
            (head + '"type": "LIMIT", "timeInForce": "", "quantity": "0.5", "price": "49000"}',
             "Parameter 'timeInForce' was empty."),
            (head.replace('"side": "BUY"', '"side": ""') + '"type": "MARKET", "quantity": "0.5"}',
             "Mandatory parameter 'side' was not sent"),
            ('{"cmd": "amend", "account": 1, "timestamp": 1, "symbol": "BTCUSDT", "orderId": 1, "newQty": "0.2",'
             ' "newClientOrderId": ""}', "New client order ID was empty.")):
        path = tmp_path / "cmds.jsonl"
        path.write_text(line + "\n")
        with pytest.raises(ValueError, match=f"cmds.jsonl:1: {error}"):
            next(read_command_file(path, rules))


def test_a_command_file_cancel_line_is_checked_as_the_api_checks_a_cancel(tmp_path):
    """A cancel line's `symbol` sent empty was no symbol at all (the order canceled whatever it
    said), an empty `newClientOrderId` beside it dropped: -1102 and -1104, as DELETE /api/v3/order
    would not cancel."""
    from spot_seda.model.commands import Cancel
    from spot_seda.runtime.replay import read_command_file

    rules = settings_from("").symbol_rules()
    head = '{"cmd": "cancel", "account": 1, "timestamp": 1, '
    path = tmp_path / "cmds.jsonl"
    path.write_text(head + '"symbol": "BTCUSDT", "orderId": 7}\n')
    assert list(read_command_file(path, rules)) == [Cancel(1, "BTCUSDT", 7, 1)]
    for line, error in ((head + '"symbol": "", "orderId": 7}', "Mandatory parameter 'symbol' was not sent"),
                        (head + '"symbol": "BTCUSDT", "orderId": ""}', "Mandatory parameter 'orderId' was not sent"),
                        (head + '"symbol": "BTCUSDT", "orderId": 7, "newClientOrderId": ""}',
                         "Not all sent parameters were read; read '2' parameter\\(s\\) but was sent '3'."),
                        (head + '"symbol": "DOGEUSDT", "orderId": 7}', "Invalid symbol.")):
        path.write_text(line + "\n")
        with pytest.raises(ValueError, match=f"cmds.jsonl:1: {error}"):
            next(read_command_file(path, rules))


def test_a_command_file_value_null_is_refused_not_the_text_none(tmp_path):
    """JSON null was str()'d: `"newClientOrderId": null` placed an order with client id "None"."""
    from spot_seda.runtime.replay import read_command_file

    rules = settings_from("").symbol_rules()
    head = '{"cmd": "order", "account": 1, "timestamp": 1, "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", '
    path = tmp_path / "cmds.jsonl"
    path.write_text(head + '"quantity": 0.5}\n')
    assert next(read_command_file(path, rules)).qty == 50_000_000
    for line, error in ((head + '"quantity": "0.5", "newClientOrderId": null}',
                         "Illegal characters found in parameter 'newClientOrderId'"),
                        ('{"cmd": "cancel", "account": 1, "timestamp": 1, "symbol": null, "orderId": 1}',
                         "Illegal characters found in parameter 'symbol'")):
        path.write_text(line + "\n")
        with pytest.raises(ValueError, match=f"cmds.jsonl:1: {error}"):
            next(read_command_file(path, rules))
