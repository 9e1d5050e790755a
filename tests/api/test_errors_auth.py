"""Binance error codes and texts, signatures (Binance's published vectors) and the timing rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spot_seda.binance import auth, errors
from spot_seda.binance import queryparams as Q
from spot_seda.binance.errors import ApiError
from spot_seda.engine.results import REASONS
from spot_seda.model.reasons import REFUSED_AT_PLACEMENT, Reason

# Binance's documentation example (SIGNED endpoint examples for POST /api/v3/order)
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
QUERY_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
MIXED_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
MIXED_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
MIXED_SIGNATURE = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


def raises(code: int, msg: str | None = None, status: int | None = None):
    """Context manager: an ApiError with this code (and text and HTTP status when given)."""

    class _Check:
        def __enter__(self):
            return self

        def __exit__(self, kind, exc, tb):
            assert kind is ApiError, f"expected ApiError {code}, got {kind}: {exc}"
            assert exc.code == code, exc
            if msg is not None:
                assert exc.msg == msg, exc
            if status is not None:
                assert exc.status == status, exc
            return True

    return _Check()


EXACT = [
    (errors.invalid_symbol(), -1121, "Invalid symbol.", 400),
    (errors.mandatory_missing("price"), -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.", 400),
    (errors.either_missing("origClientOrderId", "orderId"), -1102,
     "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!", 400),
    (errors.illegal_chars("price", errors.DECIMAL_RANGE), -1100,
     "Illegal characters found in parameter 'price'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.", 400),
    (errors.illegal_chars(), -1100, "Illegal characters found in a parameter.", 400),
    (errors.price_filter(), -1013, "Filter failure: PRICE_FILTER", 400),
    (errors.lot_size(), -1013, "Filter failure: LOT_SIZE", 400),
    (errors.notional(), -1013, "Filter failure: NOTIONAL", 400),
    (errors.refusal(Reason.INSUFFICIENT_BALANCE), -2010, "Account has insufficient balance for requested action.", 400),
    (errors.refusal(Reason.WOULD_TAKE), -2010, "Order would immediately match and take.", 400),
    (errors.refusal(Reason.DUPLICATE_ORDER), -2010, "Duplicate order sent.", 400),
    (errors.refusal(Reason.DUPLICATE_CLIENT_ORDER_ID), -2010, "Duplicate order sent.", 400),
    (errors.refusal(Reason.UNKNOWN_ORDER), -2011, "Unknown order sent.", 400),
    (errors.client_order_id_invalid(), -2039, "Client order ID is not correct for this order ID.", 400),
    (errors.refusal(Reason.UNKNOWN_ORDER, errors.AMEND), -2038, "Unknown order sent.", 400),
    (errors.refusal("not_reducing", errors.AMEND), -2038, "Order amend (quantity increase) is not supported.", 400),
    (errors.refusal(Reason.WOULD_TAKE, errors.ORDER_LIST), -2010,
     "The relationship of the prices for the orders is not correct.", 400),
    (errors.refusal(Reason.MAX_NUM_ORDERS), -1013, "Filter failure: MAX_NUM_ORDERS", 400),
    (errors.order_does_not_exist(), -2013, "Order does not exist.", 400),
    (errors.invalid_signature(), -1022, "Signature for this request is not valid.", 400),
    (errors.timestamp_outside_recv_window(), -1021, "Timestamp for this request is outside of the recvWindow.", 400),
    (errors.timestamp_ahead(), -1021, "Timestamp for this request was 1000ms ahead of the server's time.", 400),
    (errors.bad_api_key_format(), -2014, "API-key format invalid.", 401),
    (errors.rejected_api_key(), -2015, "Invalid API-key, IP, or permissions for action.", 401),
    (errors.refusal(Reason.OVERLOADED), -1003, "Too many requests queued.", 503),
    (errors.invalid_order_type(), -1116, "Invalid orderType.", 400),
    (errors.invalid_side(), -1117, "Invalid side.", 400),
    (errors.invalid_tif(), -1115, "Invalid timeInForce.", 400),
    (errors.not_required("price"), -1106, "Parameter 'price' sent when not required.", 400),
    (errors.too_much_precision("quantity"), -1111, "Parameter 'quantity' has too much precision.", 400),
    (errors.bad_recv_window(), -1131, "'recvWindow' must be less than 60000.", 400),
    (errors.invalid_interval(), -1120, "Invalid interval.", 400),
    (errors.duplicate_parameter(), -1101, "Duplicate values for a parameter detected.", 400),
    (errors.unread_parameters(1, 2), -1104, "Not all sent parameters were read; read '1' parameter(s) but was sent '2'.", 400),
    (errors.overflow("orderId"), -1108, "Parameter 'orderId' overflowed.", 400),
    (errors.unknown(), -1000, "An unknown error occurred while processing the request.", 500),
    (errors.not_found("/x"), -1000, "Unknown path /x.", 404),
    (errors.timeout(), -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.", 503),
    (errors.duplicate_symbols(), -1151, "Symbol is present multiple times in the list.", 400),
    (errors.empty_new_client_order_id(), -1118, "New client order ID was empty.", 400),
    (errors.invalid_listen_key(), -1125, "This listenKey does not exist.", 400),
]


@pytest.mark.parametrize("error,code,msg,status", EXACT, ids=[f"{c}:{m[:30]}" for _e, c, m, _s in EXACT])
def test_exact_codes_texts_and_status(error, code, msg, status):
    assert (error.code, error.msg, error.status) == (code, msg, status)
    assert error.body() == {"code": code, "msg": msg}
    assert list(error.body()) == ["code", "msg"]
    assert 400 <= error.status < 600


def test_status_defaults_follow_the_code():
    assert ApiError(-1100, "x").status == 400
    assert ApiError(-2014, "x").status == 401
    assert ApiError(-2015, "x").status == 401
    assert ApiError(-1003, "x").status == 429
    assert ApiError(-1003, "x", status=503).status == 503
    assert errors.rate_limited(1200, "1m").status == 429
    assert errors.admin_disabled().status == 403


# ------------------------------------------------------------------------------------- signatures


def test_binance_signature_vectors():
    assert auth.sign(SECRET, QUERY) == QUERY_SIGNATURE
    # query string and body are concatenated WITHOUT a separator
    assert auth.sign(SECRET, MIXED_QUERY + MIXED_BODY) == MIXED_SIGNATURE
    auth.verify_signature(SECRET, QUERY, "", QUERY_SIGNATURE)
    auth.verify_signature(SECRET, "", QUERY, QUERY_SIGNATURE)  # all in the body
    auth.verify_signature(SECRET, MIXED_QUERY, MIXED_BODY, MIXED_SIGNATURE)
    auth.verify_signature(SECRET, QUERY, "", QUERY_SIGNATURE.upper())  # hex is not case sensitive


def test_non_ascii_is_signed_percent_encoded():
    """rest-api.md's second example: "Any non-ASCII character must be percent-encoded before
    signing": a symbol of full-width digits signs as `symbol=%EF%BC%91...`, whether the request
    carries it raw (a form body) or percent-encoded (a query string); one signed raw is -1022."""
    raw = "symbol=１２３４５６&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    encoded = raw.replace("１２３４５６", "%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96")
    signature = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"  # (the docs')
    assert auth.sign(SECRET, encoded) == signature
    account = type("Account", (), {"key_type": auth.HMAC, "secret_key": SECRET})()

    def rest(query: str, body: str, sig: str) -> None:  # (as plumbing.signed checks a REST request)
        auth.verify_rest_signature(account, query, body, sig)
    rest("", raw, signature)  # sent raw in a body
    rest(encoded, "", signature)  # sent encoded in the query
    with raises(-1022):
        rest("", raw, auth.sign(SECRET, raw))  # signed raw


def test_the_websocket_apis_payload_is_raw_utf8():
    """web-socket-api.md's non-ASCII example: its payload is signed as the UTF-8 it is (no
    percent-encoding there), with an account's key as with a plain secret."""
    params = {"apiKey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", "price": "0.10000000",
              "quantity": "1.00000000", "recvWindow": 5000, "side": "BUY", "symbol": "１２３４５６",
              "timeInForce": "GTC", "timestamp": 1645423376532, "type": "LIMIT",
              "signature": "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"}
    auth.verify_ws_signature(SECRET, params)
    auth.verify_ws_signature(type("Account", (), {"key_type": auth.HMAC, "secret_key": SECRET})(), params)


@pytest.mark.parametrize("query,body,signature", [
    (QUERY, "", QUERY_SIGNATURE[:-1] + "0"),
    (QUERY + "&x=1", "", QUERY_SIGNATURE),
    (MIXED_QUERY + "&", MIXED_BODY, MIXED_SIGNATURE),  # a separator is not part of Binance's payload
    (QUERY, "", QUERY_SIGNATURE[:-2]),
    (QUERY, "", "zz" + QUERY_SIGNATURE[2:]),
    (QUERY, "", "é" * 64),
])
def test_bad_signature_is_1022(query, body, signature):
    with raises(-1022, "Signature for this request is not valid.", 400):
        auth.verify_signature(SECRET, query, body, signature)


def test_wrong_secret_is_1022():
    with raises(-1022):
        auth.verify_signature(SECRET[::-1], QUERY, "", QUERY_SIGNATURE)


@pytest.mark.parametrize("signature", [None, ""])
def test_missing_signature_is_1102(signature):
    with raises(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."):
        auth.verify_signature(SECRET, QUERY, "", signature)


def test_split_signature_keeps_the_rest_verbatim():
    q = "symbols=%5B%22BTCUSDT%22%5D&timestamp=1"
    assert auth.split_signature(q + "&signature=ab", "") == (q, "", "ab")
    assert auth.split_signature(MIXED_QUERY, MIXED_BODY + "&signature=cd") == (MIXED_QUERY, MIXED_BODY, "cd")
    assert auth.split_signature("signature=ef&a=1", "b=2") == ("a=1", "b=2", "ef")
    with raises(-1102):
        auth.split_signature(QUERY, "")
    with raises(-1102):
        auth.split_signature(QUERY + "&signature=", "")
    with raises(-1101):
        auth.split_signature("signature=a", "signature=b")



def _split_signature_twin(query: str, body: str):
    """split_signature as a loop over every part (what it did before its one-signature fast path)."""
    found = []

    def strip(raw: str) -> str:
        kept = [part for part in raw.split("&") if not part.startswith("signature=") or found.append(part[10:])]
        return "&".join(kept) if "signature=" in raw else raw

    unsigned = strip(query), strip(body)
    if len(found) > 1:
        return "-1101"
    if not found or not found[0]:
        return "-1102"
    return (*unsigned, found[0])


_PARTS = st.sampled_from(["a=1", "", "signature=ab", "signature=", "xsignature=cd", "b=signature=ef", "c=", "d",
                          "signature=ff&", "&signature=12"])


@given(st.lists(_PARTS, max_size=6), st.lists(_PARTS, max_size=3))
def test_split_signature_is_its_naive_twin(query_parts, body_parts):
    """Any arrangement of signatures, look-alikes and empty parts: the same unsigned strings and
    signature as cutting every part apart, or the same error."""
    query, body = "&".join(query_parts), "&".join(body_parts)
    try:
        got = auth.split_signature(query, body)
    except ApiError as exc:
        got = str(exc.code)
    assert got == _split_signature_twin(query, body)

# ----------------------------------------------------------------------------------------- timing

NOW = 1_700_000_000_000


@pytest.mark.parametrize("ts,window", [
    (NOW, None), (NOW + 999, None), (NOW - 5000, None), (NOW - 60000, "60000"), (NOW, "0"),
    (NOW - 100, "100.5"), (NOW - 100, "100.000"), (NOW - 1, "1"),
])
def test_timestamp_accepted(ts, window):
    assert auth.check_timestamp(str(ts), window, NOW) == ts


def test_timestamp_edges():
    with raises(-1021, "Timestamp for this request was 1000ms ahead of the server's time."):
        auth.check_timestamp(str(NOW + 1000), None, NOW)
    with raises(-1021, "Timestamp for this request is outside of the recvWindow."):
        auth.check_timestamp(str(NOW - 5001), None, NOW)
    with raises(-1021, "Timestamp for this request is outside of the recvWindow."):
        auth.check_timestamp(str(NOW - 101), "100.5", NOW)
    with raises(-1021):
        auth.check_timestamp(str(NOW - 1), "0", NOW)
    with raises(-1021):
        auth.check_timestamp("0", "60000", NOW)


@pytest.mark.parametrize("ts,window,code", [
    (None, None, -1102), ("", None, -1102), ("abc", None, -1100), ("-1", None, -1100), ("1.5", None, -1100),
    ("١٢٣", None, -1100), ("9" * 21, None, -1100), ("9" * 20, None, -1108),
    (str(NOW), "60001", -1131), (str(NOW), "60000.001", -1131), (str(NOW), "99999999999", -1131),
    (str(NOW), "", -1105), (str(NOW), "abc", -1100), (str(NOW), "-5", -1100), (str(NOW), "1.2345", -1100),
    (str(NOW), "5.", -1100), (str(NOW), "1e3", -1100),
])
def test_timestamp_and_recv_window_errors(ts, window, code):
    with raises(code):
        auth.check_timestamp(ts, window, NOW)


def test_a_timestamp_in_microseconds_is_timed_to_the_microsecond():
    """rest-api.md: timestamp may be sent in ms or µs; the answer is the request's time in ms."""
    now_us = NOW * 1000
    assert auth.check_timestamp(str(now_us - 5_000_000), None, NOW) == NOW - 5000  # exactly the default window
    with raises(-1021):
        auth.check_timestamp(str(now_us - 5_000_001), None, NOW)
    assert auth.check_timestamp(str(now_us - 1_500), "1.5", NOW) == NOW - 2  # recvWindow in ms with µs
    with raises(-1021):
        auth.check_timestamp(str(now_us - 1_501), "1.5", NOW)
    assert auth.check_timestamp(str(now_us + 999_999), None, NOW) == NOW + 999
    with raises(-1021, "Timestamp for this request was 1000ms ahead of the server's time."):
        auth.check_timestamp(str(now_us + 1_000_000), None, NOW)


def test_time_windows_in_microseconds_round_inward_to_the_nodes_milliseconds():
    assert Q.parse_time_range({"startTime": "1700000000000001", "endTime": "1700000000999999"}) == (
        1700000000001, 1700000000999)
    assert Q.parse_time_range({"startTime": "1700000000000000", "endTime": "1700000000500"}) == (
        1700000000000, 1700000000500)  # one in µs, one in ms
    assert Q.parse_time_range({"startTime": "1700000000000400", "endTime": "1700000000000600"}) == (
        1700000000001, 1700000000000)  # within one ms: an empty window, not an error
    with raises(-1128):
        Q.parse_time_range({"startTime": "1700000000000601", "endTime": "1700000000000600"})
    with raises(-1127):  # myTrades' 24 hours, counted in ms after the conversion
        Q.parse_day_window({"startTime": "1700000000000000", "endTime": str((1700000000000 + 86_400_001) * 1000)})


def test_recv_window_message():
    with raises(-1131, "'recvWindow' must be less than 60000."):
        auth.check_timestamp(str(NOW), "70000", NOW)


# ------------------------------------------------------------------------------------- WebSocket API


def test_ws_payload_sorted_without_signature():
    params = {"symbol": "BTCUSDT", "apiKey": "k", "timestamp": 5, "signature": "x", "flag": True, "off": False}
    assert auth.ws_payload(params) == "apiKey=k&flag=true&off=false&symbol=BTCUSDT&timestamp=5"


def test_ws_signature_binance_example():
    # Binance WebSocket API docs: SIGNED request example (order.place), HMAC key
    params = {
        "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01000000",
        "price": "52000.00", "newOrderRespType": "ACK", "recvWindow": 100, "timestamp": 1645423376532,
        "apiKey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
    }
    payload = auth.ws_payload(params)
    assert payload == ("apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&newOrderRespType=ACK"
                       "&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT"
                       "&timeInForce=GTC&timestamp=1645423376532&type=LIMIT")
    signature = "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"
    assert auth.sign(SECRET, payload) == signature
    auth.verify_ws_signature(SECRET, params | {"signature": signature})
    with raises(-1022):
        auth.verify_ws_signature(SECRET, params | {"signature": signature, "price": "52000.01"})
    with raises(-1102):
        auth.verify_ws_signature(SECRET, params)


#: reasons an order ends with that are its answer's status (EXPIRED, EXPIRED_IN_MATCH ...), not an error
ENDS_NOT_ERRORS = {Reason.FOK_UNFILLED, Reason.IOC_LEFTOVER, Reason.NO_LIQUIDITY, Reason.SELF_TRADE_PREVENTED,
                   Reason.LIST_REJECTED, Reason.AMENDED, Reason.OCO_TRIGGER, Reason.OTO_EXPIRED}


def test_every_refusal_has_one_binance_answer_and_no_other_reason_gets_a_default():
    for reason in Reason:
        kinds = {kind for kind, r in errors.REFUSALS if r == reason}
        if reason in ENDS_NOT_ERRORS:
            assert not kinds
            with pytest.raises(KeyError):
                errors.refusal(reason)
        else:
            assert kinds, reason
            for kind in kinds:
                assert errors.refusal(reason, kind).status in (400, 503)
    for code, reason in REASONS.items():  # what the book refuses an amend or a cancel with
        assert errors.refusal(reason, errors.AMEND if code != code.CANCEL_RESTRICTED else "").code in (-2038, -2011)
    assert errors.refusal("would_take") == errors.refusal(Reason.WOULD_TAKE)  # the change log's word reads back


def test_every_refusal_at_placement_is_an_error_of_its_own():
    """api/trading.py answers an order the book refused as it was placed with `errors.refusal` of its
    reason: every such reason has a Binance error (a missing one is a KeyError, answered -1000)."""
    for reason in REFUSED_AT_PLACEMENT:
        assert errors.refusal(reason).code in (-2010, -1013), reason
